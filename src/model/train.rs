//! The training loop: preprocessing, split, mini-batches, early stopping, calibration.
//!
//! 1. Check the configuration and the data; learn the preprocessing on all rows and scale them.
//! 2. Shuffle rows once (seeded) and hold out `⌊rows · validation_split⌋` of them.
//! 3. Each epoch: reshuffle the training rows, and for each mini-batch `x` (clean, scaled):
//!    `x̃ = corrupt(x)` (denoising only), `z = encoder(x̃)`, `x̂ = decoder(z)`,
//!    objective `L(x̂, x) + P(z)` (P: latent penalties of the sparse kind), backward through the
//!    decoder to `∂/∂z`, add `∂P/∂z`, backward through the encoder, one optimizer step.
//!    A variational kind samples `z = μ + σ·ε` at the latent stage and adds `β·KL`
//!    (see [`super::variational`]); a convolutional kind only differs in its networks.
//! 4. After each epoch, the validation loss (inference mode); early stopping keeps the best
//!    weights and stops after `patience` epochs without a relative improvement of
//!    `min_rel_delta`, then restores them.
//! 5. On all rows: reconstruction errors → threshold and error quantiles; latent activity → dead
//!    units.
//!
//! Every random draw comes from ChaCha8 streams of the one seed (0: initialisation, 1: split,
//! 2: shuffling, 3: corruption and dropout, 4: variational sampling), so the same seed and data
//! give bit-identical weights.

use std::collections::HashSet;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use ndarray::{Array2, ArrayView2, ArrayViewMut2, Axis, s};
use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;

use super::architecture::Architecture;
use super::autoencoder::{Autoencoder, INFERENCE_CHUNK};
use super::config::{LossKind, TrainConfig};
use super::ensemble;
use super::feature_balance;
use super::kind::Kind;
use super::observer::{EpochRecord, TrainObserver};
use super::parts::{ModelParts, Networks};
use super::scaler::{Preprocessing, ScalerKind};
use super::summary::{DEAD_UNIT_STD, Diagnostics, LatentActivity};
use super::threshold;
use super::variational::{self, GaussianHead, VariationalScore};
use crate::error::{Error, Result};
use crate::nn::{
    ActivityPenalty, Buffers, Corruption, GradAt, Grads, Loss, Optimizer, Sequential, Tape,
    parallel,
};

const STREAM_INIT: u64 = 0;
const STREAM_SPLIT: u64 = 1;
const STREAM_SHUFFLE: u64 = 2;
const STREAM_NOISE: u64 = 3;
const STREAM_LATENT: u64 = 4;

fn rng(seed: u64, stream: u64) -> ChaCha8Rng {
    let mut r = ChaCha8Rng::seed_from_u64(seed);
    r.set_stream(stream);
    r
}

/// Buffers and state of the mini-batch loop, reused across batches.
struct Trainer {
    loss: Loss,
    corruption: Corruption,
    penalty: ActivityPenalty,
    optimizer: Box<dyn Optimizer>,
    batch: Array2<f32>,
    noisy: Array2<f32>,
    encoder_tape: Tape,
    decoder_tape: Tape,
    encoder_grads: Grads,
    decoder_grads: Grads,
    noise_rng: ChaCha8Rng,
    /// Variational kind: the sampling stage, the KL weight β_e of the current epoch, and the
    /// stream ε is drawn from.
    head: Option<GaussianHead>,
    beta_now: f32,
    latent_rng: ChaCha8Rng,
}

impl Trainer {
    /// Buffers for mini-batches of at most `batch_size` rows of `d` features; the noise and
    /// latent sampling streams of the seed (3 and 4).
    fn new(config: &TrainConfig, nets: &Networks, batch_size: usize, d: usize) -> Self {
        Trainer {
            loss: config.loss.into(),
            corruption: config.kind.corruption(),
            penalty: config.kind.latent_penalty(),
            optimizer: config.optimizer_config().build(),
            batch: Array2::zeros((batch_size, d)),
            noisy: Array2::zeros((batch_size, d)),
            encoder_tape: Tape::new(),
            decoder_tape: Tape::new(),
            encoder_grads: nets.encoder.zero_grads(),
            decoder_grads: nets.decoder.zero_grads(),
            noise_rng: rng(config.seed, STREAM_NOISE),
            head: config.kind.variational().map(|_| GaussianHead::default()),
            beta_now: 0.0,
            latent_rng: rng(config.seed, STREAM_LATENT),
        }
    }

    /// Rows per full mini-batch.
    fn batch_size(&self) -> usize {
        self.batch.nrows()
    }

