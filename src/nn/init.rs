//! Weight initialisation from a seeded RNG.
//!
//! For a weight matrix `[out, in]` (fan_in = in, fan_out = out), every entry is drawn from
//! `U(−a, a)`:
//!
//! | scheme | `a` | used for |
//! |---|---|---|
//! | Glorot / Xavier uniform (Glorot & Bengio 2010) | `√(6 / (fan_in + fan_out))` | tanh, sigmoid, linear |
//! | He / Kaiming uniform (He et al. 2015) | `√(6 / fan_in)` | relu, leaky_relu, elu |
//! | LeCun uniform (Klambauer et al. 2017) | `√(3 / fan_in)` | selu |
//!
//! Biases start at zero. Draws are taken row by row (output unit by output unit), so the same
//! seed gives bit-identical weights.

use ndarray::Array2;
use rand::Rng;

use super::activation::Activation;

/// An initialisation scheme for a weight matrix.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Init {
    /// `U(±√(6 / (fan_in + fan_out)))`.
    GlorotUniform,
    /// `U(±√(6 / fan_in))`.
    HeUniform,
    /// `U(±√(3 / fan_in))`.
    LecunUniform,
}

impl Init {
    /// The scheme that keeps activations well scaled for `activation`.
    pub fn for_activation(activation: Activation) -> Self {
        match activation {
            Activation::Relu | Activation::LeakyRelu | Activation::Elu => Init::HeUniform,
            Activation::Selu => Init::LecunUniform,
            Activation::Tanh | Activation::Sigmoid | Activation::Linear => Init::GlorotUniform,
        }
    }

    /// Half-width `a` of the uniform distribution.
    pub fn limit(self, fan_in: usize, fan_out: usize) -> f32 {
        let (fi, fo) = (fan_in.max(1) as f32, fan_out.max(1) as f32);
        match self {
            Init::GlorotUniform => (6.0 / (fi + fo)).sqrt(),
            Init::HeUniform => (6.0 / fi).sqrt(),
            Init::LecunUniform => (3.0 / fi).sqrt(),
        }
    }

    /// A `[out, in]` weight matrix.
    pub fn weights(
        self,
        out_features: usize,
        in_features: usize,
        rng: &mut impl Rng,
    ) -> Array2<f32> {
        let a = self.limit(in_features, out_features);
        let mut w = Array2::zeros((out_features, in_features));
        for v in &mut w {
            *v = rng.random_range(-a..=a);
        }
        w
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    #[test]
    fn same_seed_same_weights_and_within_limits() {
        let a = Init::HeUniform.weights(16, 32, &mut ChaCha8Rng::seed_from_u64(7));
        let b = Init::HeUniform.weights(16, 32, &mut ChaCha8Rng::seed_from_u64(7));
        let c = Init::HeUniform.weights(16, 32, &mut ChaCha8Rng::seed_from_u64(8));
        assert_eq!(a, b);
        assert_ne!(a, c);
        let limit = (6.0f32 / 32.0).sqrt();
        assert!(a.iter().all(|v| v.abs() <= limit));
        // Roughly uniform: the variance of U(−a, a) is a²/3.
        let var = a.iter().map(|v| v * v).sum::<f32>() / a.len() as f32;
        assert!(
            (var - limit * limit / 3.0).abs() < 0.25 * limit * limit / 3.0,
            "variance {var}"
        );
    }
}
