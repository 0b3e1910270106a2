//! How the model file describes layers that are not dense: convolution, transposed
//! convolution, max pooling and upsampling (format version 2, see `docs/model-format.md`).
//!
//! A layer entry of the `model` JSON carries them under `"spatial"`, tagged by `"type"`; an
//! entry without `"spatial"` is a dense layer. Shapes are always `[C, H, W]` (a 1-D layer has
//! `H = 1`, and kernel, stride and padding `[1, k]`, `[1, s]`, `[0, p]`), and weights are stored
//! 4-D in PyTorch's layouts:
//!
//! | type | fields | `weight` | `bias` |
//! |---|---|---|---|
//! | `conv` | `in_shape`, `filters`, `kernel`, `stride`, `padding` | `[F, C, kh, kw]` | `[F]` |
//! | `conv_transpose` | `in_channels`, `out_shape`, `kernel`, `stride`, `padding` | `[C, F, kh, kw]` | `[F]` |
//! | `max_pool` | `in_shape`, `window` | – | – |
//! | `upsample` | `in_shape`, `out_size` | – | – |

use ndarray::{Array1, Array2};
use serde::{Deserialize, Serialize};

use crate::nn::{Activation, Conv, ConvGeometry, ConvTranspose, Layer, MaxPool, Upsample};

/// A non-dense layer, as stored in the model file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub(crate) enum SpatialSpec {
    /// Convolution of `in_shape` samples into `filters` channels.
    Conv {
        in_shape: [usize; 3],
        filters: usize,
        kernel: [usize; 2],
        stride: [usize; 2],
        padding: [usize; 2],
    },
    /// Transposed convolution from `in_channels` channels to samples of `out_shape`; its input
    /// size is the output size of the convolution `out_shape → in_channels` with the same
    /// kernel, stride and padding.
    ConvTranspose {
        in_channels: usize,
        out_shape: [usize; 3],
        kernel: [usize; 2],
        stride: [usize; 2],
        padding: [usize; 2],
    },
    /// Max pooling over `window`-sized, non-overlapping windows.
    MaxPool {
        in_shape: [usize; 3],
        window: [usize; 2],
    },
    /// Nearest-neighbour resize of each channel to `out_size`.
    Upsample {
        in_shape: [usize; 3],
        out_size: [usize; 2],
    },
}

fn geometry(
    shape: [usize; 3],
    kernel: [usize; 2],
    stride: [usize; 2],
    padding: [usize; 2],
) -> ConvGeometry {
    ConvGeometry {
        channels: shape[0],
        size: [shape[1], shape[2]],
        kernel,
        stride,
        padding,
    }
}

/// Widest layer a model file may describe (features per row), so that a corrupted size is
/// refused before anything is allocated for it.
pub(crate) const MAX_WIDTH: usize = 1 << 26;

fn features(shape: [usize; 3]) -> Option<usize> {
    shape[0].checked_mul(shape[1])?.checked_mul(shape[2])
}

/// Output size of a convolution, `None` when the sizes are invalid or overflow.
fn conv_out(
    size: [usize; 2],
    kernel: [usize; 2],
    stride: [usize; 2],
    padding: [usize; 2],
) -> Option<[usize; 2]> {
    let mut out = [0; 2];
    for a in 0..2 {
        let padded = size[a].checked_add(padding[a].checked_mul(2)?)?;
        if size[a] == 0 || kernel[a] == 0 || stride[a] == 0 || kernel[a] > padded {
            return None;
        }
        out[a] = (padded - kernel[a]) / stride[a] + 1;
    }
    Some(out)
}

impl SpatialSpec {
    /// `(inputs, outputs)` widths the description implies, computed without overflow; `None`
    /// when its sizes are invalid.
    pub(crate) fn widths(&self) -> Option<(usize, usize)> {
        match *self {
            SpatialSpec::Conv {
                in_shape,
                filters,
                kernel,
                stride,
                padding,
            } => {
                let [ho, wo] = conv_out([in_shape[1], in_shape[2]], kernel, stride, padding)?;
                Some((features(in_shape)?, features([filters, ho, wo])?))
            }
            SpatialSpec::ConvTranspose {
                in_channels,
                out_shape,
                kernel,
                stride,
                padding,
            } => {
                let [hi, wi] = conv_out([out_shape[1], out_shape[2]], kernel, stride, padding)?;
                Some((features([in_channels, hi, wi])?, features(out_shape)?))
            }
            SpatialSpec::MaxPool { in_shape, window } => {
                if window.contains(&0) || in_shape[1] < window[0] || in_shape[2] < window[1] {
                    return None;
                }
                let out = [
                    in_shape[0],
                    in_shape[1] / window[0],
                    in_shape[2] / window[1],
                ];
                Some((features(in_shape)?, features(out)?))
            }
            SpatialSpec::Upsample { in_shape, out_size } => Some((
                features(in_shape)?,
                features([in_shape[0], out_size[0], out_size[1]])?,
            )),
        }
    }

