//! Quantiles of error distributions, for the table that compares training and input.

/// The `q`-quantile of ascending `sorted` values, linearly interpolated between order
/// statistics (`h = (n − 1)·q`, as numpy's default); `None` for no values or `q` outside
/// [0, 1].
pub fn of_sorted(sorted: &[f64], q: f64) -> Option<f64> {
    if sorted.is_empty() || !(0.0..=1.0).contains(&q) {
        return None;
    }
    let h = (sorted.len() - 1) as f64 * q;
    let (i, f) = (h.floor() as usize, h - h.floor());
    let next = sorted.get(i + 1).copied().unwrap_or(sorted[i]);
    Some(sorted[i] + (next - sorted[i]) * f)
}

/// The `q`-quantile from stored `(q, value)` pairs, linear in `q` between the nearest stored
/// ones; `None` outside the stored range of `q` (nothing is extrapolated).
pub fn from_pairs(pairs: &[(f64, f64)], q: f64) -> Option<f64> {
    let mut pairs: Vec<(f64, f64)> = pairs
        .iter()
        .copied()
        .filter(|(p, v)| p.is_finite() && v.is_finite())
        .collect();
    pairs.sort_by(|a, b| a.0.total_cmp(&b.0));
    let exact = pairs.iter().find(|(p, _)| (p - q).abs() < 1e-12);
    if let Some((_, v)) = exact {
        return Some(*v);
    }
    let upper = pairs.iter().position(|(p, _)| *p > q)?;
    let (q0, v0) = *pairs.get(upper.checked_sub(1)?)?;
    let (q1, v1) = pairs[upper];
    Some(v0 + (v1 - v0) * (q - q0) / (q1 - q0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sorted_quantiles_match_numpy() {
        let v = [1.0, 2.0, 3.0, 4.0];
        // numpy.quantile([1, 2, 3, 4], [0, 0.5, 0.9, 1]) = [1, 2.5, 3.7, 4]
        assert_eq!(of_sorted(&v, 0.0), Some(1.0));
        assert_eq!(of_sorted(&v, 0.5), Some(2.5));
        assert!((of_sorted(&v, 0.9).unwrap() - 3.7).abs() < 1e-12);
        assert_eq!(of_sorted(&v, 1.0), Some(4.0));
        assert_eq!(of_sorted(&[5.0], 0.3), Some(5.0));
        assert_eq!(of_sorted(&[], 0.5), None);
        assert_eq!(of_sorted(&v, 1.5), None);
    }

    #[test]
    fn pair_quantiles_interpolate_without_extrapolating() {
        let pairs = [(0.5, 1.0), (0.9, 3.0), (1.0, 8.0)];
        assert_eq!(from_pairs(&pairs, 0.9), Some(3.0));
        assert!((from_pairs(&pairs, 0.7).unwrap() - 2.0).abs() < 1e-12);
        assert!((from_pairs(&pairs, 0.95).unwrap() - 5.5).abs() < 1e-12);
        assert_eq!(from_pairs(&pairs, 0.1), None);
        assert_eq!(from_pairs(&[], 0.5), None);
    }
}
