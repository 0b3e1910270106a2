//! Input corruption for denoising autoencoders, applied during training only.
//!
//! `x̃ = m ⊙ (x + σ·ε)` with `ε ~ N(0, 1)` per element and `m ~ Bernoulli(1 − r)` per element,
//! where σ is the noise std and r the masking ratio (the expected fraction of features set to 0).
//! The network is trained to reconstruct the clean `x` from `x̃`. Values are in the scaled units
//! the network sees.

use ndarray::ArrayViewMut2;
use rand::Rng;
use rand_distr::StandardNormal;

/// Gaussian noise and/or masking of inputs.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Corruption {
    /// Std σ of the additive gaussian noise (0 = none).
    pub noise_std: f32,
    /// Probability r that an element is set to 0 (0 = none).
    pub mask_ratio: f32,
}

impl Corruption {
    /// True when it changes nothing.
    pub fn is_identity(&self) -> bool {
        self.noise_std == 0.0 && self.mask_ratio == 0.0
    }

    /// Corrupts `x` in place.
    pub fn apply(&self, mut x: ArrayViewMut2<'_, f32>, rng: &mut impl Rng) {
        if self.noise_std > 0.0 {
            let s = self.noise_std;
            x.map_inplace(|v| *v += s * rng.sample::<f32, _>(StandardNormal));
        }
        if self.mask_ratio > 0.0 {
            let r = self.mask_ratio;
            x.map_inplace(|v| {
                if rng.random::<f32>() < r {
                    *v = 0.0;
                }
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::Array2;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    #[test]
    fn noise_has_the_requested_std_and_masking_the_requested_ratio() {
        let mut x = Array2::from_elem((400, 50), 1.0f32);
        Corruption {
            noise_std: 0.5,
            mask_ratio: 0.0,
        }
        .apply(x.view_mut(), &mut ChaCha8Rng::seed_from_u64(2));
        let mean = x.mean().unwrap();
        let std = (x.mapv(|v| (v - mean).powi(2)).mean().unwrap()).sqrt();
        assert!(
            (mean - 1.0).abs() < 0.02 && (std - 0.5).abs() < 0.02,
            "mean {mean} std {std}"
        );

        let mut x = Array2::from_elem((400, 50), 1.0f32);
        Corruption {
            noise_std: 0.0,
            mask_ratio: 0.3,
        }
        .apply(x.view_mut(), &mut ChaCha8Rng::seed_from_u64(2));
        let zeros = x.iter().filter(|&&v| v == 0.0).count() as f32 / x.len() as f32;
        assert!((zeros - 0.3).abs() < 0.02, "masked {zeros}");
    }
}