    /// Step 3 for one epoch (number and start time in `at`): a step per mini-batch of the
    /// shuffled training rows `order`; returns the mean loss per row. A loss that is not finite
    /// is an error naming the learning rate.
    fn epoch(
        &mut self,
        nets: &mut Networks,
        xs: ArrayView2<f32>,
        order: &[usize],
        (epoch, started): (usize, Instant),
        config: &TrainConfig,
        observer: &mut dyn TrainObserver,
    ) -> Result<f64> {
        let batch_size = self.batch_size();
        let mut loss_sum = 0.0f64;
        for (b, chunk) in order.chunks(batch_size).enumerate() {
            gather_rows(xs, chunk, self.batch.view_mut());
            let loss = self.step(nets, chunk.len());
            if !loss.is_finite() {
                return Err(Error::config(
                    "learning_rate",
                    format!(
                        "training diverged at epoch {epoch}, batch {} (the loss is not finite); use a smaller learning rate (now {})",
                        b + 1,
                        config.effective_learning_rate()
                    ),
                ));
            }
            loss_sum += loss * chunk.len() as f64;
            let done = (b * batch_size + chunk.len()) as f64;
            observer.on_batch(
                b + 1,
                loss,
                done / started.elapsed().as_secs_f64().max(1e-9),
            );
        }
        Ok(loss_sum / order.len() as f64)
    }

    /// One optimizer step on the clean scaled rows in `self.batch[..rows]`; returns the batch's
    /// reconstruction loss.
    fn step(&mut self, nets: &mut Networks, rows: usize) -> f64 {
        let Trainer {
            loss,
            corruption,
            penalty,
            optimizer,
            batch,
            noisy,
            encoder_tape,
            decoder_tape,
            encoder_grads,
            decoder_grads,
            noise_rng,
            head,
            beta_now,
            latent_rng,
        } = self;
        let clean = batch.slice(s![..rows, ..]);
        let input = if corruption.is_identity() {
            clean
        } else {
            let mut n = noisy.slice_mut(s![..rows, ..]);
            n.assign(&clean);
            corruption.apply(n, noise_rng);
            noisy.slice(s![..rows, ..])
        };

        nets.encoder.forward_train(input, encoder_tape, noise_rng);
        if let Some(head) = head {
            let z = head.sample(encoder_tape.output(), latent_rng);
            nets.decoder.forward_train(z, decoder_tape, noise_rng);
            let (x_hat, d_out) = decoder_tape.output_and_grad();
            let (value, at) =
                loss.value_and_grad(x_hat, clean, nets.decoder.output_activation(), d_out);
            let (z, dz) = head.z_and_grad();
            nets.decoder
                .backward(z, decoder_tape, at, decoder_grads, Some(dz));
            let kl_weight = *beta_now / clean.len().max(1) as f32;
            let (stats, dstats) = encoder_tape.output_and_grad();
            let kl = head.backward(stats, kl_weight, dstats);
            nets.encoder
                .backward(input, encoder_tape, GradAt::Output, encoder_grads, None);
            optimizer.begin_step();
            let next = nets.encoder.step(encoder_grads, optimizer.as_mut(), 0);
            nets.decoder.step(decoder_grads, optimizer.as_mut(), next);
            return value + kl_weight as f64 * kl;
        }
        nets.decoder
            .forward_train(encoder_tape.output(), decoder_tape, noise_rng);
        let (x_hat, d_out) = decoder_tape.output_and_grad();
        let (value, at) =
            loss.value_and_grad(x_hat, clean, nets.decoder.output_activation(), d_out);
        {
            let (z, mut dz) = encoder_tape.output_and_grad();
            nets.decoder
                .backward(z, decoder_tape, at, decoder_grads, Some(dz.view_mut()));
            if !penalty.is_zero() {
                penalty.add_grad(z, dz);
            }
        }
        nets.encoder
            .backward(input, encoder_tape, GradAt::Output, encoder_grads, None);

        optimizer.begin_step();
        let next = nets.encoder.step(encoder_grads, optimizer.as_mut(), 0);
        nets.decoder.step(decoder_grads, optimizer.as_mut(), next);
        value
    }
}

