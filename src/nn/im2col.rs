//! Convolution geometry, and the im2col / col2im rearrangements that turn a convolution into one
//! matrix product.
//!
//! A sample is a flattened image `[C, H, W]` (row-major: `x[c·H·W + y·W + x]`); a sequence of
//! length `L` is the image `[C, 1, L]`, so 1-D convolutions are 2-D ones of height 1 and the
//! same code serves both.
//!
//! For a kernel `[kh, kw]`, stride `[sh, sw]` and zero padding `[ph, pw]` the output is
//! `Ho = ⌊(H + 2ph − kh)/sh⌋ + 1` by `Wo = ⌊(W + 2pw − kw)/sw⌋ + 1`, and with
//! `K = C·kh·kw` (the patch length) and `P = Ho·Wo` (output positions):
//!
//! ```text
//! im2col:  cols[(c·kh + i)·kw + j,  q + oy·Wo + ox] = x[c, oy·sh − ph + i, ox·sw − pw + j]   (0 outside)
//! col2im:  dx[c, iy, ix] += Σ cols[(c·kh + i)·kw + j, q + oy·Wo + ox]  over every (i, j, oy, ox) reaching (iy, ix)
//! ```
//!
//! `cols` is `[K, n]` row-major with `n ≥ q + P`: the samples of a block sit side by side, sample
//! `b` of the block at columns `q = b·P …`. col2im is the adjoint (transpose) of im2col, which is
//! what makes a convolution's input gradient, and a transposed convolution's forward pass, a
//! col2im.

use ndarray::{ArrayView2, ArrayViewMut2, Axis};

use crate::error::{Error, Result};

/// Spatial geometry of a convolution over `[C, H, W]` samples (1-D: `H = 1`, `kh = 1`, `sh = 1`,
/// `ph = 0`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConvGeometry {
    /// Input channels `C`.
    pub channels: usize,
    /// Input size `[H, W]`.
    pub size: [usize; 2],
    /// Kernel size `[kh, kw]`.
    pub kernel: [usize; 2],
    /// Stride `[sh, sw]`.
    pub stride: [usize; 2],
    /// Zero padding on each side `[ph, pw]`.
    pub padding: [usize; 2],
}

impl ConvGeometry {
    /// Checks that every size is positive and the kernel fits the padded input.
    pub fn validate(&self, op: &'static str) -> Result<()> {
        let positive = self.channels > 0
            && self.size.iter().all(|&v| v > 0)
            && self.kernel.iter().all(|&v| v > 0)
            && self.stride.iter().all(|&v| v > 0);
        if !positive {
            return Err(Error::shape(
                op,
                "positive channels, sizes, kernel and stride",
                format!("{self:?}"),
            ));
        }
        for a in 0..2 {
            if self.kernel[a] > self.size[a] + 2 * self.padding[a] {
                return Err(Error::shape(
                    op,
                    format!(
                        "a kernel of at most {} (input {} + padding 2×{}) along axis {a}",
                        self.size[a] + 2 * self.padding[a],
                        self.size[a],
                        self.padding[a]
                    ),
                    format!("{}", self.kernel[a]),
                ));
            }
        }
        Ok(())
    }

    /// Output size `[Ho, Wo]`.
    pub fn out_size(&self) -> [usize; 2] {
        [0, 1].map(|a| (self.size[a] + 2 * self.padding[a] - self.kernel[a]) / self.stride[a] + 1)
    }

    /// `H·W`, input positions per channel.
    pub fn in_positions(&self) -> usize {
        self.size[0] * self.size[1]
    }

    /// `Ho·Wo`, output positions.
    pub fn out_positions(&self) -> usize {
        let [h, w] = self.out_size();
        h * w
    }

    /// `K = C·kh·kw`, the length of one patch (a column of `cols`).
    pub fn patch_len(&self) -> usize {
        self.channels * self.kernel[0] * self.kernel[1]
    }

    /// `C·H·W`, the width of an input row.
    pub fn in_features(&self) -> usize {
        self.channels * self.in_positions()
    }
}

/// Output positions `o` in `lo..hi` read an input index `o·stride + tap − pad` inside
/// `0..in_len`; the others read padding.
#[inline]
fn valid_range(
    tap: usize,
    pad: usize,
    stride: usize,
    in_len: usize,
    out_len: usize,
) -> (usize, usize) {
    // o·s + tap ≥ pad  ⇔  o ≥ ⌈(pad − tap)/s⌉
    let lo = if pad > tap {
        (pad - tap).div_ceil(stride)
    } else {
        0
    };
    // o·s + tap − pad < in_len  ⇔  o < ⌈(in_len + pad − tap)/s⌉
    let hi = if in_len + pad > tap {
        (in_len + pad - tap).div_ceil(stride)
    } else {
        0
    };
    (lo.min(out_len), hi.min(out_len).max(lo.min(out_len)))
}

