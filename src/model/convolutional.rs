//! The convolutional kind (CAE): encoder and decoder networks for image-like or sequence rows.
//!
//! Each row is one sample of shape `input_shape`: `[C, H, W]` (an image, e.g. `[1, 28, 28]`) or
//! `[C, L]` (a sequence, handled as `[C, 1, L]`), flattened channel-major into the `d = C·H·W`
//! features (as a vector column `pixels[0..784]` arrives).
//!
//! # Encoder
//! One block per entry of `filters` (`f₁, f₂, …`), each halving the spatial size, then dense
//! layers to the latent:
//! - `downsample = stride`: convolution `k×k`, stride 2, padding `⌊k/2⌋`, then the activation;
//! - `downsample = max_pool`: convolution `k×k`, stride 1, padding `⌊k/2⌋` (same size), the
//!   activation, then 2×2 max pooling.
//!
//! After the last block the `f_L·H_L·W_L` values are flattened (nothing moves: rows already are)
//! into dense layers: `hidden` widths when given (`[…, k, …]`, as for the dense kinds), else
//! one dense layer straight to the latent size `k` (`latent`, or the default for `d`).
//!
//! # Decoder
//! Dense layers back to `f_L·H_L·W_L`, then the blocks in reverse, each restoring exactly the
//! size and channels its encoder block started from (odd sizes included: 28 → 14 → 7 → 14 → 28,
//! 25 → 13 → 7 → 13 → 25):
//! - `upsample = transpose`: a transposed convolution, the adjoint of the encoder block's strided
//!   convolution;
//! - `upsample = nearest`: nearest-neighbour resizing to that size, then a stride-1 convolution.
//!
//! The last block outputs `C` channels with the output activation; all other layers use the
//! hidden activation. With the defaults (`filters = [16, 32]`, `k = 3`, stride, transpose) and
//! `[1, 28, 28]`: `784 → 16·14·14 → 32·7·7 → k` and back.

use serde::{Deserialize, Serialize};

use super::architecture::default_latent;
use super::config::{TrainConfig, fmt_widths};
use crate::error::{Error, Result};
use crate::nn::Sequential;
use crate::nn::{Activation, Conv, ConvGeometry, ConvTranspose, Dense, Layer, MaxPool, Upsample};
use rand::Rng;

/// Default filters per encoder block.
pub const DEFAULT_FILTERS: [usize; 2] = [16, 32];
/// Default kernel size.
pub const DEFAULT_KERNEL_SIZE: usize = 3;

/// How an encoder block halves the spatial size.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Downsample {
    /// A stride-2 convolution.
    #[default]
    Stride,
    /// A stride-1 convolution, then 2×2 max pooling.
    MaxPool,
}

/// How a decoder block restores the spatial size.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Upsampling {
    /// A stride-2 transposed convolution.
    #[default]
    Transpose,
    /// Nearest-neighbour resizing, then a stride-1 convolution.
    Nearest,
}

/// Parameters of the convolutional kind.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConvolutionalConfig {
    /// Shape of one row: `[C, H, W]` or `[C, L]`; its product is the number of features.
    pub input_shape: Vec<usize>,
    /// Filters (output channels) of each encoder block. Default `[16, 32]`.
    pub filters: Vec<usize>,
    /// Kernel size (`k×k` in 2-D, `k` in 1-D), odd: one for every block, or one per block
    /// (`[5, 3]`; the decoder block mirroring block `i` uses the same size). Default `[3]`. In
    /// the model file a single size is written as a number (`"kernel_size": 3`).
    #[serde(with = "one_or_many")]
    pub kernel_size: Vec<usize>,
    /// Default: strided convolutions.
    #[serde(default)]
    pub downsample: Downsample,
    /// Default: transposed convolutions.
    #[serde(default)]
    pub upsample: Upsampling,
}

