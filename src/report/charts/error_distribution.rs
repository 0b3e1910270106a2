//! The distribution of reconstruction errors: training (from its stored quantiles), the
//! input's (when given), and the threshold.
//!
//! Both are drawn as the share of rows per bin over the same bins. The training share of a
//! bin `[a, b)` is `F(b) − F(a)`, where `F` is the training CDF interpolated linearly between
//! the stored `(q, error)` quantile pairs: exact at the quantiles, an estimate between them.
//! A non-empty input bin is drawn at least [`MIN_VISIBLE`] of the axis high, so the tail
//! where the anomalies are never disappears.

use plotters::coord::Shift;
use plotters::coord::types::RangedCoordf64;
use plotters::prelude::*;

use super::canvas::{self, DrawError};
use crate::error::Result;
use crate::model::quantile_sorted;
use crate::report::colors;
use crate::report::format;
use crate::report::quantile;
use crate::report::scale::{Scale, padded_range};

/// Size of the chart in px.
const SIZE: (u32, u32) = (1040, 400);
/// Bins across the drawn range.
const BINS: usize = 48;
/// The quantile that sets the low end of a log axis.
const ROBUST_LOW: f64 = 0.01;
/// Smallest drawn height of a non-empty input bin, as a share of the y axis, so that the few
/// rows in the tail (the anomalies) stay visible next to a bulk of 80 % in one bin.
const MIN_VISIBLE: f64 = 0.015;

/// The input's errors: all of them, or a uniform sample of the `rows` scored.
#[derive(Debug, Clone, Copy)]
pub struct InputErrors<'a> {
    /// Finite reconstruction errors.
    pub errors: &'a [f64],
    /// Rows scored; more than `errors.len()` when `errors` is a sample.
    pub rows: u64,
}

/// The error distribution chart; `None` when there is nothing to draw (no quantiles, no input
/// errors).
pub fn error_distribution(
    training_quantiles: &[(f64, f64)],
    input: Option<InputErrors>,
    threshold: Option<f64>,
) -> Result<Option<String>> {
    let input_rows = input.map_or(0, |i| i.rows);
    let cdf = TrainingCdf::new(training_quantiles);
    let mut sorted_input: Vec<f64> = input
        .map(|i| i.errors)
        .unwrap_or_default()
        .iter()
        .copied()
        .filter(|e| e.is_finite())
        .collect();
    if cdf.is_none() && sorted_input.is_empty() {
        return Ok(None);
    }
    sorted_input.sort_by(f64::total_cmp);
    let threshold = threshold.filter(|t| t.is_finite());
    let bins = Bins::spanning(training_quantiles, cdf.as_ref(), &sorted_input, threshold);
    let input_shares = bins.input_shares(&sorted_input);
    let training_shares = cdf
        .as_ref()
        .map_or_else(Vec::new, |c| bins.training_shares(c));
    let top = input_shares
        .iter()
        .chain(&training_shares)
        .fold(0.0f64, |m, &s| m.max(s));
    let y_max = if top > 0.0 {
        (top * 1.15 * 100.0).min(100.0)
    } else {
        1.0
    };
    let training = Bars {
        shares: &training_shares,
        label: format!(
            "training (estimated from {} stored quantiles)",
            cdf.as_ref().map_or(0, |c| c.errors.len())
        ),
    };
    let input = Bars {
        shares: &input_shares,
        label: input_label(sorted_input.len() as u64, input_rows),
    };
    let name = "reconstruction error distribution";
    let svg = canvas::svg(name, SIZE, |root| -> std::result::Result<(), DrawError> {
        let mut chart = axes(root, &bins, y_max)?;
        draw_bars(&mut chart, &bins, y_max, &training, &input)?;
        if let Some(t) = threshold
            && let Some(p) = bins.scale.position(t)
        {
            let line = colors::THRESHOLD.stroke_width(2);
            chart
                .draw_series(DashedLineSeries::new([(p, 0.0), (p, y_max)], 8, 4, line))?
                .label(format!("threshold = {}", format::number(t)))
                .legend(move |(x, y)| PathElement::new([(x, y), (x + 22, y)], line));
        }
        let shares = if input_shares.is_empty() {
            &training_shares
        } else {
            &input_shares
        };
        chart
            .configure_series_labels()
            .position(legend_position(shares))
            .label_font(canvas::label_style())
            .background_style(WHITE.mix(0.9))
            .border_style(colors::MUTED.mix(0.4))
            .draw()?;
        Ok(())
    })?;
    Ok(Some(svg))
}

/// The chart's coordinates: error axis position × share of rows in %.
type Chart<'a, 'b> = ChartContext<'a, SVGBackend<'b>, Cartesian2d<RangedCoordf64, RangedCoordf64>>;

