//! Preprocessing learned at training time and saved with the model: the missing-value policy and
//! feature scaling.
//!
//! Every scaler is stored the same way, as a per-feature `offset` and `scale`:
//! `x_scaled = (x − offset) / scale`, and back `x = x_scaled · scale + offset`.
//!
//! | scaler | offset | scale |
//! |---|---|---|
//! | standard | mean | population std (1 when the std is 0) |
//! | minmax | min | max − min (1 when max = min) |
//! | robust | median | interquartile range q₀.₇₅ − q₀.₂₅ (1 when it is 0) |
//! | none | 0 | 1 |
//!
//! Quantiles interpolate linearly between order statistics (numpy's default): with the `n`
//! sorted values `v₀ ≤ … ≤ vₙ₋₁`, `q_p = v_⌊h⌋ + (h − ⌊h⌋)·(v_⌊h⌋₊₁ − v_⌊h⌋)`, `h = p·(n − 1)`.
//!
//! A value is missing when it is not finite (NaN, which is how NULL arrives, or ±∞). Under
//! [`MissingPolicy::ImputeMean`] it is replaced, in original units, by the training mean of its
//! feature (`fill`) before scaling. Statistics are computed over the non-missing training values,
//! in f64.

use ndarray::{ArrayView2, ArrayViewMut2, Zip};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::model::threshold::quantile_sorted;
use crate::nn::simd::multiversion;

/// Feature scaling learned at training time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum ScalerKind {
    /// (x − mean) / std.
    #[default]
    Standard,
    /// (x − min) / (max − min), into [0, 1].
    MinMax,
    /// (x − median) / interquartile range: a few extreme values (heavy tails, anomalies in the
    /// training rows) move neither statistic.
    Robust,
    /// Identity.
    None,
}

/// What to do with NULL / NaN features.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum MissingPolicy {
    /// Error naming the row and feature (surfaces such as SQL map such rows to NULL instead).
    #[default]
    Reject,
    /// Replace with the training mean of the feature (original units).
    ImputeMean,
}

/// The fitted preprocessing of a model, as stored in the model file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Preprocessing {
    /// Which scaler produced `offset` and `scale`.
    pub scaler: ScalerKind,
    /// Missing-value policy.
    pub missing: MissingPolicy,
    /// Per feature, original units.
    pub offset: Vec<f32>,
    /// Per feature, original units, > 0.
    pub scale: Vec<f32>,
    /// Training mean per feature (original units): the imputed value.
    pub fill: Vec<f32>,
}

impl Preprocessing {
    /// Learns the statistics from `x` (`[rows, features]`, original units). Under the reject
    /// policy a missing value is an error naming its row and feature.
    pub fn fit(
        x: ArrayView2<'_, f32>,
        features: &[String],
        scaler: ScalerKind,
        missing: MissingPolicy,
    ) -> Result<Self> {
        let d = x.ncols();
        // Row by row (the matrix is row-major), accumulating per feature in f64.
        let mut count = vec![0usize; d];
        let mut sum = vec![0.0f64; d];
        let mut min = vec![f64::INFINITY; d];
        let mut max = vec![f64::NEG_INFINITY; d];
        for (i, row) in x.rows().into_iter().enumerate() {
            for (j, &v) in row.iter().enumerate() {
                if !v.is_finite() {
                    if missing == MissingPolicy::Reject {
                        return Err(missing_error(i, &features[j], v));
                    }
                    continue;
                }
                let v = v as f64;
                count[j] += 1;
                sum[j] += v;
                min[j] = min[j].min(v);
                max[j] = max[j].max(v);
            }
        }
        if let Some(j) = count.iter().position(|&n| n == 0) {
            return Err(Error::data(
                format!("feature '{}'", features[j]),
                "has no values in the training data (every row is NULL/NaN); cannot learn its statistics",
            ));
        }
        let mean: Vec<f64> = sum.iter().zip(&count).map(|(s, &n)| s / n as f64).collect();
        let fill: Vec<f32> = mean.iter().map(|&m| m as f32).collect();
        let (offset, scale) = match scaler {
            ScalerKind::Standard => {
                let mut sq = vec![0.0f64; d];
                for row in x.rows() {
                    for ((s, &v), &m) in sq.iter_mut().zip(row.iter()).zip(&mean) {
                        if v.is_finite() {
                            *s += (v as f64 - m).powi(2);
                        }
                    }
                }
                let scale = sq
                    .iter()
                    .zip(&count)
                    .map(|(s, &n)| {
                        let std = (s / n as f64).sqrt() as f32;
                        if std > 0.0 && std.is_finite() {
                            std
                        } else {
                            1.0
                        }
                    })
                    .collect();
                (fill.clone(), scale)
            }
            ScalerKind::MinMax => {
                let scale = min
                    .iter()
                    .zip(&max)
                    .map(|(lo, hi)| {
                        let range = (hi - lo) as f32;
                        if range > 0.0 && range.is_finite() {
                            range
                        } else {
                            1.0
                        }
                    })
                    .collect();
                (min.iter().map(|&v| v as f32).collect(), scale)
            }
            ScalerKind::Robust => robust_statistics(x),
            ScalerKind::None => (vec![0.0; d], vec![1.0; d]),
        };
        Ok(Preprocessing {
            scaler,
            missing,
            offset,
            scale,
            fill,
        })
    }

