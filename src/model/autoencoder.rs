//! The trained autoencoder: its parts, and inference (encode, decode, reconstruct, score).
//!
//! Inference runs in blocks of rows through buffers reused from block to block (scoring and
//! encoding: blocks of [`SCORE_BLOCK`] rows shared out between two cores; reconstructing and
//! decoding: chunks of [`INFERENCE_CHUNK`] rows), so memory beyond the outputs stays bounded
//! whatever the number of rows.
//!
//! For raw rows `x` (`[rows, d]`, original units):
//! ```text
//! x_s   = (fill_missing(x) − offset) / scale          scaled units
//! z     = encoder(x_s)[.., ..k]                        [rows, k] (a variational model's mean)
//! x̂_s   = decoder(z)                                   [rows, d]
//! error = (1/d) Σⱼ (x_s − x̂_s)²                        per row, f64
//! x̂     = x̂_s · scale + offset                         original units
//! ```
//! A variational model scoring the ELBO adds `β·KL_r/d` to `error` (see
//! [`super::variational`]); it alone can [`Autoencoder::sample`] new rows.

use std::path::Path;
use std::sync::Mutex;

use ndarray::{Array1, Array2, ArrayView2, ArrayViewMut2, Axis, s};

use super::block_queue;
use super::config::{ActivationKind, TrainConfig};
use super::file;
use super::kind::Kind;
use super::observer::{EpochRecord, TrainObserver};
use super::parts::{ModelParts, Networks};
use super::scaler::{MissingPolicy, Preprocessing};
use super::score::{ScoreOptions, Scores};
use super::scoring::{FusedBuffers, ScoringPlan};
use super::summary::{Diagnostics, ModelSummary};
use super::train;
use super::variational::{self, Sampler, VariationalScore};
use crate::error::{Error, Result};
use crate::nn::{Buffers, Sequential, parallel, sum_squared_diff};

/// Rows per inference chunk.
pub const INFERENCE_CHUNK: usize = 4096;

/// A trained autoencoder with its scaler, threshold and metadata.
#[derive(Debug, Clone)]
pub struct Autoencoder {
    /// Everything the model holds, its networks included.
    pub(crate) parts: ModelParts<Networks>,
    /// Short hex id derived from the weights' checksum.
    pub(crate) version: String,
    /// Inference buffers kept between calls.
    pub(crate) passes: PassPool,
    /// How scoring runs a dense model (scaler folded, error fused); `None`: the plain pass.
    pub(crate) scoring: Option<ScoringPlan>,
}

/// Reusable buffers of one inference pass.
#[derive(Default)]
pub(crate) struct Pass {
    scaled: Array2<f32>,
    encoder: Buffers,
    decoder: Buffers,
    fused: FusedBuffers,
}

/// Inputs of at least this many rows are scored and encoded on two cores (below it the hand-over
/// costs more than half the work of a small tabular model); blocks are shared out one at a time
/// (see [`block_queue`]).
const PARALLEL_MIN_ROWS: usize = 512;

/// Rows scored (or encoded) at a time through the whole network: a block's activations stay in the
/// core's L2 cache from one layer to the next (about 2 MB for the 784-wide reference model at 256
/// rows). Measured on the reference model: a product on 256 rows runs at 1.3–1.7 times the
/// GFLOP/s of the same product on 4096 rows (`cargo bench --bench breakdown`). Rows are
/// independent, so the results are the same bits whatever the block and whichever core runs it.
const SCORE_BLOCK: usize = 256;

/// At most this many sets of inference buffers are kept per model (one per concurrent caller).
const POOLED_PASSES: usize = 2;

/// Inference buffers reused across calls, so that scoring a stream of batches does not allocate
/// (and page-fault) tens of megabytes per batch for wide models. Each call takes a set (or makes
/// one) and gives it back; at most [`POOLED_PASSES`] are kept, each about
/// `INFERENCE_CHUNK · (d + Σ widths) · 4` bytes at most (`SCORE_BLOCK` rows when only scoring
/// or encoding).
#[derive(Default)]
pub(crate) struct PassPool(Mutex<Vec<Pass>>);

impl PassPool {
    fn take(&self) -> Pass {
        self.0
            .lock()
            .ok()
            .and_then(|mut v| v.pop())
            .unwrap_or_default()
    }

    fn put(&self, pass: Pass) {
        if let Ok(mut v) = self.0.lock()
            && v.len() < POOLED_PASSES
        {
            v.push(pass);
        }
    }
}