/// [`BINS`] equal bins across the drawn range of axis positions.
struct Bins {
    scale: Scale,
    lo: f64,
    hi: f64,
    width: f64,
}

impl Bins {
    /// Bins spanning the lowest errors to the highest (and the threshold). Whether the axis is
    /// logarithmic is decided on the 1st percentile rather than the minimum, so a few near-zero
    /// errors do not stretch a log axis over decades nobody looks at; smaller errors fall into
    /// the first bin.
    fn spanning(
        training_quantiles: &[(f64, f64)],
        cdf: Option<&TrainingCdf>,
        sorted_input: &[f64],
        threshold: Option<f64>,
    ) -> Bins {
        let (mut lowest, mut low, mut high) = (Vec::new(), Vec::new(), Vec::new());
        if let Some(c) = cdf {
            lowest.push(c.errors[0]);
            low.push(quantile::from_pairs(training_quantiles, ROBUST_LOW).unwrap_or(c.errors[0]));
            high.push(c.errors[c.errors.len() - 1]);
        }
        if let (Some(&first), Some(&last)) = (sorted_input.first(), sorted_input.last()) {
            lowest.push(first);
            low.push(quantile_sorted(sorted_input, ROBUST_LOW).unwrap_or(first));
            high.push(last);
        }
        high.extend(threshold);
        let scale = Scale::choose(low.iter().chain(&high).copied());
        let ends = match scale {
            Scale::Log10 => low.iter().chain(&high),
            Scale::Linear => lowest.iter().chain(&high),
        };
        let (lo, hi) = padded_range(ends.filter_map(|&v| scale.position(v)), 0.03);
        Bins {
            scale,
            lo,
            hi,
            width: (hi - lo) / BINS as f64,
        }
    }

    /// Axis position of the left edge of bin `i` (`i = BINS`: the right end).
    fn edge(&self, i: usize) -> f64 {
        self.lo + self.width * i as f64
    }

    /// Share of `errors` in each bin (errors off the axis count in the first or last); empty
    /// for no errors.
    fn input_shares(&self, errors: &[f64]) -> Vec<f64> {
        if errors.is_empty() {
            return Vec::new();
        }
        let mut counts = vec![0u64; BINS];
        for &e in errors {
            let p = self.scale.position(e).unwrap_or(self.lo);
            let i = (((p - self.lo) / self.width).floor().max(0.0) as usize).min(BINS - 1);
            counts[i] += 1;
        }
        counts
            .iter()
            .map(|&c| c as f64 / errors.len() as f64)
            .collect()
    }

    /// Share of training rows in each bin, `F(b) − F(a)`; the outer bins reach to ±∞.
    fn training_shares(&self, cdf: &TrainingCdf) -> Vec<f64> {
        (0..BINS)
            .map(|i| {
                let hi_edge = if i + 1 == BINS {
                    f64::INFINITY
                } else {
                    self.scale.value(self.edge(i + 1))
                };
                let lo_edge = if i == 0 {
                    f64::NEG_INFINITY
                } else {
                    self.scale.value(self.edge(i))
                };
                (cdf.at(hi_edge) - cdf.at(lo_edge)).max(0.0)
            })
            .collect()
    }

    /// Bin `i` as a bar `share` (a fraction) high.
    fn bar(&self, i: usize, share: f64) -> [(f64, f64); 2] {
        [(self.edge(i), 0.0), (self.edge(i + 1), share * 100.0)]
    }

    /// The outline of `shares` as a step line.
    fn steps<'s>(&'s self, shares: &'s [f64]) -> impl Iterator<Item = (f64, f64)> + 's {
        shares
            .iter()
            .enumerate()
            .flat_map(|(i, &s)| [(self.edge(i), s * 100.0), (self.edge(i + 1), s * 100.0)])
    }
}

/// One distribution's shares per bin (empty: not drawn) and its legend label.
struct Bars<'s> {
    shares: &'s [f64],
    label: String,
}

/// The mesh: error axis (in the scale of `bins`) against rows per bin, 0 to `y_max` %.
fn axes<'a, 'b>(
    root: &'a DrawingArea<SVGBackend<'b>, Shift>,
    bins: &Bins,
    y_max: f64,
) -> std::result::Result<Chart<'a, 'b>, DrawError> {
    let (lo, hi, scale) = (bins.lo, bins.hi, bins.scale);
    let mut chart = ChartBuilder::on(root)
        .margin(16)
        .x_label_area_size(48)
        .y_label_area_size(70)
        .build_cartesian_2d(lo..hi, 0.0..y_max)?;
    let x_fmt = |x: &f64| scale.tick(*x, (lo, hi));
    let y_fmt = |y: &f64| Scale::Linear.tick(*y, (0.0, y_max));
    chart
        .configure_mesh()
        .x_desc(format!(
            "reconstruction error (mean squared error, scaled units){}",
            scale.suffix()
        ))
        .y_desc("rows per bin (%)")
        .x_labels(10)
        .y_labels(6)
        .x_label_formatter(&x_fmt)
        .y_label_formatter(&y_fmt)
        .label_style(canvas::label_style())
        .axis_desc_style(canvas::title_style())
        .light_line_style(WHITE.mix(0.0))
        .bold_line_style(colors::MUTED.mix(0.18))
        .axis_style(colors::INK.mix(0.6))
        .draw()?;
    Ok(chart)
}

