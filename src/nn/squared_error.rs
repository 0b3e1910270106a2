//! A scoring pass's last layer: bias, activation and the squared error against the target in one
//! pass over each row, while the row is in cache.
//!
//! For the GEMM output `z = x·Wᵀ` of the last dense layer, raw rows `r` and a per-column affine
//! map to the target `t = (r − offset) / scale` (the units the network works in):
//! ```text
//! ŷ[i, j] = f(z[i, j] + b[j])
//! e[i, j] = (t[i, j] − ŷ[i, j])²                      f32
//! s[i]    = Σⱼ e[i, j]                                 accumulated in f64
//! ```
//! Rows are finished a chunk at a time while they are in L1: bias and activation in place (`ŷ`
//! over `z`), then their errors; `t` is never written to memory. Each element is computed with the operations, in
//! the order, of the separate passes it replaces (`bias_forward`, then `(r − offset) / scale`,
//! then the squared difference), so `ŷ`, `t` and `e` are the same bits, and the row sums use the
//! eight f64 partial sums of [`super::sum_squared_diff`].
//!
//! # Shapes
//! `z`, `r`, `e`: `[rows, out]`; `b`, `offset`, `scale`: `[out]`; `s`: `[rows]`.

use ndarray::{ArrayView1, ArrayView2, ArrayViewMut2, s};

use super::activation::Activation;
use super::dense::Dense;
use super::gemm::gemm;
use super::simd::multiversion;

/// The target a network's output is compared with: raw rows mapped to `(r − offset) / scale`
/// column by column (`identity`: `offset = 0`, `scale = 1`, the rows as they are).
#[derive(Debug, Clone, Copy)]
pub struct AffineTarget<'a> {
    /// Raw rows, `[rows, out]`.
    pub rows: ArrayView2<'a, f32>,
    /// Subtracted per column, `[out]`.
    pub offset: &'a [f32],
    /// Divided by per column (after the offset), `[out]`.
    pub scale: &'a [f32],
    /// True when `offset` is all 0 and `scale` all 1: the target is `rows` itself.
    pub identity: bool,
}

impl Dense {
    /// `s[i] ← Σⱼ (t[i, j] − f(x·Wᵀ + b)[i, j])²` for the rows of `x`, with `t` from `target`;
    /// `e[i, j]` the squares when `per_feature` is given. `z` is scratch for the GEMM output
    /// (at least `[rows, out]`, its contents on entry ignored; `ŷ` on return).
    ///
    /// # Shapes
    /// `x`: `[rows, in]`, `target.rows` and `per_feature`: `[rows, out]`, `sums`: `[rows]`.
    pub fn forward_squared_error(
        &self,
        x: ArrayView2<'_, f32>,
        mut z: ArrayViewMut2<'_, f32>,
        target: AffineTarget<'_>,
        sums: &mut [f64],
        per_feature: Option<ArrayViewMut2<'_, f32>>,
    ) {
        gemm(1.0, x, self.weight().t(), 0.0, z.view_mut());
        let b = self
            .bias()
            .as_slice()
            .expect("Dense keeps its bias contiguous");
        squared_error_pass(self.activation(), b, z, target, sums, per_feature);
    }
}

/// Floats of `z` finished at a time: bias and activation on a chunk of rows of about this many
/// (16 KiB, in L1 with its target rows), then their errors, one dispatch each per chunk rather
/// than per row (rows of a narrow model are only a few dozen floats).
const CHUNK_FLOATS: usize = 4096;