    /// Number of features.
    pub fn n_features(&self) -> usize {
        self.offset.len()
    }

    /// `out ← (x − offset) / scale` after the missing policy. `first_row` numbers the rows of `x`
    /// in errors.
    ///
    /// # Shapes
    /// `x`, `out`: `[rows, features]`.
    pub fn transform(
        &self,
        x: ArrayView2<'_, f32>,
        mut out: ArrayViewMut2<'_, f32>,
        features: &[String],
        first_row: usize,
    ) -> Result<()> {
        let identity = self.is_identity();
        for (i, (xr, mut or)) in x.rows().into_iter().zip(out.rows_mut()).enumerate() {
            // Fast path: a contiguous row without missing values, one straight vector loop.
            if let (Some(xs), Some(os)) = (xr.as_slice(), or.as_slice_mut())
                && scale_finite_row(xs, os, &self.offset, &self.scale, identity)
            {
                continue;
            }
            for (j, (o, &v)) in or.iter_mut().zip(xr.iter()).enumerate() {
                let v = if v.is_finite() {
                    v
                } else if self.missing == MissingPolicy::ImputeMean {
                    self.fill[j]
                } else {
                    return Err(missing_error(first_row + i, &features[j], v));
                };
                *o = (v - self.offset[j]) / self.scale[j];
            }
        }
        Ok(())
    }

    /// True when scaling is the identity (every offset 0, every scale 1): scaled rows are the
    /// rows themselves.
    pub fn is_identity(&self) -> bool {
        self.offset.iter().all(|&o| o == 0.0) && self.scale.iter().all(|&s| s == 1.0)
    }

    /// `out ← x` with the missing policy applied, in original units: a missing value is the
    /// error [`Preprocessing::transform`] gives (the first in row order), or its feature's `fill`.
    ///
    /// # Shapes
    /// `x`, `out`: `[rows, features]`.
    pub(crate) fn fill_missing(
        &self,
        x: ArrayView2<'_, f32>,
        mut out: ArrayViewMut2<'_, f32>,
        features: &[String],
        first_row: usize,
    ) -> Result<()> {
        for (i, (xr, mut or)) in x.rows().into_iter().zip(out.rows_mut()).enumerate() {
            for (j, (o, &v)) in or.iter_mut().zip(xr.iter()).enumerate() {
                *o = if v.is_finite() {
                    v
                } else if self.missing == MissingPolicy::ImputeMean {
                    self.fill[j]
                } else {
                    return Err(missing_error(first_row + i, &features[j], v));
                };
            }
        }
        Ok(())
    }