/// The first `k` encoder outputs, which the decoder reads (all of them, but for a variational
/// model: the mean).
fn latent(stats: ArrayView2<'_, f32>, k: usize) -> ArrayView2<'_, f32> {
    stats.slice_move(s![.., ..k])
}

/// Mean loss of `loss` over scaled rows `xs`, in inference mode; for a variational model
/// (`beta` given) plus `β·mean KL/d`.
fn inference_loss(nets: &Networks, xs: ArrayView2<f32>, loss: Loss, beta: Option<f32>) -> f64 {
    let (mut enc, mut dec) = (Buffers::default(), Buffers::default());
    let k = nets.decoder.in_features();
    let mut sum = 0.0;
    for start in (0..xs.nrows()).step_by(INFERENCE_CHUNK) {
        let end = (start + INFERENCE_CHUNK).min(xs.nrows());
        let chunk = xs.slice(s![start..end, ..]);
        let stats = nets.encoder.forward(chunk, &mut enc);
        let x_hat = nets.decoder.forward(latent(stats, k), &mut dec);
        sum += loss.value(x_hat, chunk) * (end - start) as f64;
        if let Some(beta) = beta {
            sum += beta as f64 * variational::kl_sum(stats) / xs.ncols() as f64;
        }
    }
    sum / xs.nrows().max(1) as f64
}

/// Per-row anomaly scores (reconstruction errors, or for a variational model scoring the ELBO
/// the errors plus `β·KL/d`) and latent activity over scaled rows `xs`.
fn errors_and_activity(
    nets: &Networks,
    xs: ArrayView2<f32>,
    kind: &Kind,
) -> (Vec<f64>, Vec<LatentActivity>) {
    let (rows, d) = xs.dim();
    let k = nets.decoder.in_features();
    let elbo_beta = kind
        .variational()
        .filter(|v| v.score == VariationalScore::Elbo)
        .map(|v| v.beta as f64);
    let (mut enc, mut dec) = (Buffers::default(), Buffers::default());
    let mut errors = Vec::with_capacity(rows);
    let (mut sum, mut sum_sq) = (vec![0.0f64; k], vec![0.0f64; k]);
    for start in (0..rows).step_by(INFERENCE_CHUNK) {
        let end = (start + INFERENCE_CHUNK).min(rows);
        let chunk = xs.slice(s![start..end, ..]);
        let stats = nets.encoder.forward(chunk, &mut enc);
        let z = latent(stats, k);
        for row in z.rows() {
            for (j, &v) in row.iter().enumerate() {
                sum[j] += v as f64;
                sum_sq[j] += (v as f64) * (v as f64);
            }
        }
        let x_hat = nets.decoder.forward(z, &mut dec);
        for (a, b) in chunk.rows().into_iter().zip(x_hat.rows()) {
            let e: f64 = a
                .iter()
                .zip(b)
                .map(|(&a, &b)| ((a - b) * (a - b)) as f64)
                .sum();
            errors.push(e / d as f64);
        }
        if let Some(beta) = elbo_beta {
            variational::add_kl(stats, beta / d as f64, &mut errors[start..end]);
        }
    }
    let n = rows.max(1) as f64;
    let activity = (0..k)
        .map(|j| {
            let mean = sum[j] / n;
            LatentActivity {
                mean,
                std: (sum_sq[j] / n - mean * mean).max(0.0).sqrt(),
            }
        })
        .collect();
    (errors, activity)
}

/// `batch[i] ← xs[rows[i]]` for every `i < rows.len()`: the mini-batch, copied from shuffled rows
/// (a memory-bound gather of about 0.8 MB per batch for 784 features at batch 256), in two halves
/// on two cores when it is that large.
fn gather_rows(xs: ArrayView2<f32>, rows: &[usize], mut batch: ArrayViewMut2<f32>) {
    fn copy(xs: ArrayView2<f32>, rows: &[usize], mut batch: ArrayViewMut2<f32>) {
        for (dst, &src) in batch.rows_mut().into_iter().zip(rows) {
            dst.into_slice()
                .expect("batch rows are contiguous")
                .copy_from_slice(xs.row(src).to_slice().expect("scaled rows are contiguous"));
        }
    }
    let batch = batch.slice_mut(s![..rows.len(), ..]);
    if rows.len() * xs.ncols() < GATHER_SPLIT_MIN {
        copy(xs, rows, batch);
        return;
    }
    let cut = rows.len() / 2;
    let (r1, r2) = rows.split_at(cut);
    let (b1, b2) = batch.split_at(Axis(0), cut);
    parallel::join(|| copy(xs, r1, b1), || copy(xs, r2, b2));
}

/// Batches of at least this many values are gathered on two cores.
const GATHER_SPLIT_MIN: usize = 1 << 16;

fn check_inputs(x: ArrayView2<f32>, names: &[String]) -> Result<()> {
    let (rows, d) = x.dim();
    if names.len() != d {
        return Err(Error::data(
            "feature names",
            format!("{} names were given for {} feature columns", names.len(), d),
        ));
    }
    if d == 0 {
        return Err(Error::data("training data", "has no feature columns"));
    }
    if rows == 0 {
        return Err(Error::data("training data", "has no rows"));
    }
    let mut seen = HashSet::new();
    if let Some(dup) = names.iter().find(|n| !seen.insert(n.as_str())) {
        return Err(Error::data(
            "feature names",
            format!("'{dup}' appears more than once"),
        ));
    }
    Ok(())
}

/// BCE targets must lie in [0, 1] (a little float slack for min-max scaling).
fn check_unit_interval(xs: ArrayView2<f32>, names: &[String], scaler: ScalerKind) -> Result<()> {
    for ((i, j), &v) in xs.indexed_iter() {
        if !(-1e-6..=1.0 + 1e-6).contains(&v) {
            return Err(Error::data(
                format!("row {i}, feature '{}'", names[j]),
                format!(
                    "is {v} after {} scaling, but loss bce needs features in [0, 1] (use scaler minmax)",
                    match scaler {
                        ScalerKind::Standard => "standard",
                        ScalerKind::MinMax => "minmax",
                        ScalerKind::Robust => "robust",
                        ScalerKind::None => "no",
                    }
                ),
            ));
        }
    }
    Ok(())
}

/// Trains a model on `x` (`[rows, d]`, original units, NaN = missing) in the steps of the module
/// docs.
pub(crate) fn fit(
    x: ArrayView2<f32>,
    names: &[String],
    config: &TrainConfig,
    observer: &mut dyn TrainObserver,
) -> Result<Autoencoder> {
    let started = Instant::now();
    let (arch, mut preprocessing, mut xs) = prepare(x, names, config)?;
    let (mut nets, history) = train_members(&arch, xs.view(), config, observer)?;
    if config.normalize_errors && feature_balance::applies(config) {
        feature_balance::normalize_errors(
            &mut nets,
            &mut preprocessing,
            xs.view_mut(),
            config.dropout,
        )?;
    }
    let (threshold, diagnostics) = calibration(&nets, xs.view(), config, observer);
    Ok(Autoencoder::assemble(ModelParts {
        kind: config.kind.clone(),
        features: names.to_vec(),
        layers: nets,
        loss: config.loss,
        preprocessing,
        threshold,
        contamination: config.contamination,
        config: config.clone(),
        history,
        diagnostics,
        created_unix: SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0),
        training_seconds: started.elapsed().as_secs_f64(),
    }))
}

