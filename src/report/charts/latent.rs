//! A 2-D view of the latent space, coloured by reconstruction error.
//!
//! The view is the latent itself when it is 2-D, the top two principal axes when it is wider,
//! and latent value against reconstruction error when it is 1-D. Points are drawn from low to
//! high error so the worst rows stay on top; rows above the threshold get a red ring (when they
//! are few) and the threshold is marked on the colour bar.

use plotters::prelude::*;

use super::canvas::{self, DrawError};
use crate::error::Result;
use crate::report::colors;
use crate::report::findings::LatentSample;
use crate::report::format;
use crate::report::pca::Pca;
use crate::report::quantile;
use crate::report::scale::{Scale, padded_range};

/// Size of the whole chart (scatter + colour bar) in px.
const SIZE: (u32, u32) = (1040, 580);
/// Rows above the threshold get rings only when they are at most 1 in this many.
const RING_AT_MOST: usize = 10;
/// Width of the colour bar area on the right.
const BAR_AREA: u32 = 120;

/// The latent chart and a sentence saying what its axes are.
#[derive(Debug, Clone)]
pub struct LatentView {
    /// The `<svg>` element.
    pub svg: String,
    /// E.g. `principal components of the 8-D latent: PC1 explains 61 %, PC2 23 % of its variance`.
    pub method: String,
}

