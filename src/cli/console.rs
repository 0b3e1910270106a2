//! What the CLI shows a person: progress bars on a terminal, plain log lines otherwise, nothing
//! but errors with `--quiet`. Progress and notes go to stderr; results (summaries, tables) to
//! stdout, where a closed pipe (`aeflow inspect m | head`) ends output quietly.

use std::io::{IsTerminal, Write};
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::batch::JobReport;
use crate::error::{Error, Result};
use crate::model::{EpochRecord, TrainObserver};

/// How much to show.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verbosity {
    /// Errors only.
    Quiet,
    /// Log lines (stderr is not a terminal).
    Lines,
    /// Live progress bars (stderr is a terminal).
    Bars,
}

impl Verbosity {
    /// `Quiet` when asked, else bars on a terminal and lines elsewhere.
    pub fn detect(quiet: bool) -> Self {
        if quiet {
            Verbosity::Quiet
        } else if std::io::stderr().is_terminal() {
            Verbosity::Bars
        } else {
            Verbosity::Lines
        }
    }

    /// Whether anything but errors is shown.
    pub fn shows(self) -> bool {
        self != Verbosity::Quiet
    }
}

/// Print `text` (a result) on stdout unless quiet; a closed stdout is not an error.
pub fn say(verbosity: Verbosity, text: &str) -> Result<()> {
    if !verbosity.shows() {
        return Ok(());
    }
    print_out(text)
}

/// Print `text` on stdout whatever the verbosity (the output a command exists for).
pub fn print_out(text: &str) -> Result<()> {
    let mut out = std::io::stdout().lock();
    let result = out
        .write_all(text.as_bytes())
        .and_then(|()| {
            if text.ends_with('\n') {
                Ok(())
            } else {
                out.write_all(b"\n")
            }
        })
        .and_then(|()| out.flush());
    match result {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => {
            Err(Error::io("standard output", e))
        }
        _ => Ok(()),
    }
}

/// A note on stderr (progress, sampling, early stop) unless quiet.
pub fn note(verbosity: Verbosity, text: &str) {
    if verbosity.shows() {
        eprintln!("{text}");
    }
}

/// Training progress: a bar per epoch (batches, loss, samples/s) on a terminal, one line per
/// epoch otherwise.
pub struct TrainProgress {
    verbosity: Verbosity,
    bar: Option<ProgressBar>,
    epochs: usize,
    samples_per_second: f64,
    last_val_loss: Option<f64>,
}

impl TrainProgress {
    /// Progress at `verbosity`.
    pub fn new(verbosity: Verbosity) -> Self {
        TrainProgress {
            verbosity,
            bar: None,
            epochs: 0,
            samples_per_second: 0.0,
            last_val_loss: None,
        }
    }

    fn line(&self, text: &str) {
        match &self.bar {
            Some(bar) => bar.println(text),
            None => note(self.verbosity, text),
        }
    }
}

