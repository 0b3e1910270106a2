//! Element-wise activation functions, their derivatives, and the fused bias + activation pass.
//!
//! | name | `f(x)` | `f'` from the output `y = f(x)` |
//! |---|---|---|
//! | relu | `max(x, 0)` | `1 if y > 0 else 0` |
//! | leaky_relu | `x if x > 0 else 0.01·x` | `1 if y > 0 else 0.01` |
//! | elu | `x if x > 0 else α(eˣ − 1)`, α = 1 | `1 if y > 0 else y + α` |
//! | selu | `λx if x > 0 else λα(eˣ − 1)` | `λ if y > 0 else y + λα` |
//! | tanh | `tanh x` | `1 − y²` |
//! | sigmoid | `1 / (1 + e⁻ˣ)` | `y(1 − y)` |
//! | linear | `x` | `1` |
//!
//! with λ = 1.0507009873554805 and α = 1.6732632423543772 for selu (Klambauer et al. 2017).
//! Every derivative is a function of the output alone, so the backward pass needs no stored
//! pre-activations: a layer keeps only its output.

use ndarray::{ArrayView1, ArrayView2, ArrayViewMut2, Zip};

use super::simd::multiversion;

/// Slope of leaky_relu for negative inputs.
pub const LEAKY_RELU_SLOPE: f32 = 0.01;
/// α of elu.
pub const ELU_ALPHA: f32 = 1.0;
/// λ of selu.
pub const SELU_LAMBDA: f32 = 1.050_701;
/// α of selu.
pub const SELU_ALPHA: f32 = 1.673_263_2;

/// An element-wise activation function.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Activation {
    /// `max(x, 0)`.
    Relu,
    /// `x` for `x > 0`, else `0.01·x`.
    LeakyRelu,
    /// `x` for `x > 0`, else `eˣ − 1`.
    Elu,
    /// Scaled elu with the self-normalising constants.
    Selu,
    /// Hyperbolic tangent.
    Tanh,
    /// Logistic function, output in (0, 1).
    Sigmoid,
    /// Identity.
    Linear,
}

impl Activation {
    /// `f(x)`.
    #[inline]
    pub fn apply(self, x: f32) -> f32 {
        match self {
            Activation::Relu => relu(x),
            Activation::LeakyRelu => leaky_relu(x),
            Activation::Elu => elu(x),
            Activation::Selu => selu(x),
            Activation::Tanh => x.tanh(),
            Activation::Sigmoid => sigmoid(x),
            Activation::Linear => x,
        }
    }

    /// `f'(x)` expressed through `y = f(x)`.
    #[inline]
    pub fn derivative_from_output(self, y: f32) -> f32 {
        match self {
            Activation::Relu => relu_grad(y),
            Activation::LeakyRelu => leaky_relu_grad(y),
            Activation::Elu => elu_grad(y),
            Activation::Selu => selu_grad(y),
            Activation::Tanh => 1.0 - y * y,
            Activation::Sigmoid => y * (1.0 - y),
            Activation::Linear => 1.0,
        }
    }

    /// True when every output lies in (0, 1) (needed by binary cross-entropy and KL sparsity).
    pub fn is_unit_interval(self) -> bool {
        matches!(self, Activation::Sigmoid)
    }

    /// Fused pass over a GEMM output: `y[i, j] ← f(y[i, j] + b[j])`.
    ///
    /// # Shapes
    /// `y`: `[batch, out]`, `b`: `[out]`.
    pub fn bias_forward(self, mut y: ArrayViewMut2<'_, f32>, b: ArrayView1<'_, f32>) {
        debug_assert_eq!(y.ncols(), b.len());
        let owned;
        let b = match b.as_slice() {
            Some(b) => b,
            None => {
                owned = b.to_vec();
                &owned
            }
        };
        if let Some(all) = y.as_slice_mut() {
            // Standard layout: one call for every row (one dispatch, not one per row).
            bias_forward_rows(self, all, b);
            return;
        }
        for mut row in y.rows_mut() {
            match row.as_slice_mut() {
                Some(row) => self.bias_forward_row(row, b),
                None => {
                    for (v, &bj) in row.iter_mut().zip(b) {
                        *v = self.apply(*v + bj);
                    }
                }
            }
        }
    }

    /// One contiguous row; one loop per function so each compiles to a tight (vectorisable) loop.
    fn bias_forward_row(self, row: &mut [f32], b: &[f32]) {
        bias_forward_row(self, row, b);
    }