    /// `out ← x_scaled · scale + offset`.
    pub fn inverse(&self, xs: ArrayView2<'_, f32>, mut out: ArrayViewMut2<'_, f32>) {
        for (xr, mut or) in xs.rows().into_iter().zip(out.rows_mut()) {
            Zip::from(&mut or)
                .and(&xr)
                .and(&self.scale[..])
                .and(&self.offset[..])
                .for_each(|o, &v, &sc, &off| {
                    *o = v * sc + off;
                });
        }
    }
}

multiversion! {
    /// `out[j] ← (x[j] − offset[j]) / scale[j]` (a copy when `identity`) and `true`, when every
    /// `x[j]` is finite; otherwise `false` and `out` untouched. Compiled for AVX-512 / AVX2 /
    /// baseline like the network's loops (IEEE division: the same bits in every version).
    fn scale_finite_row(
        x: &[f32],
        out: &mut [f32],
        offset: &[f32],
        scale: &[f32],
        identity: bool,
    ) -> bool {
        if !x.iter().fold(true, |ok, v| ok & v.is_finite()) {
            return false;
        }
        if identity {
            out.copy_from_slice(x);
        } else {
            for (((o, &v), &off), &sc) in out.iter_mut().zip(x).zip(offset).zip(scale) {
                *o = (v - off) / sc;
            }
        }
        true
    }
}

/// Per feature, the median and the interquartile range (1 when it is 0) of the finite values
/// of `x` (`[rows, d]`); every feature has at least one (checked by the caller).
fn robust_statistics(x: ArrayView2<'_, f32>) -> (Vec<f32>, Vec<f32>) {
    let mut offset = Vec::with_capacity(x.ncols());
    let mut scale = Vec::with_capacity(x.ncols());
    let mut values = Vec::with_capacity(x.nrows());
    for column in x.columns() {
        values.clear();
        values.extend(column.iter().filter(|v| v.is_finite()).map(|&v| v as f64));
        values.sort_by(f64::total_cmp);
        let q = |p| quantile_sorted(&values, p).unwrap_or(0.0);
        let iqr = (q(0.75) - q(0.25)) as f32;
        offset.push(q(0.5) as f32);
        scale.push(if iqr > 0.0 && iqr.is_finite() {
            iqr
        } else {
            1.0
        });
    }
    (offset, scale)
}