impl ConvolutionalConfig {
    /// The defaults for rows of shape `input_shape`.
    pub fn new(input_shape: Vec<usize>) -> Self {
        ConvolutionalConfig {
            input_shape,
            filters: DEFAULT_FILTERS.to_vec(),
            kernel_size: vec![DEFAULT_KERNEL_SIZE],
            downsample: Downsample::default(),
            upsample: Upsampling::default(),
        }
    }

    /// `[C, H, W]` (a 1-D shape `[C, L]` as `[C, 1, L]`).
    fn shape3(&self) -> [usize; 3] {
        match self.input_shape[..] {
            [c, l] => [c, 1, l],
            [c, h, w] => [c, h, w],
            _ => [0, 0, 0],
        }
    }

    /// True for `[C, L]` inputs.
    fn is_1d(&self) -> bool {
        self.input_shape.len() == 2
    }

    /// Number of features a row must have, `C·H·W`.
    pub fn n_features(&self) -> usize {
        self.input_shape.iter().product()
    }

    /// Checks the shape, filters and kernel (odd, and no wider than the input's longest side),
    /// and that every block leaves a size of at least 1.
    pub fn validate(&self) -> Result<()> {
        if !(2..=3).contains(&self.input_shape.len()) || self.input_shape.contains(&0) {
            return Err(Error::config(
                "input_shape",
                format!(
                    "expected channels,length (e.g. 1,128) or channels,height,width (e.g. 1,28,28), all ≥ 1, got {}",
                    fmt_widths(&self.input_shape)
                ),
            ));
        }
        if self.filters.is_empty() || self.filters.contains(&0) {
            return Err(Error::config(
                "filters",
                format!(
                    "expected one or more positive filter counts (e.g. 16,32), got {}",
                    fmt_widths(&self.filters)
                ),
            ));
        }
        let n = self.filters.len();
        if self.kernel_size.is_empty()
            || (self.kernel_size.len() != 1 && self.kernel_size.len() != n)
        {
            return Err(Error::config(
                "kernel_size",
                format!(
                    "expected one size for every block or one per block ({n} filters entries), got {}",
                    fmt_widths(&self.kernel_size)
                ),
            ));
        }
        let [_, h, w] = self.shape3();
        let side = h.max(w);
        for &k in &self.kernel_size {
            if k.is_multiple_of(2) {
                return Err(Error::config(
                    "kernel_size",
                    format!("must be odd (1, 3, 5, …) so that padding ⌊k/2⌋ centres it, got {k}"),
                ));
            }
            if k > side {
                return Err(Error::config(
                    "kernel_size",
                    format!(
                        "{k} is wider than the input ({}); use a kernel of at most {side}",
                        fmt_widths(&self.input_shape)
                    ),
                ));
            }
        }
        self.block_sizes().map(|_| ())
    }

    /// The kernel size of block `i` (and of the decoder block mirroring it).
    pub fn kernel_of(&self, i: usize) -> usize {
        match self.kernel_size[..] {
            [k] => k,
            ref per_block => per_block[i],
        }
    }

    /// Kernel, stride-2, padding and pooling window per axis of block `i`, for this
    /// dimensionality.
    fn axes(&self, i: usize) -> ([usize; 2], [usize; 2], [usize; 2]) {
        let k = self.kernel_of(i);
        if self.is_1d() {
            ([1, k], [1, 2], [0, k / 2])
        } else {
            ([k, k], [2, 2], [k / 2, k / 2])
        }
    }