    /// Backward through the activation: `dy ← dy ⊙ f'(x)`, with `f'` computed from the output `y`.
    /// On return `dy` holds the gradient with respect to the pre-activation.
    ///
    /// # Shapes
    /// `y`, `dy`: `[batch, out]`.
    pub fn backward_inplace(self, y: ArrayView2<'_, f32>, mut dy: ArrayViewMut2<'_, f32>) {
        debug_assert_eq!(y.dim(), dy.dim());
        if self == Activation::Linear {
            return;
        }
        if let (Some(d), Some(y)) = (dy.as_slice_mut(), y.as_slice()) {
            backward_row(self, y, d);
            return;
        }
        for (mut d, y) in dy.rows_mut().into_iter().zip(y.rows()) {
            match (d.as_slice_mut(), y.to_slice()) {
                (Some(d), Some(y)) => backward_row(self, y, d),
                _ => Zip::from(d)
                    .and(y)
                    .for_each(|d, &y| *d *= self.derivative_from_output(y)),
            }
        }
    }
}

impl Activation {
    /// `dst[j] ← f(src[j] + bias)`: one channel's positions of a convolution, one bias.
    pub(crate) fn bias_forward_run(self, dst: &mut [f32], src: &[f32], bias: f32) {
        bias_forward_run(self, dst, src, bias);
    }
}

/// `$body` with `$f` bound to the element-wise function of `$act`, chosen once outside the loop
/// in `$body`, so that each arm is a straight loop the vector versions vectorise.
macro_rules! with_activation {
    ($act:expr, |$f:ident| $body:expr) => {
        match $act {
            Activation::Relu => {
                let $f = relu;
                $body
            }
            Activation::LeakyRelu => {
                let $f = leaky_relu;
                $body
            }
            Activation::Elu => {
                let $f = elu;
                $body
            }
            Activation::Selu => {
                let $f = selu;
                $body
            }
            Activation::Tanh => {
                let $f = f32::tanh;
                $body
            }
            Activation::Sigmoid => {
                let $f = sigmoid;
                $body
            }
            Activation::Linear => {
                let $f = linear;
                $body
            }
        }
    };
}

multiversion! {
    /// `dst[j] ← f(src[j] + bias)`.
    fn bias_forward_run(act: Activation, dst: &mut [f32], src: &[f32], bias: f32) {
        with_activation!(act, |f| dst
            .iter_mut()
            .zip(src)
            .for_each(|(d, &s)| *d = f(s + bias)));
    }
}

multiversion! {
    /// `row[j] ← f(row[j] + b[j])`.
    fn bias_forward_row(act: Activation, row: &mut [f32], b: &[f32]) {
        with_activation!(act, |f| row
            .iter_mut()
            .zip(b)
            .for_each(|(v, &bj)| *v = f(*v + bj)));
    }
}

multiversion! {
    /// [`bias_forward_row`] on each row of a standard-layout matrix (`b.len()` columns).
    fn bias_forward_rows(act: Activation, all: &mut [f32], b: &[f32]) {
        if b.is_empty() {
            return;
        }
        with_activation!(act, |f| for row in all.chunks_exact_mut(b.len()) {
            row.iter_mut().zip(b).for_each(|(v, &bj)| *v = f(*v + bj));
        });
    }
}

multiversion! {
    /// `d[j] ← d[j]·f'(from y[j])`.
    fn backward_row(act: Activation, y: &[f32], d: &mut [f32]) {
        let pairs = d.iter_mut().zip(y);
        match act {
            Activation::Relu => pairs.for_each(|(d, &y)| *d *= relu_grad(y)),
            Activation::LeakyRelu => pairs.for_each(|(d, &y)| *d *= leaky_relu_grad(y)),
            Activation::Elu => pairs.for_each(|(d, &y)| *d *= elu_grad(y)),
            Activation::Selu => pairs.for_each(|(d, &y)| *d *= selu_grad(y)),
            Activation::Tanh => pairs.for_each(|(d, &y)| *d *= 1.0 - y * y),
            Activation::Sigmoid => pairs.for_each(|(d, &y)| *d *= y * (1.0 - y)),
            Activation::Linear => {}
        }
    }
}

#[inline(always)]
fn linear(x: f32) -> f32 {
    x
}
#[inline]
fn relu(x: f32) -> f32 {
    x.max(0.0)
}
#[inline]
fn relu_grad(y: f32) -> f32 {
    if y > 0.0 { 1.0 } else { 0.0 }
}
#[inline]
fn leaky_relu(x: f32) -> f32 {
    if x > 0.0 { x } else { LEAKY_RELU_SLOPE * x }
}
#[inline]
fn leaky_relu_grad(y: f32) -> f32 {
    if y > 0.0 { 1.0 } else { LEAKY_RELU_SLOPE }
}
#[inline]
fn elu(x: f32) -> f32 {
    if x > 0.0 {
        x
    } else {
        ELU_ALPHA * exp_m1_approx(x)
    }
}
#[inline]
fn elu_grad(y: f32) -> f32 {
    if y > 0.0 { 1.0 } else { y + ELU_ALPHA }
}
#[inline]
fn selu(x: f32) -> f32 {
    if x > 0.0 {
        SELU_LAMBDA * x
    } else {
        SELU_LAMBDA * SELU_ALPHA * exp_m1_approx(x)
    }
}
#[inline]
fn selu_grad(y: f32) -> f32 {
    if y > 0.0 {
        SELU_LAMBDA
    } else {
        y + SELU_LAMBDA * SELU_ALPHA
    }
}
#[inline(always)]
fn sigmoid(x: f32) -> f32 {
    // exp_approx clamps its argument, so e^{−x} stays finite and the result lies in [0, 1].
    1.0 / (1.0 + exp_approx(-x))
}

