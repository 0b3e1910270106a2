//! Reductions shared by losses and scores.

use super::simd::multiversion;

multiversion! {
    /// `Σ (aᵢ − bᵢ)²` with each square formed in f32 and accumulated in f64.
    ///
    /// Eight independent partial sums let the loop vectorise (a single running sum would force one
    /// addition after another); they are added together at the end.
    pub fn sum_squared_diff(a: &[f32], b: &[f32]) -> f64 {
        debug_assert_eq!(a.len(), b.len());
        let mut acc = [0.0f64; 8];
        let (ca, cb) = (a.chunks_exact(8), b.chunks_exact(8));
        let (ra, rb) = (ca.remainder(), cb.remainder());
        for (x, y) in ca.zip(cb) {
            for k in 0..8 {
                let d = x[k] - y[k];
                acc[k] += (d * d) as f64;
            }
        }
        let mut tail = 0.0f64;
        for (x, y) in ra.iter().zip(rb) {
            let d = x - y;
            tail += (d * d) as f64;
        }
        acc.iter().sum::<f64>() + tail
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn equals_the_plain_sum() {
        let a: Vec<f32> = (0..37).map(|i| (i as f32 * 0.37).sin()).collect();
        let b: Vec<f32> = (0..37).map(|i| (i as f32 * 0.11).cos()).collect();
        let plain: f64 = a
            .iter()
            .zip(&b)
            .map(|(x, y)| ((x - y) * (x - y)) as f64)
            .sum();
        assert!((sum_squared_diff(&a, &b) - plain).abs() < 1e-12);
        assert_eq!(sum_squared_diff(&[], &[]), 0.0);
    }
}
