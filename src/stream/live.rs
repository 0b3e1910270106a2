//! The stage's view of the live errors: the adaptive threshold, the drift alarm, and the records
//! that carry them out (threshold checkpoints, drift events). It lives on the scoring thread,
//! which sees every batch in order; the model-side rules are [`AdaptiveThreshold`] and
//! [`score_psi`].
//!
//! For each batch (score mode):
//! 1. after a rewind or a rebalance the window is reset to the checkpoint of the last delivered
//!    batch (or the one read from the state topic at start), so rows read again are not counted
//!    twice;
//! 2. the batch is judged against `Q(q)` of the window before it (adaptive) or the model's threshold;
//! 3. its finite errors (and the features of those rows) enter the window; the PSI of the window against the model's training
//!    errors (`diagnostics.error_quantiles`) is computed once the window is full and set as
//!    `aeflow_stream_score_drift`; crossing `drift_alert` either way is logged and, with a drift
//!    topic, sent as a JSON event; each feature's `|window mean − training mean| / training
//!    spread` is set as `aeflow_stream_feature_drift{feature}`;
//! 4. with an adaptive threshold, the window's checkpoint goes with the batch: to the run loop (for
//!    1.) and, with a state topic, as one record produced with the batch's outputs (in its
//!    transaction under exactly-once), so a restart resumes from the last delivered batch.
//!
//! # Limits
//! Under at-least-once the checkpoint record of a batch can be acknowledged while its offsets are
//! not yet committed (a crash between the two): the restart then reads that batch again and its
//! errors enter the window twice (at most the batches in flight). Instances of one group share one
//! checkpoint key: each keeps its own window and the last writer's is what a restart resumes.
//! The window spans model versions: after a reload, rows scored by the previous model leave it
//! as new rows arrive.

use std::sync::Arc;

use super::config::{StageConfig, ThresholdMode};
use super::message::OutputRecord;
use super::metrics::Metrics;
use super::reload::ActiveModel;
use crate::error::{Error, Result};
use crate::model::{
    AdaptiveThreshold, AdaptiveThresholdConfig, SlidingMeans, ThresholdCheckpoint,
    feature_mean_shift, score_psi,
};

/// What the run loop asks the scoring thread to reset the window to: a checkpoint, or empty.
pub type Reset = Option<Arc<ThresholdCheckpoint>>;

/// The settings of [`LiveState`], taken from the stage's configuration.
#[derive(Debug, Clone)]
pub struct LiveSettings {
    /// Fixed or adaptive threshold.
    pub mode: ThresholdMode,
    /// Window rows.
    pub window: usize,
    /// Quantile; default `1 −` the model's contamination.
    pub quantile: Option<f64>,
    /// PSI alert level.
    pub drift_alert: f64,
    /// Where checkpoints go, and under which key.
    pub state: Option<(Arc<str>, Vec<u8>)>,
    /// Where drift events go.
    pub drift_topic: Option<Arc<str>>,
    /// Input topic and group, named in drift events.
    pub source: (String, String),
}

impl LiveSettings {
    /// The settings of `config`.
    pub fn of(config: &StageConfig) -> Self {
        Self {
            mode: config.threshold,
            window: config.threshold_window,
            quantile: config.threshold_quantile,
            drift_alert: config.drift_alert,
            state: config
                .state_topic
                .as_deref()
                .map(|t| (Arc::from(t), config.state_key().into_bytes())),
            drift_topic: config.drift_topic.as_deref().map(Arc::from),
            source: (config.input_topic.clone(), config.group_id.clone()),
        }
    }

    /// The adaptive threshold's settings for `model`: an error when no quantile is given and
    /// the model has no contamination to derive one from.
    pub fn threshold_config(&self, model: &ActiveModel) -> Result<AdaptiveThresholdConfig> {
        let contamination = model.model.train_config().contamination;
        let quantile = match self.quantile {
            Some(q) => q,
            // A fixed threshold reads no quantile of the window (only the drift alarm does).
            None if self.mode == ThresholdMode::Fixed => {
                AdaptiveThresholdConfig::default_quantile(contamination).unwrap_or(0.5)
            }
            None => AdaptiveThresholdConfig::default_quantile(contamination).ok_or_else(|| {
                Error::config(
                    "threshold_quantile",
                    format!(
                        "is required: model {} was trained with contamination {contamination}, \
                         so there is no default 1 − contamination",
                        model.tag.header()
                    ),
                )
            })?,
        };
        let config = AdaptiveThresholdConfig {
            window: self.window,
            quantile,
        };
        config.validate()?;
        Ok(config)
    }
}

/// What one batch's errors did to the live state.
pub struct Observed {
    /// The window's checkpoint after the batch (adaptive threshold only).
    pub checkpoint: Option<Arc<ThresholdCheckpoint>>,
    /// Records to produce with the batch: the checkpoint, a drift event.
    pub records: Vec<OutputRecord>,
}

/// The window of live errors and what is derived from it, on the scoring thread.
#[derive(Debug, Default)]
pub struct LiveState {
    window: Option<AdaptiveThreshold>,
    /// The features of the rows in `window` (not checkpointed: empty after a reset).
    means: Option<SlidingMeans>,
    /// `true` while the PSI is above the alert level.
    alerted: bool,
}