/// Steps 2 to 4 for each member of the ensemble (one unless `config.ensemble` says otherwise
/// and the kind allows it), folded into one network; the history is the first member's.
fn train_members(
    arch: &Architecture,
    xs: ArrayView2<f32>,
    config: &TrainConfig,
    observer: &mut dyn TrainObserver,
) -> Result<(Networks, Vec<EpochRecord>)> {
    let n = if ensemble::applies(config) {
        config.ensemble
    } else {
        1
    };
    let mut members = Vec::with_capacity(n);
    let mut history = Vec::new();
    for m in 0..n {
        let member = TrainConfig {
            seed: ensemble::member_seed(config.seed, m),
            ..config.clone()
        };
        if n > 1 {
            observer.on_message(&format!(
                "ensemble member {} of {n} (seed {})",
                m + 1,
                member.seed
            ));
        }
        let split = Split::new(xs, &member, observer);
        let mut nets = networks(&member, arch, xs.ncols())?;
        let h = train_epochs(&mut nets, xs, split, &member, observer)?;
        if m == 0 {
            history = h;
        }
        members.push(nets);
    }
    Ok((ensemble::fold(members, config.dropout)?, history))
}

/// Step 1: the configuration and the data checked, the preprocessing learned on all rows, and
/// the rows scaled (`[rows, d]`).
fn prepare(
    x: ArrayView2<f32>,
    names: &[String],
    config: &TrainConfig,
) -> Result<(Architecture, Preprocessing, Array2<f32>)> {
    config.validate()?;
    check_inputs(x, names)?;
    let arch = Architecture::new(config, x.ncols())?;
    let preprocessing = Preprocessing::fit(x, names, config.scaler, config.missing)?;
    let mut xs = Array2::zeros(x.raw_dim());
    preprocessing.transform(x, xs.view_mut(), names, 0)?;
    if config.loss == LossKind::Bce {
        check_unit_interval(xs.view(), names, config.scaler)?;
    }
    Ok((arch, preprocessing, xs))
}

/// Step 2: the held-out validation rows and the indices of the training rows.
struct Split {
    /// `[⌊rows · validation_split⌋, d]` scaled rows, at most `rows − 1` of them.
    validation: Array2<f32>,
    /// Row indices into the scaled rows (at least one).
    train: Vec<usize>,
}

impl Split {
    /// Shuffles the row indices once (seed stream 1) and holds out the first ones.
    fn new(xs: ArrayView2<f32>, config: &TrainConfig, observer: &mut dyn TrainObserver) -> Self {
        let rows = xs.nrows();
        let mut order: Vec<usize> = (0..rows).collect();
        order.shuffle(&mut rng(config.seed, STREAM_SPLIT));
        let n_val = ((rows as f64 * config.validation_split as f64).floor() as usize).min(rows - 1);
        if config.validation_split > 0.0 && n_val == 0 {
            observer.on_message(&format!(
                "{rows} rows are too few for a validation split of {}: training without one",
                config.validation_split
            ));
        }
        let (val_idx, train_idx) = order.split_at(n_val);
        Split {
            validation: xs.select(Axis(0), val_idx),
            train: train_idx.to_vec(),
        }
    }
}

