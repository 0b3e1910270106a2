//! Scoring a model of dense layers in fewer passes over memory: the scaler folded into the first
//! layer once, and the last layer fused with the squared error.
//!
//! The plain pass ([`super::autoencoder`]) writes the scaled rows `x_s`, runs every layer (one
//! GEMM, then one bias + activation pass each), writes `x̂_s`, then reads `x_s` and `x̂_s` again
//! for the error. Here, for raw rows `r` of one block:
//! ```text
//! h₁    = f₁(r·W₁'ᵀ + b₁')        W₁'[o, j] = W₁[o, j] / scale[j],  b₁' = b₁ − W₁'·offset
//! hₗ    = fₗ(hₗ₋₁·Wₗᵀ + bₗ)        the other layers as before (the decoder reads h's first k columns)
//! error = (1/d) Σⱼ ((r − offset)/scale − f_L(h_{L−1}·W_Lᵀ + b_L))²     one pass, x_s and x̂_s never stored
//! ```
//! In exact arithmetic this is the plain pass; in f32 only the first layer's products are rounded
//! differently (on `r` instead of `r − offset`), which is why the scaler is folded only when
//! every `|offset| / scale` is at most [`FOLD_MAX_OFFSET`] (standardised data: the mean within
//! 16 standard deviations of 0); otherwise the scaler stays a separate pass and only the fused
//! error applies. Every other value (`(r − offset)/scale`, each `x̂_s`, each square, the sums) is
//! computed with the plain pass's operations in its order.
//!
//! # Missing values
//! The folded layer reads raw rows, NaN included. With finite weights a non-finite input makes
//! every product `r·W₁'ᵀ` of its row non-finite (`NaN·w`, `∞·0` are NaN, `∞·w` is ±∞, and a sum
//! with a non-finite term is non-finite), so a finite first column of `r·W₁'ᵀ` proves the row
//! finite, and only rows where it is not are looked at. If one of them holds a missing value,
//! the block goes through the scaler's own missing policy (the same error, or the same imputed
//! values, as the plain pass) and the first layer runs again on the filled rows.
//!
//! Convolutional models keep the plain pass.

use ndarray::{Array2, ArrayView2, ArrayViewMut2, s};

use super::parts::{ModelParts, Networks};
use super::variational;
use crate::error::Result;
use crate::nn::{AffineTarget, Dense};

/// The scaler is folded into the first layer only when every `|offset[j]| / scale[j]` is at most
/// this: the folded products are rounded on `|r| ≤ |r − offset| + |offset|`, so their rounding
/// error grows by at most this factor plus one relative to the plain pass's (≈ 4 bits of 24).
pub(crate) const FOLD_MAX_OFFSET: f32 = 16.0;

/// What a model of dense layers needs, beyond its networks, to be scored in fused passes.
#[derive(Debug, Clone)]
pub(crate) struct ScoringPlan {
    /// The encoder's first layer on raw rows (scaler folded in); `None`: the scaler stays a pass.
    folded: Option<Dense>,
    /// `d` zeros and ones: the identity map to the target when the rows are already scaled.
    zeros: Vec<f32>,
    ones: Vec<f32>,
}

/// Buffers of one fused scoring pass, reused from block to block.
#[derive(Debug, Default)]
pub(crate) struct FusedBuffers {
    /// Scaled rows (scaler not folded) or rows with missing values filled (folded).
    input: Array2<f32>,
    /// The output of every layer but the last, `[rows, out_l]`.
    outputs: Vec<Array2<f32>>,
    /// The last layer's GEMM output.
    last: Array2<f32>,
}

/// `rows × cols` view of `buf`, reallocating when it is too small or of another width.
fn rows_of(buf: &mut Array2<f32>, rows: usize, cols: usize) -> ArrayViewMut2<'_, f32> {
    if buf.nrows() < rows || buf.ncols() != cols {
        *buf = Array2::zeros((rows, cols));
    }
    buf.slice_mut(s![..rows, ..])
}