    /// Spatial size at the input of each block, then after the last one (`filters.len() + 1`
    /// sizes).
    fn block_sizes(&self) -> Result<Vec<[usize; 2]>> {
        let [_, h, w] = self.shape3();
        let mut sizes = vec![[h, w]];
        for (i, _) in self.filters.iter().enumerate() {
            let (kernel, stride, padding) = self.axes(i);
            let size = sizes[i];
            let next = match self.downsample {
                Downsample::Stride => {
                    let g = ConvGeometry {
                        channels: 1,
                        size,
                        kernel,
                        stride,
                        padding,
                    };
                    g.validate("convolutional encoder")
                        .ok()
                        .map(|()| g.out_size())
                }
                // A same-size convolution, then pooling by the stride-2 window.
                Downsample::MaxPool => {
                    let ok = (0..2).all(|a| size[a] >= stride[a]);
                    ok.then(|| [size[0] / stride[0], size[1] / stride[1]])
                }
            };
            match next {
                Some(n) if n[0] >= 1 && n[1] >= 1 => sizes.push(n),
                _ => {
                    return Err(Error::config(
                        "filters",
                        format!(
                            "{} blocks halve an input of {} below one position at block {} (size {:?}); use fewer filters entries or a larger input",
                            self.filters.len(),
                            fmt_widths(&self.input_shape),
                            i + 1,
                            if self.is_1d() {
                                vec![size[1]]
                            } else {
                                size.to_vec()
                            }
                        ),
                    ));
                }
            }
        }
        Ok(sizes)
    }

    /// Encoder and decoder networks for `d` features under `config`, initialised from `rng`.
    pub(crate) fn networks(
        &self,
        config: &TrainConfig,
        d: usize,
        rng: &mut impl Rng,
    ) -> Result<(Sequential, Sequential)> {
        self.validate()?;
        if d != self.n_features() {
            return Err(Error::config(
                "input_shape",
                format!(
                    "{} describes {} values per row, but the data has {d} features",
                    fmt_widths(&self.input_shape),
                    self.n_features()
                ),
            ));
        }
        let act = Activation::from(config.activation);
        let out_act = Activation::from(config.output_activation);
        let [c0, _, _] = self.shape3();
        let sizes = self.block_sizes()?;
        let same = [1, 1];
        let mut channels = vec![c0];
        channels.extend(&self.filters);

        let mut encoder: Vec<Layer> = Vec::new();
        for (i, &f) in self.filters.iter().enumerate() {
            let (kernel, stride, padding) = self.axes(i);
            let g = ConvGeometry {
                channels: channels[i],
                size: sizes[i],
                kernel,
                stride: if self.downsample == Downsample::Stride {
                    stride
                } else {
                    same
                },
                padding,
            };
            let conv = Conv::new(g, f, act, rng)?;
            encoder.push(conv.into());
            if self.downsample == Downsample::MaxPool {
                encoder.push(MaxPool::new(f, sizes[i], stride)?.into());
            }
        }
        let last = *sizes.last().expect("sizes has filters.len() + 1 entries");
        let flat = channels[channels.len() - 1] * last[0] * last[1];
        let hidden = match &config.hidden {
            Some(h) => h.clone(),
            None => vec![config.latent.unwrap_or_else(|| default_latent(d))],
        };
        let mid = hidden.len() / 2;
        let mut width = flat;
        for &h in &hidden[..=mid] {
            encoder.push(Dense::new(width, h, act, rng).into());
            width = h;
        }

        let mut decoder: Vec<Layer> = Vec::new();
        for &h in hidden[mid + 1..].iter().chain([&flat]) {
            decoder.push(Dense::new(width, h, act, rng).into());
            width = h;
        }
        for i in (0..self.filters.len()).rev() {
            let layer_act = if i == 0 { out_act } else { act };
            let (kernel, stride, padding) = self.axes(i);
            let target = ConvGeometry {
                channels: channels[i],
                size: sizes[i],
                kernel,
                stride,
                padding,
            };
            match self.upsample {
                Upsampling::Transpose => {
                    // The adjoint of a stride-2 convolution from sizes[i] must land on sizes[i+1]
                    // (it does for the stride encoder; for max pooling ⌊n/2⌋ can differ from
                    // ⌊(n − 1)/2⌋ + 1, so resize the input first when they disagree).
                    if target.out_size() != sizes[i + 1] {
                        decoder.push(
                            Upsample::new(channels[i + 1], sizes[i + 1], target.out_size())?.into(),
                        );
                    }
                    decoder
                        .push(ConvTranspose::new(target, channels[i + 1], layer_act, rng)?.into());
                }
                Upsampling::Nearest => {
                    decoder.push(Upsample::new(channels[i + 1], sizes[i + 1], sizes[i])?.into());
                    let g = ConvGeometry {
                        channels: channels[i + 1],
                        size: sizes[i],
                        kernel,
                        stride: same,
                        padding,
                    };
                    let conv = Conv::new(g, channels[i], layer_act, rng)?;
                    decoder.push(conv.into());
                }
            }
        }
        Ok((
            Sequential::from_layers(encoder, config.dropout)?,
            Sequential::from_layers(decoder, config.dropout)?,
        ))
    }
}

