//! `aeflow train`: read a file's feature columns, train an autoencoder, save it, summarise.

use std::path::{Path, PathBuf};
use std::time::Instant;

use serde::de::DeserializeOwned;

use super::console::{TrainProgress, Verbosity, duration, note, say};
use crate::arrow::FeatureSelection;
use crate::batch::{FileFormat, TrainingData, TrainingOptions, read_training_data};
use crate::error::{Error, Result};
use crate::model::kind_options::in_range;
use crate::model::{
    Autoencoder, Kind, KindOptions, MissingPolicy, ModelSummary, OptionSyntax, TrainConfig,
};

const ACTIVATIONS: [&str; 7] = [
    "relu",
    "leaky_relu",
    "elu",
    "selu",
    "tanh",
    "sigmoid",
    "linear",
];

/// Arguments of `aeflow train`.
#[derive(Debug, Clone, clap::Args)]
pub struct Args {
    /// Training data: a Parquet, CSV or NDJSON file.
    #[arg(long, short = 'i', value_name = "FILE")]
    pub input: PathBuf,
    /// Where to write the model file.
    #[arg(long, short = 'o', value_name = "MODEL")]
    pub out: PathBuf,
    /// Feature columns, in order (default: every numeric column, or the one vector column).
    #[arg(
        long,
        value_delimiter = ',',
        value_name = "a,b,c",
        conflicts_with = "exclude"
    )]
    pub columns: Option<Vec<String>>,
    /// Numeric columns that are not features (ids, timestamps as numbers, labels).
    #[arg(long, value_delimiter = ',', value_name = "id,ts")]
    pub exclude: Option<Vec<String>>,
    /// Kind of autoencoder.
    #[arg(long, value_parser = ["vanilla", "denoising", "sparse", "variational", "convolutional"])]
    pub kind: Option<String>,
    /// Hidden layer widths, encoder to decoder; the middle one is the latent size.
    #[arg(
        long,
        value_delimiter = ',',
        value_name = "64,16,64",
        conflicts_with = "latent"
    )]
    pub hidden: Option<Vec<usize>>,
    /// Latent size (the hidden layers are then sized from it and the number of features).
    #[arg(long, value_name = "N")]
    pub latent: Option<usize>,
    /// Activation of the hidden layers.
    #[arg(long, value_parser = ACTIVATIONS)]
    pub activation: Option<String>,
    /// Activation of the output layer (sigmoid suits data in [0, 1], with --scaler minmax).
    #[arg(long, value_parser = ACTIVATIONS)]
    pub output_activation: Option<String>,
    /// Reconstruction loss.
    #[arg(long, value_parser = ["mse", "bce"])]
    pub loss: Option<String>,
    /// Optimizer.
    #[arg(long, value_parser = ["adam", "sgd", "rmsprop", "adagrad"])]
    pub optimizer: Option<String>,
    /// Learning rate (default: the optimizer's usual one, 1e-3 for Adam).
    #[arg(long, value_name = "F")]
    pub learning_rate: Option<f32>,
    /// L2 weight decay.
    #[arg(long, value_name = "F")]
    pub weight_decay: Option<f32>,
    /// Dropout rate on hidden layers during training.
    #[arg(long, value_name = "F")]
    pub dropout: Option<f32>,
    /// Rows per mini-batch.
    #[arg(long, value_name = "N")]
    pub batch_size: Option<usize>,
    /// Maximum number of epochs.
    #[arg(long, value_name = "N")]
    pub epochs: Option<usize>,
    /// Fraction of rows held out to validate on (0 = none).
    #[arg(long, value_name = "F")]
    pub validation_split: Option<f32>,
    /// Stop when the validation loss stops improving (on by default).
    #[arg(long, conflicts_with = "no_early_stop")]
    pub early_stop: bool,
    /// Train for all --epochs.
    #[arg(long)]
    pub no_early_stop: bool,
    /// Epochs without progress before stopping early.
    #[arg(long, value_name = "N")]
    pub patience: Option<usize>,
    /// Feature scaling learned from the training data.
    #[arg(long, value_parser = ["standard", "minmax", "none"])]
    pub scaler: Option<String>,
    /// NULL / NaN features: reject them with an error, or impute the training mean.
    #[arg(long, value_parser = ["reject", "impute"], conflicts_with = "impute")]
    pub missing: Option<String>,
    /// Same as --missing impute.
    #[arg(long)]
    pub impute: bool,
    /// Expected fraction of anomalies; the threshold is the matching quantile of training errors.
    #[arg(long, value_name = "F")]
    pub contamination: Option<f64>,
    /// Random seed (initialisation, shuffling, sampling).
    #[arg(long, value_name = "N")]
    pub seed: Option<u64>,
    /// Denoising: std of gaussian input noise, in scaled units.
    #[arg(long, value_name = "F")]
    pub noise_std: Option<f32>,
    /// Denoising: fraction of features masked to 0 per row.
    #[arg(long, value_name = "F")]
    pub mask_ratio: Option<f32>,
    /// Sparse: L1 penalty weight on latent activity.
    #[arg(long, value_name = "F")]
    pub l1_activity: Option<f32>,
    /// Sparse: target mean activation of latent units (KL penalty).
    #[arg(long, value_name = "F")]
    pub sparsity_target: Option<f32>,
    /// Sparse: weight of the KL penalty.
    #[arg(long, value_name = "F")]
    pub sparsity_weight: Option<f32>,
    /// Variational: weight β of the KL term (default 1).
    #[arg(long, value_name = "F")]
    pub beta: Option<f32>,
    /// Variational: epochs over which β rises linearly from 0 (default 0: no warm-up).
    #[arg(long, value_name = "N")]
    pub kl_warmup: Option<usize>,
    /// Variational: the anomaly score, reconstruction error of the mean (default) or negative ELBO.
    #[arg(long, value_parser = ["reconstruction", "elbo"])]
    pub anomaly_score: Option<String>,
    /// Convolutional: shape of one row, channels,length (e.g. 1,128) or channels,height,width
    /// (e.g. 1,28,28); needed with --kind convolutional.
    #[arg(long, value_delimiter = ',', value_name = "1,28,28")]
    pub input_shape: Option<Vec<usize>>,
    /// Convolutional: filters of each encoder block (default 16,32).
    #[arg(long, value_delimiter = ',', value_name = "16,32")]
    pub filters: Option<Vec<usize>>,
    /// Convolutional: kernel size, odd (default 3): one for every block, or one per block (5,3).
    #[arg(long, value_delimiter = ',', value_name = "3")]
    pub kernel_size: Option<Vec<usize>>,
    /// Convolutional: how each encoder block halves the size (default stride).
    #[arg(long, value_parser = ["stride", "max_pool"])]
    pub downsample: Option<String>,
    /// Convolutional: how each decoder block restores it (default transpose).
    #[arg(long, value_parser = ["transpose", "nearest"])]
    pub upsample: Option<String>,
    /// Train on a uniform random sample of this many rows when the file has more.
    #[arg(long, value_name = "N", default_value_t = 1_000_000)]
    pub max_rows: usize,
    /// Input format, when the extension does not tell.
    #[arg(long, value_name = "parquet|csv|ndjson")]
    pub format: Option<FileFormat>,
    /// Print nothing but errors.
    #[arg(long, short = 'q')]
    pub quiet: bool,
}

