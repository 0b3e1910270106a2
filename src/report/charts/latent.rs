//! A 2-D view of the latent space, coloured by reconstruction error.
//!
//! The view is the latent itself when it is 2-D, the top two principal axes when it is wider,
//! and latent value against reconstruction error when it is 1-D. Points are drawn from low to
//! high error so the worst rows stay on top; rows above the threshold get a red ring (when they
//! are few) and the threshold is marked on the colour bar.

use plotters::coord::Shift;
use plotters::prelude::*;

use super::canvas::{self, DrawError};
use crate::error::Result;
use crate::model::quantile_sorted;
use crate::report::colors;
use crate::report::findings::LatentSample;
use crate::report::format;
use crate::report::pca::Pca;
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
    let Some(colours) = ErrorColours::new(&sample.errors) else {
        return Ok(None);
    };
    let view = Projection::of(sample, &colours)?;
    // Drawable points only, low error first.
    let mut points: Vec<Point> = view
        .coords
        .iter()
        .zip(&colours.positions)
        .zip(&sample.errors)
        .filter_map(|((&(x, y), &colour), &e)| {
            let colour = colour?;
            (x.is_finite() && y.is_finite()).then_some(Point {
                x,
                y,
                colour,
                above: threshold.is_some_and(|t| e > t),
            })
        })
        .collect();
    if points.is_empty() {
        return Ok(None);
    }
    points.sort_by(|a, b| a.colour.total_cmp(&b.colour));
    let svg = canvas::svg(
        "latent space",
        SIZE,
        |root| -> std::result::Result<(), DrawError> {
            let (left, right) = root.split_horizontally(SIZE.0 - BAR_AREA);
            draw_scatter(&left, &view, &points, &colours)?;
            draw_colour_bar(&right, &colours, threshold)
        },
    )?;
    Ok(Some(LatentView {
        svg,
        method: view.method,
    }))
}

/// Reconstruction errors as colours: positions on the error scale from the 1st percentile of
/// the errors to the largest (smaller errors get the darkest colour), so a few near-zero errors
/// do not wash out the rest.
struct ErrorColours {
    scale: Scale,
    /// Scale positions of the darkest and the brightest colour.
    lo: f64,
    hi: f64,
    /// Per row: its colour position, `None` for a non-finite error.
    positions: Vec<Option<f64>>,
}

impl ErrorColours {
    /// `None` when no error is finite (or the scale cannot place them).
    fn new(errors: &[f64]) -> Option<ErrorColours> {
        let mut sorted: Vec<f64> = errors.iter().copied().filter(|e| e.is_finite()).collect();
        sorted.sort_by(f64::total_cmp);
        let max_error = *sorted.last()?;
        let low_error = quantile_sorted(&sorted, 0.01)?;
        let scale = Scale::choose([low_error, max_error]);
        let (lo, hi) = (scale.position(low_error)?, scale.position(max_error)?);
        let positions = errors
            .iter()
            .map(|&e| {
                e.is_finite()
                    .then(|| scale.position(e).unwrap_or(lo).max(lo))
            })
            .collect();
        Some(ErrorColours {
            scale,
            lo,
            hi,
            positions,
        })
    }

    /// The colour at scale position `p`.
    fn at(&self, p: f64) -> RGBColor {
        if self.hi > self.lo {
            colors::viridis((p - self.lo) / (self.hi - self.lo))
        } else {
            colors::viridis(0.5)
        }
    }
}

/// Where the rows go on the chart, and what the axes mean.
struct Projection {
    /// Per row: (x, y).
    coords: Vec<(f64, f64)>,
    /// For the sentence under the chart.
    method: String,
    x_desc: String,
    y_desc: String,
    /// The y axis is the error scale (a 1-D latent).
    y_is_error: bool,
}

impl Projection {
    /// The latent itself when it is 2-D, its top two principal axes when wider, latent value
    /// against reconstruction error (colour position) when 1-D.
    fn of(sample: &LatentSample, colours: &ErrorColours) -> Result<Projection> {
        let d = sample.latent.ncols();
        let latent_unit = |j: usize| format!("latent unit {j}");
        let projection = match d {
            1 => Projection {
                coords: sample
                    .latent
                    .column(0)
                    .iter()
                    .zip(&colours.positions)
                    .map(|(&z, p)| (f64::from(z), p.unwrap_or(f64::NAN)))
                    .collect(),
                method: "the 1-D latent against reconstruction error".into(),
                x_desc: latent_unit(0),
                y_desc: format!("reconstruction error{}", colours.scale.suffix()),
                y_is_error: true,
            },
            2 => Projection {
                coords: sample
                    .latent
                    .outer_iter()
                    .map(|z| (f64::from(z[0]), f64::from(z[1])))
                    .collect(),
                method: "the 2-D latent itself".into(),
                x_desc: latent_unit(0),
                y_desc: latent_unit(1),
                y_is_error: false,
            },
            _ => {
                let pca = Pca::fit(sample.latent.view(), 2)?;
                let projected = pca.project(sample.latent.view())?;
                let (pc1, pc2) = (
                    format::percent(pca.explained(0)),
                    format::percent(pca.explained(1)),
                );
                Projection {
                    coords: projected.outer_iter().map(|p| (p[0], p[1])).collect(),
                    method: format!(
                        "the top two principal components of the {d}-D latent \
                         (PC1 explains {pc1}, PC2 {pc2} of its variance)"
                    ),
                    x_desc: format!("PC1 ({pc1})"),
                    y_desc: format!("PC2 ({pc2})"),
                    y_is_error: false,
                }
            }
        };
        Ok(projection)
    }
}