/// `kernel_size` in JSON: a number for one size (as written before per-block sizes existed), a
/// list otherwise; both are read.
mod one_or_many {
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    #[derive(Serialize, Deserialize)]
    #[serde(untagged)]
    enum OneOrMany {
        One(usize),
        Many(Vec<usize>),
    }

    pub(super) fn serialize<S: Serializer>(v: &[usize], s: S) -> Result<S::Ok, S::Error> {
        match v {
            [k] => OneOrMany::One(*k),
            _ => OneOrMany::Many(v.to_vec()),
        }
        .serialize(s)
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<usize>, D::Error> {
        Ok(match OneOrMany::deserialize(d)? {
            OneOrMany::One(k) => vec![k],
            OneOrMany::Many(v) => v,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    fn widths(s: &Sequential) -> Vec<usize> {
        let mut w = vec![s.in_features()];
        w.extend(s.layers().iter().map(Layer::out_features));
        w
    }

    fn build(c: &ConvolutionalConfig, config: &TrainConfig) -> (Sequential, Sequential) {
        c.networks(config, c.n_features(), &mut ChaCha8Rng::seed_from_u64(0))
            .unwrap()
    }

    #[test]
    fn default_image_network_mirrors_the_encoder() {
        let c = ConvolutionalConfig::new(vec![1, 28, 28]);
        let (e, d) = build(&c, &TrainConfig::default());
        assert_eq!(widths(&e), vec![784, 16 * 14 * 14, 32 * 7 * 7, 28]);
        assert_eq!(widths(&d), vec![28, 32 * 7 * 7, 16 * 14 * 14, 784]);
        assert!(matches!(d.layers()[2], Layer::ConvTranspose(_)));
        assert_eq!(d.output_activation(), Activation::Linear);
    }

    #[test]
    fn odd_sizes_pooling_nearest_and_1d() {
        let mut c = ConvolutionalConfig::new(vec![2, 25]);
        c.filters = vec![4, 8, 8];
        let cfg = TrainConfig {
            latent: Some(3),
            ..Default::default()
        };
        let (e, d) = build(&c, &cfg);
        // 25 → 13 → 7 → 4 positions.
        assert_eq!(widths(&e), vec![50, 4 * 13, 8 * 7, 8 * 4, 3]);
        assert_eq!(*widths(&d).last().unwrap(), 50);
        for (down, up) in [
            (Downsample::MaxPool, Upsampling::Nearest),
            (Downsample::MaxPool, Upsampling::Transpose),
            (Downsample::Stride, Upsampling::Nearest),
        ] {
            let c = ConvolutionalConfig {
                downsample: down,
                upsample: up,
                ..ConvolutionalConfig::new(vec![3, 13, 10])
            };
            let (e, d) = build(&c, &TrainConfig::default());
            assert_eq!(e.in_features(), 390);
            assert_eq!(d.out_features(), 390, "{down:?} {up:?}");
            assert_eq!(e.out_features(), d.in_features());
        }
        let c = ConvolutionalConfig {
            downsample: Downsample::MaxPool,
            ..ConvolutionalConfig::new(vec![1, 12, 12])
        };
        let (e, _) = build(&c, &TrainConfig::default());
        // conv (same), pool, conv (same), pool: 12 → 6 → 3.
        assert_eq!(widths(&e)[1..5], [16 * 144, 16 * 36, 32 * 36, 32 * 9]);
    }

    #[test]
    fn hidden_dense_layers_sit_between_the_blocks_and_the_latent() {
        let c = ConvolutionalConfig::new(vec![1, 8, 8]);
        let cfg = TrainConfig {
            hidden: Some(vec![20, 4, 20]),
            ..Default::default()
        };
        let (e, d) = build(&c, &cfg);
        assert_eq!(widths(&e), vec![64, 16 * 16, 32 * 4, 20, 4]);
        assert_eq!(widths(&d), vec![4, 20, 32 * 4, 16 * 16, 64]);
    }

    /// Encoder + decoder of every downsample / upsample pairing, in 1-D and 2-D, end to end
    /// against finite differences of the mean squared error: the input gradient (through every
    /// layer) and the weight gradient of every layer that has weights.
    #[test]
    fn whole_networks_match_finite_differences() {
        use crate::model::ActivationKind;
        use crate::nn::gradcheck::{assert_close, numeric_grad};
        use crate::nn::{GradAt, Loss, Tape};
        use ndarray::Array2;

        let loss_of = |enc: &Sequential, dec: &Sequential, x: &Array2<f32>, t: &Array2<f32>| {
            let (mut et, mut dt) = (Tape::new(), Tape::new());
            let mut rng = ChaCha8Rng::seed_from_u64(0);
            enc.forward_train(x.view(), &mut et, &mut rng);
            dec.forward_train(et.output(), &mut dt, &mut rng);
            Loss::Mse.value(dt.output(), t.view())
        };
        // `s` with the weights of layer `i` replaced by `w`.
        let with_weight = |s: &Sequential, i: usize, w: &Array2<f32>| {
            let mut layers = s.layers().to_vec();
            let (dst, _) = layers[i].params_mut().expect("a layer with weights");
            dst.copy_from_slice(w.as_slice().expect("contiguous"));
            Sequential::from_layers(layers, 0.0).expect("same shapes")
        };
        let cfg = TrainConfig {
            activation: ActivationKind::Tanh,
            output_activation: ActivationKind::Tanh,
            latent: Some(2),
            ..Default::default()
        };
        for shape in [vec![2, 6, 5], vec![1, 9]] {
            for (down, up) in [
                (Downsample::Stride, Upsampling::Transpose),
                (Downsample::Stride, Upsampling::Nearest),
                (Downsample::MaxPool, Upsampling::Transpose),
                (Downsample::MaxPool, Upsampling::Nearest),
            ] {
                let c = ConvolutionalConfig {
                    filters: vec![2, 3],
                    downsample: down,
                    upsample: up,
                    ..ConvolutionalConfig::new(shape.clone())
                };
                let what = format!("{shape:?} {down:?} {up:?}");
                let (enc, dec) = build(&c, &cfg);
                let d = c.n_features();
                let x = Array2::from_shape_fn((3, d), |(i, j)| ((i * d + j) as f32 * 0.77).sin());
                let t = x.mapv(|v| 0.5 * v);

                let (mut et, mut dt) = (Tape::new(), Tape::new());
                let mut rng = ChaCha8Rng::seed_from_u64(0);
                enc.forward_train(x.view(), &mut et, &mut rng);
                dec.forward_train(et.output(), &mut dt, &mut rng);
                let (y, g) = dt.output_and_grad();
                let y = y.to_owned();
                let (_, at) = Loss::Mse.value_and_grad(y.view(), t.view(), Activation::Tanh, g);
                let (mut eg, mut dg) = (enc.zero_grads(), dec.zero_grads());
                let mut dx = Array2::zeros(x.raw_dim());
                {
                    let (z, dz) = et.output_and_grad();
                    let z = z.to_owned();
                    dec.backward(z.view(), &mut dt, at, &mut dg, Some(dz));
                }
                enc.backward(
                    x.view(),
                    &mut et,
                    GradAt::Output,
                    &mut eg,
                    Some(dx.view_mut()),
                );

                let num = numeric_grad(&x, |x| loss_of(&enc, &dec, x, &t));
                assert_close(&dx, &num, &format!("{what}: dx"));
                for (i, layer) in enc.layers().iter().enumerate() {
                    if let Some((w, _)) = layer.params() {
                        let num =
                            numeric_grad(w, |w| loss_of(&with_weight(&enc, i, w), &dec, &x, &t));
                        assert_close(
                            &eg.layers[i].weight,
                            &num,
                            &format!("{what}: encoder {i} dW"),
                        );
                    }
                }
                for (i, layer) in dec.layers().iter().enumerate() {
                    if let Some((w, _)) = layer.params() {
                        let num =
                            numeric_grad(w, |w| loss_of(&enc, &with_weight(&dec, i, w), &x, &t));
                        assert_close(
                            &dg.layers[i].weight,
                            &num,
                            &format!("{what}: decoder {i} dW"),
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn kernel_sizes_per_block_and_their_json() {
        let c = ConvolutionalConfig {
            filters: vec![4, 8],
            kernel_size: vec![5, 3],
            ..ConvolutionalConfig::new(vec![1, 12, 12])
        };
        let (e, d) = build(&c, &TrainConfig::default());
        let kernels = |s: &Sequential| -> Vec<[usize; 2]> {
            s.layers()
                .iter()
                .filter_map(|l| match l {
                    Layer::Conv(c) => Some(c.geometry().kernel),
                    Layer::ConvTranspose(c) => Some(c.geometry().kernel),
                    _ => None,
                })
                .collect()
        };
        assert_eq!(kernels(&e), vec![[5, 5], [3, 3]]);
        // The decoder mirrors the blocks: block 2 (3×3) first, then block 1 (5×5).
        assert_eq!(kernels(&d), vec![[3, 3], [5, 5]]);
        assert_eq!(widths(&e)[..3], [144, 4 * 36, 8 * 9]);
        assert_eq!(d.out_features(), 144);
        let c1 = ConvolutionalConfig {
            kernel_size: vec![5, 3],
            ..ConvolutionalConfig::new(vec![1, 16])
        };
        let (e, _) = build(&c1, &TrainConfig::default());
        assert_eq!(kernels(&e), vec![[1, 5], [1, 3]]);

        // JSON: one size as a number (as files written before per-block sizes), several as a list.
        let json = serde_json::to_value(&c).unwrap();
        assert_eq!(json["kernel_size"], serde_json::json!([5, 3]));
        let one = ConvolutionalConfig::new(vec![1, 8]);
        let json = serde_json::to_value(&one).unwrap();
        assert_eq!(json["kernel_size"], serde_json::json!(3));
        assert_eq!(
            serde_json::from_value::<ConvolutionalConfig>(json).unwrap(),
            one
        );
        let back: ConvolutionalConfig =
            serde_json::from_value(serde_json::to_value(&c).unwrap()).unwrap();
        assert_eq!(back, c);

        let wrong = ConvolutionalConfig {
            kernel_size: vec![3, 3, 3],
            ..c.clone()
        };
        let e = wrong.validate().unwrap_err().to_string();
        assert!(
            e.contains("one size for every block or one per block (2 filters entries), got 3,3,3"),
            "{e}"
        );
    }

    #[test]
    fn bad_shapes_are_config_errors() {
        let cases: Vec<(ConvolutionalConfig, &str)> = vec![
            (ConvolutionalConfig::new(vec![28]), "input_shape"),
            (ConvolutionalConfig::new(vec![1, 0, 3]), "input_shape"),
            (
                ConvolutionalConfig {
                    filters: vec![],
                    ..ConvolutionalConfig::new(vec![1, 8])
                },
                "filters",
            ),
            (
                ConvolutionalConfig {
                    kernel_size: vec![4],
                    ..ConvolutionalConfig::new(vec![1, 8])
                },
                "kernel_size",
            ),
            (
                ConvolutionalConfig {
                    kernel_size: vec![61],
                    ..ConvolutionalConfig::new(vec![1, 28, 28])
                },
                "kernel_size",
            ),
            (
                ConvolutionalConfig {
                    filters: vec![4; 6],
                    downsample: Downsample::MaxPool,
                    ..ConvolutionalConfig::new(vec![1, 8, 8])
                },
                "filters",
            ),
        ];
        for (c, option) in cases {
            match c.validate() {
                Err(Error::Config { option: o, .. }) => assert_eq!(o, option, "{c:?}"),
                other => panic!("{c:?}: expected a config error, got {other:?}"),
            }
        }
        let c = ConvolutionalConfig::new(vec![1, 28, 28]);
        let e = c
            .networks(
                &TrainConfig::default(),
                700,
                &mut ChaCha8Rng::seed_from_u64(0),
            )
            .unwrap_err();
        assert!(
            e.to_string()
                .contains("784 values per row, but the data has 700"),
            "{e}"
        );
    }
}

#[cfg(test)]
mod training_tests {
    use super::*;
    use crate::model::testdata::names;
    use crate::model::{Autoencoder, Kind, ScalerKind, ScoreOptions, Silent};
    use ndarray::Array2;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    /// `rows` samples of `[1, h, w]` (h = 1 for sequences), each a gaussian bump of random
    /// centre, width and height on a faint background: three latent factors.
    fn bumps(rows: usize, h: usize, w: usize, seed: u64) -> Array2<f32> {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let mut x = Array2::zeros((rows, h * w));
        for mut row in x.rows_mut() {
            let cy = rng.random_range(0.0..h as f32);
            let cx = rng.random_range(0.0..w as f32);
            let width: f32 = rng.random_range(1.0..2.5);
            let height: f32 = rng.random_range(0.5..1.0);
            for (i, v) in row.iter_mut().enumerate() {
                let (y, xx) = ((i / w) as f32, (i % w) as f32);
                let r2 = (y - cy).powi(2) + (xx - cx).powi(2);
                *v = height * (-r2 / (2.0 * width * width)).exp() + 0.02;
            }
        }
        x
    }

    /// Mean squared error of predicting every feature's mean: the mean feature variance.
    fn mean_baseline(x: &Array2<f32>) -> f64 {
        let d = x.ncols();
        (0..d)
            .map(|j| {
                let c = x.column(j);
                let m = c.mean().unwrap() as f64;
                c.iter().map(|&v| (v as f64 - m).powi(2)).sum::<f64>() / c.len() as f64
            })
            .sum::<f64>()
            / d as f64
    }

    fn config(shape: Vec<usize>, filters: Vec<usize>) -> TrainConfig {
        TrainConfig {
            kind: Kind::Convolutional(ConvolutionalConfig {
                filters,
                ..ConvolutionalConfig::new(shape)
            }),
            latent: Some(4),
            scaler: ScalerKind::None,
            epochs: 40,
            batch_size: 32,
            learning_rate: Some(3e-3),
            ..Default::default()
        }
    }

    #[test]
    fn learns_bumps_in_sequences_and_images() {
        for (h, w, shape, filters) in [
            (1, 32, vec![1, 32], vec![8, 16]),
            (12, 12, vec![1, 12, 12], vec![8, 16]),
        ] {
            let x = bumps(1200, h, w, 1);
            let cfg = config(shape.clone(), filters);
            let m = Autoencoder::fit(x.view(), &names(h * w), &cfg, &mut Silent).unwrap();
            let err = m.reconstruction_error(x.view()).unwrap().mean().unwrap();
            let baseline = mean_baseline(&x);
            assert!(
                err < 0.2 * baseline,
                "{shape:?}: error {err}, predicting the mean {baseline}"
            );
            let h = m.history();
            assert!(
                h.last().unwrap().train_loss < h[0].train_loss / 3.0,
                "{h:?}"
            );
            // The surfaces' calls work on the convolutional model.
            assert_eq!(m.encode(x.view()).unwrap().dim(), (1200, 4));
            let s = m
                .score(
                    x.view(),
                    &ScoreOptions {
                        per_feature: true,
                        threshold: None,
                    },
                )
                .unwrap();
            assert_eq!(s.feature_errors.unwrap().dim(), x.dim());
            assert!(m.sample(3, 0).is_err(), "only variational models sample");
        }
    }

    #[test]
    fn pooling_and_nearest_upsampling_learn_too() {
        let x = bumps(800, 1, 24, 2);
        let mut cfg = config(vec![1, 24], vec![8, 8]);
        if let Kind::Convolutional(c) = &mut cfg.kind {
            c.downsample = Downsample::MaxPool;
            c.upsample = Upsampling::Nearest;
        }
        let m = Autoencoder::fit(x.view(), &names(24), &cfg, &mut Silent).unwrap();
        let err = m.reconstruction_error(x.view()).unwrap().mean().unwrap();
        let baseline = mean_baseline(&x);
        assert!(
            err < 0.3 * baseline,
            "error {err}, predicting the mean {baseline}"
        );
    }

    #[test]
    fn same_seed_same_model_and_the_file_round_trips() {
        let x = bumps(300, 6, 6, 3);
        let mut cfg = config(vec![1, 6, 6], vec![4, 4]);
        cfg.epochs = 3;
        cfg.dropout = 0.1;
        let a = Autoencoder::fit(x.view(), &names(36), &cfg, &mut Silent).unwrap();
        let b = Autoencoder::fit(x.view(), &names(36), &cfg, &mut Silent).unwrap();
        assert_eq!(a.encoder(), b.encoder());
        assert_eq!(a.decoder(), b.decoder());
        let bytes = a.to_bytes().unwrap();
        let back = Autoencoder::from_bytes(&bytes, "cae.aemodel").unwrap();
        // (Dropout is a training setting: the loaded networks have none, the layers are equal.)
        assert_eq!(back.encoder().layers(), a.encoder().layers());
        assert_eq!(back.decoder().layers(), a.decoder().layers());
        assert_eq!(back.kind(), a.kind());
        assert_eq!(back.version(), a.version());
        assert_eq!(
            back.reconstruction_error(x.view()).unwrap(),
            a.reconstruction_error(x.view()).unwrap()
        );
        // Every layer type survives the trip.
        let mut cfg = config(vec![2, 9], vec![3]);
        cfg.epochs = 1;
        if let Kind::Convolutional(c) = &mut cfg.kind {
            c.downsample = Downsample::MaxPool;
        }
        let x2 = Array2::from_shape_fn((40, 18), |(i, j)| ((i * 18 + j) as f32 * 0.1).sin());
        let m = Autoencoder::fit(x2.view(), &names(18), &cfg, &mut Silent).unwrap();
        let kinds: Vec<&str> = m
            .decoder()
            .layers()
            .iter()
            .chain(m.encoder().layers())
            .map(|l| match l {
                Layer::Dense(_) => "dense",
                Layer::Conv(_) => "conv",
                Layer::ConvTranspose(_) => "conv_transpose",
                Layer::MaxPool(_) => "max_pool",
                Layer::Upsample(_) => "upsample",
            })
            .collect();
        for k in ["dense", "conv", "conv_transpose", "max_pool", "upsample"] {
            assert!(kinds.contains(&k), "{k} missing from {kinds:?}");
        }
        let back = Autoencoder::from_bytes(&m.to_bytes().unwrap(), "m").unwrap();
        assert_eq!(back.encoder(), m.encoder());
        assert_eq!(back.decoder(), m.decoder());
    }

    #[test]
    fn a_shape_that_does_not_match_the_features_is_an_error() {
        let x = bumps(50, 1, 10, 4);
        let cfg = config(vec![1, 12], vec![4]);
        let e = Autoencoder::fit(x.view(), &names(10), &cfg, &mut Silent).unwrap_err();
        assert!(
            e.to_string()
                .contains("12 values per row, but the data has 10"),
            "{e}"
        );
    }
}