/// Run `aeflow train`.
pub fn run(args: Args) -> Result<()> {
    let verbosity = Verbosity::detect(args.quiet);
    let start = Instant::now();
    let config = config(&args)?;
    let data = read(&args.input, &args, &config, verbosity)?;
    let mut progress = TrainProgress::new(verbosity);
    let model = Autoencoder::fit(data.x.view(), &data.feature_names, &config, &mut progress)?;
    drop(progress);
    model.save(&args.out)?;
    say(
        verbosity,
        &summary(&model.summary(), &data, &args.input, &args.out, start),
    )
}

/// Read the training data, saying how much of the file was used.
pub(crate) fn read(
    input: &Path,
    args: &Args,
    config: &TrainConfig,
    verbosity: Verbosity,
) -> Result<TrainingData> {
    let selection = match (&args.columns, &args.exclude) {
        (Some(c), _) => FeatureSelection::Columns(c.clone()),
        (None, Some(e)) => FeatureSelection::Exclude(e.clone()),
        (None, None) => FeatureSelection::All,
    };
    let options = TrainingOptions {
        format: args.format,
        selection,
        max_rows: args.max_rows,
        seed: config.seed,
        missing: config.missing,
        ..TrainingOptions::default()
    };
    let t = Instant::now();
    let data = read_training_data(input, &options)?;
    if data.sampled {
        note(
            verbosity,
            &format!(
                "{} has {} rows; training on a uniform random sample of {} (--max-rows)",
                input.display(),
                data.rows_read,
                data.x.nrows()
            ),
        );
    }
    note(
        verbosity,
        &format!(
            "read {} rows × {} features from {} in {}",
            data.x.nrows(),
            data.x.ncols(),
            input.display(),
            duration(t.elapsed().as_secs_f64())
        ),
    );
    Ok(data)
}