/// Writes the patches of one sample `x` (`C·H·W` values) into columns `q .. q + P` of `cols`
/// (`[K, ld]` row-major, `ld` = row length).
pub fn im2col(g: &ConvGeometry, x: &[f32], cols: &mut [f32], ld: usize, q: usize) {
    let [h, w] = g.size;
    let [kh, kw] = g.kernel;
    let [sh, sw] = g.stride;
    let [ph, pw] = g.padding;
    let [ho, wo] = g.out_size();
    debug_assert_eq!(x.len(), g.in_features());
    debug_assert!(cols.len() >= g.patch_len() * ld && q + ho * wo <= ld);
    for c in 0..g.channels {
        let plane = &x[c * h * w..(c + 1) * h * w];
        for i in 0..kh {
            let (ylo, yhi) = valid_range(i, ph, sh, h, ho);
            for j in 0..kw {
                let r = (c * kh + i) * kw + j;
                let row = &mut cols[r * ld + q..r * ld + q + ho * wo];
                let (xlo, xhi) = valid_range(j, pw, sw, w, wo);
                for oy in 0..ho {
                    let out = &mut row[oy * wo..(oy + 1) * wo];
                    if oy < ylo || oy >= yhi || xlo >= xhi {
                        out.fill(0.0);
                        continue;
                    }
                    let iy = oy * sh + i - ph;
                    let src = &plane[iy * w..(iy + 1) * w];
                    out[..xlo].fill(0.0);
                    out[xhi..].fill(0.0);
                    let ix0 = xlo * sw + j - pw;
                    if sw == 1 {
                        out[xlo..xhi].copy_from_slice(&src[ix0..ix0 + (xhi - xlo)]);
                    } else {
                        for (k, o) in out[xlo..xhi].iter_mut().enumerate() {
                            *o = src[ix0 + k * sw];
                        }
                    }
                }
            }
        }
    }
}

/// Adds columns `q .. q + P` of `cols` (`[K, ld]`) back onto one sample `dx` (`C·H·W` values):
/// the adjoint of [`im2col`]. `dx` is accumulated into, not overwritten.
pub fn col2im(g: &ConvGeometry, cols: &[f32], ld: usize, q: usize, dx: &mut [f32]) {
    let [h, w] = g.size;
    let [kh, kw] = g.kernel;
    let [sh, sw] = g.stride;
    let [ph, pw] = g.padding;
    let [ho, wo] = g.out_size();
    debug_assert_eq!(dx.len(), g.in_features());
    for c in 0..g.channels {
        let plane = &mut dx[c * h * w..(c + 1) * h * w];
        for i in 0..kh {
            let (ylo, yhi) = valid_range(i, ph, sh, h, ho);
            for j in 0..kw {
                let r = (c * kh + i) * kw + j;
                let row = &cols[r * ld + q..r * ld + q + ho * wo];
                let (xlo, xhi) = valid_range(j, pw, sw, w, wo);
                if xlo >= xhi {
                    continue;
                }
                let ix0 = xlo * sw + j - pw;
                for oy in ylo..yhi {
                    let iy = oy * sh + i - ph;
                    let dst = &mut plane[iy * w..(iy + 1) * w];
                    let src = &row[oy * wo + xlo..oy * wo + xhi];
                    if sw == 1 {
                        for (d, &s) in dst[ix0..ix0 + src.len()].iter_mut().zip(src) {
                            *d += s;
                        }
                    } else {
                        for (k, &s) in src.iter().enumerate() {
                            dst[ix0 + k * sw] += s;
                        }
                    }
                }
            }
        }
    }
}

/// Copies one sample's row `[C·P]` (channel-major within the row) into columns `q .. q + P` of
/// the `[C, ld]` matrix `m`: the layout a block of samples needs to share one product.
pub fn row_to_channels(row: &[f32], positions: usize, m: &mut [f32], ld: usize, q: usize) {
    for (c, src) in row.chunks_exact(positions).enumerate() {
        m[c * ld + q..c * ld + q + positions].copy_from_slice(src);
    }
}

/// The inverse of [`row_to_channels`]: columns `q .. q + P` of `m` (`[C, ld]`) into a row `[C·P]`.
pub fn channels_to_row(m: &[f32], ld: usize, q: usize, positions: usize, row: &mut [f32]) {
    for (c, dst) in row.chunks_exact_mut(positions).enumerate() {
        dst.copy_from_slice(&m[c * ld + q..c * ld + q + positions]);
    }
}

