//! What the report samples and how much it shows.

/// Options of a report (`aeflow report --top N --sample N --seed N`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReportOptions {
    /// Anomalies shown with their per-feature errors.
    pub top: usize,
    /// Rows drawn in the latent-space view (a uniform sample of the input).
    pub sample: usize,
    /// Reconstruction errors kept for the error distribution; beyond this many rows the
    /// histogram is drawn from a uniform sample of them.
    pub error_sample: usize,
    /// Features drawn per anomaly, largest error first.
    pub features_per_anomaly: usize,
    /// Seed of the row samples: the same input and seed give the same report.
    pub seed: u64,
}

impl Default for ReportOptions {
    fn default() -> Self {
        ReportOptions {
            top: 10,
            sample: 2000,
            error_sample: 200_000,
            features_per_anomaly: 12,
            seed: 0,
        }
    }
}