/// The latent view of `sample`; `None` when it has no rows or no latent units.
pub fn latent_space(sample: &LatentSample, threshold: Option<f64>) -> Result<Option<LatentView>> {
    let (n, d) = sample.latent.dim();
    if n == 0 || d == 0 || sample.errors.len() != n {
        return Ok(None);
    }
    // Colours span the 1st percentile of the errors to the largest (smaller errors get the
    // darkest colour), so a few near-zero errors do not wash out the rest.
    let mut sorted: Vec<f64> = sample
        .errors
        .iter()
        .copied()
        .filter(|e| e.is_finite())
        .collect();
    sorted.sort_by(f64::total_cmp);
    let (Some(&max_error), Some(low_error)) = (sorted.last(), quantile::of_sorted(&sorted, 0.01))
    else {
        return Ok(None);
    };
    let error_scale = Scale::choose([low_error, max_error]);
    let (c_lo, c_hi) = match (
        error_scale.position(low_error),
        error_scale.position(max_error),
    ) {
        (Some(lo), Some(hi)) => (lo, hi),
        _ => return Ok(None),
    };
    let error_pos: Vec<Option<f64>> = sample
        .errors
        .iter()
        .map(|&e| {
            e.is_finite()
                .then(|| error_scale.position(e).unwrap_or(c_lo).max(c_lo))
        })
        .collect();

    let (coords, method, x_desc, y_desc): (Vec<(f64, f64)>, String, String, String) = match d {
        1 => (
            sample
                .latent
                .column(0)
                .iter()
                .zip(&error_pos)
                .map(|(&z, p)| (f64::from(z), p.unwrap_or(f64::NAN)))
                .collect(),
            "the 1-D latent against reconstruction error".into(),
            "latent unit 0".into(),
            format!("reconstruction error{}", error_scale.suffix()),
        ),
        2 => (
            sample
                .latent
                .outer_iter()
                .map(|z| (f64::from(z[0]), f64::from(z[1])))
                .collect(),
            "the 2-D latent itself".into(),
            "latent unit 0".into(),
            "latent unit 1".into(),
        ),
        _ => {
            let pca = Pca::fit(sample.latent.view(), 2)?;
            let projected = pca.project(sample.latent.view())?;
            let method = format!(
                "the top two principal components of the {d}-D latent \
                 (PC1 explains {}, PC2 {} of its variance)",
                format::percent(pca.explained(0)),
                format::percent(pca.explained(1))
            );
            (
                projected.outer_iter().map(|p| (p[0], p[1])).collect(),
                method,
                format!("PC1 ({})", format::percent(pca.explained(0))),
                format!("PC2 ({})", format::percent(pca.explained(1))),
            )
        }
    };

    // (x, y, colour position, above threshold), drawable points only, low error first.
    let mut points: Vec<(f64, f64, f64, bool)> = coords
        .iter()
        .zip(&error_pos)
        .zip(&sample.errors)
        .filter_map(|((&(x, y), &p), &e)| {
            let p = p?;
            (x.is_finite() && y.is_finite()).then_some((x, y, p, threshold.is_some_and(|t| e > t)))
        })
        .collect();
    if points.is_empty() {
        return Ok(None);
    }
    points.sort_by(|a, b| a.2.total_cmp(&b.2));
    let colour_at = |p: f64| {
        if c_hi > c_lo {
            colors::viridis((p - c_lo) / (c_hi - c_lo))
        } else {
            colors::viridis(0.5)
        }
    };
    let x_range = padded_range(points.iter().map(|p| p.0), 0.04);
    let y_range = padded_range(points.iter().map(|p| p.1), 0.04);
    let bar_range = padded_range([c_lo, c_hi], 0.0);
    let threshold_pos = threshold
        .and_then(|t| error_scale.position(t))
        .filter(|p| (bar_range.0..=bar_range.1).contains(p));
    let flagged = points.iter().filter(|p| p.3).count();
    // Rings single out the few rows above the threshold; when many are, they would bury the
    // picture, and the colour bar's threshold mark tells the story instead.
    let ring_flagged = flagged > 0 && flagged * RING_AT_MOST <= points.len();

    let svg =
        canvas::svg(
            "latent space",
            SIZE,
            |root| -> std::result::Result<(), DrawError> {
                let (left, right) = root.split_horizontally(SIZE.0 - BAR_AREA);
                let mut chart = ChartBuilder::on(&left)
                    .margin(16)
                    .x_label_area_size(48)
                    .y_label_area_size(78)
                    .build_cartesian_2d(x_range.0..x_range.1, y_range.0..y_range.1)?;
                let y_fmt = |y: &f64| {
                    if d == 1 {
                        error_scale.tick(*y, y_range)
                    } else {
                        Scale::Linear.tick(*y, y_range)
                    }
                };
                let x_fmt = |x: &f64| Scale::Linear.tick(*x, x_range);
                chart
                    .configure_mesh()
                    .x_desc(x_desc.as_str())
                    .y_desc(y_desc.as_str())
                    .x_labels(9)
                    .y_labels(8)
                    .x_label_formatter(&x_fmt)
                    .y_label_formatter(&y_fmt)
                    .label_style(canvas::label_style())
                    .axis_desc_style(canvas::title_style())
                    .light_line_style(WHITE.mix(0.0))
                    .bold_line_style(colors::MUTED.mix(0.15))
                    .axis_style(colors::INK.mix(0.6))
                    .draw()?;
                chart.draw_series(points.iter().map(|&(x, y, p, _)| {
                    Circle::new((x, y), 3, colour_at(p).mix(0.85).filled())
                }))?;
                if ring_flagged {
                    let ring = colors::THRESHOLD.stroke_width(2);
                    chart
                        .draw_series(
                            points
                                .iter()
                                .filter(|p| p.3)
                                .map(|&(x, y, _, _)| Circle::new((x, y), 6, ring)),
                        )?
                        .label(format!(
                            "above threshold ({flagged} of {} shown)",
                            points.len()
                        ))
                        .legend(move |(x, y)| Circle::new((x + 10, y), 6, ring));
                    chart
                        .configure_series_labels()
                        .position(SeriesLabelPosition::UpperRight)
                        .label_font(canvas::label_style())
                        .background_style(WHITE.mix(0.9))
                        .border_style(colors::MUTED.mix(0.4))
                        .draw()?;
                }

                // Colour bar: error from low (bottom) to high (top).
                let mut bar = ChartBuilder::on(&right)
                    .margin_top(16)
                    .margin_bottom(64)
                    .margin_right(8)
                    .y_label_area_size(64)
                    .build_cartesian_2d(0.0..1.0, bar_range.0..bar_range.1)?;
                let bar_fmt = |y: &f64| error_scale.tick(*y, bar_range);
                bar.configure_mesh()
                    .disable_x_mesh()
                    .disable_y_mesh()
                    .disable_x_axis()
                    .y_labels(7)
                    .y_label_formatter(&bar_fmt)
                    .y_desc(format!("error{}", error_scale.suffix()))
                    .label_style(canvas::label_style())
                    .axis_desc_style(canvas::title_style())
                    .axis_style(colors::INK.mix(0.6))
                    .draw()?;
                const STEPS: usize = 64;
                let step = (bar_range.1 - bar_range.0) / STEPS as f64;
                bar.draw_series((0..STEPS).map(|i| {
                    let y0 = bar_range.0 + step * i as f64;
                    // Overlapping steps: no anti-aliasing seams between them.
                    let top = (y0 + step * 1.6).min(bar_range.1);
                    Rectangle::new([(0.0, y0), (1.0, top)], colour_at(y0 + step / 2.0).filled())
                }))?;
                if let Some(t) = threshold_pos {
                    bar.draw_series(LineSeries::new(
                        [(0.0, t), (1.0, t)],
                        colors::THRESHOLD.stroke_width(3),
                    ))?;
                }
                Ok(())
            },
        )?;
    Ok(Some(LatentView { svg, method }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::Array2;

    fn sample(d: usize, n: usize) -> LatentSample {
        LatentSample {
            rows: (0..n as u64).collect(),
            latent: Array2::from_shape_fn((n, d), |(i, j)| {
                ((i * (j + 3)) % 17) as f32 * 0.3 - j as f32
            }),
            errors: (0..n)
                .map(|i| 0.01 + (i as f64 / n.max(1) as f64).powi(3))
                .collect(),
        }
    }

    #[test]
    fn chooses_the_view_by_latent_width() {
        // 3 of 50 rows above 0.8: ringed.
        let one = latent_space(&sample(1, 50), Some(0.8)).unwrap().unwrap();
        assert!(one.method.contains("1-D"));
        assert!(one.svg.contains("above threshold (3 of 50 shown)"));
        // All of them: no rings.
        let all = latent_space(&sample(1, 50), Some(0.0)).unwrap().unwrap();
        assert!(!all.svg.contains("above threshold"));
        let two = latent_space(&sample(2, 50), None).unwrap().unwrap();
        assert!(two.method.contains("2-D latent itself"));
        assert!(!two.svg.contains("above threshold"));
        let many = latent_space(&sample(6, 50), Some(10.0)).unwrap().unwrap();
        assert!(
            many.method
                .contains("principal components of the 6-D latent")
        );
        assert!(many.svg.contains("PC1"));
    }

    #[test]
    fn odd_samples_do_not_panic() {
        assert!(latent_space(&sample(3, 0), None).unwrap().is_none());
        assert!(latent_space(&sample(0, 5), None).unwrap().is_none());
        assert!(latent_space(&sample(4, 1), Some(0.0)).unwrap().is_some());
        let mut constant = sample(3, 20);
        constant.latent.fill(1.0);
        constant.errors.fill(0.5);
        assert!(latent_space(&constant, Some(0.5)).unwrap().is_some());
        let mut bad = sample(2, 3);
        bad.latent[[0, 0]] = f32::NAN;
        bad.errors[1] = 0.0;
        assert!(latent_space(&bad, None).unwrap().is_some());
    }
}
