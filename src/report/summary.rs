//! The model's facts as a person reads them: short headline figures and a detail table.
//!
//! The kind is described from its serialised form (`{"kind": "denoising", "noise_std": 0.1,
//! …}`), so kinds added later (variational, convolutional) show their parameters without a
//! change here.

use crate::model::{ModelSummary, ScalerKind};

use super::format;

/// Names listed in full before the list is cut short.
const MAX_NAMED_FEATURES: usize = 40;

/// One headline figure.
#[derive(Debug, Clone, PartialEq)]
pub struct Card {
    /// E.g. `threshold`.
    pub label: &'static str,
    /// E.g. `0.0123`.
    pub value: String,
    /// Draw attention to it (e.g. dead latent units).
    pub warn: bool,
}

/// Headline figures: kind, features, latent size, threshold, dead units, training time.
pub fn cards(s: &ModelSummary) -> Vec<Card> {
    let card = |label, value: String| Card {
        label,
        value,
        warn: false,
    };
    vec![
        card("kind", kind_name(s)),
        card("features", format::integer(s.features.len() as u64)),
        card("latent units", format::integer(s.latent_dim as u64)),
        card(
            "threshold",
            s.threshold.map_or("none".into(), format::number),
        ),
        Card {
            label: "dead units",
            value: format!("{} of {}", s.dead_latent_units.len(), s.latent_dim),
            warn: !s.dead_latent_units.is_empty(),
        },
        card("training time", format::duration(s.training_seconds)),
    ]
}

/// (label, value) rows of the detail table, plain text (escaped by the page).
pub fn facts(s: &ModelSummary) -> Vec<(&'static str, String)> {
    let mut rows = vec![
        ("kind", kind_description(s)),
        ("layers", layers(s)),
        ("features", features(&s.features)),
        ("scaling", scaler(s.scaler).into()),
        ("missing values", serde_name(&s.missing).replace('_', " ")),
        ("threshold", threshold(s)),
        ("dead latent units", dead_units(s)),
        ("training", training(s)),
    ];
    if s.created_unix > 0 {
        rows.push(("created", format::utc_datetime(s.created_unix)));
    }
    if !s.version.is_empty() {
        rows.push(("version", s.version.clone()));
    }
    rows
}

fn kind_value(s: &ModelSummary) -> serde_json::Value {
    serde_json::to_value(&s.kind).unwrap_or(serde_json::Value::Null)
}

/// `denoising`.
fn kind_name(s: &ModelSummary) -> String {
    s.kind.name().replace('_', " ")
}

/// `denoising (noise std 0.1, mask ratio 0)`.
fn kind_description(s: &ModelSummary) -> String {
    let name = kind_name(s);
    // Sorted by name: serde_json's map order depends on its features.
    let mut params: Vec<String> = match kind_value(s) {
        serde_json::Value::Object(map) => map
            .iter()
            .filter(|(k, _)| k.as_str() != "kind")
            .map(|(k, v)| {
                let v = match v {
                    serde_json::Value::Number(n) => {
                        n.as_f64().map_or(n.to_string(), format::number)
                    }
                    serde_json::Value::Null => "none".into(),
                    serde_json::Value::String(t) => t.clone(),
                    other => other.to_string(),
                };
                format!("{} {v}", k.replace('_', " "))
            })
            .collect(),
        _ => Vec::new(),
    };
    params.sort();
    if params.is_empty() {
        name
    } else {
        format!("{name} ({})", params.join(", "))
    }
}

fn layers(s: &ModelSummary) -> String {
    let dims: Vec<String> = s.dims.iter().map(|d| d.to_string()).collect();
    format!("{} (latent {})", dims.join(" → "), s.latent_dim)
}

fn features(names: &[String]) -> String {
    let shown: Vec<&str> = names
        .iter()
        .take(MAX_NAMED_FEATURES)
        .map(String::as_str)
        .collect();
    let mut text = shown.join(", ");
    if names.len() > MAX_NAMED_FEATURES {
        text.push_str(&format!(" … and {} more", names.len() - MAX_NAMED_FEATURES));
    }
    format!("{}: {text}", names.len())
}

fn scaler(kind: ScalerKind) -> &'static str {
    match kind {
        ScalerKind::Standard => "standard: (x − mean) / std",
        ScalerKind::MinMax => "min-max: (x − min) / (max − min)",
        ScalerKind::Robust => "robust: (x − median) / interquartile range",
        ScalerKind::None => "none",
    }
}