#[cold]
fn missing_error(row: usize, feature: &str, v: f32) -> Error {
    let what = if v.is_nan() {
        "a missing value (NULL/NaN)"
    } else {
        "an infinite value"
    };
    Error::data(
        format!("row {row}, feature '{feature}'"),
        format!(
            "{what}, and the missing policy is reject (impute_mean would use the training mean)"
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::{Array2, array};

    fn names(d: usize) -> Vec<String> {
        (0..d).map(|j| format!("f{j}")).collect()
    }

    /// The vector and baseline versions of the transform, on rows with and without missing
    /// values: all equal `(x − offset) / scale` (or the fill) element by element, bit for bit.
    #[test]
    fn transform_equals_the_elementwise_definition_in_every_version() {
        let d = 37;
        let x = Array2::from_shape_fn((9, d), |(i, j)| {
            if (i == 3 && j == 5) || (i == 7 && j == 36) {
                f32::NAN
            } else {
                ((i * d + j) as f32 * 0.37).sin() * 50.0 + j as f32
            }
        });
        for scaler in [
            ScalerKind::Standard,
            ScalerKind::MinMax,
            ScalerKind::Robust,
            ScalerKind::None,
        ] {
            let p =
                Preprocessing::fit(x.view(), &names(d), scaler, MissingPolicy::ImputeMean).unwrap();
            for portable in [false, true] {
                let mut out = Array2::from_elem((9, d), f32::NAN);
                let mut run = || p.transform(x.view(), out.view_mut(), &names(d), 0).unwrap();
                if portable {
                    crate::nn::simd::portable(run);
                } else {
                    run();
                }
                for ((i, j), &o) in out.indexed_iter() {
                    let v = if x[[i, j]].is_finite() {
                        x[[i, j]]
                    } else {
                        p.fill[j]
                    };
                    let want = (v - p.offset[j]) / p.scale[j];
                    assert_eq!(o.to_bits(), want.to_bits(), "{scaler:?} ({i}, {j})");
                }
            }
        }
    }

    #[test]
    fn standard_minmax_none_and_round_trip() {
        let x = array![[1.0f32, 10.0, 5.0], [3.0, 10.0, 7.0], [5.0, 10.0, 9.0]];
        let s = Preprocessing::fit(
            x.view(),
            &names(3),
            ScalerKind::Standard,
            MissingPolicy::Reject,
        )
        .unwrap();
        assert_eq!(s.offset, vec![3.0, 10.0, 7.0]);
        assert!((s.scale[0] - (8.0f32 / 3.0).sqrt()).abs() < 1e-6);
        assert_eq!(s.scale[1], 1.0, "a constant feature keeps scale 1");
        let m = Preprocessing::fit(
            x.view(),
            &names(3),
            ScalerKind::MinMax,
            MissingPolicy::Reject,
        )
        .unwrap();
        assert_eq!(
            (m.offset.clone(), m.scale.clone()),
            (vec![1.0, 10.0, 5.0], vec![4.0, 1.0, 4.0])
        );
        let mut out = Array2::zeros((3, 3));
        m.transform(x.view(), out.view_mut(), &names(3), 0).unwrap();
        assert_eq!(out.column(0).to_vec(), vec![0.0, 0.5, 1.0]);
        let mut back = Array2::zeros((3, 3));
        m.inverse(out.view(), back.view_mut());
        assert_eq!(back, x);
        let n = Preprocessing::fit(x.view(), &names(3), ScalerKind::None, MissingPolicy::Reject)
            .unwrap();
        n.transform(x.view(), out.view_mut(), &names(3), 0).unwrap();
        assert_eq!(out, x);
    }

    /// Median and interquartile range as numpy computes them (`np.median`, `np.percentile` with
    /// linear interpolation), missing values skipped, a zero range replaced by 1.
    #[test]
    fn robust_is_median_and_interquartile_range() {
        // np.percentile([1, 2, 4, 100], [25, 50, 75]) = [1.75, 3.0, 28.0].
        let x = array![
            [1.0f32, 7.0, 0.0],
            [2.0, 7.0, f32::NAN],
            [4.0, 7.0, 4.0],
            [100.0, 7.0, f32::NAN]
        ];
        let p = Preprocessing::fit(
            x.view(),
            &names(3),
            ScalerKind::Robust,
            MissingPolicy::ImputeMean,
        )
        .unwrap();
        assert_eq!(p.offset, vec![3.0, 7.0, 2.0]);
        // Column 2 has the values [0, 4]: quartiles 1 and 3.
        assert_eq!(p.scale, vec![26.25, 1.0, 2.0]);
        assert_eq!(p.fill[0], 26.75, "the fill stays the mean");
    }

    #[test]
    fn reject_names_row_and_feature_and_impute_uses_the_mean() {
        let x = array![[1.0f32, 2.0], [f32::NAN, 4.0], [5.0, 6.0]];
        let err = Preprocessing::fit(
            x.view(),
            &names(2),
            ScalerKind::Standard,
            MissingPolicy::Reject,
        )
        .unwrap_err();
        assert!(err.to_string().contains("row 1, feature 'f0'"), "{err}");
        let p = Preprocessing::fit(
            x.view(),
            &names(2),
            ScalerKind::None,
            MissingPolicy::ImputeMean,
        )
        .unwrap();
        assert_eq!(p.fill, vec![3.0, 4.0]);
        let mut out = Array2::zeros((3, 2));
        p.transform(x.view(), out.view_mut(), &names(2), 0).unwrap();
        assert_eq!(out[[1, 0]], 3.0);
        let all_nan = array![[f32::NAN], [f32::NAN]];
        let err = Preprocessing::fit(
            all_nan.view(),
            &names(1),
            ScalerKind::None,
            MissingPolicy::ImputeMean,
        )
        .unwrap_err();
        assert!(err.to_string().contains("feature 'f0'"), "{err}");
    }
}