impl Clone for PassPool {
    /// A clone starts with no buffers of its own.
    fn clone(&self) -> Self {
        PassPool::default()
    }
}

impl std::fmt::Debug for PassPool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PassPool")
    }
}

impl Autoencoder {
    /// The one way a model is made, by training or by loading: its parts, plus the version id of
    /// its weights and an empty pool of inference buffers.
    pub(crate) fn assemble(parts: ModelParts<Networks>) -> Self {
        Autoencoder {
            version: file::version_of(&parts.layers),
            scoring: ScoringPlan::new(&parts),
            parts,
            passes: PassPool::default(),
        }
    }

    /// Train on `x` (`[rows, features]`, original units, NaN = missing).
    pub fn fit(
        x: ArrayView2<f32>,
        feature_names: &[String],
        config: &TrainConfig,
        observer: &mut dyn TrainObserver,
    ) -> Result<Self> {
        train::fit(x, feature_names, config, observer)
    }

    /// Feature names in the order the model expects them.
    pub fn feature_names(&self) -> &[String] {
        &self.parts.features
    }

    /// Number of input features `d`.
    pub fn n_features(&self) -> usize {
        self.parts.features.len()
    }

    /// Width `k` of the latent layer (the decoder's input).
    pub fn latent_dim(&self) -> usize {
        self.parts.layers.latent_dim()
    }

    /// The missing-value policy learned with the model.
    pub fn missing_policy(&self) -> MissingPolicy {
        self.parts.preprocessing.missing
    }

    /// Calibrated anomaly threshold (reconstruction error units).
    pub fn threshold(&self) -> Option<f64> {
        self.parts.threshold
    }

    /// Replaces the threshold (`None` removes it).
    pub fn set_threshold(&mut self, threshold: Option<f64>) {
        self.parts.threshold = threshold;
    }

    /// The kind of autoencoder.
    pub fn kind(&self) -> &Kind {
        &self.parts.kind
    }

    /// The configuration the model was trained with.
    pub fn train_config(&self) -> &TrainConfig {
        &self.parts.config
    }

    /// The fitted preprocessing (missing policy and scaler statistics).
    pub fn preprocessing(&self) -> &Preprocessing {
        &self.parts.preprocessing
    }

    /// The encoder network, `[*, d] → [*, k]`, in scaled units.
    pub fn encoder(&self) -> &Sequential {
        &self.parts.layers.encoder
    }

    /// The decoder network, `[*, k] → [*, d]`, in scaled units.
    pub fn decoder(&self) -> &Sequential {
        &self.parts.layers.decoder
    }

    /// Per-epoch training history.
    pub fn history(&self) -> &[EpochRecord] {
        &self.parts.history
    }

    /// Diagnostics computed after training.
    pub fn diagnostics(&self) -> &Diagnostics {
        &self.parts.diagnostics
    }

    /// Short hex id of the weights.
    pub fn version(&self) -> &str {
        &self.version
    }

    /// Widths input to output, the latent layer counted as `k` wide (a variational encoder's
    /// last layer outputs `2k` numbers, the mean and log-variance of `k` units). Convolutional
    /// layers count their flattened `C·H·W` outputs.
    pub fn dims(&self) -> Vec<usize> {
        let mut dims: Vec<usize> = vec![self.parts.layers.encoder.in_features()];
        dims.extend(
            self.parts
                .layers
                .encoder
                .layers()
                .iter()
                .map(|l| l.out_features()),
        );
        *dims.last_mut().expect("the encoder has a layer") = self.latent_dim();
        dims.extend(
            self.parts
                .layers
                .decoder
                .layers()
                .iter()
                .map(|l| l.out_features()),
        );
        dims
    }

    /// Activation of each layer, input to output (`dims().len() − 1` of them).
    pub fn activations(&self) -> Vec<ActivationKind> {
        self.parts
            .layers
            .encoder
            .layers()
            .iter()
            .chain(self.parts.layers.decoder.layers())
            .map(|l| l.activation().into())
            .collect()
    }

    /// Human-facing summary.
    pub fn summary(&self) -> ModelSummary {
        ModelSummary {
            kind: self.parts.kind.clone(),
            features: self.parts.features.clone(),
            dims: self.dims(),
            latent_dim: self.latent_dim(),
            scaler: self.parts.preprocessing.scaler,
            missing: self.parts.preprocessing.missing,
            threshold: self.parts.threshold,
            contamination: self.parts.contamination,
            created_unix: self.parts.created_unix,
            training_seconds: self.parts.training_seconds,
            history: self.parts.history.clone(),
            dead_latent_units: self.parts.diagnostics.dead_latent_units.clone(),
            error_quantiles: self.parts.diagnostics.error_quantiles.clone(),
            version: self.version.clone(),
        }
    }

