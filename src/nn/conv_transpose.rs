//! Transposed convolution (1-D or 2-D), the decoder's learned upsampling: the adjoint of a
//! strided [`super::Conv`], with a bias and a fused activation.
//!
//! The layer is described by the geometry of the convolution it transposes: that convolution
//! maps an image of this layer's *output* shape `[F, H, W]` to this layer's *input* shape
//! `[C, Ho, Wo]` (`Ho, Wo` = [`ConvGeometry::out_size`]). Choosing `H, W` directly (rather than
//! through PyTorch's `output_padding`) lets a decoder land exactly on the encoder's sizes, odd
//! ones included: `H = (Ho − 1)·sh − 2ph + kh + output_padding`.
//!
//! # Shapes
//! - `x`: `[batch, C·Ho·Wo]`, `y`: `[batch, F·H·W]`
//! - `W`: `[C, F·kh·kw]`, i.e. PyTorch's `ConvTranspose2d` weight `[C, F, kh, kw]` flattened;
//!   `b`: `[F]`
//!
//! # Forward and backward
//! For a block of `n` samples with `X` the input rearranged to `[C, n·P]` (`P = Ho·Wo`):
//! `y = act(col2im(Wᵀ·X) + b)`. Backward, with `dZ` the gradient at the pre-activation and
//! `cols = im2col(dZ)` `[F·kh·kw, n·P]`: `dW = X·colsᵀ`, `db[f] = Σ dZ[f, ·]`, `dX = W·cols`.

use ndarray::{Array1, Array2, ArrayView2, ArrayViewMut2};
use rand::Rng;

use super::activation::Activation;
use super::conv::{view, view_mut};
use super::dense::{DenseGrad, GradAt};
use super::gemm::gemm;
use super::im2col::{
    ConvGeometry, channels_to_row, col2im, im2col, row_of, row_to_channels, with_row_mut,
};
use super::init::Init;
use super::scratch::{block_rows, take, with_scratch};
use crate::error::{Error, Result};

/// A transposed convolution: the geometry of the convolution it transposes, weights `[C, F·kh·kw]`,
/// bias `[F]` and activation.
#[derive(Debug, Clone, PartialEq)]
pub struct ConvTranspose {
    geometry: ConvGeometry,
    weight: Array2<f32>,
    bias: Array1<f32>,
    activation: Activation,
}

impl ConvTranspose {
    /// A transposed convolution from `in_channels` channels to `geometry.channels`, producing
    /// `geometry.size`. Weights are drawn by [`Init::for_activation`] with fan-in `C·kh·kw/(sh·sw)`
    /// (the inputs that reach one output, on average) and fan-out `F·kh·kw`; biases are zero.
    pub fn new(
        geometry: ConvGeometry,
        in_channels: usize,
        activation: Activation,
        rng: &mut impl Rng,
    ) -> Result<Self> {
        geometry.validate("ConvTranspose::new")?;
        let taps = geometry.kernel[0] * geometry.kernel[1];
        let fan_in = (in_channels * taps).div_ceil(geometry.stride[0] * geometry.stride[1]);
        let a = Init::for_activation(activation).limit(fan_in, geometry.patch_len());
        let weight = Array2::from_shape_simple_fn((in_channels, geometry.patch_len()), || {
            rng.random_range(-a..=a)
        });
        let bias = Array1::zeros(geometry.channels);
        Self::from_parts(geometry, weight, bias, activation)
    }

    /// From given parameters: `weight` `[C, F·kh·kw]`, `bias` `[F]` (`F = geometry.channels`).
    pub fn from_parts(
        geometry: ConvGeometry,
        weight: Array2<f32>,
        bias: Array1<f32>,
        activation: Activation,
    ) -> Result<Self> {
        geometry.validate("ConvTranspose::from_parts")?;
        if weight.ncols() != geometry.patch_len() || weight.nrows() == 0 {
            return Err(Error::shape(
                "ConvTranspose::from_parts",
                format!("a weight of [C, {}] with C ≥ 1", geometry.patch_len()),
                format!("{:?}", weight.dim()),
            ));
        }
        if bias.len() != geometry.channels {
            return Err(Error::shape(
                "ConvTranspose::from_parts",
                format!("bias of length {} (output channels)", geometry.channels),
                format!("length {}", bias.len()),
            ));
        }
        Ok(ConvTranspose {
            geometry,
            weight: weight.as_standard_layout().into_owned(),
            bias,
            activation,
        })
    }

    /// Geometry of the transposed convolution (its input is this layer's output).
    pub fn geometry(&self) -> &ConvGeometry {
        &self.geometry
    }