/// What layer `l` reads: the first `rows` rows of layer `l − 1`'s output, only its first `k`
/// columns for the decoder's first layer (`l = n_enc`; a variational encoder also outputs the
/// log-variances).
fn input_of(
    outputs: &[Array2<f32>],
    l: usize,
    rows: usize,
    n_enc: usize,
    k: usize,
) -> ArrayView2<'_, f32> {
    let prev = outputs[l - 1].slice(s![..rows, ..]);
    if l == n_enc {
        prev.slice_move(s![.., ..k])
    } else {
        prev
    }
}

/// The model's layers, all dense, input to output; `None` if one is not.
fn dense_layers(networks: &Networks) -> Option<Vec<&Dense>> {
    networks
        .encoder
        .layers()
        .iter()
        .chain(networks.decoder.layers())
        .map(|l| l.as_dense())
        .collect()
}

impl ScoringPlan {
    /// The plan for a model, or `None` when a layer is not dense (convolutional models).
    pub(crate) fn new(parts: &ModelParts<Networks>) -> Option<Self> {
        let layers = dense_layers(&parts.layers)?;
        if layers.len() < 2 {
            return None;
        }
        let p = &parts.preprocessing;
        let foldable = p
            .offset
            .iter()
            .zip(&p.scale)
            .all(|(&o, &s)| s > 0.0 && (o / s).abs() <= FOLD_MAX_OFFSET);
        let folded = foldable.then(|| layers[0].fold_input_affine(&p.offset, &p.scale));
        let d = p.n_features();
        Some(ScoringPlan {
            folded,
            zeros: vec![0.0; d],
            ones: vec![1.0; d],
        })
    }

    /// True when the scaler is folded into the first layer.
    #[cfg(test)]
    pub(crate) fn is_folded(&self) -> bool {
        self.folded.is_some()
    }

