//! Reconstruction losses and their gradients.
//!
//! For a batch of predictions `y` and targets `t`, both `[batch, features]`, with `N = batch ·
//! features` elements:
//!
//! - mean squared error: `L = (1/N) Σ (y − t)²`, `∂L/∂y = 2(y − t)/N`;
//! - binary cross-entropy: `L = −(1/N) Σ [t·ln y + (1 − t)·ln(1 − y)]` with `y` clamped to
//!   `[1e-7, 1 − 1e-7]` for the value. After a sigmoid output the gradient is fused with the
//!   activation and given at the pre-activation, `∂L/∂z = (y − t)/N`, which is exact and stable
//!   even where the sigmoid saturates. For other outputs `∂L/∂y = (y − t) / (y(1 − y)·N)` (clamped).
//!
//! Losses are means over every element, so their scale does not depend on batch size or width.
//! Values are accumulated in f64.

use ndarray::{ArrayView2, ArrayViewMut2, Axis, Zip};

use super::activation::Activation;
use super::dense::GradAt;
use super::parallel;
use super::reduce::sum_squared_diff;
use super::simd::multiversion;

/// Clamp applied to predictions inside the logarithms of binary cross-entropy.
pub const BCE_EPSILON: f32 = 1e-7;

/// A reconstruction loss.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Loss {
    /// Mean squared error.
    Mse,
    /// Binary cross-entropy; targets in [0, 1].
    Bce,
}

impl Loss {
    /// `L(y, t)` for `[batch, features]` predictions and targets.
    pub fn value(self, y: ArrayView2<'_, f32>, t: ArrayView2<'_, f32>) -> f64 {
        let n = y.len();
        if n == 0 {
            return 0.0;
        }
        let mut sum = 0.0f64;
        match self {
            Loss::Mse => sum = squared_error_sum(y, t),
            Loss::Bce => Zip::from(y).and(t).for_each(|&y, &t| sum += bce_term(y, t)),
        }
        sum / n as f64
    }

    /// Writes the gradient of `L` into `grad` and returns `L`. `output` is the activation that
    /// produced `y`; the returned [`GradAt`] says whether `grad` is `∂L/∂y` or, fused with a
    /// sigmoid, `∂L/∂z`.
    ///
    /// # Shapes
    /// `y`, `t`, `grad`: `[batch, features]`.
    pub fn value_and_grad(
        self,
        y: ArrayView2<'_, f32>,
        t: ArrayView2<'_, f32>,
        output: Activation,
        grad: ArrayViewMut2<'_, f32>,
    ) -> (f64, GradAt) {
        let n = y.len();
        if n == 0 {
            return (0.0, GradAt::Output);
        }
        let inv_n = 1.0 / n as f32;
        let mut sum = 0.0f64;
        let at = match (self, output) {
            (Loss::Mse, _) => {
                sum = mse_value_and_grad(y, t, grad, inv_n);
                GradAt::Output
            }
            (Loss::Bce, Activation::Sigmoid) => {
                Zip::from(grad).and(y).and(t).for_each(|g, &y, &t| {
                    sum += bce_term(y, t);
                    *g = (y - t) * inv_n;
                });
                GradAt::PreActivation
            }
            (Loss::Bce, _) => {
                Zip::from(grad).and(y).and(t).for_each(|g, &y, &t| {
                    sum += bce_term(y, t);
                    let yc = y.clamp(BCE_EPSILON, 1.0 - BCE_EPSILON);
                    *g = (yc - t) / (yc * (1.0 - yc)) * inv_n;
                });
                GradAt::Output
            }
        };
        (sum / n as f64, at)
    }
}

