//! Fully connected layer with a fused activation: `y = f(x·Wᵀ + b)`.
//!
//! # Shapes
//! - `x`: `[batch, in]`, `y`: `[batch, out]`
//! - `W`: `[out, in]` (row `o` holds the input weights of output unit `o`; the model file stores
//!   it in this layout), `b`: `[out]`
//!
//! # Backward
//! With `dz = dy ⊙ f'(y)` (the gradient at the pre-activation):
//! `dW = dzᵀ·x` `[out, in]`, `db = Σ_rows dz` `[out]`, `dx = dz·W` `[batch, in]`.
//! Each product is one sgemm call on strided views; no operand is transposed in memory.
//!
//! ```
//! use aeflow::nn::{Activation, Dense};
//! use ndarray::{array, Array2};
//!
//! let layer = Dense::from_parts(array![[1.0, -1.0], [0.5, 0.5], [2.0, 0.0]], array![0.0, 1.0, -1.0], Activation::Relu)?;
//! let mut y = Array2::zeros((1, 3));
//! layer.forward(array![[3.0, 1.0]].view(), y.view_mut());
//! assert_eq!(y, array![[2.0, 3.0, 5.0]]);
//! # Ok::<(), aeflow::Error>(())
//! ```

use ndarray::{Array1, Array2, ArrayView2, ArrayViewMut1, ArrayViewMut2};
use rand::Rng;

use super::activation::Activation;
use super::gemm::gemm;
use super::init::Init;
use super::simd::multiversion;
use crate::error::{Error, Result};

/// A dense layer: weights `[out, in]`, bias `[out]` and the activation applied to its output.
#[derive(Debug, Clone, PartialEq)]
pub struct Dense {
    weight: Array2<f32>,
    bias: Array1<f32>,
    activation: Activation,
}

/// Gradients of a [`Dense`] layer's parameters, same shapes as the parameters.
#[derive(Debug, Clone, PartialEq)]
pub struct DenseGrad {
    /// `∂L/∂W`, `[out, in]`.
    pub weight: Array2<f32>,
    /// `∂L/∂b`, `[out]`.
    pub bias: Array1<f32>,
}

/// Where the incoming gradient of a backward pass sits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GradAt {
    /// `∂L/∂y`, the gradient at the layer's output (the usual case).
    Output,
    /// `∂L/∂z`, already through the activation (a loss fused with the output activation, such
    /// as binary cross-entropy on a sigmoid).
    PreActivation,
}

impl Dense {
    /// A layer with weights drawn by [`Init::for_activation`] and zero biases.
    pub fn new(
        in_features: usize,
        out_features: usize,
        activation: Activation,
        rng: &mut impl Rng,
    ) -> Self {
        let weight = Init::for_activation(activation).weights(out_features, in_features, rng);
        Dense {
            weight,
            bias: Array1::zeros(out_features),
            activation,
        }
    }

    /// A layer from given parameters; `weight` is `[out, in]` and `bias` `[out]`.
    pub fn from_parts(
        weight: Array2<f32>,
        bias: Array1<f32>,
        activation: Activation,
    ) -> Result<Self> {
        if bias.len() != weight.nrows() {
            return Err(Error::shape(
                "Dense::from_parts",
                format!("bias of length {} (rows of the weight)", weight.nrows()),
                format!("length {}", bias.len()),
            ));
        }
        Ok(Dense {
            weight: weight.as_standard_layout().into_owned(),
            bias,
            activation,
        })
    }

    /// Input width.
    pub fn in_features(&self) -> usize {
        self.weight.ncols()
    }

    /// Output width.
    pub fn out_features(&self) -> usize {
        self.weight.nrows()
    }

    /// The activation applied to the output.
    pub fn activation(&self) -> Activation {
        self.activation
    }

    /// `W`, `[out, in]`.
    pub fn weight(&self) -> &Array2<f32> {
        &self.weight
    }

    /// `b`, `[out]`.
    pub fn bias(&self) -> &Array1<f32> {
        &self.bias
    }

    /// Parameters for an optimizer step: `(W, b)` as contiguous slices.
    pub fn params_mut(&mut self) -> (&mut [f32], &mut [f32]) {
        let w = self
            .weight
            .as_slice_mut()
            .expect("Dense keeps its weight in standard layout");
        let b = self
            .bias
            .as_slice_mut()
            .expect("Dense keeps its bias contiguous");
        (w, b)
    }

    /// Zeroed gradients of this layer's shape.
    pub fn zero_grad(&self) -> DenseGrad {
        DenseGrad {
            weight: Array2::zeros(self.weight.raw_dim()),
            bias: Array1::zeros(self.bias.len()),
        }
    }

    /// `y ← f(x·Wᵀ + b)`: one sgemm into `y`, then one fused pass for bias and activation.
    ///
    /// # Shapes
    /// `x`: `[batch, in]`, `y`: `[batch, out]` (its contents on entry are ignored).
    pub fn forward(&self, x: ArrayView2<'_, f32>, mut y: ArrayViewMut2<'_, f32>) {
        gemm(1.0, x, self.weight.t(), 0.0, y.view_mut());
        self.activation.bias_forward(y, self.bias.view());
    }

