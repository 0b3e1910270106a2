//! Drawing one chart into an SVG string that can be inlined in the page.

use plotters::coord::Shift;
use plotters::prelude::*;

use crate::error::{Error, Result};

/// The error plotters reports while drawing on the SVG backend.
pub type DrawError = DrawingAreaErrorKind<std::io::Error>;

/// Font family of every chart; the browser picks its default sans-serif face.
pub const FONT: &str = "sans-serif";

/// Text sizes in plotters units (the SVG backend writes `size / 1.24` px).
pub const LABEL_SIZE: f64 = 16.0;
/// Axis titles.
pub const TITLE_SIZE: f64 = 17.0;

/// Draw a `width`×`height` chart with `draw` and return its `<svg>` element, ready to inline
/// in HTML. `name` names the chart in errors and in the SVG's accessible label.
///
/// The `xmlns` attribute is dropped: HTML parsers place inline `<svg>` in the SVG namespace
/// themselves, and the page then holds no URL at all.
pub fn svg(
    name: &str,
    (width, height): (u32, u32),
    draw: impl FnOnce(&DrawingArea<SVGBackend, Shift>) -> std::result::Result<(), DrawError>,
) -> Result<String> {
    let mut out = String::new();
    {
        let root = SVGBackend::with_string(&mut out, (width, height)).into_drawing_area();
        let drawn = root
            .fill(&WHITE)
            .and_then(|()| draw(&root))
            .and_then(|()| root.present());
        drawn.map_err(|e| Error::Internal(format!("drawing the {name} chart: {e}")))?;
    }
    let out = out.replacen(
        r#" xmlns="http://www.w3.org/2000/svg""#,
        &format!(
            r#" role="img" aria-label="{}""#,
            crate::report::html::escape(name)
        ),
        1,
    );
    Ok(out)
}

/// Tick-label text style.
pub fn label_style() -> TextStyle<'static> {
    (FONT, LABEL_SIZE)
        .into_font()
        .color(&super::super::colors::INK)
}

/// Axis-title text style.
pub fn title_style() -> TextStyle<'static> {
    (FONT, TITLE_SIZE)
        .into_font()
        .color(&super::super::colors::INK)
}