    /// The description of `layer`; `None` for a dense layer.
    pub(crate) fn of(layer: &Layer) -> Option<Self> {
        Some(match layer {
            Layer::Dense(_) => return None,
            Layer::Conv(c) => {
                let g = c.geometry();
                SpatialSpec::Conv {
                    in_shape: [g.channels, g.size[0], g.size[1]],
                    filters: c.filters(),
                    kernel: g.kernel,
                    stride: g.stride,
                    padding: g.padding,
                }
            }
            Layer::ConvTranspose(t) => {
                let g = t.geometry();
                SpatialSpec::ConvTranspose {
                    in_channels: t.in_channels(),
                    out_shape: [g.channels, g.size[0], g.size[1]],
                    kernel: g.kernel,
                    stride: g.stride,
                    padding: g.padding,
                }
            }
            Layer::MaxPool(p) => SpatialSpec::MaxPool {
                in_shape: [p.channels(), p.size()[0], p.size()[1]],
                window: p.window(),
            },
            Layer::Upsample(u) => SpatialSpec::Upsample {
                in_shape: [u.channels(), u.from_size()[0], u.from_size()[1]],
                out_size: u.to_size(),
            },
        })
    }

    /// Stored shapes of the weight and bias tensors; `None` for layers without parameters.
    pub(crate) fn tensor_shapes(&self) -> Option<(Vec<usize>, Vec<usize>)> {
        match *self {
            SpatialSpec::Conv {
                in_shape,
                filters,
                kernel,
                ..
            } => Some((
                vec![filters, in_shape[0], kernel[0], kernel[1]],
                vec![filters],
            )),
            SpatialSpec::ConvTranspose {
                in_channels,
                out_shape,
                kernel,
                ..
            } => Some((
                vec![in_channels, out_shape[0], kernel[0], kernel[1]],
                vec![out_shape[0]],
            )),
            SpatialSpec::MaxPool { .. } | SpatialSpec::Upsample { .. } => None,
        }
    }

    /// The layer, from its stored parameters (`(weight, bias)` values in the shapes of
    /// [`Self::tensor_shapes`], `None` for layers without parameters). Errors say what is
    /// inconsistent.
    pub(crate) fn build(
        &self,
        activation: Activation,
        params: Option<(Vec<f32>, Vec<f32>)>,
    ) -> Result<Layer, String> {
        let (weight, bias) = match (self.tensor_shapes(), params) {
            (Some((shape, _)), Some((w, b))) => {
                let rows = shape[0];
                let cols = shape[1..].iter().product::<usize>();
                let w = Array2::from_shape_vec((rows, cols), w).map_err(|e| e.to_string())?;
                (Some(w), Some(Array1::from(b)))
            }
            (None, None) => (None, None),
            _ => return Err("parameters do not match the layer type".into()),
        };
        let layer: Layer = match *self {
            SpatialSpec::Conv {
                in_shape,
                kernel,
                stride,
                padding,
                ..
            } => Conv::from_parts(
                geometry(in_shape, kernel, stride, padding),
                weight.expect("checked above"),
                bias.expect("checked above"),
                activation,
            )
            .map_err(|e| e.to_string())?
            .into(),
            SpatialSpec::ConvTranspose {
                out_shape,
                kernel,
                stride,
                padding,
                ..
            } => ConvTranspose::from_parts(
                geometry(out_shape, kernel, stride, padding),
                weight.expect("checked above"),
                bias.expect("checked above"),
                activation,
            )
            .map_err(|e| e.to_string())?
            .into(),
            SpatialSpec::MaxPool { in_shape, window } => {
                MaxPool::new(in_shape[0], [in_shape[1], in_shape[2]], window)
                    .map_err(|e| e.to_string())?
                    .into()
            }
            SpatialSpec::Upsample { in_shape, out_size } => {
                Upsample::new(in_shape[0], [in_shape[1], in_shape[2]], out_size)
                    .map_err(|e| e.to_string())?
                    .into()
            }
        };
        if matches!(
            self,
            SpatialSpec::MaxPool { .. } | SpatialSpec::Upsample { .. }
        ) && activation != Activation::Linear
        {
            return Err("pooling and upsampling layers have no activation (linear)".into());
        }
        Ok(layer)
    }
}

/// Stored shape of `layer`'s weight tensor: `[out, in]` for a dense layer, 4-D for the others
/// (see the table above); `None` for layers without parameters.
pub(crate) fn weight_shape(layer: &Layer) -> Option<Vec<usize>> {
    match SpatialSpec::of(layer) {
        None => Some(vec![layer.out_features(), layer.in_features()]),
        Some(spec) => spec.tensor_shapes().map(|(w, _)| w),
    }
}