/// The training distribution (filled bars alone, an outline over the input's bars) and the
/// input's bars, each non-empty input bin at least [`MIN_VISIBLE`] of the axis high.
fn draw_bars(
    chart: &mut Chart<'_, '_>,
    bins: &Bins,
    y_max: f64,
    training: &Bars<'_>,
    input: &Bars<'_>,
) -> std::result::Result<(), DrawError> {
    let outline = colors::TRAIN.stroke_width(2);
    if !training.shares.is_empty() {
        if input.shares.is_empty() {
            let fill = colors::TRAIN.mix(0.55).filled();
            chart
                .draw_series(
                    training
                        .shares
                        .iter()
                        .enumerate()
                        .map(|(i, &s)| Rectangle::new(bins.bar(i, s), fill)),
                )?
                .label(training.label.as_str())
                .legend(move |(x, y)| Rectangle::new([(x, y - 6), (x + 22, y + 6)], fill));
        } else {
            // An outline over the input's bars, so both stay visible.
            chart
                .draw_series(LineSeries::new(bins.steps(training.shares), outline))?
                .label(training.label.as_str())
                .legend(move |(x, y)| PathElement::new([(x, y), (x + 22, y)], outline));
        }
    }
    if input.shares.is_empty() {
        return Ok(());
    }
    let visible = |share: f64| {
        if share > 0.0 {
            share.max(MIN_VISIBLE * y_max / 100.0)
        } else {
            0.0
        }
    };
    let fill = colors::INPUT.mix(0.6).filled();
    chart
        .draw_series(
            input
                .shares
                .iter()
                .enumerate()
                .map(|(i, &s)| Rectangle::new(bins.bar(i, visible(s)), fill)),
        )?
        .label(input.label.as_str())
        .legend(move |(x, y)| Rectangle::new([(x, y - 6), (x + 22, y + 6)], fill));
    if !training.shares.is_empty() {
        // Redraw the training outline on top of the bars.
        chart.draw_series(LineSeries::new(bins.steps(training.shares), outline))?;
    }
    Ok(())
}

/// `input (6,000 rows)`, or `input (600,000 rows, 200,000 sampled)`.
fn input_label(drawn: u64, rows: u64) -> String {
    if rows > drawn {
        format!(
            "input ({}, {} sampled)",
            format::rows(rows),
            format::integer(drawn)
        )
    } else {
        format!("input ({})", format::rows(drawn))
    }
}

/// The legend goes where the bars are not: upper left when most rows sit on the right half.
fn legend_position(shares: &[f64]) -> SeriesLabelPosition {
    let total: f64 = shares.iter().sum();
    let centre: f64 = shares
        .iter()
        .enumerate()
        .map(|(i, s)| (i as f64 + 0.5) * s)
        .sum::<f64>()
        / total.max(f64::MIN_POSITIVE);
    if total > 0.0 && centre > shares.len() as f64 / 2.0 {
        SeriesLabelPosition::UpperLeft
    } else {
        SeriesLabelPosition::UpperRight
    }
}

/// The training CDF from stored `(q, error)` pairs.
struct TrainingCdf {
    /// Ascending errors.
    errors: Vec<f64>,
    /// Non-decreasing cumulative shares in [0, 1], one per error.
    shares: Vec<f64>,
}

impl TrainingCdf {
    /// `None` when no pair is finite with q in [0, 1].
    fn new(quantiles: &[(f64, f64)]) -> Option<TrainingCdf> {
        let mut pairs: Vec<(f64, f64)> = quantiles
            .iter()
            .copied()
            .filter(|(q, e)| q.is_finite() && e.is_finite() && (0.0..=1.0).contains(q))
            .collect();
        if pairs.is_empty() {
            return None;
        }
        pairs.sort_by(|a, b| a.0.total_cmp(&b.0));
        let mut errors = Vec::with_capacity(pairs.len());
        let mut shares = Vec::with_capacity(pairs.len());
        let mut max_error = f64::NEG_INFINITY;
        for (q, e) in pairs {
            // Quantiles are monotone; keep them so even if rounding says otherwise.
            max_error = max_error.max(e);
            errors.push(max_error);
            shares.push(q);
        }
        Some(TrainingCdf { errors, shares })
    }