impl TrainObserver for TrainProgress {
    fn on_epoch_start(&mut self, epoch: usize, epochs: usize, batches: usize) {
        self.epochs = epochs;
        if self.verbosity != Verbosity::Bars {
            return;
        }
        let bar = ProgressBar::with_draw_target(
            Some(batches as u64),
            ProgressDrawTarget::stderr_with_hz(10),
        );
        let style = ProgressStyle::with_template(
            "{prefix} [{bar:16.cyan/blue}] {pos}/{len} batches  {wide_msg}",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> ");
        bar.set_style(style);
        bar.set_prefix(format!("epoch {epoch}/{epochs}"));
        if let Some(old) = self.bar.replace(bar) {
            old.finish_and_clear();
        }
    }

    fn on_batch(&mut self, batch: usize, loss: f64, samples_per_second: f64) {
        self.samples_per_second = samples_per_second;
        if let Some(bar) = &self.bar {
            bar.set_position(batch as u64);
            // The validation loss is known per epoch: the last one is shown while training.
            let val = self
                .last_val_loss
                .map(|v| format!(" (val {v:.4})"))
                .unwrap_or_default();
            bar.set_message(format!(
                "loss {loss:.4}{val}  {}",
                rate(samples_per_second, "samples")
            ));
        }
    }

    fn on_epoch_end(&mut self, record: &EpochRecord) {
        self.last_val_loss = record.val_loss;
        let val = match record.val_loss {
            Some(v) => format!("  val_loss {v:.5}"),
            None => String::new(),
        };
        let text = format!(
            "epoch {}/{}  loss {:.5}{val}  {}  {:.2} s",
            record.epoch,
            self.epochs,
            record.train_loss,
            rate(self.samples_per_second, "samples"),
            record.seconds
        );
        if let Some(bar) = self.bar.take() {
            bar.finish_and_clear();
            self.line(&text);
            return;
        }
        // As log lines: the first epoch, about ten more, and the last.
        let every = (self.epochs / 10).max(1);
        if record.epoch == 1 || record.epoch.is_multiple_of(every) || record.epoch == self.epochs {
            self.line(&text);
        }
    }

    fn on_message(&mut self, message: &str) {
        self.line(message);
    }
}

impl Drop for TrainProgress {
    fn drop(&mut self) {
        if let Some(bar) = self.bar.take() {
            bar.finish_and_clear();
        }
    }
}

/// Progress of a batch job (rows so far): a bar when the row count is known (Parquet), a
/// spinner otherwise; nothing when not on a terminal or quiet.
pub struct JobProgress {
    bar: Option<ProgressBar>,
}

impl JobProgress {
    /// `verb` is what is being done (`scoring`, `encoding`); `total` rows when known.
    pub fn new(verbosity: Verbosity, verb: &str, total: Option<u64>) -> Self {
        if verbosity != Verbosity::Bars {
            return JobProgress { bar: None };
        }
        let bar = match total {
            Some(n) => ProgressBar::new(n).with_style(
                ProgressStyle::with_template(
                    "{prefix} [{bar:28.cyan/blue}] {human_pos}/{human_len} rows  {per_sec}",
                )
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("=> "),
            ),
            None => ProgressBar::new_spinner().with_style(
                ProgressStyle::with_template("{prefix} {spinner} {human_pos} rows  {per_sec}")
                    .unwrap_or_else(|_| ProgressStyle::default_spinner()),
            ),
        };
        bar.set_prefix(verb.to_string());
        bar.enable_steady_tick(Duration::from_millis(120));
        JobProgress { bar: Some(bar) }
    }

    /// Update from the totals so far.
    pub fn update(&mut self, report: &JobReport) {
        if let Some(bar) = &self.bar {
            bar.set_position(report.rows);
        }
    }
}

impl Drop for JobProgress {
    fn drop(&mut self) {
        if let Some(bar) = self.bar.take() {
            bar.finish_and_clear();
        }
    }
}

/// `12 345 samples/s`, `1.2M samples/s`.
pub fn rate(per_second: f64, what: &str) -> String {
    if !per_second.is_finite() || per_second <= 0.0 {
        return format!("- {what}/s");
    }
    if per_second >= 1e6 {
        format!("{:.2}M {what}/s", per_second / 1e6)
    } else if per_second >= 1e4 {
        format!("{:.0}k {what}/s", per_second / 1e3)
    } else {
        format!("{per_second:.0} {what}/s")
    }
}

/// `1.23 s`, `2 min 05 s`.
pub fn duration(seconds: f64) -> String {
    if seconds < 60.0 {
        format!("{seconds:.2} s")
    } else {
        let s = seconds.round() as u64;
        format!("{} min {:02} s", s / 60, s % 60)
    }
}

/// A timer for "took …" lines.
pub fn since(start: Instant) -> String {
    duration(start.elapsed().as_secs_f64())
}
