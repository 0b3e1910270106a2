//! Principal component analysis of latent vectors, for the 2-D view of the latent space.
//!
//! For rows `X` (`[n, d]`) with column means `μ`, the covariance is
//! `C = (X − μ)ᵀ(X − μ) / max(n − 1, 1)` (`[d, d]`). The principal axes are the eigenvectors
//! of `C` with the largest eigenvalues (the variance along each axis); a row projects to
//! `(x − μ)·Vᵀ` (`[k]`, `V` is `[k, d]`).
//!
//! Only the top `k ≤ 2` axes are needed, so they come from subspace (block power) iteration
//! with a Rayleigh–Ritz step, `O(d²·k)` per iteration, which stays cheap for wide latents
//! where a full eigendecomposition (`O(d³)`) would not. Each axis is signed so that its
//! largest-magnitude entry is positive, which makes the picture deterministic.

use ndarray::{Array1, Array2, ArrayView2, Axis, array};

use crate::error::{Error, Result};

/// Iteration cap; reached only when the 2nd and 3rd variances are (nearly) equal, where any
/// axis of that plane is an equally faithful view.
const MAX_ITERATIONS: usize = 500;
/// Converged when `‖C·v − λ·v‖ ≤ TOLERANCE · λ₁` for every axis.
const TOLERANCE: f64 = 1e-12;

/// A fitted projection onto the top principal axes.
#[derive(Debug, Clone)]
pub struct Pca {
    /// Column means `μ`, `[d]`.
    pub mean: Array1<f64>,
    /// Principal axes as rows, unit length, largest variance first, `[k, d]`.
    pub components: Array2<f64>,
    /// Variance along each axis (eigenvalues of `C`), `[k]`, descending.
    pub variances: Vec<f64>,
    /// Total variance `trace(C)`; `variances[i] / total_variance` is the share axis `i` explains.
    pub total_variance: f64,
}

impl Pca {
    /// Fit the top `min(k, d)` principal axes of `x` (`[n, d]`, n ≥ 1, d ≥ 1).
    ///
    /// Rows of zero variance (all equal) give the unit axes and zero variances.
    pub fn fit(x: ArrayView2<f32>, k: usize) -> Result<Pca> {
        let (n, d) = x.dim();
        if n == 0 || d == 0 || k == 0 {
            return Err(Error::shape(
                "pca",
                "at least one row, one column and one axis",
                format!("[{n}, {d}] rows, {k} axes"),
            ));
        }
        let k = k.min(d);
        let x = x.mapv(f64::from);
        let mean = x
            .mean_axis(Axis(0))
            .ok_or_else(|| Error::Internal("pca: mean of a non-empty matrix".into()))?;
        let centered = &x - &mean;
        let cov = centered.t().dot(&centered) / (n.saturating_sub(1).max(1)) as f64;
        let total_variance = cov.diag().sum();
        let (components, variances) = top_eigenvectors(&cov, k);
        Ok(Pca {
            mean,
            components,
            variances,
            total_variance,
        })
    }

    /// Coordinates of `x` (`[n, d]`) on the axes, `[n, k]`.
    pub fn project(&self, x: ArrayView2<f32>) -> Result<Array2<f64>> {
        if x.ncols() != self.mean.len() {
            return Err(Error::shape(
                "pca projection",
                format!("[*, {}]", self.mean.len()),
                format!("[{}, {}]", x.nrows(), x.ncols()),
            ));
        }
        let centered = &x.mapv(f64::from) - &self.mean;
        Ok(centered.dot(&self.components.t()))
    }

    /// Share of the total variance explained by axis `i` (0 when there is no variance).
    pub fn explained(&self, i: usize) -> f64 {
        match self.variances.get(i) {
            Some(v) if self.total_variance > 0.0 => v / self.total_variance,
            _ => 0.0,
        }
    }
}

