//! `aeflow train`: read a file's feature columns, train an autoencoder, save it, summarise.

mod flags;

use std::path::{Path, PathBuf};
use std::time::Instant;

use super::console::{TrainProgress, Verbosity, duration, note, say};
use crate::arrow::FeatureSelection;
use crate::batch::{FileFormat, TrainingData, TrainingOptions, read_training_data};
use crate::error::Result;
use crate::model::{Autoencoder, Kind, ModelSummary, TrainRequest};

pub use flags::{TrainFlags, cli_spelling};

/// Arguments of `aeflow train`: the file, the model, and the training options of the option
/// table ([`TrainFlags`]).
#[derive(Debug, Clone, clap::Args)]
pub struct Args {
    /// Training data: a Parquet, CSV or NDJSON file.
    #[arg(long, short = 'i', value_name = "FILE")]
    pub input: PathBuf,
    /// Where to write the model file.
    #[arg(long, short = 'o', value_name = "MODEL")]
    pub out: PathBuf,
    /// The training options.
    #[command(flatten)]
    pub options: TrainFlags,
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
    let request = args.options.request()?;
    let data = read(&args.input, args.format, &request, verbosity)?;
    let mut progress = TrainProgress::new(verbosity);
    let mut model = Autoencoder::fit(
        data.x.view(),
        &data.feature_names,
        &request.config,
        &mut progress,
    )
    .map_err(cli_spelling)?;
    drop(progress);
    if request.threshold.is_some() {
        model.set_threshold(request.threshold);
    }
    model.save(&args.out)?;
    say(
        verbosity,
        &summary(&model.summary(), &data, &args.input, &args.out, start),
    )
}

/// Read the training data, saying how much of the file was used.
pub(crate) fn read(
    input: &Path,
    format: Option<FileFormat>,
    request: &TrainRequest,
    verbosity: Verbosity,
) -> Result<TrainingData> {
    let selection = match (&request.columns, &request.exclude) {
        (Some(c), _) => FeatureSelection::Columns(c.clone()),
        (None, Some(e)) => FeatureSelection::Exclude(e.clone()),
        (None, None) => FeatureSelection::All,
    };
    let options = TrainingOptions {
        format,
        selection,
        max_rows: request.max_rows,
        seed: request.config.seed,
        missing: request.config.missing,
        ..TrainingOptions::default()
    };
    let t = Instant::now();
    let data = read_training_data(input, &options).map_err(cli_spelling)?;
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