fn threshold(s: &ModelSummary) -> String {
    match s.threshold {
        Some(t) => format!(
            "{} (reconstruction error; contamination {} when calibrated)",
            format::number(t),
            format::percent(s.contamination)
        ),
        None => "none: rows are scored but not flagged".into(),
    }
}

fn dead_units(s: &ModelSummary) -> String {
    if s.dead_latent_units.is_empty() {
        return format!("none of {}", s.latent_dim);
    }
    let units: Vec<String> = s.dead_latent_units.iter().map(|u| u.to_string()).collect();
    format!(
        "{} of {}: unit {} never varies on the training data; a smaller latent would do",
        s.dead_latent_units.len(),
        s.latent_dim,
        units.join(", ")
    )
}

fn training(s: &ModelSummary) -> String {
    let epochs = s.history.len();
    let mut text = format!(
        "{} over {epochs} epoch{}",
        format::duration(s.training_seconds),
        if epochs == 1 { "" } else { "s" }
    );
    if let Some(last) = s.history.last() {
        text.push_str(&format!(
            "; final training loss {}",
            format::number(last.train_loss)
        ));
        if let Some(v) = last.val_loss {
            text.push_str(&format!(", validation loss {}", format::number(v)));
        }
    }
    text
}

fn serde_name<T: serde::Serialize>(value: &T) -> String {
    match serde_json::to_value(value) {
        Ok(serde_json::Value::String(s)) => s,
        _ => "unknown".into(),
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::model::{EpochRecord, Kind, MissingPolicy};

    /// A summary as a trained denoising model would report it.
    pub(crate) fn summary() -> ModelSummary {
        ModelSummary {
            kind: Kind::Denoising {
                noise_std: 0.1,
                mask_ratio: 0.0,
            },
            features: (0..45).map(|i| format!("f{i}")).collect(),
            dims: vec![45, 16, 4, 16, 45],
            latent_dim: 4,
            scaler: ScalerKind::Standard,
            missing: MissingPolicy::ImputeMean,
            threshold: Some(0.25),
            contamination: 0.01,
            created_unix: 1_709_301_900,
            training_seconds: 12.5,
            history: (1..=3)
                .map(|e| EpochRecord {
                    epoch: e,
                    train_loss: 1.0 / e as f64,
                    val_loss: Some(1.1 / e as f64),
                    seconds: 4.0,
                })
                .collect(),
            dead_latent_units: vec![2],
            error_quantiles: vec![(0.0, 0.01), (0.5, 0.05), (0.99, 0.25), (1.0, 0.9)],
            version: "abc123".into(),
        }
    }

    #[test]
    fn kind_is_described_with_its_parameters() {
        let s = summary();
        assert_eq!(kind_name(&s), "denoising");
        assert_eq!(
            kind_description(&s),
            "denoising (mask ratio 0, noise std 0.1)"
        );
        let mut v = s.clone();
        v.kind = Kind::Vanilla;
        assert_eq!(kind_description(&v), "vanilla");
        v.kind = Kind::Sparse {
            l1_activity: 0.001,
            sparsity_target: None,
            sparsity_weight: 0.0,
        };
        assert!(kind_description(&v).contains("sparsity target none"));
    }

    #[test]
    fn facts_read_well() {
        let s = summary();
        let facts = facts(&s);
        let get = |k: &str| {
            facts
                .iter()
                .find(|(l, _)| *l == k)
                .map(|(_, v)| v.clone())
                .unwrap()
        };
        assert_eq!(get("layers"), "45 → 16 → 4 → 16 → 45 (latent 4)");
        assert!(get("features").starts_with("45: f0, f1,"));
        assert!(get("features").ends_with("… and 5 more"));
        assert_eq!(get("missing values"), "impute mean");
        assert!(get("dead latent units").starts_with("1 of 4: unit 2"));
        assert_eq!(
            get("training"),
            "12.5 s over 3 epochs; final training loss 0.333, validation loss 0.367"
        );
        assert_eq!(get("created"), "2024-03-01 14:05 UTC");
        let cards = cards(&s);
        assert!(cards.iter().any(|c| c.label == "dead units" && c.warn));
    }
}
