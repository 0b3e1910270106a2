//! Convolution layer (1-D or 2-D) with stride, zero padding and a fused activation, computed as
//! im2col followed by one sgemm per block of samples.
//!
//! # Shapes
//! - `x`: `[batch, C·H·W]` (each row a flattened `[C, H, W]` sample; a sequence is `[C, 1, L]`)
//! - `y`: `[batch, F·Ho·Wo]` (each row a flattened `[F, Ho, Wo]`, see [`ConvGeometry`])
//! - `W`: `[F, C·kh·kw]`, i.e. PyTorch's `[F, C, kh, kw]` (or `[F, C, k]` in 1-D) flattened;
//!   `b`: `[F]`
//!
//! # Forward
//! For a block of `n` samples, `cols = im2col(x)` is `[K, n·P]` (`K = C·kh·kw`, `P = Ho·Wo`),
//! `Z = W·cols` is `[F, n·P]`, and `y[s, f·P + p] = act(Z[f, s·P + p] + b[f])`.
//!
//! # Backward
//! With `dZ` the gradient at the pre-activation, rearranged to `[F, n·P]`:
//! `dW = Σ_blocks dZ·colsᵀ`, `db[f] = Σ dZ[f, ·]`, `dx = col2im(Wᵀ·dZ)`.
//! The patch matrix is rebuilt from `x` in the backward pass rather than kept from the forward
//! pass: it is `K` times larger than the input, and rebuilding it costs no arithmetic.

use ndarray::{Array1, Array2, ArrayView2, ArrayViewMut2};
use rand::Rng;

use super::activation::Activation;
use super::dense::{DenseGrad, GradAt};
use super::gemm::gemm;
use super::im2col::{ConvGeometry, col2im, im2col, row_of, row_to_channels, with_row_mut};
use super::init::Init;
use super::scratch::{block_rows, take, with_scratch};
use crate::error::{Error, Result};

/// A convolution: geometry, weights `[F, K]`, bias `[F]` and activation.
#[derive(Debug, Clone, PartialEq)]
pub struct Conv {
    geometry: ConvGeometry,
    weight: Array2<f32>,
    bias: Array1<f32>,
    activation: Activation,
}

/// `y = act(z + bias)` over a run of one channel's positions (vectorised, see
/// [`Activation::bias_forward_run`]).
#[inline]
pub(crate) fn bias_activation(act: Activation, dst: &mut [f32], src: &[f32], bias: f32) {
    act.bias_forward_run(dst, src, bias);
}

impl Conv {
    /// A convolution with `filters` output channels over `geometry`, weights drawn by
    /// [`Init::for_activation`] with fan-in `C·kh·kw` and fan-out `F·kh·kw`, zero biases.
    pub fn new(
        geometry: ConvGeometry,
        filters: usize,
        activation: Activation,
        rng: &mut impl Rng,
    ) -> Result<Self> {
        geometry.validate("Conv::new")?;
        let k = geometry.patch_len();
        let taps = geometry.kernel[0] * geometry.kernel[1];
        let a = Init::for_activation(activation).limit(k, filters * taps);
        let weight = Array2::from_shape_simple_fn((filters, k), || rng.random_range(-a..=a));
        Self::from_parts(geometry, weight, Array1::zeros(filters), activation)
    }

    /// From given parameters: `weight` `[F, C·kh·kw]`, `bias` `[F]`.
    pub fn from_parts(
        geometry: ConvGeometry,
        weight: Array2<f32>,
        bias: Array1<f32>,
        activation: Activation,
    ) -> Result<Self> {
        geometry.validate("Conv::from_parts")?;
        if weight.ncols() != geometry.patch_len() || weight.nrows() == 0 {
            return Err(Error::shape(
                "Conv::from_parts",
                format!("a weight of [F, {}] with F ≥ 1", geometry.patch_len()),
                format!("{:?}", weight.dim()),
            ));
        }
        if bias.len() != weight.nrows() {
            return Err(Error::shape(
                "Conv::from_parts",
                format!("bias of length {} (rows of the weight)", weight.nrows()),
                format!("length {}", bias.len()),
            ));
        }
        Ok(Conv {
            geometry,
            weight: weight.as_standard_layout().into_owned(),
            bias,
            activation,
        })
    }

    /// The input geometry.
    pub fn geometry(&self) -> &ConvGeometry {
        &self.geometry
    }

    /// Output channels `F`.
    pub fn filters(&self) -> usize {
        self.weight.nrows()
    }

    /// Input width `C·H·W`.
    pub fn in_features(&self) -> usize {
        self.geometry.in_features()
    }

    /// Output width `F·Ho·Wo`.
    pub fn out_features(&self) -> usize {
        self.filters() * self.geometry.out_positions()
    }

    /// The activation applied to the output.
    pub fn activation(&self) -> Activation {
        self.activation
    }

