//! Quantiles from the `(q, error)` pairs a model stores, for the table and the chart that
//! compare training and input. Quantiles of sorted values are
//! [`quantile_sorted`](crate::model::quantile_sorted), the one definition the threshold uses too.

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
    fn pair_quantiles_interpolate_without_extrapolating() {
        let pairs = [(0.5, 1.0), (0.9, 3.0), (1.0, 8.0)];
        assert_eq!(from_pairs(&pairs, 0.9), Some(3.0));
        assert!((from_pairs(&pairs, 0.7).unwrap() - 2.0).abs() < 1e-12);
        assert!((from_pairs(&pairs, 0.95).unwrap() - 5.5).abs() < 1e-12);
        assert_eq!(from_pairs(&pairs, 0.1), None);
        assert_eq!(from_pairs(&[], 0.5), None);
    }
}