/// The `k ≤ 2` leading eigenvectors (rows, `[k, d]`) and eigenvalues of the symmetric `c`.
fn top_eigenvectors(c: &Array2<f64>, k: usize) -> (Array2<f64>, Vec<f64>) {
    let d = c.nrows();
    // Deterministic start that no eigenvector is orthogonal to in practice.
    let mut v = Array2::from_shape_fn((d, k), |(i, j)| {
        1.0 + 0.5 * ((i * 7 + j * 13 + 3) % 17) as f64 / 17.0 + (j as f64) * (i as f64).sin()
    });
    orthonormalize(&mut v);
    let scale = c.diag().iter().fold(0.0f64, |m, x| m.max(x.abs()));
    if scale == 0.0 {
        return (unit_axes(d, k), vec![0.0; k]);
    }
    let mut values = vec![0.0; k];
    for _ in 0..MAX_ITERATIONS {
        let mut w = c.dot(&v);
        orthonormalize(&mut w);
        // Rayleigh–Ritz: rotate the basis within its span to C's eigenvectors there.
        let h = w.t().dot(&c.dot(&w));
        let (rot, vals) = symmetric_eigen_small(&h);
        v = w.dot(&rot);
        values = vals;
        let cv = c.dot(&v);
        let converged = (0..k).all(|j| {
            let r = &cv.column(j) - &(&v.column(j) * values[j]);
            r.dot(&r).sqrt() <= TOLERANCE * scale.max(values[0].abs())
        });
        if converged {
            break;
        }
    }
    for mut col in v.columns_mut() {
        let pivot = col
            .iter()
            .copied()
            .fold(0.0f64, |m, x| if x.abs() > m.abs() { x } else { m });
        if pivot < 0.0 {
            col.mapv_inplace(|x| -x);
        }
    }
    (
        v.t().to_owned(),
        values.into_iter().map(|x| x.max(0.0)).collect(),
    )
}

/// Gram–Schmidt on the columns; a column that vanishes (rank deficiency) is replaced by the
/// first unit axis orthogonal to the previous columns.
fn orthonormalize(v: &mut Array2<f64>) {
    let (d, k) = v.dim();
    for j in 0..k {
        for attempt in 0..=d {
            for p in 0..j {
                let proj = v.column(j).dot(&v.column(p));
                let prev = v.column(p).to_owned();
                v.column_mut(j).scaled_add(-proj, &prev);
            }
            let norm = v.column(j).dot(&v.column(j)).sqrt();
            if norm > 1e-150 {
                v.column_mut(j).mapv_inplace(|x| x / norm);
                break;
            }
            let mut col = v.column_mut(j);
            col.fill(0.0);
            col[attempt.min(d - 1)] = 1.0;
        }
    }
}

fn unit_axes(d: usize, k: usize) -> Array2<f64> {
    Array2::from_shape_fn((k, d), |(i, j)| if i == j { 1.0 } else { 0.0 })
}