    /// Input channels `C`.
    pub fn in_channels(&self) -> usize {
        self.weight.nrows()
    }

    /// Output channels `F`.
    pub fn out_channels(&self) -> usize {
        self.geometry.channels
    }

    /// Input width `C·Ho·Wo`.
    pub fn in_features(&self) -> usize {
        self.in_channels() * self.geometry.out_positions()
    }

    /// Output width `F·H·W`.
    pub fn out_features(&self) -> usize {
        self.geometry.in_features()
    }

    /// The activation applied to the output.
    pub fn activation(&self) -> Activation {
        self.activation
    }

    /// `W`, `[C, F·kh·kw]`.
    pub fn weight(&self) -> &Array2<f32> {
        &self.weight
    }

    /// `b`, `[F]`.
    pub fn bias(&self) -> &Array1<f32> {
        &self.bias
    }

    /// Parameters for an optimizer step: `(W, b)` as contiguous slices.
    pub fn params_mut(&mut self) -> (&mut [f32], &mut [f32]) {
        let w = self
            .weight
            .as_slice_mut()
            .expect("ConvTranspose keeps its weight in standard layout");
        let b = self
            .bias
            .as_slice_mut()
            .expect("ConvTranspose keeps its bias contiguous");
        (w, b)
    }

    /// Zeroed gradients of this layer's shape.
    pub fn zero_grad(&self) -> DenseGrad {
        DenseGrad {
            weight: Array2::zeros(self.weight.raw_dim()),
            bias: Array1::zeros(self.bias.len()),
        }
    }

    /// Multiply-adds of one sample's forward pass, `C·F·kh·kw·Ho·Wo`.
    pub fn macs_per_sample(&self) -> usize {
        self.in_channels() * self.geometry.patch_len() * self.geometry.out_positions()
    }

    /// `y ← act(convᵀ(x) + b)`.
    ///
    /// # Shapes
    /// `x`: `[batch, C·Ho·Wo]`, `y`: `[batch, F·H·W]` (its contents on entry are ignored).
    pub fn forward(&self, x: ArrayView2<'_, f32>, mut y: ArrayViewMut2<'_, f32>) {
        let g = &self.geometry;
        let (k, p, c) = (g.patch_len(), g.out_positions(), self.in_channels());
        let out_p = g.in_positions();
        let rows = x.nrows();
        with_scratch(|s| {
            let block = block_rows(k * p, rows);
            let mut tmp = Vec::new();
            for b0 in (0..rows).step_by(block) {
                let nb = block.min(rows - b0);
                let ld = nb * p;
                let xm = take(&mut s.a, c * ld);
                for i in 0..nb {
                    row_to_channels(row_of(x, b0 + i, &mut tmp), p, xm, ld, i * p);
                }
                let cols = take(&mut s.b, k * ld);
                gemm(
                    1.0,
                    self.weight.t(),
                    view(xm, c, ld),
                    0.0,
                    view_mut(cols, k, ld),
                );
                for i in 0..nb {
                    with_row_mut(&mut y, b0 + i, |row| {
                        row.fill(0.0);
                        col2im(g, cols, ld, i * p, row);
                        for (o, run) in row.chunks_exact_mut(out_p).enumerate() {
                            let b = self.bias[o];
                            match self.activation {
                                Activation::Linear => run.iter_mut().for_each(|v| *v += b),
                                a => run.iter_mut().for_each(|v| *v = a.apply(*v + b)),
                            }
                        }
                    });
                }
            }
        });
    }