/// A drawable row: position, colour position, above the threshold.
struct Point {
    x: f64,
    y: f64,
    colour: f64,
    above: bool,
}

/// The scatter of `points` (drawn in order), with rings around the rows above the threshold
/// when they are few: when many are, rings would bury the picture, and the colour bar's
/// threshold mark tells the story instead.
fn draw_scatter(
    area: &DrawingArea<SVGBackend<'_>, Shift>,
    view: &Projection,
    points: &[Point],
    colours: &ErrorColours,
) -> std::result::Result<(), DrawError> {
    let x_range = padded_range(points.iter().map(|p| p.x), 0.04);
    let y_range = padded_range(points.iter().map(|p| p.y), 0.04);
    let mut chart = ChartBuilder::on(area)
        .margin(16)
        .x_label_area_size(48)
        .y_label_area_size(78)
        .build_cartesian_2d(x_range.0..x_range.1, y_range.0..y_range.1)?;
    let y_scale = if view.y_is_error {
        colours.scale
    } else {
        Scale::Linear
    };
    let y_fmt = |y: &f64| y_scale.tick(*y, y_range);
    let x_fmt = |x: &f64| Scale::Linear.tick(*x, x_range);
    chart
        .configure_mesh()
        .x_desc(view.x_desc.as_str())
        .y_desc(view.y_desc.as_str())
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
    chart.draw_series(
        points
            .iter()
            .map(|p| Circle::new((p.x, p.y), 3, colours.at(p.colour).mix(0.85).filled())),
    )?;
    let flagged = points.iter().filter(|p| p.above).count();
    if flagged == 0 || flagged * RING_AT_MOST > points.len() {
        return Ok(());
    }
    let ring = colors::THRESHOLD.stroke_width(2);
    chart
        .draw_series(
            points
                .iter()
                .filter(|p| p.above)
                .map(|p| Circle::new((p.x, p.y), 6, ring)),
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
        .draw()
}

/// The colour bar: error from low (bottom) to high (top), the threshold marked when it falls
/// on the bar.
fn draw_colour_bar(
    area: &DrawingArea<SVGBackend<'_>, Shift>,
    colours: &ErrorColours,
    threshold: Option<f64>,
) -> std::result::Result<(), DrawError> {
    let range = padded_range([colours.lo, colours.hi], 0.0);
    let mut bar = ChartBuilder::on(area)
        .margin_top(16)
        .margin_bottom(64)
        .margin_right(8)
        .y_label_area_size(64)
        .build_cartesian_2d(0.0..1.0, range.0..range.1)?;
    let bar_fmt = |y: &f64| colours.scale.tick(*y, range);
    bar.configure_mesh()
        .disable_x_mesh()
        .disable_y_mesh()
        .disable_x_axis()
        .y_labels(7)
        .y_label_formatter(&bar_fmt)
        .y_desc(format!("error{}", colours.scale.suffix()))
        .label_style(canvas::label_style())
        .axis_desc_style(canvas::title_style())
        .axis_style(colors::INK.mix(0.6))
        .draw()?;
    const STEPS: usize = 64;
    let step = (range.1 - range.0) / STEPS as f64;
    bar.draw_series((0..STEPS).map(|i| {
        let y0 = range.0 + step * i as f64;
        // Overlapping steps: no anti-aliasing seams between them.
        let top = (y0 + step * 1.6).min(range.1);
        Rectangle::new(
            [(0.0, y0), (1.0, top)],
            colours.at(y0 + step / 2.0).filled(),
        )
    }))?;
    let threshold_pos = threshold
        .and_then(|t| colours.scale.position(t))
        .filter(|p| (range.0..=range.1).contains(p));
    if let Some(t) = threshold_pos {
        bar.draw_series(LineSeries::new(
            [(0.0, t), (1.0, t)],
            colors::THRESHOLD.stroke_width(3),
        ))?;
    }
    Ok(())
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
