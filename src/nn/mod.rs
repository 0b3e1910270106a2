//! Layers, activations, losses and optimizers on ndarray; the only place GEMM is called.
//!
//! Everything is f32 and row-major: a batch is a `[batch, features]` matrix, and every layer
//! maps `[batch, in]` to `[batch, out]` (images and sequences are flattened rows, so later
//! convolutional layers keep the same contract). This module knows nothing of Arrow, files or
//! models; [`crate::model`] builds autoencoders from it.
//!
//! - [`gemm`]: `C ← α·A·B + β·C`, the single entry to matrixmultiply, split over two cores
//!   when large.
//! - [`Dense`]: `y = f(x·Wᵀ + b)` with `W` as `[out, in]`; [`Activation`]s fused into the pass.
//! - [`Conv`] (1-D / 2-D, stride, padding; im2col + sgemm), [`ConvTranspose`], [`MaxPool`],
//!   [`Upsample`]: the convolutional layers, on rows that are flattened `[C, H, W]` samples
//!   ([`ConvGeometry`]).
//! - [`Layer`]: any of the layers; [`Sequential`]: a stack of them with dropout, and its
//!   [`Tape`] / [`Buffers`].
//! - [`Dense::forward_squared_error`]: a scoring pass's last layer, bias, activation and the
//!   squared error against an [`AffineTarget`] in one pass.
//! - [`Loss`]: mean squared error and binary cross-entropy.
//! - [`optim`]: SGD with momentum, Adam, RMSprop, Adagrad; coupled L2 weight decay.
//! - [`Init`], [`Dropout`], [`Corruption`] (denoising), [`ActivityPenalty`] (sparsity).

mod activation;
mod activity_penalty;
mod conv;
mod conv_transpose;
mod corruption;
mod dense;
mod dropout;
mod gemm;
mod im2col;
mod init;
mod layer;
mod loss;
pub mod optim;
pub(crate) mod parallel;
mod pool;
mod reduce;
mod scratch;
mod sequential;
pub(crate) mod simd;
mod squared_error;
mod upsample;

#[cfg(test)]
pub(crate) mod gradcheck;

pub use activation::{Activation, ELU_ALPHA, LEAKY_RELU_SLOPE, SELU_ALPHA, SELU_LAMBDA};
pub use activity_penalty::ActivityPenalty;
pub use conv::Conv;
pub use conv_transpose::ConvTranspose;
pub use corruption::Corruption;
pub use dense::{Dense, DenseGrad, GradAt};
pub use dropout::Dropout;
pub use gemm::gemm;
pub use im2col::ConvGeometry;
pub use init::Init;
pub use layer::Layer;
pub use loss::{BCE_EPSILON, Loss};
pub use optim::{Optimizer, OptimizerConfig};
pub use pool::MaxPool;
pub use reduce::sum_squared_diff;
pub use sequential::{Buffers, Grads, Sequential, Tape};
pub use squared_error::AffineTarget;
pub use upsample::Upsample;
