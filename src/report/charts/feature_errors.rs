//! Why one row is anomalous: its per-feature squared errors as horizontal bars.
//!
//! The row's reconstruction error is the mean of these bars, so each bar's share of their sum
//! is the share of the row's error that feature is responsible for; it is written at the end
//! of the bar. Each label reads `feature  value → reconstruction` in original units.

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::canvas::{self, DrawError};
use crate::error::Result;
use crate::report::colors;
use crate::report::findings::Anomaly;
use crate::report::format;
use crate::report::scale::Scale;

/// Width of one anomaly chart in px (two fit side by side on the page).
const WIDTH: u32 = 520;
/// Height per bar and of the axes around them, px.
const BAR_HEIGHT: u32 = 26;
const FRAME_HEIGHT: u32 = 80;
/// Longest feature name shown in full.
const NAME_CHARS: usize = 18;

/// Bars for the `max_features` largest feature errors of `anomaly` (at least one).
/// `names` are the model's feature names; missing names are shown as `feature i`.
pub fn anomaly_features(
    anomaly: &Anomaly,
    names: &[String],
    max_features: usize,
) -> Result<String> {
    let total: f64 = anomaly
        .feature_errors
        .iter()
        .map(|&e| f64::from(e))
        .filter(|e| e.is_finite())
        .sum();
    let mut order: Vec<usize> = (0..anomaly.feature_errors.len()).collect();
    let key = |i: usize| {
        let e = f64::from(anomaly.feature_errors[i]);
        if e.is_finite() { e } else { f64::NEG_INFINITY }
    };
    order.sort_by(|&a, &b| key(b).total_cmp(&key(a)).then(a.cmp(&b)));
    order.truncate(max_features.max(1));
    let k = order.len();
    let height = FRAME_HEIGHT + BAR_HEIGHT * k.max(1) as u32;
    let name = format!("feature errors of row {}", anomaly.row);
    if k == 0 {
        return canvas::svg(&name, (WIDTH, height), |root| {
            root.draw(&Text::new(
                "this row has no features",
                (20, 30),
                canvas::label_style(),
            ))
        });
    }
    let bars = Bars {
        labels: order.iter().map(|&i| label(anomaly, names, i)).collect(),
        errors: order.iter().map(|&i| key(i).max(0.0)).collect(),
        total,
    };
    canvas::svg(&name, (WIDTH, height), |root| draw(root, &bars))
}

/// `feature  value → reconstruction` of feature `i`, in original units.
fn label(anomaly: &Anomaly, names: &[String], i: usize) -> String {
    let name = names
        .get(i)
        .cloned()
        .unwrap_or_else(|| format!("feature {i}"));
    let value = |v: Option<&f32>| match v {
        Some(v) if v.is_nan() => "NULL".to_string(),
        Some(v) => format::number(f64::from(*v)),
        None => "?".to_string(),
    };
    format!(
        "{}  {} → {}",
        format::truncate(&name, NAME_CHARS),
        value(anomaly.values.get(i)),
        value(anomaly.reconstruction.get(i))
    )
}

/// The drawn features, largest error first (at least one).
struct Bars {
    labels: Vec<String>,
    /// Squared errors, ≥ 0.
    errors: Vec<f64>,
    /// Sum of the row's finite feature errors: the denominator of each share.
    total: f64,
}

/// One bar per feature, largest at the top, its share of the row's error at its end.
fn draw(
    root: &DrawingArea<SVGBackend<'_>, Shift>,
    bars: &Bars,
) -> std::result::Result<(), DrawError> {
    let k = bars.errors.len();
    let largest = bars.errors.iter().copied().fold(0.0f64, f64::max);
    // Room at the right of the longest bar for its share label.
    let x_max = if largest > 0.0 { largest * 1.3 } else { 1.0 };
    let mut chart = ChartBuilder::on(root)
        .margin(12)
        .margin_right(20)
        .x_label_area_size(44)
        .y_label_area_size(250)
        .build_cartesian_2d(0.0..x_max, (0..k - 1).into_segmented())?;
    // Largest error at the top: segment 0 is at the bottom.
    let label_of = |s: &SegmentValue<usize>| match s {
        SegmentValue::CenterOf(j) if *j < k => bars.labels[k - 1 - j].clone(),
        _ => String::new(),
    };
    let x_fmt = |x: &f64| Scale::Linear.tick(*x, (0.0, x_max));
    chart
        .configure_mesh()
        .disable_y_mesh()
        .x_desc("squared error (scaled units)")
        .x_labels(5)
        .y_labels(k)
        .x_label_formatter(&x_fmt)
        .y_label_formatter(&label_of)
        .label_style(canvas::label_style())
        .axis_desc_style(canvas::title_style())
        .light_line_style(WHITE.mix(0.0))
        .bold_line_style(colors::MUTED.mix(0.18))
        .axis_style(colors::INK.mix(0.6))
        .draw()?;
    let fill = colors::THRESHOLD.mix(0.75).filled();
    chart.draw_series(
        Histogram::horizontal(&chart)
            .style(fill)
            .margin(5)
            .data(bars.errors.iter().enumerate().map(|(j, &v)| (k - 1 - j, v))),
    )?;
    let share_style = canvas::label_style().pos(Pos::new(HPos::Left, VPos::Center));
    chart.draw_series(bars.errors.iter().enumerate().map(|(j, &v)| {
        let share = if bars.total > 0.0 {
            v / bars.total
        } else {
            0.0
        };
        Text::new(
            format!(" {}", format::percent(share)),
            (v, SegmentValue::CenterOf(k - 1 - j)),
            share_style.clone(),
        )
    }))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn anomaly(errors: Vec<f32>) -> Anomaly {
        let n = errors.len();
        Anomaly {
            row: 42,
            error: errors.iter().map(|&e| f64::from(e)).sum::<f64>() / n.max(1) as f64,
            values: (0..n).map(|i| i as f32 * 10.0).collect(),
            reconstruction: (0..n).map(|i| i as f32).collect(),
            feature_errors: errors,
        }
    }

    #[test]
    fn largest_features_first_with_names_values_and_shares() {
        let names: Vec<String> = ["alpha", "beta", "<gamma>"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let svg = anomaly_features(&anomaly(vec![1.0, 6.0, 3.0]), &names, 2).unwrap();
        assert!(svg.contains("beta  10 → 1"));
        assert!(svg.contains("&lt;gamma&gt;  20 → 2"), "names are escaped");
        assert!(!svg.contains("alpha"), "only the top 2 features are drawn");
        assert!(svg.contains("60 %"));
        assert!(svg.contains("feature errors of row 42"));
    }

    #[test]
    fn odd_rows_do_not_panic() {
        let names = vec!["only".to_string()];
        assert!(anomaly_features(&anomaly(vec![0.0]), &names, 5).is_ok());
        assert!(anomaly_features(&anomaly(vec![f32::NAN, f32::INFINITY, 2.0]), &names, 0).is_ok());
        assert!(anomaly_features(&anomaly(vec![]), &names, 3).is_ok());
        let mut missing = anomaly(vec![1.0, 2.0]);
        missing.values[1] = f32::NAN;
        let svg = anomaly_features(&missing, &names, 3).unwrap();
        assert!(svg.contains("feature 1  NULL"));
    }
}
