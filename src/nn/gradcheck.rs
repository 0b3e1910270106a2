//! Finite-difference helpers for the gradient checks of the nn tests.

use ndarray::Array2;

/// Central differences `(L(p + h) − L(p − h)) / 2h` for every entry of `p`, with `h` scaled to the
/// entry's magnitude. `loss` evaluates in f32 but accumulates in f64.
pub(crate) fn numeric_grad(
    p: &Array2<f32>,
    mut loss: impl FnMut(&Array2<f32>) -> f64,
) -> Array2<f32> {
    let mut g = Array2::zeros(p.raw_dim());
    let mut q = p.clone();
    for (idx, &v) in p.indexed_iter() {
        let h = 1e-2f32 * v.abs().max(0.1);
        q[idx] = v + h;
        let up = loss(&q);
        q[idx] = v - h;
        let down = loss(&q);
        q[idx] = v;
        // The step actually taken in f32 arithmetic.
        let step = ((v + h) as f64) - ((v - h) as f64);
        g[idx] = ((up - down) / step) as f32;
    }
    g
}

/// Asserts `|a − n| ≤ 2e-2·(1 + max|n|)` entry by entry (f32 forward passes limit the precision).
pub(crate) fn assert_close(analytic: &Array2<f32>, numeric: &Array2<f32>, what: &str) {
    assert_eq!(analytic.dim(), numeric.dim(), "{what}: shapes");
    let scale = 1.0 + numeric.iter().fold(0.0f32, |m, v| m.max(v.abs()));
    for ((idx, &a), &n) in analytic.indexed_iter().zip(numeric.iter()) {
        assert!(
            (a - n).abs() <= 2e-2 * scale,
            "{what} at {idx:?}: analytic {a}, numeric {n}\nanalytic {analytic}\nnumeric {numeric}"
        );
    }
}