/// `eˣ` in f32 without branches or library calls, so loops over it vectorise: Cody–Waite range
/// reduction `x = n·ln 2 + r`, |r| ≤ ln 2 / 2, the degree-6 minimax polynomial of Cephes' `expf`
/// for `eʳ`, and `2ⁿ` built from its exponent bits. The argument is clamped to [−87.3, 88.3], where
/// the result stays a finite normal number. Relative error below 3e-7 (see the test).
#[inline(always)]
pub(crate) fn exp_approx(x: f32) -> f32 {
    const LOG2E: f32 = std::f32::consts::LOG2_E;
    const LN2_HI: f32 = 0.693_359_4;
    const LN2_LO: f32 = -2.121_944_4e-4;
    // 1.5·2²³: adding and subtracting it rounds to the nearest integer (|x·log₂e| < 2²²).
    const ROUND: f32 = 12_582_912.0;
    let x = x.clamp(-87.3, 88.3);
    let shifted = x * LOG2E + ROUND;
    let n = shifted - ROUND;
    // The integer n also sits in the low mantissa bits of `shifted` (its ulp is 1): reading it
    // from there keeps the loop in integer SIMD instead of a saturating float-to-int cast.
    let n_int = shifted.to_bits() as i32 - ROUND.to_bits() as i32;
    let r = x - n * LN2_HI - n * LN2_LO;
    let mut p = 1.987_569_1e-4f32;
    p = p * r + 1.398_199_9e-3;
    p = p * r + 8.333_452e-3;
    p = p * r + 4.166_579_6e-2;
    p = p * r + 0.166_666_65;
    p = p * r + 0.5;
    let er = p * r * r + r + 1.0;
    er * f32::from_bits(((n_int + 127) as u32) << 23)
}

