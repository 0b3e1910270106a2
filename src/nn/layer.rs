//! One layer of a [`super::Sequential`] stack: dense, convolution, transposed convolution, max
//! pooling or nearest-neighbour upsampling.
//!
//! Every layer keeps the `[batch, features]` contract: images and sequences are flattened
//! `[C, H, W]` rows, so a convolution can follow a dense layer (and the reverse) with no
//! reshaping. All layers share the backward contract of [`Dense::backward`]; the ones without
//! parameters have empty gradients and use no optimizer state.

use ndarray::{Array1, Array2, ArrayView2, ArrayViewMut2};

use super::activation::Activation;
use super::conv::Conv;
use super::conv_transpose::ConvTranspose;
use super::dense::{Dense, DenseGrad, GradAt};
use super::pool::MaxPool;
use super::upsample::Upsample;

/// A layer of any type.
#[derive(Debug, Clone, PartialEq)]
pub enum Layer {
    /// Fully connected.
    Dense(Dense),
    /// Convolution (1-D or 2-D).
    Conv(Conv),
    /// Transposed convolution (1-D or 2-D).
    ConvTranspose(ConvTranspose),
    /// Max pooling.
    MaxPool(MaxPool),
    /// Nearest-neighbour resize.
    Upsample(Upsample),
}

impl From<Dense> for Layer {
    fn from(l: Dense) -> Self {
        Layer::Dense(l)
    }
}

impl From<Conv> for Layer {
    fn from(l: Conv) -> Self {
        Layer::Conv(l)
    }
}

impl From<ConvTranspose> for Layer {
    fn from(l: ConvTranspose) -> Self {
        Layer::ConvTranspose(l)
    }
}

impl From<MaxPool> for Layer {
    fn from(l: MaxPool) -> Self {
        Layer::MaxPool(l)
    }
}

impl From<Upsample> for Layer {
    fn from(l: Upsample) -> Self {
        Layer::Upsample(l)
    }
}

impl Layer {
    /// Input width.
    pub fn in_features(&self) -> usize {
        match self {
            Layer::Dense(l) => l.in_features(),
            Layer::Conv(l) => l.in_features(),
            Layer::ConvTranspose(l) => l.in_features(),
            Layer::MaxPool(l) => l.in_features(),
            Layer::Upsample(l) => l.in_features(),
        }
    }

    /// Output width.
    pub fn out_features(&self) -> usize {
        match self {
            Layer::Dense(l) => l.out_features(),
            Layer::Conv(l) => l.out_features(),
            Layer::ConvTranspose(l) => l.out_features(),
            Layer::MaxPool(l) => l.out_features(),
            Layer::Upsample(l) => l.out_features(),
        }
    }

    /// The activation applied to the output (linear for pooling and upsampling).
    pub fn activation(&self) -> Activation {
        match self {
            Layer::Dense(l) => l.activation(),
            Layer::Conv(l) => l.activation(),
            Layer::ConvTranspose(l) => l.activation(),
            Layer::MaxPool(_) | Layer::Upsample(_) => Activation::Linear,
        }
    }

    /// The dense layer, if this is one.
    pub fn as_dense(&self) -> Option<&Dense> {
        match self {
            Layer::Dense(l) => Some(l),
            _ => None,
        }
    }

    /// Weight matrix and bias, for layers that have parameters. The weight is the 2-D matrix
    /// the layer multiplies with: `[out, in]` (dense), `[F, C·kh·kw]` (convolution),
    /// `[C, F·kh·kw]` (transposed convolution).
    pub fn params(&self) -> Option<(&Array2<f32>, &Array1<f32>)> {
        match self {
            Layer::Dense(l) => Some((l.weight(), l.bias())),
            Layer::Conv(l) => Some((l.weight(), l.bias())),
            Layer::ConvTranspose(l) => Some((l.weight(), l.bias())),
            Layer::MaxPool(_) | Layer::Upsample(_) => None,
        }
    }

    /// Parameters for an optimizer step: `(W, b)` as contiguous slices.
    pub fn params_mut(&mut self) -> Option<(&mut [f32], &mut [f32])> {
        match self {
            Layer::Dense(l) => Some(l.params_mut()),
            Layer::Conv(l) => Some(l.params_mut()),
            Layer::ConvTranspose(l) => Some(l.params_mut()),
            Layer::MaxPool(_) | Layer::Upsample(_) => None,
        }
    }

    /// Zeroed gradients of this layer's shape (empty for layers without parameters).
    pub fn zero_grad(&self) -> DenseGrad {
        match self {
            Layer::Dense(l) => l.zero_grad(),
            Layer::Conv(l) => l.zero_grad(),
            Layer::ConvTranspose(l) => l.zero_grad(),
            Layer::MaxPool(_) | Layer::Upsample(_) => DenseGrad {
                weight: Array2::zeros((0, 0)),
                bias: Array1::zeros(0),
            },
        }
    }

    /// Multiply-adds of one row's forward pass (the backward pass costs about twice this).
    pub fn macs_per_row(&self) -> usize {
        match self {
            Layer::Dense(l) => l.in_features() * l.out_features(),
            Layer::Conv(l) => l.macs_per_sample(),
            Layer::ConvTranspose(l) => l.macs_per_sample(),
            Layer::MaxPool(_) | Layer::Upsample(_) => 0,
        }
    }

    /// `y ← layer(x)`.
    ///
    /// # Shapes
    /// `x`: `[batch, in]`, `y`: `[batch, out]` (its contents on entry are ignored).
    pub fn forward(&self, x: ArrayView2<'_, f32>, y: ArrayViewMut2<'_, f32>) {
        match self {
            Layer::Dense(l) => l.forward(x, y),
            Layer::Conv(l) => l.forward(x, y),
            Layer::ConvTranspose(l) => l.forward(x, y),
            Layer::MaxPool(l) => l.forward(x, y),
            Layer::Upsample(l) => l.forward(x, y),
        }
    }

    /// Backward pass with the contract of [`Dense::backward`]. Layers without an activation
    /// ignore `at`.
    pub fn backward(
        &self,
        x: ArrayView2<'_, f32>,
        y: ArrayView2<'_, f32>,
        dy: ArrayViewMut2<'_, f32>,
        at: GradAt,
        grad: &mut DenseGrad,
        dx: Option<ArrayViewMut2<'_, f32>>,
    ) {
        match self {
            Layer::Dense(l) => l.backward(x, y, dy, at, grad, dx),
            Layer::Conv(l) => l.backward(x, y, dy, at, grad, dx),
            Layer::ConvTranspose(l) => l.backward(x, y, dy, at, grad, dx),
            Layer::MaxPool(l) => {
                if let Some(dx) = dx {
                    l.backward(x, dy.view(), dx);
                }
            }
            Layer::Upsample(l) => {
                if let Some(dx) = dx {
                    l.backward(dy.view(), dx);
                }
            }
        }
    }
}