/// The fused pass on the products `z` (`[rows, out]`, before bias and activation; overwritten
/// with `ŷ`), a chunk of rows at a time: bias and activation on the chunk, then its errors, while
/// it is in L1.
fn squared_error_pass(
    act: Activation,
    b: &[f32],
    mut z: ArrayViewMut2<'_, f32>,
    target: AffineTarget<'_>,
    sums: &mut [f64],
    mut per_feature: Option<ArrayViewMut2<'_, f32>>,
) {
    debug_assert_eq!(target.offset.len(), b.len());
    debug_assert_eq!(target.scale.len(), b.len());
    debug_assert_eq!(sums.len(), z.nrows());
    let (rows, out) = z.dim();
    let chunk = (CHUNK_FLOATS / out.max(1)).max(1);
    let bias = ArrayView1::from(b);
    let mut target_row = Vec::new();
    for start in (0..rows).step_by(chunk) {
        let end = (start + chunk).min(rows);
        let mut zc = z.slice_mut(s![start..end, ..]);
        act.bias_forward(zc.view_mut(), bias);
        let rc = target.rows.slice(s![start..end, ..]);
        let (o, sc) = (target.offset, target.scale);
        if per_feature.is_none()
            && let (Some(y), Some(r)) = (zc.as_slice(), rc.as_slice())
        {
            // The common case: contiguous chunks, one call for all their rows.
            chunk_sums(r, o, sc, target.identity, y, &mut sums[start..end]);
            continue;
        }
        for (i, (yr, rr)) in zc.rows().into_iter().zip(rc.rows()).enumerate() {
            let y = yr.to_slice().expect("the product rows are contiguous");
            let r = match rr.to_slice() {
                Some(r) => r,
                None => {
                    target_row.clear();
                    target_row.extend(rr.iter().copied());
                    &target_row[..]
                }
            };
            sums[start + i] = match per_feature.as_mut() {
                Some(e) => {
                    let mut er = e.row_mut(start + i);
                    match er.as_slice_mut() {
                        Some(er) => row_squares(r, o, sc, target.identity, y, er),
                        None => {
                            let mut tmp = vec![0.0f32; out];
                            let s = row_squares(r, o, sc, target.identity, y, &mut tmp);
                            er.iter_mut().zip(&tmp).for_each(|(d, &v)| *d = v);
                            s
                        }
                    }
                }
                None => chunk_sums_one(r, o, sc, target.identity, y),
            };
        }
    }
}

/// [`chunk_sums`] of one row.
fn chunk_sums_one(r: &[f32], o: &[f32], sc: &[f32], identity: bool, y: &[f32]) -> f64 {
    let mut s = [0.0f64];
    chunk_sums(r, o, sc, identity, y, &mut s);
    s[0]
}

/// `(r − offset) / scale`, or `r` itself for the identity map (the scaler's two paths).
#[inline(always)]
fn scaled(r: f32, offset: f32, scale: f32, identity: bool) -> f32 {
    if identity { r } else { (r - offset) / scale }
}

/// `Σⱼ (t[j] − y[j])²` for `t` the scaled `r`: squares in f32, summed in f64 in eight partial
/// sums and a tail, exactly as [`super::sum_squared_diff`] does (the identity case is that function's
/// loop; the vector versions of both give the same bits).
#[inline(always)]
fn row_sum(r: &[f32], offset: &[f32], scale: &[f32], identity: bool, y: &[f32]) -> f64 {
    let n = y.len();
    let r = &r[..n];
    let mut acc = [0.0f64; 8];
    let full = n - n % 8;
    if identity {
        for (rc, yc) in r[..full].chunks_exact(8).zip(y[..full].chunks_exact(8)) {
            for k in 0..8 {
                let d = rc[k] - yc[k];
                acc[k] += (d * d) as f64;
            }
        }
    } else {
        let (offset, scale) = (&offset[..n], &scale[..n]);
        for (((rc, oc), sc), yc) in r[..full]
            .chunks_exact(8)
            .zip(offset[..full].chunks_exact(8))
            .zip(scale[..full].chunks_exact(8))
            .zip(y[..full].chunks_exact(8))
        {
            for k in 0..8 {
                let d = (rc[k] - oc[k]) / sc[k] - yc[k];
                acc[k] += (d * d) as f64;
            }
        }
    }
    let mut tail = 0.0f64;
    for j in full..n {
        let d = scaled(r[j], offset[j], scale[j], identity) - y[j];
        tail += (d * d) as f64;
    }
    acc.iter().sum::<f64>() + tail
}

multiversion! {
    /// [`row_sum`] of each row of the standard-layout chunks `r` and `y` (`sums.len()` rows).
    fn chunk_sums(
        r: &[f32],
        offset: &[f32],
        scale: &[f32],
        identity: bool,
        y: &[f32],
        sums: &mut [f64],
    ) {
        let width = y.len() / sums.len().max(1);
        if width == 0 {
            sums.fill(0.0);
            return;
        }
        for ((s, rr), yr) in sums.iter_mut().zip(r.chunks_exact(width)).zip(y.chunks_exact(width)) {
            *s = row_sum(rr, offset, scale, identity, yr);
        }
    }
}

multiversion! {
    /// `e[j] ← (t[j] − y[j])²` with `t` the scaled `r`, and `Σⱼ e[j]` (in f64, in order).
    fn row_squares(
        r: &[f32],
        offset: &[f32],
        scale: &[f32],
        identity: bool,
        y: &[f32],
        e: &mut [f32],
    ) -> f64 {
        let n = y.len();
        let (r, offset, scale, e) = (&r[..n], &offset[..n], &scale[..n], &mut e[..n]);
        for j in 0..n {
            let d = scaled(r[j], offset[j], scale[j], identity) - y[j];
            e[j] = d * d;
        }
        e.iter().map(|&v| v as f64).sum()
    }
}