    /// Latent vectors `[rows, latent]` for raw rows `[rows, features]`.
    pub fn encode(&self, x: ArrayView2<f32>) -> Result<Array2<f32>> {
        self.check_width(x, "encode")?;
        let rows = x.nrows();
        let mut z = Array2::zeros((rows, self.latent_dim()));
        let items: Vec<_> = z.axis_chunks_iter_mut(Axis(0), SCORE_BLOCK).collect();
        self.on_blocks(rows, items, |pass, block, mut zb| {
            let start = block * SCORE_BLOCK;
            let end = start + zb.nrows();
            zb.assign(&pass.encode(self, x.slice(s![start..end, ..]), start)?);
            Ok(())
        })?;
        Ok(z)
    }

    /// Rows in original units `[rows, features]` from latents `[rows, latent]`.
    pub fn decode(&self, z: ArrayView2<f32>) -> Result<Array2<f32>> {
        if z.ncols() != self.latent_dim() {
            return Err(Error::data(
                "latent input",
                format!(
                    "has {} columns but the model's latent size is {}",
                    z.ncols(),
                    self.latent_dim()
                ),
            ));
        }
        let mut out = Array2::zeros((z.nrows(), self.n_features()));
        let mut buffers = Buffers::default();
        for start in (0..z.nrows()).step_by(INFERENCE_CHUNK) {
            let end = (start + INFERENCE_CHUNK).min(z.nrows());
            let xs = self
                .decoder()
                .forward(z.slice(s![start..end, ..]), &mut buffers);
            self.parts
                .preprocessing
                .inverse(xs, out.slice_mut(s![start..end, ..]));
        }
        Ok(out)
    }

    /// `n` new rows in original units, generated by decoding draws `z ~ N(0, I)` from the prior
    /// (seeded: the same seed gives the same rows). Variational models only.
    pub fn sample(&self, n: usize, seed: u64) -> Result<Array2<f32>> {
        self.sampler(seed)?.next_rows(n)
    }

    /// A generator of rows like [`Autoencoder::sample`]'s, for drawing many rows in chunks
    /// (`sampler(s)` asked for `a` then `b` rows gives the rows of `sample(a + b, s)`).
    /// Variational models only.
    pub fn sampler(&self, seed: u64) -> Result<Sampler<&Autoencoder>> {
        Sampler::new(self, seed)
    }

    /// Reconstruction in original units.
    pub fn reconstruct(&self, x: ArrayView2<f32>) -> Result<Array2<f32>> {
        self.check_width(x, "reconstruct")?;
        let mut out = Array2::zeros(x.raw_dim());
        let mut pass = self.pass();
        for start in (0..x.nrows()).step_by(INFERENCE_CHUNK) {
            let end = (start + INFERENCE_CHUNK).min(x.nrows());
            let (_, _, xs_hat) = pass.reconstruct(self, x.slice(s![start..end, ..]), start)?;
            self.parts
                .preprocessing
                .inverse(xs_hat, out.slice_mut(s![start..end, ..]));
        }
        Ok(out)
    }

    /// Reconstruction error per row (see [`Scores::reconstruction_error`]).
    pub fn reconstruction_error(&self, x: ArrayView2<f32>) -> Result<Array1<f64>> {
        Ok(self
            .score(x, &ScoreOptions::default())?
            .reconstruction_error)
    }

    /// Errors, anomaly flags and optionally per-feature errors.
    pub fn score(&self, x: ArrayView2<f32>, options: &ScoreOptions) -> Result<Scores> {
        self.score_by(x, options, self.scoring.as_ref())
    }

