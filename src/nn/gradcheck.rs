//! Finite-difference helpers for the gradient checks of the nn tests.
//!
//! A check compares an analytic gradient `a` with central differences `n` relative to the
//! gradient's own size, never to an absolute constant (gradients of mean losses are as small
//! as 1/N):
//!
//! `err = ‖a − n‖₂ / max(‖a‖₂, ‖n‖₂)`, passing when `err ≤` [`TOLERANCE`] (1e-2).
//!
//! Correct gradients of the f32 forward passes show `err` below 4e-4 in the layer tests and
//! below 4e-3 through whole networks with max-pooling (where a step can cross a near-tie).
//! A gradient doubled has `err = 0.5` and a zero gradient `err = 1`: [`assert_gradient`]
//! asserts that both fail, so every check shows that it can fail. Norm-wise rather than entry
//! by entry, so that one entry whose step crosses a kink does not fail a correct gradient;
//! one wrong entry out of `m` entries of similar size still shows `err ≈ 1/√m`.

use ndarray::{Array2, Axis};

use super::dense::GradAt;
use super::layer::Layer;

/// The largest [`gradient_error`] a correct gradient may show.
const TOLERANCE: f64 = 1e-2;

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

/// `‖a − n‖₂ / max(‖a‖₂, ‖n‖₂)` in f64 (0 when both are zero).
pub(crate) fn gradient_error(analytic: &Array2<f32>, numeric: &Array2<f32>) -> f64 {
    assert_eq!(analytic.dim(), numeric.dim(), "gradient shapes");
    let (mut aa, mut nn, mut dd) = (0.0f64, 0.0f64, 0.0f64);
    for (&a, &n) in analytic.iter().zip(numeric) {
        let (a, n) = (a as f64, n as f64);
        aa += a * a;
        nn += n * n;
        dd += (a - n) * (a - n);
    }
    let scale = aa.max(nn).sqrt();
    if scale == 0.0 { 0.0 } else { dd.sqrt() / scale }
}

/// Asserts [`gradient_error`]`(analytic, numeric) ≤` [`TOLERANCE`] (also for values that are not
/// gradients, such as two forward passes).
pub(crate) fn assert_close(analytic: &Array2<f32>, numeric: &Array2<f32>, what: &str) {
    let err = gradient_error(analytic, numeric);
    assert!(
        err <= TOLERANCE,
        "{what}: relative error {err:.3e} > {TOLERANCE:e}\nanalytic {analytic}\nnumeric {numeric}"
    );
}

/// Asserts that the check rejects `wrong` against `numeric` (a deliberately broken gradient).
pub(crate) fn assert_rejected(wrong: &Array2<f32>, numeric: &Array2<f32>, what: &str) {
    let err = gradient_error(wrong, numeric);
    assert!(
        err > TOLERANCE,
        "{what}: a wrong gradient passes (relative error {err:.3e} ≤ {TOLERANCE:e})\nwrong {wrong}\nnumeric {numeric}"
    );
}

/// [`assert_close`], and [`assert_rejected`] for `2·analytic` and a zero gradient: the check
/// both passes the gradient and could fail.
pub(crate) fn assert_gradient(analytic: &Array2<f32>, numeric: &Array2<f32>, what: &str) {
    assert_close(analytic, numeric, what);
    assert_rejected(&(analytic * 2.0), numeric, &format!("{what} × 2"));
    assert_rejected(
        &Array2::zeros(analytic.raw_dim()),
        numeric,
        &format!("{what} × 0"),
    );
}

/// Checks `layer`'s backward pass against finite differences of `L = Σ c ⊙ layer(x)` (so
/// `∂L/∂y = c`) with [`assert_gradient`]: the weight and bias gradients of layers with
/// parameters, and `∂L/∂x`.
pub(crate) fn check_layer_gradients(layer: &Layer, x: &Array2<f32>, c: &Array2<f32>, what: &str) {
    let loss = |l: &Layer, x: &Array2<f32>| -> f64 {
        let mut y = Array2::zeros((x.nrows(), l.out_features()));
        l.forward(x.view(), y.view_mut());
        y.iter().zip(c).map(|(&a, &b)| a as f64 * b as f64).sum()
    };
    let mut y = Array2::zeros((x.nrows(), layer.out_features()));
    layer.forward(x.view(), y.view_mut());
    let mut dy = c.clone();
    let mut grad = layer.zero_grad();
    let mut dx = Array2::from_elem(x.raw_dim(), f32::NAN);
    layer.backward(
        x.view(),
        y.view(),
        dy.view_mut(),
        GradAt::Output,
        &mut grad,
        Some(dx.view_mut()),
    );
    if let Some((w, b)) = layer.params() {
        // Perturbed copies of the layer: parameters go in through `params_mut` (standard layout).
        let with = |w: Option<&Array2<f32>>, b: Option<&Array2<f32>>| {
            let mut l = layer.clone();
            if let Some((lw, lb)) = l.params_mut() {
                if let Some(w) = w {
                    lw.iter_mut().zip(w.iter()).for_each(|(d, s)| *d = *s);
                }
                if let Some(b) = b {
                    lb.iter_mut().zip(b.iter()).for_each(|(d, s)| *d = *s);
                }
            }
            l
        };
        let num_w = numeric_grad(w, |w| loss(&with(Some(w), None), x));
        assert_gradient(&grad.weight, &num_w, &format!("{what} dW"));
        let b = b.clone().insert_axis(Axis(0));
        let num_b = numeric_grad(&b, |b| loss(&with(None, Some(b)), x));
        assert_gradient(
            &grad.bias.clone().insert_axis(Axis(0)),
            &num_b,
            &format!("{what} db"),
        );
    }
    let num_x = numeric_grad(x, |x| loss(layer, x));
    assert_gradient(&dx, &num_x, &format!("{what} dx"));
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;

    /// The error of a doubled, zeroed or partly wrong gradient, at the size of a mean loss's
    /// gradient (about 1/60) and a thousand times smaller: the same, since it is relative.
    #[test]
    fn rejects_wrong_gradients_whatever_their_size() {
        for size in [1.0f32 / 60.0, 1.0 / 60_000.0] {
            let g = array![[1.0f32, -0.5, 0.25], [-1.0, 0.75, 0.1]] * size;
            assert!(gradient_error(&g, &g) == 0.0);
            assert!((gradient_error(&(&g * 2.0), &g) - 0.5).abs() < 1e-12);
            assert!((gradient_error(&Array2::zeros((2, 3)), &g) - 1.0).abs() < 1e-12);
            // One entry of six dropped: ‖0.75‖ / ‖g‖.
            let mut one = g.clone();
            one[[1, 1]] = 0.0;
            let want = 0.75 / (1.0f64 + 0.25 + 0.0625 + 1.0 + 0.5625 + 0.01).sqrt();
            assert!((gradient_error(&one, &g) - want).abs() < 1e-6);
            // 0.5 % off everywhere passes.
            assert!(gradient_error(&(&g * 1.005), &g) < TOLERANCE);
            assert_gradient(&g, &(&g * 1.001), &format!("size {size}"));
        }
        assert_eq!(
            gradient_error(&Array2::zeros((1, 2)), &Array2::zeros((1, 2))),
            0.0
        );
    }

    #[test]
    #[should_panic(expected = "a wrong gradient passes")]
    fn a_wrong_gradient_that_passes_is_reported() {
        let g = array![[0.02f32, -0.01]];
        assert_rejected(&(&g * 1.001), &g, "almost right");
    }
}