    /// Share of training rows with error ≤ `x`: 0 below the lowest stored quantile, 1 at or
    /// above the highest, linear in between.
    fn at(&self, x: f64) -> f64 {
        let n = self.errors.len();
        if x < self.errors[0] {
            return 0.0;
        }
        if x >= self.errors[n - 1] {
            return 1.0;
        }
        // Last i with errors[i] ≤ x; then errors[i + 1] > x.
        let i = self.errors.partition_point(|&e| e <= x) - 1;
        let (e0, e1) = (self.errors[i], self.errors[i + 1]);
        let (q0, q1) = (self.shares[i], self.shares[i + 1]);
        q0 + (q1 - q0) * (x - e0) / (e1 - e0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cdf_interpolates_between_quantiles() {
        let cdf = TrainingCdf::new(&[(0.0, 0.0), (0.5, 1.0), (1.0, 3.0)]).unwrap();
        assert_eq!(cdf.at(-1.0), 0.0);
        assert_eq!(cdf.at(0.5), 0.25);
        assert_eq!(cdf.at(1.0), 0.5);
        assert_eq!(cdf.at(2.0), 0.75);
        assert_eq!(cdf.at(3.0), 1.0);
        // Repeated errors (a constant distribution) jump, never divide by zero.
        let flat = TrainingCdf::new(&[(0.0, 2.0), (0.5, 2.0), (1.0, 2.0)]).unwrap();
        assert_eq!(flat.at(1.9), 0.0);
        assert_eq!(flat.at(2.0), 1.0);
        assert!(TrainingCdf::new(&[(f64::NAN, 1.0), (2.0, 1.0)]).is_none());
    }

    /// All of `errors`, as when no sampling happened.
    fn all(errors: &[f64]) -> Option<InputErrors<'_>> {
        Some(InputErrors {
            errors,
            rows: errors.len() as u64,
        })
    }

    #[test]
    fn draws_training_input_and_threshold() {
        let quantiles: Vec<(f64, f64)> = (0..=100)
            .map(|i| (i as f64 / 100.0, 0.01 + (i as f64 / 100.0).powi(4)))
            .collect();
        let input: Vec<f64> = (0..500)
            .map(|i| 0.01 + (i as f64 / 500.0).powi(3) * 3.0)
            .collect();
        let svg = error_distribution(&quantiles, all(&input), Some(0.7))
            .unwrap()
            .unwrap();
        assert!(svg.contains("threshold = 0.7"));
        assert!(svg.contains("input (500 rows)"));
        assert!(svg.contains("101 stored quantiles"));
        assert!(
            svg.contains("log scale"),
            "errors spanning 300x use a log axis"
        );
        let sampled = Some(InputErrors {
            errors: &input,
            rows: 60_000,
        });
        let svg = error_distribution(&quantiles, sampled, None)
            .unwrap()
            .unwrap();
        assert!(svg.contains("input (60,000 rows, 500 sampled)"));
    }

    #[test]
    fn legend_avoids_the_bars() {
        let left = [0.5, 0.3, 0.1, 0.1, 0.0, 0.0];
        let right = [0.0, 0.0, 0.1, 0.1, 0.3, 0.5];
        assert_eq!(legend_position(&left), SeriesLabelPosition::UpperRight);
        assert_eq!(legend_position(&right), SeriesLabelPosition::UpperLeft);
        assert_eq!(legend_position(&[0.0; 4]), SeriesLabelPosition::UpperRight);
    }

    #[test]
    fn odd_distributions_do_not_panic() {
        assert!(error_distribution(&[], None, None).unwrap().is_none());
        assert!(
            error_distribution(&[], all(&[]), Some(1.0))
                .unwrap()
                .is_none()
        );
        // Constant errors, zero errors, a lone input row, NaN and infinite values.
        let constant = [(0.0, 0.25), (0.5, 0.25), (1.0, 0.25)];
        let svg = error_distribution(&constant, all(&[0.25; 10]), Some(0.25)).unwrap();
        assert!(svg.is_some());
        let zeros = [(0.0, 0.0), (1.0, 0.0)];
        assert!(
            error_distribution(&zeros, all(&[0.0]), None)
                .unwrap()
                .is_some()
        );
        // Non-finite errors are not drawn (the profiler counts them apart from the scored rows).
        let odd = [f64::NAN, f64::INFINITY, 1.0];
        let one_scored = Some(InputErrors {
            errors: &odd,
            rows: 1,
        });
        let svg = error_distribution(&[], one_scored, Some(f64::NAN))
            .unwrap()
            .unwrap();
        assert!(svg.contains("input (1 row)"));
        let svg = error_distribution(&[(0.99, 5.0)], None, Some(1e-9)).unwrap();
        assert!(svg.is_some());
    }
}