/// Writes `2(y − t)/N` to `grad` and returns `Σ (y − t)²` (the same sum, bit for bit, as
/// [`squared_error_sum`]), in one pass when the rows are contiguous.
fn mse_value_and_grad(
    y: ArrayView2<'_, f32>,
    t: ArrayView2<'_, f32>,
    mut grad: ArrayViewMut2<'_, f32>,
    inv_n: f32,
) -> f64 {
    let contiguous =
        y.ncols() <= 1 || (y.strides()[1] == 1 && t.strides()[1] == 1 && grad.strides()[1] == 1);
    if !contiguous {
        Zip::from(grad.view_mut())
            .and(y)
            .and(t)
            .for_each(|g, &y, &t| *g = 2.0 * (y - t) * inv_n);
        return squared_error_sum(y, t);
    }
    let rows = y.nrows();
    let cut = rows / 2;
    if y.len() < SPLIT_MIN_ELEMENTS || rows - cut > MAX_TAIL_ROWS || !parallel::two_threads() {
        return mse_rows(y, t, grad, inv_n, 0.0, None);
    }
    // Two halves on two cores. The sum stays the same bits as one pass: the second half keeps
    // its per-row sums, which are added after the first half's running sum, in row order.
    let (y1, y2) = y.split_at(Axis(0), cut);
    let (t1, t2) = t.split_at(Axis(0), cut);
    let (g1, g2) = grad.split_at(Axis(0), cut);
    let mut tail = [0.0f64; MAX_TAIL_ROWS];
    let tail = &mut tail[..rows - cut];
    let mut head = 0.0;
    parallel::join(
        || head = mse_rows(y1, t1, g1, inv_n, 0.0, None),
        || {
            mse_rows(y2, t2, g2, inv_n, 0.0, Some(&mut *tail));
        },
    );
    tail.iter().fold(head, |s, &r| s + r)
}

/// Losses of at least this many elements are computed in two halves on two cores.
const SPLIT_MIN_ELEMENTS: usize = 1 << 16;
/// Rows of the second half at most (its per-row sums live on the stack).
const MAX_TAIL_ROWS: usize = 2048;

/// `sum + Σ rows` in row order over contiguous rows, writing the gradient; with `row_sums`,
/// each row's sum is also stored there.
fn mse_rows(
    y: ArrayView2<'_, f32>,
    t: ArrayView2<'_, f32>,
    mut grad: ArrayViewMut2<'_, f32>,
    inv_n: f32,
    mut sum: f64,
    mut row_sums: Option<&mut [f64]>,
) -> f64 {
    let cols = y.ncols();
    if let (Some(gs), Some(ys), Some(ts)) = (grad.as_slice_mut(), y.as_slice(), t.as_slice()) {
        // Standard layout: one call for every row (one dispatch, not one per row).
        return mse_all_rows(ys, ts, gs, cols, inv_n, sum, row_sums);
    }
    for (i, ((g, yr), tr)) in grad
        .rows_mut()
        .into_iter()
        .zip(y.rows())
        .zip(t.rows())
        .enumerate()
    {
        if let (Some(g), Some(yr), Some(tr)) = (g.into_slice(), yr.to_slice(), tr.to_slice()) {
            let r = mse_row(yr, tr, g, inv_n);
            if let Some(s) = row_sums.as_deref_mut() {
                s[i] = r;
            }
            sum += r;
        }
    }
    sum
}

multiversion! {
    /// [`mse_rows`] over a standard-layout matrix of `cols` columns: `sum` plus each row's sum
    /// (formed as in [`mse_row`]) in row order.
    fn mse_all_rows(
        y: &[f32],
        t: &[f32],
        g: &mut [f32],
        cols: usize,
        inv_n: f32,
        sum: f64,
        row_sums: Option<&mut [f64]>,
    ) -> f64 {
        let mut sum = sum;
        let mut row_sums = row_sums;
        if cols == 0 {
            return sum;
        }
        for (i, ((yr, tr), gr)) in y
            .chunks_exact(cols)
            .zip(t.chunks_exact(cols))
            .zip(g.chunks_exact_mut(cols))
            .enumerate()
        {
            let r = mse_row_body(yr, tr, gr, inv_n);
            if let Some(s) = row_sums.as_deref_mut() {
                s[i] = r;
            }
            sum += r;
        }
        sum
    }
}

multiversion! {
    /// `Σ (yᵢ − tᵢ)²` of one row with the partial sums of [`sum_squared_diff`], writing
    /// `gᵢ = 2(yᵢ − tᵢ)/N`.
    fn mse_row(y: &[f32], t: &[f32], g: &mut [f32], inv_n: f32) -> f64 {
        mse_row_body(y, t, g, inv_n)
    }
}