/// `eˣ − 1` in f32 without branches or library calls (so elu and selu loops vectorise like
/// sigmoid's): for |x| < ½ the Taylor polynomial of degree 7 (no cancellation near 0), elsewhere
/// [`exp_approx`]`(x) − 1`; both are computed and one is selected. Relative error below 1e-6
/// (see the test); the library `exp_m1` it replaces cost more than the convolutions of an elu CAE
/// (`cargo bench --bench cae`).
#[inline(always)]
pub(crate) fn exp_m1_approx(x: f32) -> f32 {
    let mut p = 1.0 / 5040.0;
    p = p * x + 1.0 / 720.0;
    p = p * x + 1.0 / 120.0;
    p = p * x + 1.0 / 24.0;
    p = p * x + 1.0 / 6.0;
    p = p * x + 0.5;
    p = p * x + 1.0;
    let near_zero = p * x;
    let far = exp_approx(x) - 1.0;
    if x.abs() < 0.5 { near_zero } else { far }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nn::gradcheck::assert_close;
    use ndarray::Array2;

    #[test]
    fn exp_m1_approx_is_accurate_near_zero_and_far_from_it() {
        let mut x = -87.0f32;
        while x < 88.0 {
            let want = (x as f64).exp_m1();
            let got = exp_m1_approx(x) as f64;
            assert!(
                ((got - want) / want).abs() < 1e-6 || (got - want).abs() < 1e-30,
                "expm1({x}) = {got}, want {want}"
            );
            x += if x.abs() < 1.0 { 0.000_37 } else { 0.01 };
        }
        for x in [
            1e-30f32, -1e-30, 1e-8, -1e-8, 1e-4, -1e-4, 0.499_99, -0.499_99, 0.5, -0.5,
        ] {
            let want = (x as f64).exp_m1();
            let got = exp_m1_approx(x) as f64;
            assert!(
                ((got - want) / want).abs() < 1e-6,
                "expm1({x}) = {got}, want {want}"
            );
        }
        assert_eq!(exp_m1_approx(0.0), 0.0);
        assert_eq!(exp_m1_approx(-1000.0), -1.0);
    }

    pub(crate) const ALL: [Activation; 7] = [
        Activation::Relu,
        Activation::LeakyRelu,
        Activation::Elu,
        Activation::Selu,
        Activation::Tanh,
        Activation::Sigmoid,
        Activation::Linear,
    ];

    /// Each point on its own, relative to the derivative's size there (down to 0.01 for tanh
    /// at −3), with the rule of every gradient check ([`assert_close`]): a derivative doubled
    /// or dropped fails at every point where it is not 0.
    #[test]
    fn derivative_from_output_matches_finite_differences() {
        // Points away from the kinks at 0 (farther than h), where the derivative is not defined.
        let xs = [-3.0f64, -1.2, -0.4, -0.05, 0.07, 0.3, 1.1, 2.5];
        let h = 1e-2f64;
        for act in ALL {
            for &x in &xs {
                let f = |x: f64| act.apply(x as f32) as f64;
                // The step actually taken once the points are rounded to f32.
                let step = (x + h) as f32 as f64 - (x - h) as f32 as f64;
                let numeric = (f(x + h) - f(x - h)) / step;
                let analytic = act.derivative_from_output(act.apply(x as f32));
                assert_close(
                    &Array2::from_elem((1, 1), analytic),
                    &Array2::from_elem((1, 1), numeric as f32),
                    &format!("{act:?} at {x}"),
                );
            }
        }
    }

    #[test]
    fn exp_approx_is_accurate_over_the_whole_range() {
        let mut x = -87.0f32;
        while x < 88.0 {
            let want = (x as f64).exp();
            let got = exp_approx(x) as f64;
            assert!(
                ((got - want) / want).abs() < 3e-7,
                "exp({x}) = {got}, want {want}"
            );
            x += 0.01;
        }
        assert_eq!(exp_approx(0.0), 1.0);
        assert!(exp_approx(-1000.0) > 0.0 && exp_approx(1000.0).is_finite());
    }

    #[test]
    fn known_values() {
        assert_eq!(Activation::Relu.apply(-2.0), 0.0);
        assert_eq!(Activation::LeakyRelu.apply(-2.0), -0.02);
        assert!((Activation::Elu.apply(-1.0) - (-0.632_120_56)).abs() < 1e-6);
        assert!((Activation::Selu.apply(1.0) - 1.050_701).abs() < 1e-6);
        assert_eq!(Activation::Sigmoid.apply(0.0), 0.5);
        assert!(Activation::Sigmoid.apply(-200.0) < 1e-37);
        assert_eq!(Activation::Sigmoid.apply(200.0), 1.0);
        assert_eq!(Activation::Linear.apply(3.5), 3.5);
    }

    /// Vector and baseline versions, contiguous and strided rows: all equal the element-wise
    /// definitions, bit for bit.
    #[test]
    fn fused_bias_pass_equals_elementwise_definition() {
        let y0 = ndarray::Array2::from_shape_fn((3, 37), |(i, j)| {
            ((i * 37 + j) as f32 * 0.3).sin() * 4.0
        });
        let b = ndarray::Array1::from_shape_fn(37, |j| (j as f32 * 0.7).cos());
        let dy0 = ndarray::Array2::from_shape_fn((3, 37), |(i, j)| ((i + j) as f32 * 0.9).cos());
        for act in ALL {
            for portable in [false, true] {
                let mut y = y0.clone();
                let mut dy = dy0.clone();
                let mut run = || {
                    act.bias_forward(y.view_mut(), b.view());
                    act.backward_inplace(y.view(), dy.view_mut());
                };
                if portable {
                    crate::nn::simd::portable(run);
                } else {
                    run();
                }
                for ((i, j), &v) in y.indexed_iter() {
                    assert_eq!(v, act.apply(y0[[i, j]] + b[j]), "{act:?}");
                    let d = dy0[[i, j]] * act.derivative_from_output(v);
                    assert_eq!(dy[[i, j]], d, "{act:?}");
                }
            }
            // One channel's run (convolutions), every version.
            for portable in [false, true] {
                let src = y0.row(1).to_vec();
                let mut dst = vec![f32::NAN; src.len()];
                let mut run = || act.bias_forward_run(&mut dst, &src, 0.37);
                if portable {
                    crate::nn::simd::portable(run);
                } else {
                    run();
                }
                for (d, s) in dst.iter().zip(&src) {
                    assert_eq!(*d, act.apply(s + 0.37), "{act:?}");
                }
            }
            // Transposed views: the element-wise path.
            let mut yt = y0.t().to_owned();
            let mut dyt = dy0.t().to_owned();
            act.bias_forward(yt.view_mut().reversed_axes(), b.view());
            act.backward_inplace(yt.t(), dyt.view_mut().reversed_axes());
            for ((i, j), &v) in yt.t().indexed_iter() {
                assert_eq!(v, act.apply(y0[[i, j]] + b[j]), "{act:?}");
                assert_eq!(dyt[[j, i]], dy0[[i, j]] * act.derivative_from_output(v));
            }
        }
    }
}