    /// Reconstruction errors of the raw rows `x` (one block, starting at row `first_row` of the
    /// caller's input) into `errors`, per-feature squared errors into `feature_errors` if given,
    /// plus `β·KL/d` for a variational model scoring the ELBO.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn score_block(
        &self,
        parts: &ModelParts<Networks>,
        buf: &mut FusedBuffers,
        x: ArrayView2<f32>,
        first_row: usize,
        errors: &mut [f64],
        feature_errors: Option<ArrayViewMut2<f32>>,
        elbo_beta: Option<f64>,
    ) -> Result<()> {
        let layers = dense_layers(&parts.layers).expect("a scoring plan is made for dense models");
        let (rows, d) = x.dim();
        let n = layers.len();
        let n_enc = parts.layers.encoder.layers().len();
        let k = parts.layers.latent_dim();
        if buf.outputs.len() < n - 1 {
            buf.outputs.resize_with(n - 1, || Array2::zeros((0, 0)));
        }
        let FusedBuffers {
            input,
            outputs,
            last,
        } = buf;
        let target = self.first_layer(parts, layers[0], x, first_row, input, &mut outputs[0])?;
        for (l, layer) in layers.iter().enumerate().take(n - 1).skip(1) {
            let (before, after) = outputs.split_at_mut(l);
            layer.forward(
                input_of(before, l, rows, n_enc, k),
                rows_of(&mut after[0], rows, layer.out_features()),
            );
        }
        layers[n - 1].forward_squared_error(
            input_of(outputs, n - 1, rows, n_enc, k),
            rows_of(last, rows, d),
            target,
            errors,
            feature_errors,
        );
        for e in errors.iter_mut() {
            *e /= d as f64;
        }
        if let Some(beta) = elbo_beta {
            let stats = outputs[n_enc - 1].slice(s![..rows, ..]);
            variational::add_kl(stats, beta / d as f64, errors);
        }
        Ok(())
    }

    /// Runs the first layer on the block `x` into `out` and returns the target the output is
    /// compared with: the raw rows (or, when some are missing, the filled rows in `input`) with
    /// the scaler's map when folded; the scaled rows in `input` otherwise.
    fn first_layer<'a>(
        &'a self,
        parts: &'a ModelParts<Networks>,
        plain: &Dense,
        x: ArrayView2<'a, f32>,
        first_row: usize,
        input: &'a mut Array2<f32>,
        out: &mut Array2<f32>,
    ) -> Result<AffineTarget<'a>> {
        let (rows, d) = x.dim();
        let pre = &parts.preprocessing;
        let Some(folded) = &self.folded else {
            pre.transform(x, rows_of(input, rows, d), &parts.features, first_row)?;
            let input: &'a Array2<f32> = input;
            let scaled = input.slice(s![..rows, ..]);
            plain.forward(scaled, rows_of(out, rows, plain.out_features()));
            return Ok(AffineTarget {
                rows: scaled,
                offset: &self.zeros,
                scale: &self.ones,
                identity: true,
            });
        };
        let width = folded.out_features();
        let mut suspect = false;
        folded.forward_inspecting(x, rows_of(out, rows, width), |z| {
            suspect = z.column(0).iter().any(|v| !v.is_finite());
        });
        let rows_in = if suspect && x.iter().any(|v| !v.is_finite()) {
            pre.fill_missing(x, rows_of(input, rows, d), &parts.features, first_row)?;
            let input: &'a Array2<f32> = input;
            let filled = input.slice(s![..rows, ..]);
            folded.forward(filled, rows_of(out, rows, width));
            filled
        } else {
            x
        };
        Ok(AffineTarget {
            rows: rows_in,
            offset: &pre.offset,
            scale: &pre.scale,
            identity: pre.is_identity(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::testdata::{manifold, names};
    use crate::model::{
        ActivationKind, Autoencoder, Kind, MissingPolicy, ScalerKind, ScoreOptions, Silent,
        TrainConfig, VariationalConfig, VariationalScore,
    };

    const ACTIVATIONS: [ActivationKind; 7] = [
        ActivationKind::Relu,
        ActivationKind::LeakyRelu,
        ActivationKind::Elu,
        ActivationKind::Selu,
        ActivationKind::Tanh,
        ActivationKind::Sigmoid,
        ActivationKind::Linear,
    ];

    fn model(config: TrainConfig, x: ArrayView2<f32>) -> Autoencoder {
        Autoencoder::fit(x, &names(x.ncols()), &config, &mut Silent).unwrap()
    }

    /// `|a − b| ≤ 1e-5·max(|a|, |b|)` (plus 1e-12 for errors at 0).
    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() <= 1e-5 * a.abs().max(b.abs()) + 1e-12
    }

    /// Scores through the model's fused plan and through the plain pass (matrixmultiply forward
    /// of every layer, the scaler as its own pass) agree within 1e-5 relative per row, with no
    /// NaN, and per-feature errors in their residuals `|t − x̂|` within 1e-5; batch 1, a batch
    /// smaller than a block, and batches not a multiple of the block.
    fn assert_fused_equals_plain(m: &Autoencoder, x: ArrayView2<f32>) {
        let plan = m
            .scoring
            .as_ref()
            .expect("a dense model has a scoring plan");
        for per_feature in [false, true] {
            let options = ScoreOptions {
                per_feature,
                ..Default::default()
            };
            for rows in [1, 2, 37, 255, 257, 1000, x.nrows()] {
                let rows = rows.min(x.nrows());
                let xb = x.slice(s![..rows, ..]);
                let fused = m.score_by(xb, &options, Some(plan)).unwrap();
                let plain = m.score_by(xb, &options, None).unwrap();
                for (i, (a, b)) in fused
                    .reconstruction_error
                    .iter()
                    .zip(&plain.reconstruction_error)
                    .enumerate()
                {
                    assert!(a.is_finite(), "row {i}: {a}");
                    assert!(close(*a, *b), "row {i} of {rows}: fused {a} plain {b}");
                }
                if per_feature {
                    let (fa, fb) = (fused.feature_errors.unwrap(), plain.feature_errors.unwrap());
                    // A single square (t − x̂)² moves by 2|t − x̂|·δ for a change δ of x̂, which
                    // is large relative to a small square: compare the residuals |t − x̂|.
                    for (a, b) in fa.iter().zip(&fb) {
                        let (ra, rb) = (a.sqrt(), b.sqrt());
                        assert!((ra - rb).abs() <= 1e-5, "feature error {a} vs {b}");
                    }
                }
            }
        }
    }

    #[test]
    fn fused_scores_equal_the_plain_pass_for_every_activation() {
        let x = manifold(1300, 11);
        for (i, &act) in ACTIVATIONS.iter().enumerate() {
            let out = ACTIVATIONS[(i + 3) % ACTIVATIONS.len()];
            let scaler = [ScalerKind::Standard, ScalerKind::MinMax, ScalerKind::None][i % 3];
            let m = model(
                TrainConfig {
                    hidden: Some(vec![7, 3, 5]),
                    activation: act,
                    output_activation: out,
                    scaler,
                    epochs: 1,
                    ..Default::default()
                },
                x.view(),
            );
            let folded = m.scoring.as_ref().unwrap().is_folded();
            // The manifold's offsets are within a few scales of 0; unscaled, `r` is `r − 0`.
            assert!(folded, "{act:?}/{scaler:?}");
            assert_fused_equals_plain(&m, x.view());
        }
    }

    /// Offsets far from 0 in units of the scale: the scaler is not folded (the products would
    /// lose bits), and the fused error still equals the plain pass.
    #[test]
    fn a_scaler_with_large_offsets_stays_a_pass() {
        let x = manifold(600, 12).mapv(|v| v + 5000.0);
        let m = model(
            TrainConfig {
                hidden: Some(vec![5, 2, 5]),
                epochs: 1,
                ..Default::default()
            },
            x.view(),
        );
        assert!(!m.scoring.as_ref().unwrap().is_folded());
        assert_fused_equals_plain(&m, x.view());
    }

    /// Variational models, mean and ELBO scores (the decoder reads the first k of 2k encoder
    /// outputs; the ELBO adds the KL of every row).
    #[test]
    fn variational_scores_equal_the_plain_pass() {
        let x = manifold(700, 13);
        for score in [VariationalScore::Reconstruction, VariationalScore::Elbo] {
            let m = model(
                TrainConfig {
                    kind: Kind::Variational(VariationalConfig {
                        score,
                        ..Default::default()
                    }),
                    hidden: Some(vec![9, 3, 9]),
                    epochs: 1,
                    ..Default::default()
                },
                x.view(),
            );
            assert_fused_equals_plain(&m, x.view());
        }
    }

    /// Missing values: imputed rows score as in the plain pass, wherever they fall in a block;
    /// under reject the same first row and feature are named.
    #[test]
    fn missing_values_follow_the_policy_as_in_the_plain_pass() {
        let mut x = manifold(900, 14);
        let m = model(
            TrainConfig {
                hidden: Some(vec![6, 3, 6]),
                epochs: 1,
                missing: MissingPolicy::ImputeMean,
                ..Default::default()
            },
            x.view(),
        );
        for (r, c, v) in [
            (0, 0, f32::NAN),
            (300, 7, f32::INFINITY),
            (301, 3, f32::NEG_INFINITY),
            (899, 5, f32::NAN),
        ] {
            x[[r, c]] = v;
        }
        x.row_mut(500).fill(f32::NAN);
        assert_fused_equals_plain(&m, x.view());

        let mut reject = m.clone();
        reject.parts.preprocessing.missing = MissingPolicy::Reject;
        let reject = Autoencoder::assemble(reject.parts);
        let options = ScoreOptions::default();
        let plan = reject.scoring.as_ref().unwrap();
        for rows in [1, 300, 302, 900] {
            let xb = x.slice(s![..rows, ..]);
            let fused = reject.score_by(xb, &options, Some(plan)).unwrap_err();
            let plain = reject.score_by(xb, &options, None).unwrap_err();
            assert_eq!(fused.to_string(), plain.to_string());
        }
        let e = reject
            .reconstruction_error(x.slice(s![1..900, ..]))
            .unwrap_err();
        assert!(e.to_string().contains("row 299, feature 'f7'"), "{e}");
    }
}
