//! Finite-difference helpers for the gradient checks of the nn tests.

use ndarray::{Array2, Axis};

use super::dense::GradAt;
use super::layer::Layer;

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

/// Checks `layer`'s backward pass against finite differences of `L = Σ c ⊙ layer(x)` (so
/// `∂L/∂y = c`): the weight and bias gradients of layers with parameters, and `∂L/∂x`.
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
        assert_close(&grad.weight, &num_w, &format!("{what} dW"));
        let b = b.clone().insert_axis(Axis(0));
        let num_b = numeric_grad(&b, |b| loss(&with(None, Some(b)), x));
        assert_close(
            &grad.bias.clone().insert_axis(Axis(0)),
            &num_b,
            &format!("{what} db"),
        );
    }
    let num_x = numeric_grad(x, |x| loss(layer, x));
    assert_close(&dx, &num_x, &format!("{what} dx"));
}