/// The training configuration the options describe, on top of the library defaults.
pub fn config(args: &Args) -> Result<TrainConfig> {
    let mut c = TrainConfig {
        kind: kind(args)?,
        ..TrainConfig::default()
    };
    if let Some(h) = &args.hidden {
        if h.is_empty() || h.contains(&0) {
            return Err(Error::config(
                "--hidden",
                "expected positive layer widths separated by commas, e.g. 64,16,64",
            ));
        }
        c.hidden = Some(h.clone());
    }
    if let Some(l) = args.latent {
        positive("--latent", l)?;
        c.latent = Some(l);
    }
    if let Some(a) = &args.activation {
        c.activation = named("--activation", a)?;
    }
    if let Some(a) = &args.output_activation {
        c.output_activation = named("--output-activation", a)?;
    }
    if let Some(l) = &args.loss {
        c.loss = named("--loss", l)?;
    }
    if let Some(o) = &args.optimizer {
        c.optimizer = named("--optimizer", o)?;
    }
    if let Some(lr) = args.learning_rate {
        if !(lr.is_finite() && lr > 0.0) {
            return Err(Error::config(
                "--learning-rate",
                format!("expected a positive number, got {lr}"),
            ));
        }
        c.learning_rate = Some(lr);
    }
    if let Some(w) = args.weight_decay {
        in_range("--weight-decay", w as f64, 0.0, f64::MAX, true)?;
        c.weight_decay = w;
    }
    if let Some(d) = args.dropout {
        in_range("--dropout", d as f64, 0.0, 1.0, false)?;
        c.dropout = d;
    }
    if let Some(b) = args.batch_size {
        positive("--batch-size", b)?;
        c.batch_size = b;
    }
    if let Some(e) = args.epochs {
        positive("--epochs", e)?;
        c.epochs = e;
    }
    if let Some(v) = args.validation_split {
        in_range("--validation-split", v as f64, 0.0, 1.0, false)?;
        c.validation_split = v;
    }
    if args.early_stop {
        c.early_stopping = true;
    }
    if args.no_early_stop {
        c.early_stopping = false;
    }
    if let Some(p) = args.patience {
        positive("--patience", p)?;
        c.patience = p;
    }
    if let Some(s) = &args.scaler {
        c.scaler = named("--scaler", s)?;
    }
    if args.impute || args.missing.as_deref() == Some("impute") {
        c.missing = MissingPolicy::ImputeMean;
    } else if args.missing.as_deref() == Some("reject") {
        c.missing = MissingPolicy::Reject;
    }
    if let Some(x) = args.contamination {
        in_range("--contamination", x, 0.0, 0.5, true)?;
        c.contamination = x;
    }
    if let Some(s) = args.seed {
        c.seed = s;
    }
    Ok(c)
}

/// `--kind` and its parameters, by the rules shared with SQL's `CREATE MODEL` ([`KindOptions`]).
fn kind(args: &Args) -> Result<Kind> {
    KindOptions {
        kind: args.kind.clone(),
        noise_std: args.noise_std,
        mask_ratio: args.mask_ratio,
        l1_activity: args.l1_activity,
        sparsity_target: args.sparsity_target,
        sparsity_weight: args.sparsity_weight,
        beta: args.beta,
        kl_warmup: args.kl_warmup,
        anomaly_score: named_opt("--anomaly-score", &args.anomaly_score)?,
        input_shape: args.input_shape.clone(),
        filters: args.filters.clone(),
        kernel_size: args.kernel_size.clone(),
        downsample: named_opt("--downsample", &args.downsample)?,
        upsample: named_opt("--upsample", &args.upsample)?,
    }
    .to_kind(OptionSyntax::Cli)
}

/// [`named`] for an optional value.
fn named_opt<T: DeserializeOwned>(option: &str, name: &Option<String>) -> Result<Option<T>> {
    name.as_deref().map(|n| named(option, n)).transpose()
}

/// A config enum from its snake_case name (the names clap already checked).
fn named<T: DeserializeOwned>(option: &str, name: &str) -> Result<T> {
    serde_json::from_value(serde_json::Value::String(name.replace('-', "_")))
        .map_err(|_| Error::config(option, format!("unknown value '{name}'")))
}

