//! The report's colours: a small categorical palette and the viridis colour map.
//!
//! Viridis is perceptually uniform and readable by colour-blind people; it colours points by
//! reconstruction error (dark purple = well reconstructed, yellow = badly reconstructed).

use plotters::style::RGBColor;

/// Training loss, training error distribution.
pub const TRAIN: RGBColor = RGBColor(31, 119, 180);
/// Validation loss.
pub const VALIDATION: RGBColor = RGBColor(255, 127, 14);
/// The anomaly threshold and rows above it.
pub const THRESHOLD: RGBColor = RGBColor(214, 39, 40);
/// The input's error distribution.
pub const INPUT: RGBColor = RGBColor(44, 160, 44);
/// Grid lines and secondary text.
pub const MUTED: RGBColor = RGBColor(110, 110, 110);
/// Axis lines and main text.
pub const INK: RGBColor = RGBColor(34, 34, 34);

/// Viridis sampled at 9 evenly spaced points (matplotlib's `viridis`, 0 → 1).
const VIRIDIS: [(u8, u8, u8); 9] = [
    (68, 1, 84),
    (71, 45, 123),
    (59, 82, 139),
    (44, 114, 142),
    (33, 145, 140),
    (40, 174, 128),
    (94, 201, 98),
    (173, 220, 48),
    (253, 231, 37),
];

/// Viridis at `t` ∈ [0, 1] (clamped; NaN gives the low end), linearly interpolated between
/// the 9 anchors.
pub fn viridis(t: f64) -> RGBColor {
    let t = if t.is_nan() { 0.0 } else { t.clamp(0.0, 1.0) };
    let x = t * (VIRIDIS.len() - 1) as f64;
    let i = (x.floor() as usize).min(VIRIDIS.len() - 2);
    let f = x - i as f64;
    let (a, b) = (VIRIDIS[i], VIRIDIS[i + 1]);
    let mix = |p: u8, q: u8| (f64::from(p) + (f64::from(q) - f64::from(p)) * f).round() as u8;
    RGBColor(mix(a.0, b.0), mix(a.1, b.1), mix(a.2, b.2))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn viridis_hits_its_anchors_and_clamps() {
        assert_eq!(viridis(0.0), RGBColor(68, 1, 84));
        assert_eq!(viridis(0.5), RGBColor(33, 145, 140));
        assert_eq!(viridis(1.0), RGBColor(253, 231, 37));
        assert_eq!(viridis(7.0), RGBColor(253, 231, 37));
        assert_eq!(viridis(f64::NAN), RGBColor(68, 1, 84));
        assert_eq!(viridis(1.0 / 16.0), RGBColor(70, 23, 104));
    }
}
