//! `aeflow inspect`: what a model file holds, for people or (`--json`) for programs.

use std::path::{Path, PathBuf};

use super::console::{duration, print_out};
use super::train::{dead_units, dims, kind_name};
use crate::error::{Error, Result};
use crate::model::{Autoencoder, MissingPolicy, ModelSummary, ScalerKind};

/// Arguments of `aeflow inspect`.
#[derive(Debug, Clone, clap::Args)]
pub struct Args {
    /// The model file.
    #[arg(value_name = "MODEL")]
    pub model: PathBuf,
    /// Print the summary as JSON.
    #[arg(long)]
    pub json: bool,
}

/// Run `aeflow inspect`.
pub fn run(args: Args) -> Result<()> {
    let model = Autoencoder::load(&args.model)?;
    let summary = model.summary();
    let text = if args.json {
        serde_json::to_string_pretty(&summary)
            .map_err(|e| Error::Internal(format!("model summary as JSON: {e}")))?
    } else {
        describe(&summary, &args.model)
    };
    print_out(&text)
}

/// The human-readable summary.
pub fn describe(s: &ModelSummary, path: &Path) -> String {
    let mut out = Vec::new();
    let mut row = |k: &str, v: String| out.push(format!("{k:<16} {v}"));
    row("model", path.display().to_string());
    row("kind", kind_name(&s.kind));
    row("version", s.version.clone());
    row("created", utc(s.created_unix));
    row(
        &format!("features ({})", s.features.len()),
        feature_list(&s.features),
    );
    row("layers", dims(&s.dims));
    row("latent size", s.latent_dim.to_string());
    row(
        "scaler",
        match s.scaler {
            ScalerKind::Standard => "standard (x − mean) / std",
            ScalerKind::MinMax => "min-max (x − min) / (max − min)",
            ScalerKind::Robust => "robust (x − median) / interquartile range",
            ScalerKind::None => "none",
        }
        .to_string(),
    );
    row(
        "missing values",
        match s.missing {
            MissingPolicy::Reject => "reject (rows with NULL get NULL scores)",
            MissingPolicy::ImputeMean => "impute the training mean",
        }
        .to_string(),
    );
    row(
        "threshold",
        match s.threshold {
            Some(t) => format!("{t:.6} (contamination {})", s.contamination),
            None => "none".to_string(),
        },
    );
    let training = match s.history.last() {
        Some(last) => {
            let val = last
                .val_loss
                .map(|v| format!(", validation {v:.5}"))
                .unwrap_or_default();
            format!(
                "{} epochs in {}; final loss {:.5}{val}",
                last.epoch,
                duration(s.training_seconds),
                last.train_loss
            )
        }
        None => format!("no history ({})", duration(s.training_seconds)),
    };
    row("training", training);
    row(
        "dead latent",
        dead_units(&s.dead_latent_units, s.latent_dim),
    );
    if !s.error_quantiles.is_empty() {
        let q = s
            .error_quantiles
            .iter()
            .map(|(q, e)| format!("q{} {e:.4}", trim_quantile(*q)))
            .collect::<Vec<_>>()
            .join("  ");
        row("training errors", q);
    }
    if s.history.len() > 1 {
        out.push(String::new());
        out.push(format!(
            "{:>6}  {:>12}  {:>12}  {:>8}",
            "epoch", "train loss", "val loss", "seconds"
        ));
        for r in &s.history {
            let val = r
                .val_loss
                .map(|v| format!("{v:12.6}"))
                .unwrap_or_else(|| format!("{:>12}", "-"));
            out.push(format!(
                "{:>6}  {:12.6}  {val}  {:8.2}",
                r.epoch, r.train_loss, r.seconds
            ));
        }
    }
    out.join("\n")
}

/// `0.5` → `50`, `0.999` → `99.9`.
fn trim_quantile(q: f64) -> String {
    let p = format!("{:.3}", q * 100.0);
    p.trim_end_matches('0').trim_end_matches('.').to_string()
}

/// `2026-11-28 18:33:01 UTC` from Unix seconds (civil-from-days, proleptic Gregorian).
fn utc(unix: u64) -> String {
    let days = (unix / 86_400) as i64;
    let secs = unix % 86_400;
    // Howard Hinnant's days → civil date.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02} UTC",
        secs / 3600,
        secs / 60 % 60,
        secs % 60
    )
}

/// The feature names, comma-separated; a vector column's elements `v[0]` … `v[n−1]` (as an image
/// or sequence model has hundreds of) as one range `v[0..n−1]`.
fn feature_list(features: &[String]) -> String {
    let element = |name: &str| -> Option<(String, usize)> {
        let (base, i) = name.strip_suffix(']')?.rsplit_once('[')?;
        Some((base.to_string(), i.parse().ok()?))
    };
    let mut parts: Vec<String> = Vec::new();
    let mut i = 0;
    while i < features.len() {
        let mut j = i + 1;
        if let Some((base, first)) = element(&features[i]) {
            while j < features.len()
                && element(&features[j]) == Some((base.clone(), first + (j - i)))
            {
                j += 1;
            }
            if j - i > 2 {
                parts.push(format!("{base}[{first}..{}]", first + (j - i) - 1));
                i = j;
                continue;
            }
            j = i + 1;
        }
        parts.push(features[i].clone());
        i = j;
    }
    parts.join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_and_quantiles() {
        assert_eq!(utc(0), "1970-01-01 00:00:00 UTC");
        assert_eq!(utc(951_782_400), "2000-02-29 00:00:00 UTC");
        assert_eq!(utc(1_795_890_781), "2026-11-28 18:33:01 UTC");
        assert_eq!(trim_quantile(0.5), "50");
        assert_eq!(trim_quantile(0.999), "99.9");
    }

    #[test]
    fn vector_elements_collapse_into_a_range() {
        let names = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let mut px: Vec<String> = (0..784).map(|i| format!("px[{i}]")).collect();
        assert_eq!(feature_list(&px), "px[0..783]");
        px.insert(0, "id".into());
        assert_eq!(feature_list(&px), "id, px[0..783]");
        assert_eq!(
            feature_list(&names(&["a", "b[0]", "b[1]"])),
            "a, b[0], b[1]"
        );
        assert_eq!(feature_list(&names(&["a", "b"])), "a, b");
    }
}