fn positive(option: &str, v: usize) -> Result<()> {
    if v == 0 {
        return Err(Error::config(
            option,
            "expected a number of at least 1, got 0",
        ));
    }
    Ok(())
}

/// The end-of-training summary: final losses, threshold, dead latent units, time.
pub(crate) fn summary(
    s: &ModelSummary,
    data: &TrainingData,
    input: &Path,
    out: &Path,
    start: Instant,
) -> String {
    let mut lines = Vec::new();
    let sampled = if data.sampled {
        format!(", a sample of {} rows", data.rows_read)
    } else {
        String::new()
    };
    lines.push(format!(
        "trained a {} autoencoder on {} rows × {} features of {}{sampled}",
        kind_name(&s.kind),
        data.x.nrows(),
        data.x.ncols(),
        input.display()
    ));
    lines.push(format!("  layers        {}", dims(&s.dims)));
    if let Some(last) = s.history.last() {
        let val = last
            .val_loss
            .map(|v| format!(", validation {v:.5}"))
            .unwrap_or_default();
        lines.push(format!(
            "  epochs        {} (final loss: train {:.5}{val})",
            last.epoch, last.train_loss
        ));
    }
    lines.push(format!(
        "  threshold     {}",
        match s.threshold {
            Some(t) => format!("{t:.5} (contamination {})", s.contamination),
            None => "none".to_string(),
        }
    ));
    lines.push(format!(
        "  dead latent   {}",
        dead_units(&s.dead_latent_units, s.latent_dim)
    ));
    lines.push(format!(
        "  time          {} training, {} in all",
        duration(s.training_seconds),
        duration(start.elapsed().as_secs_f64())
    ));
    lines.push(format!("  model         {}", out.display()));
    lines.join("\n")
}

/// `vanilla`, `denoising (noise std 0.1)`, `sparse (L1 0.001)`.
pub(crate) fn kind_name(kind: &Kind) -> String {
    match kind {
        Kind::Vanilla => "vanilla".into(),
        Kind::Denoising {
            noise_std,
            mask_ratio,
        } => {
            let mut parts = Vec::new();
            if *noise_std > 0.0 {
                parts.push(format!("noise std {noise_std}"));
            }
            if *mask_ratio > 0.0 {
                parts.push(format!("mask ratio {mask_ratio}"));
            }
            format!("denoising ({})", parts.join(", "))
        }
        Kind::Sparse {
            l1_activity,
            sparsity_target,
            sparsity_weight,
        } => {
            let mut parts = Vec::new();
            if *l1_activity > 0.0 {
                parts.push(format!("L1 {l1_activity}"));
            }
            if let Some(t) = sparsity_target {
                parts.push(format!("KL target {t} weight {sparsity_weight}"));
            }
            format!("sparse ({})", parts.join(", "))
        }
        Kind::Variational(v) => {
            let mut parts = vec![format!("β {}", v.beta)];
            if v.kl_warmup > 0 {
                parts.push(format!("KL warm-up {} epochs", v.kl_warmup));
            }
            parts.push(format!("score {}", v.score.name()));
            format!("variational ({})", parts.join(", "))
        }
        Kind::Convolutional(c) => format!(
            "convolutional (input {}, filters {}, kernel {}, {} / {})",
            c.input_shape
                .iter()
                .map(|v| v.to_string())
                .collect::<Vec<_>>()
                .join("×"),
            c.filters
                .iter()
                .map(|v| v.to_string())
                .collect::<Vec<_>>()
                .join(","),
            c.kernel_size
                .iter()
                .map(|v| v.to_string())
                .collect::<Vec<_>>()
                .join(","),
            match c.downsample {
                crate::model::Downsample::Stride => "strided",
                crate::model::Downsample::MaxPool => "max pooling",
            },
            match c.upsample {
                crate::model::Upsampling::Transpose => "transposed",
                crate::model::Upsampling::Nearest => "nearest",
            }
        ),
    }
}

/// `9 → 6 → 3 → 6 → 9`.
pub(crate) fn dims(d: &[usize]) -> String {
    d.iter()
        .map(|n| n.to_string())
        .collect::<Vec<_>>()
        .join(" → ")
}

/// `none of 3`, `2 of 8 (units 1, 5)`.
pub(crate) fn dead_units(dead: &[usize], latent: usize) -> String {
    if dead.is_empty() {
        format!("none of {latent}")
    } else {
        format!(
            "{} of {latent} (units {})",
            dead.len(),
            dead.iter()
                .map(|u| u.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        )
    }
}
