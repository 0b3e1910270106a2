//! Training and validation loss per epoch.

use plotters::coord::Shift;
use plotters::prelude::*;

use super::canvas::{self, DrawError};
use crate::error::Result;
use crate::model::EpochRecord;
use crate::report::colors;
use crate::report::scale::{Scale, padded_range};

/// Size of the chart in px.
const SIZE: (u32, u32) = (1040, 380);
/// Draw markers on every epoch up to this many epochs.
const MARKERS_UP_TO: usize = 60;

/// Loss curves for `history`; `None` when it holds no finite loss. Non-finite losses (a
/// diverged epoch) leave a gap-free line through the finite ones.
pub fn loss_curves(history: &[EpochRecord]) -> Result<Option<String>> {
    let Some(curves) = Curves::of(history) else {
        return Ok(None);
    };
    let svg = canvas::svg("training loss", SIZE, |root| draw(root, &curves))?;
    Ok(Some(svg))
}

/// The curves in chart coordinates: (epoch, axis position of the loss).
struct Curves {
    scale: Scale,
    train: Vec<(f64, f64)>,
    val: Vec<(f64, f64)>,
    last_epoch: f64,
    x_range: (f64, f64),
    y_range: (f64, f64),
    /// The point of the lowest validation loss.
    best_val: Option<(f64, f64)>,
    /// A marker on every epoch.
    markers: bool,
}

impl Curves {
    /// `None` when `history` holds no finite loss.
    fn of(history: &[EpochRecord]) -> Option<Curves> {
        let train: Vec<(f64, f64)> = history
            .iter()
            .filter(|r| r.train_loss.is_finite())
            .map(|r| (r.epoch as f64, r.train_loss))
            .collect();
        let val: Vec<(f64, f64)> = history
            .iter()
            .filter_map(|r| r.val_loss.map(|v| (r.epoch as f64, v)))
            .filter(|(_, v)| v.is_finite())
            .collect();
        if train.is_empty() && val.is_empty() {
            return None;
        }
        let scale = Scale::choose(train.iter().chain(&val).map(|p| p.1));
        let position = |pts: &[(f64, f64)]| -> Vec<(f64, f64)> {
            pts.iter()
                .filter_map(|&(e, v)| scale.position(v).map(|p| (e, p)))
                .collect()
        };
        let (train, val) = (position(&train), position(&val));
        let epochs = train.iter().chain(&val).map(|p| p.0);
        let last_epoch = epochs.clone().fold(1.0f64, f64::max);
        let x_range = (
            0.5f64.min(epochs.clone().fold(1.0, f64::min) - 0.5),
            last_epoch + 0.5,
        );
        let y_range = padded_range(train.iter().chain(&val).map(|p| p.1), 0.08);
        let best_val = val.iter().copied().min_by(|a, b| a.1.total_cmp(&b.1));
        Some(Curves {
            scale,
            train,
            val,
            last_epoch,
            x_range,
            y_range,
            best_val,
            markers: history.len() <= MARKERS_UP_TO,
        })
    }
}

/// Both curves, the lowest validation loss marked, and the legend.
fn draw(
    root: &DrawingArea<SVGBackend<'_>, Shift>,
    c: &Curves,
) -> std::result::Result<(), DrawError> {
    let (x_range, y_range, scale) = (c.x_range, c.y_range, c.scale);
    let mut chart = ChartBuilder::on(root)
        .margin(16)
        .x_label_area_size(48)
        .y_label_area_size(78)
        .build_cartesian_2d(x_range.0..x_range.1, y_range.0..y_range.1)?;
    let x_fmt = |x: &f64| {
        if (x - x.round()).abs() < 1e-6 && *x >= 1.0 {
            format!("{}", x.round() as i64)
        } else {
            String::new()
        }
    };
    let y_fmt = |y: &f64| scale.tick(*y, y_range);
    chart
        .configure_mesh()
        .x_desc("epoch")
        .y_desc(format!("loss{}", scale.suffix()))
        .x_labels((c.last_epoch as usize).clamp(2, 12))
        .y_labels(7)
        .x_label_formatter(&x_fmt)
        .y_label_formatter(&y_fmt)
        .label_style(canvas::label_style())
        .axis_desc_style(canvas::title_style())
        .light_line_style(WHITE.mix(0.0))
        .bold_line_style(colors::MUTED.mix(0.18))
        .axis_style(colors::INK.mix(0.6))
        .draw()?;
    for (points, color, name) in [
        (&c.train, colors::TRAIN, "training loss"),
        (&c.val, colors::VALIDATION, "validation loss"),
    ] {
        if points.is_empty() {
            continue;
        }
        chart
            .draw_series(LineSeries::new(
                points.iter().copied(),
                color.stroke_width(2),
            ))?
            .label(name)
            .legend(move |(x, y)| PathElement::new([(x, y), (x + 22, y)], color.stroke_width(2)));
        if c.markers || points.len() == 1 {
            chart.draw_series(points.iter().map(|&p| Circle::new(p, 3, color.filled())))?;
        }
    }
    if let Some((epoch, loss)) = c.best_val {
        let style = colors::VALIDATION.mix(0.7).stroke_width(1);
        chart
            .draw_series(DashedLineSeries::new(
                [(epoch, y_range.0), (epoch, y_range.1)],
                6,
                4,
                style,
            ))?
            .label(format!(
                "lowest validation loss: {} (epoch {})",
                scale.label(loss),
                epoch as i64
            ))
            .legend(move |(x, y)| PathElement::new([(x, y), (x + 22, y)], style));
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperRight)
        .label_font(canvas::label_style())
        .background_style(WHITE.mix(0.9))
        .border_style(colors::MUTED.mix(0.4))
        .draw()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(epoch: usize, train: f64, val: Option<f64>) -> EpochRecord {
        EpochRecord {
            epoch,
            train_loss: train,
            val_loss: val,
            seconds: 0.1,
        }
    }

    #[test]
    fn draws_both_curves_and_the_best_epoch() {
        let history: Vec<_> = (1..=20)
            .map(|e| record(e, 1.0 / e as f64, Some(1.2 / e as f64 + 0.01 * e as f64)))
            .collect();
        let svg = loss_curves(&history).unwrap().unwrap();
        assert!(svg.starts_with("<svg"));
        assert!(svg.contains("training loss") && svg.contains("validation loss"));
        assert!(svg.contains("lowest validation loss"));
        let c = colors::VALIDATION;
        assert!(
            svg.to_lowercase()
                .contains(&format!("#{:02x}{:02x}{:02x}", c.0, c.1, c.2))
        );
    }

    #[test]
    fn odd_histories_do_not_panic() {
        assert!(loss_curves(&[]).unwrap().is_none());
        assert!(loss_curves(&[record(1, f64::NAN, None)]).unwrap().is_none());
        let one = loss_curves(&[record(1, 0.5, None)]).unwrap().unwrap();
        assert!(
            one.contains("<circle"),
            "a single epoch is drawn as a point"
        );
        assert!(!one.contains("validation"));
        let flat: Vec<_> = (1..=3).map(|e| record(e, 0.0, Some(0.0))).collect();
        assert!(loss_curves(&flat).unwrap().is_some());
        let wild = [
            record(1, 1e30, Some(f64::INFINITY)),
            record(2, 1e-30, Some(0.1)),
        ];
        assert!(loss_curves(&wild).unwrap().is_some());
    }
}