/// The networks to train, initialised from seed stream 0: the convolutional kind builds its own,
/// the others stack dense layers as `arch` says.
fn networks(config: &TrainConfig, arch: &Architecture, d: usize) -> Result<Networks> {
    let mut init = rng(config.seed, STREAM_INIT);
    if let Kind::Convolutional(c) = &config.kind {
        let (encoder, decoder) = c.networks(config, d, &mut init)?;
        return Ok(Networks { encoder, decoder });
    }
    let encoder = Sequential::new(
        &arch.encoder_dims,
        &arch.encoder_activations,
        config.dropout,
        &mut init,
    )?;
    let decoder = Sequential::new(
        &arch.decoder_dims,
        &arch.decoder_activations,
        config.dropout,
        &mut init,
    )?;
    Ok(Networks { encoder, decoder })
}

/// Steps 3 and 4: the epochs, until `config.epochs` or an early stop. Leaves the weights to keep
/// in `nets` and returns the history.
fn train_epochs(
    nets: &mut Networks,
    xs: ArrayView2<f32>,
    split: Split,
    config: &TrainConfig,
    observer: &mut dyn TrainObserver,
) -> Result<Vec<EpochRecord>> {
    let variational = config.kind.variational().copied();
    let validating = split.validation.nrows() > 0;
    let mut order = split.train;
    let mut trainer = Trainer::new(config, nets, config.batch_size.min(order.len()), xs.ncols());
    let mut shuffle = rng(config.seed, STREAM_SHUFFLE);
    let mut stopping = EarlyStopping::new(config, validating);
    let mut history = Vec::new();
    for epoch in 1..=config.epochs {
        let started = Instant::now();
        observer.on_epoch_start(
            epoch,
            config.epochs,
            order.len().div_ceil(trainer.batch_size()),
        );
        trainer.beta_now = variational.map_or(0.0, |v| v.beta_at(epoch));
        order.shuffle(&mut shuffle);
        let train_loss = trainer.epoch(nets, xs, &order, (epoch, started), config, observer)?;
        let val_loss = validating.then(|| {
            let beta = variational.map(|v| v.beta);
            inference_loss(nets, split.validation.view(), trainer.loss, beta)
        });
        let record = EpochRecord {
            epoch,
            train_loss,
            val_loss,
            seconds: started.elapsed().as_secs_f64(),
        };
        observer.on_epoch_end(&record);
        history.push(record);
        if stopping.after_epoch(epoch, val_loss.unwrap_or(train_loss), nets, observer) {
            break;
        }
    }
    stopping.restore(nets);
    Ok(history)
}

/// Step 4: remembers the best weights, and stops after `patience` epochs without a relative
/// improvement of `min_rel_delta` in the monitored loss (the validation loss, or the training
/// loss without a validation split). Epochs of the KL warm-up (β still rising) are not
/// candidates.
struct EarlyStopping {
    /// Off: only the best loss is tracked; the last weights are kept.
    enabled: bool,
    patience: usize,
    min_rel_delta: f32,
    warmup: usize,
    monitored: &'static str,
    best_loss: Option<f64>,
    best: Option<Networks>,
    since_best: usize,
}

impl EarlyStopping {
    fn new(config: &TrainConfig, validating: bool) -> Self {
        EarlyStopping {
            enabled: config.early_stopping,
            patience: config.patience,
            min_rel_delta: config.min_rel_delta,
            warmup: config.kind.variational().map_or(0, |v| v.kl_warmup),
            monitored: if validating {
                "the validation loss"
            } else {
                "the training loss"
            },
            best_loss: None,
            best: None,
            since_best: 0,
        }
    }

    /// Takes the monitored loss of `epoch` and the weights that reached it; `true` to stop.
    fn after_epoch(
        &mut self,
        epoch: usize,
        loss: f64,
        nets: &Networks,
        observer: &mut dyn TrainObserver,
    ) -> bool {
        if epoch <= self.warmup {
            return false;
        }
        let improved = self
            .best_loss
            .is_none_or(|b| loss < b * (1.0 - self.min_rel_delta as f64));
        if improved {
            self.best_loss = Some(loss);
            self.since_best = 0;
            if self.enabled {
                self.best = Some(nets.clone());
            }
        } else {
            self.since_best += 1;
        }
        if !self.enabled || self.since_best < self.patience {
            return false;
        }
        observer.on_message(&format!(
            "early stop after epoch {epoch}: no relative improvement of {} in {} for {} epochs; keeping the best weights (loss {:.6})",
            self.min_rel_delta,
            self.monitored,
            self.patience,
            self.best_loss.unwrap_or(loss)
        ));
        true
    }

