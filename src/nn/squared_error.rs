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
//! `ŷ` and `t` are never written to memory: the pass reads `z` and `r` once and writes `s` (and
//! `e` when asked for). Each element is computed with the operations, in the order, of the
//! separate passes it replaces (`bias_forward`, then `(r − offset) / scale`, then the squared
//! difference), so `ŷ`, `t` and `e` are the same bits; the row sums use eight f64 partial sums
//! like [`super::sum_squared_diff`].
//!
//! # Shapes
//! `z`, `r`, `e`: `[rows, out]`; `b`, `offset`, `scale`: `[out]`; `s`: `[rows]`.

use ndarray::{ArrayView2, ArrayViewMut2, s};

use super::activation::{Activation, with_activation};
use super::dense::Dense;
use super::gemm::gemm;
use super::packed::PackedDense;
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
    /// (at least `[rows, out]`, its contents on entry ignored).
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
        let b = self.bias().as_slice().expect("Dense keeps its bias contiguous");
        squared_error_pass(self.activation(), b, z.view(), target, sums, per_feature);
    }
}

impl PackedDense {
    /// [`Dense::forward_squared_error`] through the packed weights, each tile of rows finished
    /// (error summed) while it is in cache.
    pub fn forward_squared_error(
        &self,
        x: ArrayView2<'_, f32>,
        z: ArrayViewMut2<'_, f32>,
        target: AffineTarget<'_>,
        sums: &mut [f64],
        mut per_feature: Option<ArrayViewMut2<'_, f32>>,
    ) {
        let (act, b) = (self.activation(), self.bias());
        self.products(x, z, |i0, tile| {
            let rows = i0..i0 + tile.nrows();
            let tile_target = AffineTarget {
                rows: target.rows.slice(s![rows.clone(), ..]),
                ..target
            };
            let e = per_feature
                .as_mut()
                .map(|e| e.slice_mut(s![rows.clone(), ..]));
            squared_error_pass(act, b, tile.view(), tile_target, &mut sums[rows], e);
        });
    }
}

/// The fused pass on the products `z` (`[rows, out]`, before bias and activation).
fn squared_error_pass(
    act: Activation,
    b: &[f32],
    z: ArrayView2<'_, f32>,
    target: AffineTarget<'_>,
    sums: &mut [f64],
    mut per_feature: Option<ArrayViewMut2<'_, f32>>,
) {
    debug_assert_eq!(target.offset.len(), b.len());
    debug_assert_eq!(target.scale.len(), b.len());
    debug_assert_eq!(sums.len(), z.nrows());
    let out = b.len();
    let mut target_row = Vec::new();
    for (i, (zr, rr)) in z.rows().into_iter().zip(target.rows.rows()).enumerate() {
        let zr = zr.to_slice().expect("the product rows are contiguous");
        let rr = match rr.to_slice() {
            Some(r) => r,
            None => {
                target_row.clear();
                target_row.extend(rr.iter().copied());
                &target_row[..]
            }
        };
        sums[i] = match per_feature.as_mut() {
            Some(e) => {
                let mut er = e.row_mut(i);
                match er.as_slice_mut() {
                    Some(er) => row_squares(act, zr, b, rr, target, er),
                    None => {
                        let mut tmp = vec![0.0f32; out];
                        let s = row_squares(act, zr, b, rr, target, &mut tmp);
                        er.iter_mut().zip(&tmp).for_each(|(d, &v)| *d = v);
                        s
                    }
                }
            }
            None => row_sum(act, zr, b, rr, target.offset, target.scale, target.identity),
        };
    }
}

/// [`row_squares_into`] with the target's statistics.
fn row_squares(
    act: Activation,
    z: &[f32],
    b: &[f32],
    r: &[f32],
    target: AffineTarget<'_>,
    e: &mut [f32],
) -> f64 {
    row_squares_into(act, z, b, r, target.offset, target.scale, target.identity, e)
}

/// `(r − offset) / scale`, or `r` itself for the identity map (the scaler's two paths).
#[inline(always)]
fn scaled(r: f32, offset: f32, scale: f32, identity: bool) -> f32 {
    if identity { r } else { (r - offset) / scale }
}

multiversion! {
    /// `Σⱼ (t[j] − f(z[j] + b[j]))²`, squares in f32, summed in eight f64 partial sums.
    fn row_sum(
        act: Activation,
        z: &[f32],
        b: &[f32],
        r: &[f32],
        offset: &[f32],
        scale: &[f32],
        identity: bool,
    ) -> f64 {
        let n = z.len();
        let (z, b, r, offset, scale) = (&z[..n], &b[..n], &r[..n], &offset[..n], &scale[..n]);
        with_activation!(act, |f| {
            let mut acc = [0.0f64; 8];
            let full = n - n % 8;
            let mut j = 0;
            while j < full {
                for k in 0..8 {
                    let y = f(z[j + k] + b[j + k]);
                    let d = scaled(r[j + k], offset[j + k], scale[j + k], identity) - y;
                    acc[k] += (d * d) as f64;
                }
                j += 8;
            }
            let mut tail = 0.0f64;
            for j in full..n {
                let y = f(z[j] + b[j]);
                let d = scaled(r[j], offset[j], scale[j], identity) - y;
                tail += (d * d) as f64;
            }
            acc.iter().sum::<f64>() + tail
        })
    }
}

multiversion! {
    /// `e[j] ← (t[j] − f(z[j] + b[j]))²` and `Σⱼ e[j]` (in f64, in order).
    #[allow(clippy::too_many_arguments)]
    fn row_squares_into(
        act: Activation,
        z: &[f32],
        b: &[f32],
        r: &[f32],
        offset: &[f32],
        scale: &[f32],
        identity: bool,
        e: &mut [f32],
    ) -> f64 {
        let n = z.len();
        let (z, b, r, offset, scale, e) =
            (&z[..n], &b[..n], &r[..n], &offset[..n], &scale[..n], &mut e[..n]);
        with_activation!(act, |f| {
            for j in 0..n {
                let y = f(z[j] + b[j]);
                let d = scaled(r[j], offset[j], scale[j], identity) - y;
                e[j] = d * d;
            }
        });
        e.iter().map(|&v| v as f64).sum()
    }
}