    /// [`Dense::forward`], calling `inspect` on the product `x·Wᵀ` (before bias and activation,
    /// `[batch, out]`) in between.
    pub fn forward_inspecting(
        &self,
        x: ArrayView2<'_, f32>,
        mut y: ArrayViewMut2<'_, f32>,
        inspect: impl FnOnce(ArrayView2<'_, f32>),
    ) {
        gemm(1.0, x, self.weight.t(), 0.0, y.view_mut());
        inspect(y.view());
        self.activation.bias_forward(y, self.bias.view());
    }

    /// The layer that computes on raw inputs `r` what this one computes on `(r − offset) / scale`
    /// (column by column): `W'[o, j] = W[o, j] / scale[j]`, `b'[o] = b[o] − Σⱼ W'[o, j]·offset[j]`
    /// (the sum in f64). Equal in exact arithmetic; in f32 the products `W'·r` are rounded on
    /// `r`'s magnitude instead of `(r − offset)`'s, so the caller folds only when `|offset| /
    /// scale` is moderate.
    ///
    /// # Shapes
    /// `offset`, `scale`: `[in]`, every `scale[j] ≠ 0`.
    pub fn fold_input_affine(&self, offset: &[f32], scale: &[f32]) -> Dense {
        debug_assert_eq!(offset.len(), self.in_features());
        debug_assert_eq!(scale.len(), self.in_features());
        let mut weight = self.weight.clone();
        for mut row in weight.rows_mut() {
            row.iter_mut().zip(scale).for_each(|(w, &s)| *w /= s);
        }
        let bias = weight
            .rows()
            .into_iter()
            .zip(&self.bias)
            .map(|(row, &b)| {
                let shift: f64 = row
                    .iter()
                    .zip(offset)
                    .map(|(&w, &o)| w as f64 * o as f64)
                    .sum();
                (b as f64 - shift) as f32
            })
            .collect();
        Dense {
            weight,
            bias,
            activation: self.activation,
        }
    }

    /// Backward pass for one batch.
    ///
    /// `dy` holds the incoming gradient (see [`GradAt`]) and is overwritten with `dz`, the
    /// gradient at the pre-activation. The parameter gradients are *written* (not accumulated) to
    /// `grad`; when `dx` is given, `∂L/∂x` is written to it.
    ///
    /// # Shapes
    /// `x`, `dx`: `[batch, in]`; `y`, `dy`: `[batch, out]`.
    pub fn backward(
        &self,
        x: ArrayView2<'_, f32>,
        y: ArrayView2<'_, f32>,
        mut dy: ArrayViewMut2<'_, f32>,
        at: GradAt,
        grad: &mut DenseGrad,
        dx: Option<ArrayViewMut2<'_, f32>>,
    ) {
        if at == GradAt::Output {
            self.activation.backward_inplace(y, dy.view_mut());
        }
        let dz = dy.view();
        gemm(1.0, dz.t(), x, 0.0, grad.weight.view_mut());
        column_sums(dz, grad.bias.view_mut());
        if let Some(dx) = dx {
            gemm(1.0, dz, self.weight.view(), 0.0, dx);
        }
    }
}

/// `s[j] ← Σᵢ a[i, j]`, summed row after row (the same order whatever the vector width).
fn column_sums(a: ArrayView2<'_, f32>, mut s: ArrayViewMut1<'_, f32>) {
    s.fill(0.0);
    if let (Some(all), Some(sums)) = (a.as_slice(), s.as_slice_mut()) {
        add_rows(sums, all);
        return;
    }
    for row in a.rows() {
        match (s.as_slice_mut(), row.to_slice()) {
            (Some(s), Some(row)) => add_assign(s, row),
            (_, _) => s.zip_mut_with(&row, |g, &d| *g += d),
        }
    }
}

multiversion! {
    /// `acc[j] += Σ_rows all[row, j]` for a standard-layout matrix of `acc.len()` columns, row
    /// after row.
    fn add_rows(acc: &mut [f32], all: &[f32]) {
        if acc.is_empty() {
            return;
        }
        for row in all.chunks_exact(acc.len()) {
            for (a, &v) in acc.iter_mut().zip(row) {
                *a += v;
            }
        }
    }
}

multiversion! {
    /// `acc[j] += x[j]`.
    fn add_assign(acc: &mut [f32], x: &[f32]) {
        for (a, &v) in acc.iter_mut().zip(x) {
            *a += v;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nn::gradcheck::check_layer_gradients;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    /// L = Σ c ⊙ y for a fixed random c, so ∂L/∂y = c.
    #[test]
    fn gradients_match_finite_differences_for_every_activation() {
        let acts = [
            Activation::Relu,
            Activation::LeakyRelu,
            Activation::Elu,
            Activation::Selu,
            Activation::Tanh,
            Activation::Sigmoid,
            Activation::Linear,
        ];
        for act in acts {
            let mut rng = ChaCha8Rng::seed_from_u64(3);
            let layer = Dense::new(4, 3, act, &mut rng);
            let x = Array2::from_shape_fn((5, 4), |(i, j)| ((i * 4 + j) as f32 * 0.37).sin());
            let c = Array2::from_shape_fn((5, 3), |(i, j)| ((i * 3 + j) as f32 * 0.91).cos());
            check_layer_gradients(&layer.into(), &x, &c, &format!("{act:?}"));
        }
    }

    #[test]
    fn rejects_bias_of_wrong_length() {
        let err = Dense::from_parts(Array2::zeros((3, 2)), Array1::zeros(2), Activation::Relu)
            .unwrap_err();
        assert!(err.to_string().contains("bias of length 3"), "{err}");
    }
}