    /// Puts the best weights (if kept) into `nets`.
    fn restore(self, nets: &mut Networks) {
        if let Some(best) = self.best {
            *nets = best;
        }
    }
}

/// Step 5: on every row, the reconstruction errors give the threshold and the error quantiles,
/// the latent activity the dead units (reported to `observer`).
fn calibration(
    nets: &Networks,
    xs: ArrayView2<f32>,
    config: &TrainConfig,
    observer: &mut dyn TrainObserver,
) -> (Option<f64>, Diagnostics) {
    let (errors, latent_activity) = errors_and_activity(nets, xs, &config.kind);
    let sorted = threshold::sorted_errors(&errors);
    let dead_latent_units: Vec<usize> = latent_activity
        .iter()
        .enumerate()
        .filter(|(_, a)| a.std <= DEAD_UNIT_STD)
        .map(|(j, _)| j)
        .collect();
    if !dead_latent_units.is_empty() {
        observer.on_message(&format!(
            "{} of {} latent units are dead (constant on the training data): {:?}",
            dead_latent_units.len(),
            latent_activity.len(),
            dead_latent_units
        ));
    }
    let diagnostics = Diagnostics {
        latent_activity,
        dead_latent_units,
        error_quantiles: threshold::error_quantiles(&sorted),
    };
    (
        threshold::calibrate(&sorted, config.contamination),
        diagnostics,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::testdata::{manifold, names};
    use crate::model::{Kind, MissingPolicy, ScoreOptions, Silent};

    fn quick() -> TrainConfig {
        TrainConfig {
            epochs: 40,
            batch_size: 32,
            ..Default::default()
        }
    }

    /// Loss of predicting the mean of every feature, in scaled units: 1 for standard scaling.
    #[test]
    fn learns_structure_well_below_predicting_the_mean() {
        let x = manifold(1500, 1);
        let model = Autoencoder::fit(x.view(), &names(8), &quick(), &mut Silent).unwrap();
        let err = model.reconstruction_error(x.view()).unwrap();
        let mean = err.mean().unwrap();
        assert!(
            mean < 0.05,
            "mean reconstruction error {mean} (predicting the mean gives 1.0)"
        );
        assert_eq!(model.dims(), vec![8, 6, 3, 6, 8]);
        let h = model.history();
        assert!(
            h.last().unwrap().train_loss < h[0].train_loss / 4.0,
            "{h:?}"
        );
        assert!(h.iter().all(|r| r.val_loss.is_some()));
    }

    #[test]
    fn every_kind_and_optimizer_learns() {
        let x = manifold(800, 2);
        let kinds = [
            Kind::Denoising {
                noise_std: 0.1,
                mask_ratio: 0.0,
            },
            Kind::Denoising {
                noise_std: 0.0,
                mask_ratio: 0.1,
            },
            Kind::Sparse {
                l1_activity: 1e-3,
                sparsity_target: None,
                sparsity_weight: 0.0,
            },
            Kind::Sparse {
                l1_activity: 0.0,
                sparsity_target: Some(0.2),
                sparsity_weight: 1e-2,
            },
        ];
        for kind in kinds {
            let c = TrainConfig {
                kind: kind.clone(),
                ..quick()
            };
            let m = Autoencoder::fit(x.view(), &names(8), &c, &mut Silent).unwrap();
            let e = m.reconstruction_error(x.view()).unwrap().mean().unwrap();
            assert!(e < 0.25, "{kind:?}: {e}");
        }
        for optimizer in [
            OptimizerKindAlias::Sgd,
            OptimizerKindAlias::Rmsprop,
            OptimizerKindAlias::Adagrad,
        ] {
            let c = TrainConfig {
                optimizer,
                ..quick()
            };
            let m = Autoencoder::fit(x.view(), &names(8), &c, &mut Silent).unwrap();
            let e = m.reconstruction_error(x.view()).unwrap().mean().unwrap();
            assert!(e < 0.25, "{optimizer:?}: {e}");
        }
    }
    use crate::model::OptimizerKind as OptimizerKindAlias;

    #[test]
    fn same_seed_gives_bit_identical_weights() {
        let x = manifold(600, 3);
        let c = TrainConfig {
            epochs: 5,
            dropout: 0.1,
            kind: Kind::Denoising {
                noise_std: 0.1,
                mask_ratio: 0.1,
            },
            ..quick()
        };
        let a = Autoencoder::fit(x.view(), &names(8), &c, &mut Silent).unwrap();
        let b = Autoencoder::fit(x.view(), &names(8), &c, &mut Silent).unwrap();
        assert_eq!(a.encoder(), b.encoder());
        assert_eq!(a.decoder(), b.decoder());
        assert_eq!(a.version(), b.version());
        let other = Autoencoder::fit(
            x.view(),
            &names(8),
            &TrainConfig { seed: 7, ..c },
            &mut Silent,
        )
        .unwrap();
        assert_ne!(a.encoder(), other.encoder());
        assert_ne!(a.version(), other.version());
    }

    #[test]
    fn threshold_flags_injected_outliers() {
        let mut x = manifold(1000, 4);
        // Rows 0..10 break the manifold: one feature far off its relation to the others.
        for i in 0..10 {
            x[[i, i % 8]] += 25.0 * (1.0 + (i % 8) as f32);
        }
        let c = TrainConfig {
            contamination: 0.01,
            ..quick()
        };
        let m = Autoencoder::fit(x.view(), &names(8), &c, &mut Silent).unwrap();
        let t = m.threshold().unwrap();
        let s = m
            .score(
                x.view(),
                &ScoreOptions {
                    per_feature: true,
                    threshold: None,
                },
            )
            .unwrap();
        let flags = s.is_anomaly.unwrap();
        let flagged: Vec<usize> = (0..1000).filter(|&i| flags[i]).collect();
        assert!(
            (0..10).all(|i| flags[i]),
            "outliers not all flagged; flagged {flagged:?}, threshold {t}"
        );
        assert!(flagged.len() <= 12, "too many flagged: {flagged:?}");
        // The per-feature errors single out the broken feature and average to the row error.
        let fe = s.feature_errors.unwrap();
        for i in 0..10 {
            let row = fe.row(i);
            let argmax = (0..8).max_by(|&a, &b| row[a].total_cmp(&row[b])).unwrap();
            assert_eq!(argmax, i % 8);
            let mean = row.iter().map(|&v| v as f64).sum::<f64>() / 8.0;
            assert!((mean - s.reconstruction_error[i]).abs() < 1e-9 * (1.0 + mean));
        }
        // An explicit threshold overrides; none at all gives no flags.
        let s = m
            .score(
                x.view(),
                &ScoreOptions {
                    per_feature: false,
                    threshold: Some(f64::MAX),
                },
            )
            .unwrap();
        assert!(s.is_anomaly.unwrap().iter().all(|&f| !f));
        let mut m2 = m.clone();
        m2.set_threshold(None);
        assert!(
            m2.score(x.view(), &ScoreOptions::default())
                .unwrap()
                .is_anomaly
                .is_none()
        );
    }

    /// A chunk scored in two halves on two cores gives the same bits as small calls scored whole.
    #[test]
    fn split_scoring_equals_unsplit_scoring() {
        let x = manifold(1500, 10);
        let m = Autoencoder::fit(
            x.view(),
            &names(8),
            &TrainConfig {
                epochs: 2,
                ..quick()
            },
            &mut Silent,
        )
        .unwrap();
        let opts = ScoreOptions {
            per_feature: true,
            threshold: None,
        };
        let whole = m.score(x.view(), &opts).unwrap();
        for start in (0..1500).step_by(100) {
            let part = m.score(x.slice(s![start..start + 100, ..]), &opts).unwrap();
            for i in 0..100 {
                assert_eq!(
                    part.reconstruction_error[i].to_bits(),
                    whole.reconstruction_error[start + i].to_bits()
                );
            }
            assert_eq!(
                part.feature_errors.unwrap(),
                whole
                    .feature_errors
                    .as_ref()
                    .unwrap()
                    .slice(s![start..start + 100, ..])
            );
        }
        // Errors name the row of the caller's input, in either half.
        let mut bad = x.clone();
        bad[[1400, 2]] = f32::NAN;
        let e = m.score(bad.view(), &ScoreOptions::default()).unwrap_err();
        assert!(e.to_string().contains("row 1400, feature 'f2'"), "{e}");
    }

    #[test]
    fn early_stopping_stops_and_restores_the_best_epoch() {
        let x = manifold(400, 5);
        let c = TrainConfig {
            epochs: 500,
            patience: 3,
            min_rel_delta: 0.05,
            ..quick()
        };
        let m = Autoencoder::fit(x.view(), &names(8), &c, &mut Silent).unwrap();
        let h = m.history();
        assert!(h.len() < 500, "never stopped");
        let best_epoch = h.len() - 3;
        let best = h[best_epoch - 1].val_loss.unwrap();
        assert!(
            h[best_epoch..]
                .iter()
                .all(|r| r.val_loss.unwrap() >= best * 0.95),
            "{h:?}"
        );
        // Same seed, stopped by hand at the best epoch: the restored weights are those, bit for bit.
        let c = TrainConfig {
            epochs: best_epoch,
            early_stopping: false,
            ..c
        };
        let at_best = Autoencoder::fit(x.view(), &names(8), &c, &mut Silent).unwrap();
        assert_eq!(m.encoder(), at_best.encoder());
        assert_eq!(m.decoder(), at_best.decoder());
    }

    #[test]
    fn missing_values_rejected_or_imputed() {
        let mut x = manifold(300, 6);
        x[[17, 3]] = f32::NAN;
        let err = Autoencoder::fit(x.view(), &names(8), &quick(), &mut Silent).unwrap_err();
        assert!(err.to_string().contains("row 17, feature 'f3'"), "{err}");
        let c = TrainConfig {
            missing: MissingPolicy::ImputeMean,
            epochs: 3,
            ..quick()
        };
        let m = Autoencoder::fit(x.view(), &names(8), &c, &mut Silent).unwrap();
        let e = m.reconstruction_error(x.view()).unwrap();
        assert!(e.iter().all(|v| v.is_finite()));
    }

    #[test]
    fn bad_inputs_are_errors_not_panics() {
        let x = manifold(50, 7);
        let e = Autoencoder::fit(x.view(), &names(7), &quick(), &mut Silent).unwrap_err();
        assert!(e.to_string().contains("7 names were given for 8"), "{e}");
        let e =
            Autoencoder::fit(x.slice(s![..0, ..]), &names(8), &quick(), &mut Silent).unwrap_err();
        assert!(e.to_string().contains("no rows"), "{e}");
        let mut dup = names(8);
        dup[3] = "f0".into();
        let e = Autoencoder::fit(x.view(), &dup, &quick(), &mut Silent).unwrap_err();
        assert!(e.to_string().contains("'f0' appears more than once"), "{e}");
        let c = TrainConfig {
            learning_rate: Some(1e9),
            optimizer: OptimizerKindAlias::Sgd,
            ..quick()
        };
        let e = Autoencoder::fit(x.view(), &names(8), &c, &mut Silent).unwrap_err();
        assert!(e.to_string().contains("diverged"), "{e}");
        // A single row still trains (no validation split possible).
        Autoencoder::fit(
            x.slice(s![..1, ..]),
            &names(8),
            &TrainConfig {
                epochs: 2,
                ..quick()
            },
            &mut Silent,
        )
        .unwrap();
        let m = Autoencoder::fit(
            x.view(),
            &names(8),
            &TrainConfig {
                epochs: 2,
                ..quick()
            },
            &mut Silent,
        )
        .unwrap();
        let e = m.encode(x.slice(s![.., ..5])).unwrap_err();
        assert!(e.to_string().contains("expects 8 features (f0, f1"), "{e}");
        let mut bad = x.clone();
        bad[[4, 2]] = f32::NAN;
        let e = m.score(bad.view(), &ScoreOptions::default()).unwrap_err();
        assert!(e.to_string().contains("row 4, feature 'f2'"), "{e}");
    }

    #[test]
    fn bce_with_minmax_and_sigmoid_learns() {
        let x = manifold(800, 8);
        let c = TrainConfig {
            loss: LossKind::Bce,
            scaler: ScalerKind::MinMax,
            output_activation: crate::model::ActivationKind::Sigmoid,
            ..quick()
        };
        let m = Autoencoder::fit(x.view(), &names(8), &c, &mut Silent).unwrap();
        let e = m.reconstruction_error(x.view()).unwrap().mean().unwrap();
        // Predicting the mean gives the variance of min-max scaled features, about 0.04–0.08.
        assert!(e < 0.01, "{e}");
    }

    #[test]
    fn encode_decode_reconstruct_agree() {
        let x = manifold(300, 9);
        let m = Autoencoder::fit(
            x.view(),
            &names(8),
            &TrainConfig {
                epochs: 5,
                ..quick()
            },
            &mut Silent,
        )
        .unwrap();
        let z = m.encode(x.view()).unwrap();
        assert_eq!(z.dim(), (300, 3));
        let r1 = m.decode(z.view()).unwrap();
        let r2 = m.reconstruct(x.view()).unwrap();
        assert_eq!(r1, r2);
        let s = m.summary();
        assert_eq!(s.dims, vec![8, 6, 3, 6, 8]);
        use crate::model::ActivationKind::{Elu, Linear};
        assert_eq!(m.activations(), vec![Elu, Elu, Elu, Linear]);
        assert_eq!(s.version.len(), 12);
        assert_eq!(s.error_quantiles.len(), 9);
        assert_eq!(m.diagnostics().latent_activity.len(), 3);
    }
}