    /// [`Autoencoder::score`] through the fused passes of `plan`, or the plain pass when `None`.
    pub(crate) fn score_by(
        &self,
        x: ArrayView2<f32>,
        options: &ScoreOptions,
        plan: Option<&ScoringPlan>,
    ) -> Result<Scores> {
        self.check_width(x, "score")?;
        let (rows, d) = x.dim();
        let mut errors = Array1::zeros(rows);
        let mut feature_errors = options.per_feature.then(|| Array2::zeros((rows, d)));
        let elbo_beta = self
            .parts
            .kind
            .variational()
            .filter(|v| v.score == VariationalScore::Elbo)
            .map(|v| v.beta as f64);
        let errs = errors.as_slice_mut().expect("errors are contiguous");
        let fe_blocks: Vec<Option<ArrayViewMut2<f32>>> = match feature_errors.as_mut() {
            Some(fe) => fe
                .axis_chunks_iter_mut(Axis(0), SCORE_BLOCK)
                .map(Some)
                .collect(),
            None => (0..rows.div_ceil(SCORE_BLOCK)).map(|_| None).collect(),
        };
        let items: Vec<_> = errs.chunks_mut(SCORE_BLOCK).zip(fe_blocks).collect();
        self.on_blocks(rows, items, |pass, block, (errs, fe)| {
            let start = block * SCORE_BLOCK;
            let end = start + errs.len();
            let xb = x.slice(s![start..end, ..]);
            match plan {
                Some(plan) => {
                    plan.score_block(&self.parts, &mut pass.fused, xb, start, errs, fe, elbo_beta)
                }
                None => self.score_block(pass, xb, start, errs, fe, elbo_beta),
            }
        })?;
        let threshold = options.threshold.or(self.parts.threshold);
        let is_anomaly = threshold.map(|t| errors.iter().map(|&e| e > t).collect());
        Ok(Scores {
            reconstruction_error: errors,
            is_anomaly,
            feature_errors,
        })
    }

    /// Runs `f(pass, block, item)` for the blocks of [`SCORE_BLOCK`] rows of a `rows`-row input
    /// (`items[i]` holds block `i`'s outputs), on both cores when there are enough rows
    /// ([`block_queue::run_blocks`]), with inference buffers from the pool.
    fn on_blocks<T, F>(&self, rows: usize, items: Vec<T>, f: F) -> Result<()>
    where
        T: Send,
        F: Fn(&mut Pass, usize, T) -> Result<()> + Sync,
    {
        let mut first = self.passes.take();
        let result = if rows >= PARALLEL_MIN_ROWS && parallel::two_threads() {
            let mut second = self.passes.take();
            let r = block_queue::run_blocks(&mut first, Some(&mut second), items, f);
            self.passes.put(second);
            r
        } else {
            block_queue::run_blocks(&mut first, None, items, f)
        };
        self.passes.put(first);
        result
    }

    /// Atomic save (temporary file, then rename) in the safetensors format.
    pub fn save(&self, path: &Path) -> Result<()> {
        file::save(self, path)
    }

    /// Load and fully validate a model file.
    pub fn load(path: &Path) -> Result<Self> {
        file::load(path)
    }

    /// The model file's bytes.
    pub fn to_bytes(&self) -> Result<Vec<u8>> {
        file::to_bytes(self)
    }

    /// Parse and validate model bytes; `source` names them in errors.
    pub fn from_bytes(bytes: &[u8], source: &str) -> Result<Self> {
        file::from_bytes(bytes, source)
    }

    /// Reconstruction errors of the rows `x` (one block, starting at row `first_row` of the
    /// caller's input) into `errors`, and per-feature errors into `feature_errors` if given.
    fn score_block(
        &self,
        pass: &mut Pass,
        x: ArrayView2<f32>,
        first_row: usize,
        errors: &mut [f64],
        mut feature_errors: Option<ArrayViewMut2<f32>>,
        elbo_beta: Option<f64>,
    ) -> Result<()> {
        let d = x.ncols();
        let (xs, stats, xs_hat) = pass.reconstruct(self, x, first_row)?;
        for (i, (a, b)) in xs.rows().into_iter().zip(xs_hat.rows()).enumerate() {
            let sum = match feature_errors.as_mut() {
                Some(fe) => {
                    let mut sum = 0.0f64;
                    for ((fe, &a), &b) in fe.row_mut(i).iter_mut().zip(a).zip(b) {
                        let e = (a - b) * (a - b);
                        *fe = e;
                        sum += e as f64;
                    }
                    sum
                }
                None => match (a.as_slice(), b.as_slice()) {
                    (Some(a), Some(b)) => sum_squared_diff(a, b),
                    _ => a
                        .iter()
                        .zip(b)
                        .map(|(&a, &b)| ((a - b) * (a - b)) as f64)
                        .sum(),
                },
            };
            errors[i] = sum / d as f64;
        }
        if let Some(beta) = elbo_beta {
            variational::add_kl(stats, beta / d as f64, errors);
        }
        Ok(())
    }

    fn check_width(&self, x: ArrayView2<f32>, op: &str) -> Result<()> {
        if x.ncols() == self.n_features() {
            return Ok(());
        }
        Err(Error::data(
            format!("{op} input"),
            format!(
                "has {} columns but the model expects {} features ({})",
                x.ncols(),
                self.n_features(),
                list_names(&self.parts.features)
            ),
        ))
    }