impl LiveState {
    /// Nothing seen yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Makes the window ready for a batch scored by `model`: created on first use, reset when
    /// the run loop asks. An unusable checkpoint is logged and the window starts empty.
    pub fn prepare(
        &mut self,
        settings: &LiveSettings,
        model: &ActiveModel,
        reset: Option<Reset>,
    ) -> Result<()> {
        let config = settings.threshold_config(model)?;
        if reset.is_some() || self.means.is_none() {
            self.means = Some(SlidingMeans::new(config.window, model.model.n_features()));
        }
        if let Some(to) = reset {
            self.window = Some(match to {
                Some(c) => AdaptiveThreshold::restore(config, &c)?,
                None => AdaptiveThreshold::new(config)?,
            });
        } else if self.window.is_none() {
            self.window = Some(AdaptiveThreshold::new(config)?);
        }
        Ok(())
    }

    /// The threshold the next batch is judged against and carries, under an adaptive threshold:
    /// the window's once it is full, the model's until then. `None` under a fixed threshold (the
    /// model's, as scoring applies by itself).
    pub fn threshold(&self, settings: &LiveSettings, model: &ActiveModel) -> Option<f64> {
        match settings.mode {
            ThresholdMode::Fixed => None,
            ThresholdMode::Adaptive => self
                .window
                .as_ref()
                .and_then(AdaptiveThreshold::threshold)
                .or(model.model.threshold()),
        }
    }

    /// Adds a batch's errors (in message order); updates the gauges; returns the checkpoint and
    /// the records to produce with the batch.
    pub fn observe(
        &mut self,
        errors: &[f64],
        features: &[f32],
        settings: &LiveSettings,
        model: &ActiveModel,
        metrics: &Metrics,
    ) -> Observed {
        let mut observed = Observed {
            checkpoint: None,
            records: Vec::new(),
        };
        let Some(window) = self.window.as_mut() else {
            return observed;
        };
        // The threshold this batch was judged against: the window's before the batch entered it.
        let used = match settings.mode {
            ThresholdMode::Adaptive => window.threshold().or(model.model.threshold()),
            ThresholdMode::Fixed => model.model.threshold(),
        };
        Metrics::set_gauge(&metrics.threshold, used.unwrap_or(f64::NAN));
        window.observe(errors);
        if let Some(means) = self.means.as_mut() {
            means.push(features);
            if means.is_full() {
                let shift = feature_mean_shift(model.model.preprocessing(), &means.means());
                metrics.set_feature_drift(model.model.feature_names(), &shift);
            }
        }
        if window.window().is_full()
            && let Some(psi) = score_psi(
                &model.model.diagnostics().error_quantiles,
                window.window().sorted(),
            )
        {
            Metrics::set_gauge(&metrics.score_drift, psi);
            let above = psi > settings.drift_alert;
            if above != self.alerted {
                self.alerted = above;
                let rows = window.window().len();
                if above {
                    Metrics::add(&metrics.drift_alerts, 1);
                    log::warn!(
                        "score drift: PSI {psi:.3} of the last {rows} errors against model {}'s \
                         training errors crossed the alert level {}",
                        model.tag.header(),
                        settings.drift_alert
                    );
                } else {
                    log::info!(
                        "score drift: PSI {psi:.3} of the last {rows} errors is back below {}",
                        settings.drift_alert
                    );
                }
                if let Some(topic) = &settings.drift_topic {
                    observed.records.push(drift_event(
                        topic,
                        settings,
                        model,
                        psi,
                        above,
                        window.rows_seen(),
                    ));
                }
            }
        }
        if settings.mode == ThresholdMode::Adaptive {
            let c = Arc::new(window.checkpoint());
            if let Some((topic, key)) = &settings.state {
                observed.records.push(OutputRecord {
                    topic: topic.clone(),
                    key: Some(key.clone()),
                    payload: Some(c.to_bytes()),
                    headers: Vec::new(),
                    timestamp_ms: None,
                });
            }
            observed.checkpoint = Some(c);
        }
        observed
    }
}

/// The JSON event for a PSI crossing the alert level (`above`) or falling back below it:
/// `{"event":"score_drift","state":"above"|"below","psi":…,"alert":…,"rows_seen":…,
/// "input_topic":…,"group_id":…,"model":{"name":…,"version":…}}`, keyed by the input topic.
fn drift_event(
    topic: &Arc<str>,
    settings: &LiveSettings,
    model: &ActiveModel,
    psi: f64,
    above: bool,
    rows_seen: u64,
) -> OutputRecord {
    let (input, group) = &settings.source;
    let event = serde_json::json!({
        "event": "score_drift",
        "state": if above { "above" } else { "below" },
        "psi": psi,
        "alert": settings.drift_alert,
        "rows_seen": rows_seen,
        "input_topic": input,
        "group_id": group,
        "model": {"name": model.tag.name, "version": model.tag.version},
    });
    OutputRecord {
        topic: topic.clone(),
        key: Some(input.as_bytes().to_vec()),
        payload: Some(event.to_string().into_bytes()),
        headers: Vec::new(),
        timestamp_ms: None,
    }
}