    /// Backward pass for one batch, with the contract of [`super::Dense::backward`].
    ///
    /// # Shapes
    /// `x`, `dx`: `[batch, C·Ho·Wo]`; `y`, `dy`: `[batch, F·H·W]`.
    pub fn backward(
        &self,
        x: ArrayView2<'_, f32>,
        y: ArrayView2<'_, f32>,
        mut dy: ArrayViewMut2<'_, f32>,
        at: GradAt,
        grad: &mut DenseGrad,
        mut dx: Option<ArrayViewMut2<'_, f32>>,
    ) {
        if at == GradAt::Output {
            self.activation.backward_inplace(y, dy.view_mut());
        }
        let g = &self.geometry;
        let (k, p, c) = (g.patch_len(), g.out_positions(), self.in_channels());
        let out_p = g.in_positions();
        let rows = x.nrows();
        grad.weight.fill(0.0);
        grad.bias.fill(0.0);
        let dz = dy.view();
        let mut tmp = Vec::new();
        for b in 0..rows {
            for (o, run) in row_of(dz, b, &mut tmp).chunks_exact(out_p).enumerate() {
                grad.bias[o] += run.iter().sum::<f32>();
            }
        }
        with_scratch(|s| {
            let block = block_rows(k * p, rows);
            for b0 in (0..rows).step_by(block) {
                let nb = block.min(rows - b0);
                let ld = nb * p;
                let cols = take(&mut s.a, k * ld);
                for i in 0..nb {
                    im2col(g, row_of(dz, b0 + i, &mut tmp), cols, ld, i * p);
                }
                let xm = take(&mut s.b, c * ld);
                for i in 0..nb {
                    row_to_channels(row_of(x, b0 + i, &mut tmp), p, xm, ld, i * p);
                }
                gemm(
                    1.0,
                    view(xm, c, ld),
                    view(cols, k, ld).t(),
                    1.0,
                    grad.weight.view_mut(),
                );
                if let Some(dx) = dx.as_mut() {
                    let dxm = take(&mut s.c, c * ld);
                    gemm(
                        1.0,
                        self.weight.view(),
                        view(cols, k, ld),
                        0.0,
                        view_mut(dxm, c, ld),
                    );
                    for i in 0..nb {
                        with_row_mut(dx, b0 + i, |row| channels_to_row(dxm, ld, i * p, p, row));
                    }
                }
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nn::Conv;
    use crate::nn::gradcheck::check_layer_gradients;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    fn check(g: ConvGeometry, c: usize, act: Activation, what: &str) {
        let mut rng = ChaCha8Rng::seed_from_u64(6);
        let mut layer = ConvTranspose::new(g, c, act, &mut rng).unwrap();
        layer.bias = Array1::from_shape_fn(g.channels, |i| 0.2 * i as f32 - 0.1);
        let rows = 3;
        let x = Array2::from_shape_fn((rows, layer.in_features()), |(i, j)| {
            ((i * 13 + j) as f32 * 0.41).sin()
        });
        let t = Array2::from_shape_fn((rows, layer.out_features()), |(i, j)| {
            ((i * 7 + j) as f32 * 0.83).cos()
        });
        check_layer_gradients(&layer.into(), &x, &t, what);
    }

    #[test]
    fn gradients_match_finite_differences_in_1d_and_2d() {
        // 2-D: [2, 7, 5] out of [3, 4, 3] (odd sizes: output padding 0 on rows, 1 on columns … ).
        let g2 = ConvGeometry {
            channels: 2,
            size: [7, 6],
            kernel: [3, 3],
            stride: [2, 2],
            padding: [1, 1],
        };
        for act in [Activation::Linear, Activation::Tanh, Activation::Sigmoid] {
            check(g2, 3, act, &format!("conv_transpose2d {act:?}"));
        }
        let g1 = ConvGeometry {
            channels: 2,
            size: [1, 10],
            kernel: [1, 4],
            stride: [1, 2],
            padding: [0, 1],
        };
        check(g1, 2, Activation::Elu, "conv_transpose1d");
    }

    /// ⟨conv(u), v⟩ = ⟨u, convᵀ(v)⟩ for linear layers sharing one weight (no bias).
    #[test]
    fn is_the_adjoint_of_the_convolution_with_the_same_weights() {
        let g = ConvGeometry {
            channels: 2,
            size: [6, 5],
            kernel: [3, 2],
            stride: [2, 1],
            padding: [1, 0],
        };
        let mut rng = ChaCha8Rng::seed_from_u64(2);
        let conv = Conv::new(g, 3, Activation::Linear, &mut rng).unwrap();
        let t = ConvTranspose::from_parts(
            g,
            conv.weight().clone(),
            Array1::zeros(2),
            Activation::Linear,
        )
        .unwrap();
        let u = Array2::from_shape_fn((2, conv.in_features()), |(i, j)| ((i + 3 * j) as f32).sin());
        let v = Array2::from_shape_fn((2, conv.out_features()), |(i, j)| {
            ((2 * i + j) as f32).cos()
        });
        let mut cu = Array2::zeros(v.raw_dim());
        conv.forward(u.view(), cu.view_mut());
        let mut tv = Array2::zeros(u.raw_dim());
        t.forward(v.view(), tv.view_mut());
        let lhs: f32 = (&cu * &v).sum();
        let rhs: f32 = (&u * &tv).sum();
        assert!(
            (lhs - rhs).abs() < 1e-4 * (1.0 + lhs.abs()),
            "{lhs} vs {rhs}"
        );
    }
}