/// Eigenvectors (columns) and eigenvalues, descending, of a symmetric 1×1 or 2×2 matrix.
fn symmetric_eigen_small(h: &Array2<f64>) -> (Array2<f64>, Vec<f64>) {
    if h.nrows() == 1 {
        return (Array2::ones((1, 1)), vec![h[[0, 0]]]);
    }
    let (a, b, c) = (h[[0, 0]], 0.5 * (h[[0, 1]] + h[[1, 0]]), h[[1, 1]]);
    let mid = 0.5 * (a + c);
    let radius = (0.25 * (a - c) * (a - c) + b * b).sqrt();
    let (l1, l2) = (mid + radius, mid - radius);
    let (x, y) = if b.abs() > 1e-300 {
        let (x, y) = (l1 - c, b);
        let n = (x * x + y * y).sqrt();
        (x / n, y / n)
    } else if a >= c {
        (1.0, 0.0)
    } else {
        (0.0, 1.0)
    };
    (array![[x, -y], [y, x]], vec![l1, l2])
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::{Array2, array};

    /// Points whose principal axes and variances are known exactly: every sign pattern of
    /// `(±3, ±2, ±1)` (variances 9·8/7, 4·8/7, 8/7 with the n − 1 divisor), rotated by an
    /// orthogonal `R` and shifted. PCA must return `R`'s first two columns.
    #[test]
    fn recovers_known_axes_and_variances() {
        let s = 1.0 / 2f64.sqrt();
        let t = 1.0 / 3f64.sqrt();
        let u = 1.0 / 6f64.sqrt();
        // Orthonormal columns r1, r2, r3.
        let r = array![[t, s, u], [t, -s, u], [t, 0.0, -2.0 * u]];
        let mut rows = Vec::new();
        for a in [-3.0, 3.0] {
            for b in [-2.0, 2.0] {
                for c in [-1.0, 1.0] {
                    let p = r.dot(&array![a, b, c]) + array![10.0, -5.0, 0.5];
                    rows.extend(p.iter().map(|&v| v as f32));
                }
            }
        }
        let x = Array2::from_shape_vec((8, 3), rows).unwrap();
        let pca = Pca::fit(x.view(), 2).unwrap();

        let scale = 8.0 / 7.0;
        assert!(
            (pca.variances[0] - 9.0 * scale).abs() < 1e-4,
            "{:?}",
            pca.variances
        );
        assert!(
            (pca.variances[1] - 4.0 * scale).abs() < 1e-4,
            "{:?}",
            pca.variances
        );
        assert!((pca.total_variance - 14.0 * scale).abs() < 1e-4);
        assert!((pca.explained(0) - 9.0 / 14.0).abs() < 1e-5);
        for (axis, expected) in [(0, r.column(0)), (1, r.column(1))] {
            let got = pca.components.row(axis);
            let cos = got.dot(&expected).abs();
            assert!((cos - 1.0).abs() < 1e-6, "axis {axis}: {got} vs {expected}");
            // Sign convention: largest-magnitude entry positive.
            let pivot = got
                .iter()
                .fold(0.0f64, |m, &v| if v.abs() > m.abs() { v } else { m });
            assert!(pivot > 0.0);
        }
        let projected = pca.project(x.view()).unwrap();
        // The first point is (−3, −2, −1) in the rotated frame.
        assert!((projected[[0, 0]].abs() - 3.0).abs() < 1e-5);
        assert!((projected[[0, 1]].abs() - 2.0).abs() < 1e-5);
    }

    #[test]
    fn constant_rows_give_zero_variance_not_nan() {
        let x = Array2::from_elem((5, 4), 2.5f32);
        let pca = Pca::fit(x.view(), 2).unwrap();
        assert_eq!(pca.variances, vec![0.0, 0.0]);
        assert_eq!(pca.explained(0), 0.0);
        let p = pca.project(x.view()).unwrap();
        assert!(p.iter().all(|v| *v == 0.0));
    }

    #[test]
    fn rank_one_data_and_single_rows() {
        // All points on a line along (1, 1, 0): one non-zero variance, the second axis is
        // still a unit vector orthogonal to the first.
        let x = Array2::from_shape_fn((6, 3), |(i, j)| if j < 2 { i as f32 } else { 0.0 });
        let pca = Pca::fit(x.view(), 2).unwrap();
        assert!(pca.variances[1].abs() < 1e-9);
        let c = &pca.components;
        assert!((c.row(0).dot(&c.row(1))).abs() < 1e-9);
        assert!((c.row(1).dot(&c.row(1)) - 1.0).abs() < 1e-9);
        assert!((c[[0, 0]] - 0.5f64.sqrt()).abs() < 1e-9);

        let one = Array2::from_shape_vec((1, 3), vec![1.0f32, 2.0, 3.0]).unwrap();
        let pca = Pca::fit(one.view(), 2).unwrap();
        assert_eq!(pca.variances, vec![0.0, 0.0]);
    }

    #[test]
    fn one_dimension_and_bad_shapes() {
        let x = Array2::from_shape_vec((3, 1), vec![1.0f32, 2.0, 3.0]).unwrap();
        let pca = Pca::fit(x.view(), 2).unwrap();
        assert_eq!(pca.components.dim(), (1, 1));
        assert!((pca.variances[0] - 1.0).abs() < 1e-12);
        assert!(Pca::fit(Array2::<f32>::zeros((0, 3)).view(), 2).is_err());
        assert!(pca.project(Array2::<f32>::zeros((2, 2)).view()).is_err());
    }
}
