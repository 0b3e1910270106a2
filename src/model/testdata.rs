//! Synthetic data for the model tests: rows on a 2-dimensional manifold in 8 features.

use ndarray::Array2;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// `rows × 8`: features are smooth functions of two latent factors, plus 1 % noise, in
/// different units and offsets.
pub(crate) fn manifold(rows: usize, seed: u64) -> Array2<f32> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut x = Array2::zeros((rows, 8));
    for mut row in x.rows_mut() {
        let a: f32 = rng.random_range(-1.0..1.0);
        let b: f32 = rng.random_range(-1.0..1.0);
        let f = [
            a,
            b,
            a + b,
            a - 0.5 * b,
            a * b,
            (2.0 * a).sin(),
            0.5 * a * a + b,
            (a - b).tanh(),
        ];
        for (j, v) in row.iter_mut().enumerate() {
            let noise: f32 = rng.random_range(-0.01..0.01);
            *v = (f[j] + noise) * (1.0 + j as f32) * 3.0 + 10.0 * j as f32;
        }
    }
    x
}

/// Feature names `f0 … f{d-1}`.
pub(crate) fn names(d: usize) -> Vec<String> {
    (0..d).map(|j| format!("f{j}")).collect()
}