    /// `W`, `[F, C·kh·kw]`.
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
            .expect("Conv keeps its weight in standard layout");
        let b = self
            .bias
            .as_slice_mut()
            .expect("Conv keeps its bias contiguous");
        (w, b)
    }

    /// Zeroed gradients of this layer's shape.
    pub fn zero_grad(&self) -> DenseGrad {
        DenseGrad {
            weight: Array2::zeros(self.weight.raw_dim()),
            bias: Array1::zeros(self.bias.len()),
        }
    }

    /// Multiply-adds of one sample's forward pass, `F·K·P` (twice that in FLOPs).
    pub fn macs_per_sample(&self) -> usize {
        self.filters() * self.geometry.patch_len() * self.geometry.out_positions()
    }

    /// `y ← act(conv(x) + b)`.
    ///
    /// # Shapes
    /// `x`: `[batch, C·H·W]`, `y`: `[batch, F·Ho·Wo]` (its contents on entry are ignored).
    pub fn forward(&self, x: ArrayView2<'_, f32>, mut y: ArrayViewMut2<'_, f32>) {
        let g = &self.geometry;
        let (k, p, f) = (g.patch_len(), g.out_positions(), self.filters());
        let rows = x.nrows();
        with_scratch(|s| {
            let block = block_rows(k * p, rows);
            let mut tmp = Vec::new();
            for b0 in (0..rows).step_by(block) {
                let nb = block.min(rows - b0);
                let ld = nb * p;
                let cols = take(&mut s.a, k * ld);
                for i in 0..nb {
                    im2col(g, row_of(x, b0 + i, &mut tmp), cols, ld, i * p);
                }
                let z = take(&mut s.b, f * ld);
                gemm(
                    1.0,
                    self.weight.view(),
                    view(cols, k, ld),
                    0.0,
                    view_mut(z, f, ld),
                );
                for i in 0..nb {
                    with_row_mut(&mut y, b0 + i, |row| {
                        for (o, dst) in row.chunks_exact_mut(p).enumerate() {
                            let src = &z[o * ld + i * p..o * ld + (i + 1) * p];
                            bias_activation(self.activation, dst, src, self.bias[o]);
                        }
                    });
                }
            }
        });
    }

    /// Backward pass for one batch; the contract of [`super::Dense::backward`]: `dy` is
    /// overwritten with the gradient at the pre-activation, parameter gradients are written to
    /// `grad`, and `∂L/∂x` to `dx` when given.
    ///
    /// # Shapes
    /// `x`, `dx`: `[batch, C·H·W]`; `y`, `dy`: `[batch, F·Ho·Wo]`.
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
        let (k, p, f) = (g.patch_len(), g.out_positions(), self.filters());
        let rows = x.nrows();
        grad.weight.fill(0.0);
        grad.bias.fill(0.0);
        let dz = dy.view();
        let mut tmp = Vec::new();
        for b in 0..rows {
            for (o, run) in row_of(dz, b, &mut tmp).chunks_exact(p).enumerate() {
                grad.bias[o] += run.iter().sum::<f32>();
            }
        }
        with_scratch(|s| {
            let block = block_rows(k * p, rows);
            let mut tmp = Vec::new();
            for b0 in (0..rows).step_by(block) {
                let nb = block.min(rows - b0);
                let ld = nb * p;
                let cols = take(&mut s.a, k * ld);
                for i in 0..nb {
                    im2col(g, row_of(x, b0 + i, &mut tmp), cols, ld, i * p);
                }
                let dzm = take(&mut s.b, f * ld);
                for i in 0..nb {
                    row_to_channels(row_of(dz, b0 + i, &mut tmp), p, dzm, ld, i * p);
                }
                gemm(
                    1.0,
                    view(dzm, f, ld),
                    view(cols, k, ld).t(),
                    1.0,
                    grad.weight.view_mut(),
                );
                if let Some(dx) = dx.as_mut() {
                    let dcols = take(&mut s.c, k * ld);
                    gemm(
                        1.0,
                        self.weight.t(),
                        view(dzm, f, ld),
                        0.0,
                        view_mut(dcols, k, ld),
                    );
                    for i in 0..nb {
                        with_row_mut(dx, b0 + i, |row| {
                            row.fill(0.0);
                            col2im(g, dcols, ld, i * p, row);
                        });
                    }
                }
            }
        });
    }
}

/// `[rows, cols]` view of the first `rows·cols` floats of `buf`.
pub(crate) fn view(buf: &[f32], rows: usize, cols: usize) -> ArrayView2<'_, f32> {
    ArrayView2::from_shape((rows, cols), &buf[..rows * cols]).expect("buffer holds rows·cols")
}