/// Row `b` of `x` as a slice: borrowed when contiguous, else copied into `tmp`.
pub(crate) fn row_of<'a>(x: ArrayView2<'a, f32>, b: usize, tmp: &'a mut Vec<f32>) -> &'a [f32] {
    let row = x.index_axis_move(Axis(0), b);
    match row.to_slice() {
        Some(s) => s,
        None => {
            tmp.clear();
            tmp.extend(row.iter());
            tmp
        }
    }
}

/// Runs `f` on row `b` of `y` as a mutable slice (through a copy when the row is strided).
pub(crate) fn with_row_mut(y: &mut ArrayViewMut2<'_, f32>, b: usize, f: impl FnOnce(&mut [f32])) {
    let mut row = y.row_mut(b);
    match row.as_slice_mut() {
        Some(s) => f(s),
        None => {
            let mut tmp = row.to_vec();
            f(&mut tmp);
            row.iter_mut().zip(tmp).for_each(|(d, s)| *d = s);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn geometries() -> Vec<ConvGeometry> {
        let mut out = Vec::new();
        for (size, kernel, stride, padding) in [
            ([5, 6], [3, 3], [1, 1], [1, 1]),
            ([5, 6], [3, 2], [2, 2], [1, 0]),
            ([4, 4], [2, 2], [2, 2], [0, 0]),
            ([7, 5], [3, 3], [2, 1], [2, 1]),
            ([1, 9], [1, 3], [1, 2], [0, 1]),
            ([1, 8], [1, 4], [1, 1], [0, 2]),
        ] {
            for channels in [1, 2] {
                out.push(ConvGeometry {
                    channels,
                    size,
                    kernel,
                    stride,
                    padding,
                });
            }
        }
        out
    }

    /// Direct definition of a patch entry.
    fn patch(g: &ConvGeometry, x: &[f32], r: usize, p: usize) -> f32 {
        let [kh, kw] = g.kernel;
        let [_, wo] = g.out_size();
        let (c, i, j) = (r / (kh * kw), (r / kw) % kh, r % kw);
        let (oy, ox) = (p / wo, p % wo);
        let iy = (oy * g.stride[0] + i) as isize - g.padding[0] as isize;
        let ix = (ox * g.stride[1] + j) as isize - g.padding[1] as isize;
        let [h, w] = g.size;
        if iy < 0 || ix < 0 || iy >= h as isize || ix >= w as isize {
            0.0
        } else {
            x[c * h * w + iy as usize * w + ix as usize]
        }
    }

    #[test]
    fn im2col_matches_the_definition_and_col2im_is_its_adjoint() {
        for g in geometries() {
            g.validate("test").unwrap();
            let (k, p) = (g.patch_len(), g.out_positions());
            let x: Vec<f32> = (0..g.in_features())
                .map(|v| (v as f32 * 0.37).sin())
                .collect();
            // Two samples side by side, the second at column p + 1 (one spare column).
            let ld = 2 * p + 1;
            let mut cols = vec![f32::NAN; k * ld];
            im2col(&g, &x, &mut cols, ld, p + 1);
            for r in 0..k {
                for q in 0..p {
                    assert_eq!(
                        cols[r * ld + p + 1 + q],
                        patch(&g, &x, r, q),
                        "{g:?} r{r} q{q}"
                    );
                }
            }
            // ⟨im2col(x), c⟩ = ⟨x, col2im(c)⟩ for a random c.
            let c: Vec<f32> = (0..k * ld).map(|v| (v as f32 * 0.91).cos()).collect();
            let mut dx = vec![0.0f32; g.in_features()];
            col2im(&g, &c, ld, p + 1, &mut dx);
            let lhs: f64 = (0..k)
                .flat_map(|r| (0..p).map(move |q| r * ld + p + 1 + q))
                .map(|i| cols[i] as f64 * c[i] as f64)
                .sum();
            let rhs: f64 = x.iter().zip(&dx).map(|(&a, &b)| a as f64 * b as f64).sum();
            assert!(
                (lhs - rhs).abs() < 1e-4 * (1.0 + lhs.abs()),
                "{g:?}: {lhs} vs {rhs}"
            );
        }
    }

    #[test]
    fn output_sizes() {
        let g = ConvGeometry {
            channels: 1,
            size: [28, 28],
            kernel: [3, 3],
            stride: [2, 2],
            padding: [1, 1],
        };
        assert_eq!(g.out_size(), [14, 14]);
        let g = ConvGeometry {
            size: [1, 128],
            kernel: [1, 5],
            stride: [1, 2],
            padding: [0, 2],
            ..g
        };
        assert_eq!(g.out_size(), [1, 64]);
        let too_big = ConvGeometry {
            kernel: [3, 3],
            padding: [0, 0],
            size: [2, 8],
            ..g
        };
        assert!(too_big.validate("test").is_err());
    }
}