/// The body of [`mse_row`], inlined into each compiled version of its callers.
#[inline(always)]
fn mse_row_body(y: &[f32], t: &[f32], g: &mut [f32], inv_n: f32) -> f64 {
    let mut acc = [0.0f64; 8];
    let n8 = y.len() / 8 * 8;
    for ((yc, tc), gc) in y[..n8]
        .chunks_exact(8)
        .zip(t[..n8].chunks_exact(8))
        .zip(g[..n8].chunks_exact_mut(8))
    {
        for k in 0..8 {
            let d = yc[k] - tc[k];
            gc[k] = 2.0 * d * inv_n;
            acc[k] += (d * d) as f64;
        }
    }
    let mut tail = 0.0f64;
    for ((&a, &b), gv) in y[n8..].iter().zip(&t[n8..]).zip(&mut g[n8..]) {
        let d = a - b;
        *gv = 2.0 * d * inv_n;
        tail += (d * d) as f64;
    }
    acc.iter().sum::<f64>() + tail
}

/// `Σ (y − t)²` over all elements, row by row.
fn squared_error_sum(y: ArrayView2<'_, f32>, t: ArrayView2<'_, f32>) -> f64 {
    y.rows()
        .into_iter()
        .zip(t.rows())
        .map(|(y, t)| match (y.as_slice(), t.as_slice()) {
            (Some(y), Some(t)) => sum_squared_diff(y, t),
            _ => y
                .iter()
                .zip(t)
                .map(|(&a, &b)| ((a - b) * (a - b)) as f64)
                .sum(),
        })
        .sum()
}