/// Mutable `[rows, cols]` view of the first `rows·cols` floats of `buf`.
pub(crate) fn view_mut(buf: &mut [f32], rows: usize, cols: usize) -> ArrayViewMut2<'_, f32> {
    ArrayViewMut2::from_shape((rows, cols), &mut buf[..rows * cols])
        .expect("buffer holds rows·cols")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nn::gradcheck::{assert_close, check_layer_gradients};
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    /// Direct (six nested loops) definition of the convolution.
    fn naive(c: &Conv, x: ArrayView2<f32>) -> Array2<f32> {
        let g = c.geometry();
        let [h, w] = g.size;
        let [ho, wo] = g.out_size();
        let [kh, kw] = g.kernel;
        let mut y = Array2::zeros((x.nrows(), c.out_features()));
        for s in 0..x.nrows() {
            for f in 0..c.filters() {
                for oy in 0..ho {
                    for ox in 0..wo {
                        let mut acc = c.bias()[f];
                        for ch in 0..g.channels {
                            for i in 0..kh {
                                for j in 0..kw {
                                    let iy =
                                        (oy * g.stride[0] + i) as isize - g.padding[0] as isize;
                                    let ix =
                                        (ox * g.stride[1] + j) as isize - g.padding[1] as isize;
                                    if iy >= 0 && ix >= 0 && (iy as usize) < h && (ix as usize) < w
                                    {
                                        acc += c.weight()[[f, (ch * kh + i) * kw + j]]
                                            * x[[s, ch * h * w + iy as usize * w + ix as usize]];
                                    }
                                }
                            }
                        }
                        y[[s, f * ho * wo + oy * wo + ox]] = c.activation().apply(acc);
                    }
                }
            }
        }
        y
    }

    pub(crate) fn geometry_2d() -> ConvGeometry {
        ConvGeometry {
            channels: 2,
            size: [5, 4],
            kernel: [3, 3],
            stride: [2, 1],
            padding: [1, 1],
        }
    }

    pub(crate) fn geometry_1d() -> ConvGeometry {
        ConvGeometry {
            channels: 2,
            size: [1, 9],
            kernel: [1, 3],
            stride: [1, 2],
            padding: [0, 1],
        }
    }

    fn check_gradients(g: ConvGeometry, act: Activation, what: &str) {
        let mut rng = ChaCha8Rng::seed_from_u64(4);
        let mut layer = Conv::new(g, 3, act, &mut rng).unwrap();
        layer.bias = Array1::from_shape_fn(3, |i| 0.1 * i as f32 - 0.1);
        let rows = 3;
        let x = Array2::from_shape_fn((rows, g.in_features()), |(i, j)| {
            ((i * 31 + j) as f32 * 0.37).sin()
        });
        let c = Array2::from_shape_fn((rows, layer.out_features()), |(i, j)| {
            ((i * 17 + j) as f32 * 0.91).cos()
        });
        let mut y = Array2::zeros((rows, layer.out_features()));
        layer.forward(x.view(), y.view_mut());
        assert_close(&y, &naive(&layer, x.view()), &format!("{what} forward"));
        check_layer_gradients(&layer.into(), &x, &c, what);
    }

    #[test]
    fn conv2d_matches_the_definition_and_finite_differences() {
        for act in [Activation::Linear, Activation::Tanh, Activation::Elu] {
            check_gradients(geometry_2d(), act, &format!("conv2d {act:?}"));
        }
        // Stride 2 both ways, no padding, one input channel.
        let g = ConvGeometry {
            channels: 1,
            size: [6, 6],
            kernel: [2, 2],
            stride: [2, 2],
            padding: [0, 0],
        };
        check_gradients(g, Activation::Sigmoid, "conv2d k2 s2");
    }

    #[test]
    fn conv1d_matches_the_definition_and_finite_differences() {
        for act in [Activation::Linear, Activation::Tanh] {
            check_gradients(geometry_1d(), act, &format!("conv1d {act:?}"));
        }
    }

    #[test]
    fn blocks_and_single_rows_agree() {
        // Enough rows of a large geometry to need several blocks.
        let g = ConvGeometry {
            channels: 4,
            size: [24, 24],
            kernel: [3, 3],
            stride: [1, 1],
            padding: [1, 1],
        };
        let layer = Conv::new(g, 8, Activation::Relu, &mut ChaCha8Rng::seed_from_u64(1)).unwrap();
        let rows = 2 * block_rows(g.patch_len() * g.out_positions(), usize::MAX) + 3;
        let x = Array2::from_shape_fn((rows, g.in_features()), |(i, j)| {
            ((i * 7 + j) as f32 * 0.013).sin()
        });
        let mut y = Array2::zeros((rows, layer.out_features()));
        layer.forward(x.view(), y.view_mut());
        for r in [0, rows / 2, rows - 1] {
            let mut one = Array2::zeros((1, layer.out_features()));
            layer.forward(x.slice(ndarray::s![r..r + 1, ..]), one.view_mut());
            assert_eq!(one.row(0), y.row(r));
        }
    }

    #[test]
    fn rejects_mismatched_parameters() {
        let e = Conv::from_parts(
            geometry_2d(),
            Array2::zeros((3, 5)),
            Array1::zeros(3),
            Activation::Relu,
        )
        .unwrap_err();
        assert!(e.to_string().contains("[F, 18]"), "{e}");
    }
}
