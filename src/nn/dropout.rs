//! Inverted dropout, applied during training only.
//!
//! Each element is kept with probability `1 − p` and scaled by `1/(1 − p)`, so the expected value
//! of every activation is unchanged and inference needs no rescaling:
//! `y' = y ⊙ m`, `m ∈ {0, 1/(1 − p)}`; backward `dy ← dy' ⊙ m`.

use ndarray::{ArrayView2, ArrayViewMut2, Zip};
use rand::Rng;

/// Dropout with drop probability `rate` in [0, 1).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Dropout {
    rate: f32,
}

impl Dropout {
    /// `rate` must lie in [0, 1); the model's configuration checks it for users.
    pub fn new(rate: f32) -> Self {
        debug_assert!((0.0..1.0).contains(&rate));
        Dropout { rate }
    }

    /// Drop probability.
    pub fn rate(&self) -> f32 {
        self.rate
    }

    /// Draws a mask into `mask` and writes `out = y ⊙ mask`.
    ///
    /// # Shapes
    /// `y`, `mask`, `out`: `[batch, features]`.
    pub fn forward(
        &self,
        y: ArrayView2<'_, f32>,
        mask: ArrayViewMut2<'_, f32>,
        out: ArrayViewMut2<'_, f32>,
        rng: &mut impl Rng,
    ) {
        let keep = 1.0 - self.rate;
        let scale = 1.0 / keep;
        Zip::from(out).and(mask).and(y).for_each(|o, m, &y| {
            *m = if rng.random::<f32>() < keep {
                scale
            } else {
                0.0
            };
            *o = y * *m;
        });
    }

    /// `dy ← dy ⊙ mask`.
    pub fn backward(&self, mask: ArrayView2<'_, f32>, dy: ArrayViewMut2<'_, f32>) {
        Zip::from(dy).and(mask).for_each(|d, &m| *d *= m);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::Array2;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    #[test]
    fn keeps_the_expected_fraction_and_the_mean() {
        let d = Dropout::new(0.25);
        let y = Array2::from_elem((200, 50), 2.0f32);
        let mut mask = Array2::zeros((200, 50));
        let mut out = Array2::zeros((200, 50));
        d.forward(
            y.view(),
            mask.view_mut(),
            out.view_mut(),
            &mut ChaCha8Rng::seed_from_u64(1),
        );
        let kept = mask.iter().filter(|&&m| m > 0.0).count() as f32 / mask.len() as f32;
        assert!((kept - 0.75).abs() < 0.02, "kept {kept}");
        let mean = out.mean().unwrap();
        assert!((mean - 2.0).abs() < 0.06, "mean {mean}");
        // Backward uses the same mask: dy' = 1 gives dy = mask.
        let mut dy = Array2::ones((200, 50));
        d.backward(mask.view(), dy.view_mut());
        assert_eq!(dy, mask);
    }
}