    fn pass(&self) -> Pass {
        Pass {
            scaled: Array2::zeros((0, 0)),
            encoder: Buffers::default(),
            decoder: Buffers::default(),
            fused: FusedBuffers::default(),
        }
    }
}

impl Pass {
    fn scale(&mut self, model: &Autoencoder, x: ArrayView2<f32>, first_row: usize) -> Result<()> {
        let (rows, d) = x.dim();
        if self.scaled.nrows() < rows || self.scaled.ncols() != d {
            self.scaled = Array2::zeros((rows, d));
        }
        model.parts.preprocessing.transform(
            x,
            self.scaled.slice_mut(s![..rows, ..]),
            &model.parts.features,
            first_row,
        )
    }

    fn encode(
        &mut self,
        model: &Autoencoder,
        x: ArrayView2<f32>,
        first_row: usize,
    ) -> Result<ArrayView2<'_, f32>> {
        self.scale(model, x, first_row)?;
        let stats = model
            .encoder()
            .forward(self.scaled.slice(s![..x.nrows(), ..]), &mut self.encoder);
        Ok(stats.slice_move(s![.., ..model.latent_dim()]))
    }

    /// `(x_s, encoder output, x̂_s)` for a chunk; the decoder reads the first `k` encoder
    /// outputs.
    #[allow(clippy::type_complexity)]
    fn reconstruct(
        &mut self,
        model: &Autoencoder,
        x: ArrayView2<f32>,
        first_row: usize,
    ) -> Result<(
        ArrayView2<'_, f32>,
        ArrayView2<'_, f32>,
        ArrayView2<'_, f32>,
    )> {
        self.scale(model, x, first_row)?;
        let xs = self.scaled.slice(s![..x.nrows(), ..]);
        let stats = model.parts.layers.encoder.forward(xs, &mut self.encoder);
        let z = stats.slice(s![.., ..model.latent_dim()]);
        let xs_hat = model.parts.layers.decoder.forward(z, &mut self.decoder);
        Ok((xs, stats, xs_hat))
    }
}

/// `a, b, c` or `a, b, …, z (784 features)` for long lists.
pub(crate) fn list_names(names: &[String]) -> String {
    if names.len() <= 8 {
        names.join(", ")
    } else {
        format!(
            "{}, …, {} ({} features)",
            names[..6].join(", "),
            names[names.len() - 1],
            names.len()
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::testdata::{manifold, names};
    use crate::model::{ScoreOptions, Silent};

    /// Scoring and encoding many rows at once (blocks shared out between two threads) gives the
    /// same bits as doing it a few rows at a time on one thread, and the first bad row is the one
    /// named, however the blocks fell.
    #[test]
    fn blocks_on_two_threads_give_the_bits_of_small_calls() {
        let x = manifold(2100, 3);
        let config = TrainConfig {
            epochs: 2,
            ..Default::default()
        };
        let model = Autoencoder::fit(x.view(), &names(8), &config, &mut Silent).unwrap();
        let options = ScoreOptions {
            per_feature: true,
            ..Default::default()
        };
        let all = model.score(x.view(), &options).unwrap();
        let z = model.encode(x.view()).unwrap();
        for start in (0..x.nrows()).step_by(7) {
            let end = (start + 7).min(x.nrows());
            let part = model.score(x.slice(s![start..end, ..]), &options).unwrap();
            for (i, e) in part.reconstruction_error.iter().enumerate() {
                assert_eq!(e.to_bits(), all.reconstruction_error[start + i].to_bits());
            }
            assert_eq!(
                part.feature_errors.unwrap(),
                all.feature_errors
                    .as_ref()
                    .unwrap()
                    .slice(s![start..end, ..])
            );
            assert_eq!(
                model.encode(x.slice(s![start..end, ..])).unwrap(),
                z.slice(s![start..end, ..])
            );
        }
        let mut bad = x.clone();
        for row in [1500, 700, 1900] {
            bad[[row, 2]] = f32::NAN;
        }
        for _ in 0..20 {
            let e = model
                .reconstruction_error(bad.view())
                .unwrap_err()
                .to_string();
            assert!(e.contains("row 700, feature 'f2'"), "{e}");
            let e = model.encode(bad.view()).unwrap_err().to_string();
            assert!(e.contains("row 700, feature 'f2'"), "{e}");
        }
    }
}