#[inline]
fn bce_term(y: f32, t: f32) -> f64 {
    let y = y.clamp(BCE_EPSILON, 1.0 - BCE_EPSILON) as f64;
    let t = t as f64;
    -(t * y.ln() + (1.0 - t) * (1.0 - y).ln())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nn::dense::{Dense, DenseGrad};
    use crate::nn::gradcheck::{assert_gradient, numeric_grad};
    use ndarray::{Array2, array};
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    #[test]
    fn known_values() {
        let y = array![[0.5f32, 1.0], [0.0, 2.0]];
        let t = array![[0.0f32, 1.0], [1.0, 0.0]];
        // (0.25 + 0 + 1 + 4) / 4
        assert_eq!(Loss::Mse.value(y.view(), t.view()), 1.3125);
        let y = array![[0.5f32]];
        let t = array![[1.0f32]];
        assert!((Loss::Bce.value(y.view(), t.view()) - std::f64::consts::LN_2).abs() < 1e-7);
    }

    /// Loss through a dense layer, checked against finite differences at the layer's input, for
    /// MSE on several outputs and BCE both fused (sigmoid) and unfused (tanh squashed to (0,1)
    /// is not available, so a linear output kept inside (0, 1)). The loss is a mean over 24
    /// elements, so `∂L/∂x` is small (largest entries 0.002 to 0.02): it is compared relative
    /// to its own size, and the same comparison rejects it doubled or zeroed
    /// ([`assert_gradient`]).
    #[test]
    fn gradients_match_finite_differences() {
        let cases = [
            (Loss::Mse, Activation::Linear),
            (Loss::Mse, Activation::Sigmoid),
            (Loss::Mse, Activation::Tanh),
            (Loss::Bce, Activation::Sigmoid),
            (Loss::Bce, Activation::Linear),
        ];
        for (loss, act) in cases {
            let mut rng = ChaCha8Rng::seed_from_u64(11);
            let layer = Dense::new(3, 4, act, &mut rng);
            // Small inputs keep a linear output inside (0, 1) once shifted by the bias below.
            let layer = Dense::from_parts(
                layer.weight() * 0.2,
                Array2::from_elem((1, 4), 0.5).row(0).to_owned(),
                act,
            )
            .unwrap();
            let x = Array2::from_shape_fn((6, 3), |(i, j)| ((i * 3 + j) as f32 * 0.53).sin());
            let t = Array2::from_shape_fn((6, 4), |(i, j)| {
                0.1 + 0.8 * (((i * 4 + j) as f32 * 0.77).cos() * 0.5 + 0.5)
            });
            let eval = |x: &Array2<f32>| {
                let mut y = Array2::zeros((6, 4));
                layer.forward(x.view(), y.view_mut());
                loss.value(y.view(), t.view())
            };
            let mut y = Array2::zeros((6, 4));
            layer.forward(x.view(), y.view_mut());
            let mut g = Array2::zeros((6, 4));
            let (value, at) = loss.value_and_grad(y.view(), t.view(), act, g.view_mut());
            assert!((value - eval(&x)).abs() < 1e-9);
            let mut grad: DenseGrad = layer.zero_grad();
            let mut dx = Array2::zeros((6, 3));
            layer.backward(
                x.view(),
                y.view(),
                g.view_mut(),
                at,
                &mut grad,
                Some(dx.view_mut()),
            );
            let num = numeric_grad(&x, eval);
            assert_gradient(&dx, &num, &format!("{loss:?} after {act:?}"));
        }
    }

    /// One fused pass (vector or baseline) gives the element-wise definition, bit for bit, and
    /// the loss value of [`Loss::value`]; strided views take the element-wise path.
    #[test]
    fn fused_mse_equals_the_definition() {
        let y = Array2::from_shape_fn((7, 37), |(i, j)| ((i * 37 + j) as f32 * 0.19).sin());
        let t = Array2::from_shape_fn((7, 37), |(i, j)| ((i * 37 + j) as f32 * 0.07).cos());
        let inv_n = 1.0 / y.len() as f32;
        let want = Zip::from(&y)
            .and(&t)
            .map_collect(|&y, &t| 2.0 * (y - t) * inv_n);
        for portable in [false, true] {
            let mut g = Array2::zeros((7, 37));
            let mut run =
                || Loss::Mse.value_and_grad(y.view(), t.view(), Activation::Linear, g.view_mut());
            let (v, _) = if portable {
                crate::nn::simd::portable(run)
            } else {
                run()
            };
            assert_eq!(g, want);
            assert_eq!(v, Loss::Mse.value(y.view(), t.view()));
        }
        let mut g = Array2::zeros((37, 7));
        let (v, _) = Loss::Mse.value_and_grad(y.t(), t.t(), Activation::Linear, g.view_mut());
        assert_eq!(g, want.t());
        assert!((v - Loss::Mse.value(y.view(), t.view())).abs() < 1e-12);
    }

    /// A loss large enough to be split over two cores gives the gradient of the definition and
    /// the value of [`Loss::value`] (one pass, row after row), bit for bit.
    #[test]
    fn split_mse_equals_one_pass() {
        let y = Array2::from_shape_fn((301, 300), |(i, j)| ((i * 300 + j) as f32 * 0.019).sin());
        let t = Array2::from_shape_fn((301, 300), |(i, j)| ((i * 300 + j) as f32 * 0.007).cos());
        assert!(y.len() >= SPLIT_MIN_ELEMENTS);
        let inv_n = 1.0 / y.len() as f32;
        let mut g = Array2::zeros(y.raw_dim());
        let (v, _) =
            Loss::Mse.value_and_grad(y.view(), t.view(), Activation::Sigmoid, g.view_mut());
        assert_eq!(
            g,
            Zip::from(&y)
                .and(&t)
                .map_collect(|&y, &t| 2.0 * (y - t) * inv_n)
        );
        assert_eq!(v.to_bits(), Loss::Mse.value(y.view(), t.view()).to_bits());
    }

    #[test]
    fn bce_is_finite_when_the_sigmoid_saturates() {
        let y = array![[0.0f32, 1.0]];
        let t = array![[1.0f32, 0.0]];
        let mut g = Array2::zeros((1, 2));
        let (v, at) =
            Loss::Bce.value_and_grad(y.view(), t.view(), Activation::Sigmoid, g.view_mut());
        assert!(v.is_finite() && v > 10.0);
        assert_eq!(at, GradAt::PreActivation);
        assert_eq!(g, array![[-0.5f32, 0.5]]);
    }
}
