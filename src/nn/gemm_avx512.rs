//! An AVX-512 sgemm for the network's products, used instead of matrixmultiply's when the CPU has
//! AVX-512 and `C` has contiguous rows.
//!
//! `C ← α·A·B + β·C`, `A`: `[m, k]`, `B`: `[k, n]`, `C`: `[m, n]` with unit column stride.
//!
//! # Why
//! The network's products are thin (`k` or `n` of 4–784, `m` a batch of 256–4096). matrixmultiply
//! packs both operands before every product into a buffer it allocates per call; its tile is
//! 16 × 16 (16 accumulators, 17 loads per 16 multiply-adds). This kernel reads `A` where it lies
//! (any strides: one broadcast per element), packs only `B` (the weight, or `x` for a weight
//! gradient) into a buffer kept per thread, and holds a 12 × 32 tile of `C` in 24 registers (14
//! loads per 24 multiply-adds). Side by side on one core of the development machine (noisy:
//! medians of 3 interleaved runs, `cargo bench --bench breakdown`), a training step of the
//! reference model at batch 256 went from 4.4 ms to 3.2 ms, and the small 32-16-4-16-32 model at
//! batch 4096 from 1.6 ms to 1.0 ms; the weight gradient at batch 4096 (`k` = 4096) is the one
//! product where matrixmultiply stays ahead.
//!
//! # The kernel
//! Loops, outer to inner: blocks of [`KC`] along `k` (`B`'s block packed into panels of 32
//! columns), blocks of [`MC`] rows of `A` (kept in L2), panels, tiles of 12 rows. Per step of `k`,
//! two 16-lane loads of `B` and twelve broadcasts of `A` feed 24 fused multiply-adds. Edges use
//! masked loads and stores and narrower tiles.
//!
//! # Same bits as matrixmultiply
//! Each element is accumulated exactly as matrixmultiply's AVX-512 kernel does it: from zero, one
//! FMA per `p` in increasing order within each block of 256 along `k`, then
//! `C ← fma(α, acc, β·C)` (`C ← α·acc` when β = 0, and β = 1 after the first block). So the
//! results do not depend on which of the two runs (a test compares them bit for bit).

use std::arch::x86_64::*;
use std::cell::RefCell;

/// Depth of a block along `k` (matrixmultiply's `KC`, so the sums are grouped the same way).
pub(crate) const KC: usize = 256;
/// Rows of `A` per block: `MC × KC` floats (256 KiB) stay in L2 while the panels sweep them.
const MC: usize = 256;
/// Rows of a tile.
const MR: usize = 12;
/// `B` is packed even when its rows are contiguous once `A` has more rows than this.
const PACK_B_ABOVE_ROWS: usize = 4 * MR;
/// Columns of a tile (two ZMM registers).
const NR: usize = 32;

thread_local! {
    /// `B` packed when its rows are not contiguous: one `KC × n` block, panels of [`NR`] columns.
    static PACKED_B: RefCell<Vec<f32>> = const { RefCell::new(Vec::new()) };
}

/// Whether [`sgemm`] may run: the CPU has AVX-512F (checked once by std).
#[inline]
pub(crate) fn available() -> bool {
    std::is_x86_feature_detected!("avx512f")
}

/// `C ← α·A·B + β·C` (see the module docs).
///
/// # Safety
/// The CPU supports AVX-512F ([`available`]); `m, k, n ≥ 1`; `a`, `b`, `c` with their strides
/// address `[m, k]`, `[k, n]` and `[m, n]` elements inside live allocations; `C` has column stride 1
/// and does not overlap `A` or `B`, and no two of its elements alias.
#[allow(clippy::too_many_arguments)]
pub(crate) unsafe fn sgemm(
    m: usize,
    k: usize,
    n: usize,
    alpha: f32,
    a: *const f32,
    rsa: isize,
    csa: isize,
    b: *const f32,
    rsb: isize,
    csb: isize,
    beta: f32,
    c: *mut f32,
    rsc: isize,
) {
    PACKED_B.with(|buf| {
        let mut buf = buf.borrow_mut();
        // SAFETY: the caller's contract, passed on.
        unsafe {
            sgemm_with(
                &mut buf, m, k, n, alpha, a, rsa, csa, b, rsb, csb, beta, c, rsc,
            )
        }
    });
}

/// [`sgemm`] with the packing buffer.
///
/// # Safety
/// As [`sgemm`].
#[target_feature(enable = "avx512f")]
#[allow(clippy::too_many_arguments)]
unsafe fn sgemm_with(
    buf: &mut Vec<f32>,
    m: usize,
    k: usize,
    n: usize,
    alpha: f32,
    a: *const f32,
    rsa: isize,
    csa: isize,
    b: *const f32,
    rsb: isize,
    csb: isize,
    beta: f32,
    c: *mut f32,
    rsc: isize,
) {
    {
        let panels = n.div_ceil(NR);
        // Rows of B read in place share L1 sets when their stride is a multiple of 4 KiB (and
        // nearly so for other long strides): pack unless the panel serves only a few tiles.
        let pack = csb != 1 || m > PACK_B_ABOVE_ROWS;
        if pack && buf.len() < panels * NR * KC.min(k) {
            buf.resize(panels * NR * KC.min(k), 0.0);
        }
        let mut p0 = 0;
        while p0 < k {
            let kc = KC.min(k - p0);
            let beta_block = if p0 == 0 { beta } else { 1.0 };
            // SAFETY (all pointer arithmetic below): offsets stay within the [m, k], [k, n],
            // [m, n] extents the caller guarantees, or within `buf` (panels · NR · kc floats).
            let a_block = unsafe { a.offset(p0 as isize * csa) };
            let b_block = unsafe { b.offset(p0 as isize * rsb) };
            if pack {
                // Panel j holds B[p0 + p, 32j .. 32j + 32] at buf[(j·kc + p)·32 ..], zero-padded.
                for j in 0..panels {
                    let cols = NR.min(n - j * NR);
                    for p in 0..kc {
                        let dst = &mut buf[(j * kc + p) * NR..(j * kc + p + 1) * NR];
                        let src =
                            unsafe { b_block.offset(p as isize * rsb + (j * NR) as isize * csb) };
                        if csb == 1 {
                            // SAFETY: `cols` contiguous elements of row p of B.
                            let row = unsafe { std::slice::from_raw_parts(src, cols) };
                            dst[..cols].copy_from_slice(row);
                            dst[cols..].fill(0.0);
                        } else {
                            for (q, d) in dst.iter_mut().enumerate() {
                                *d = if q < cols {
                                    unsafe { *src.offset(q as isize * csb) }
                                } else {
                                    0.0
                                };
                            }
                        }
                    }
                }
            }
            let mut i0 = 0;
            while i0 < m {
                let mc = MC.min(m - i0);
                for j in 0..panels {
                    let cols = NR.min(n - j * NR);
                    let (b_panel, ldb) = if pack {
                        (buf[j * kc * NR..].as_ptr(), NR as isize)
                    } else {
                        (unsafe { b_block.add(j * NR) }, rsb)
                    };
                    let masks = column_masks(cols);
                    let mut i = i0;
                    while i < i0 + mc {
                        let rows = MR.min(i0 + mc - i);
                        let a_tile = unsafe { a_block.offset(i as isize * rsa) };
                        let c_tile = unsafe { c.offset(i as isize * rsc + (j * NR) as isize) };
                        unsafe {
                            match rows {
                                12 => tile::<12>(
                                    kc, alpha, a_tile, rsa, csa, b_panel, ldb, beta_block, c_tile,
                                    rsc, masks,
                                ),
                                11 => tile::<11>(
                                    kc, alpha, a_tile, rsa, csa, b_panel, ldb, beta_block, c_tile,
                                    rsc, masks,
                                ),
                                10 => tile::<10>(
                                    kc, alpha, a_tile, rsa, csa, b_panel, ldb, beta_block, c_tile,
                                    rsc, masks,
                                ),
                                9 => tile::<9>(
                                    kc, alpha, a_tile, rsa, csa, b_panel, ldb, beta_block, c_tile,
                                    rsc, masks,
                                ),
                                8 => tile::<8>(
                                    kc, alpha, a_tile, rsa, csa, b_panel, ldb, beta_block, c_tile,
                                    rsc, masks,
                                ),
                                7 => tile::<7>(
                                    kc, alpha, a_tile, rsa, csa, b_panel, ldb, beta_block, c_tile,
                                    rsc, masks,
                                ),
                                6 => tile::<6>(
                                    kc, alpha, a_tile, rsa, csa, b_panel, ldb, beta_block, c_tile,
                                    rsc, masks,
                                ),
                                5 => tile::<5>(
                                    kc, alpha, a_tile, rsa, csa, b_panel, ldb, beta_block, c_tile,
                                    rsc, masks,
                                ),
                                4 => tile::<4>(
                                    kc, alpha, a_tile, rsa, csa, b_panel, ldb, beta_block, c_tile,
                                    rsc, masks,
                                ),
                                3 => tile::<3>(
                                    kc, alpha, a_tile, rsa, csa, b_panel, ldb, beta_block, c_tile,
                                    rsc, masks,
                                ),
                                2 => tile::<2>(
                                    kc, alpha, a_tile, rsa, csa, b_panel, ldb, beta_block, c_tile,
                                    rsc, masks,
                                ),
                                _ => tile::<1>(
                                    kc, alpha, a_tile, rsa, csa, b_panel, ldb, beta_block, c_tile,
                                    rsc, masks,
                                ),
                            }
                        }
                        i += rows;
                    }
                }
                i0 += mc;
            }
            p0 += kc;
        }
    }
}

/// Lane masks of the two 16-lane halves of a panel with `cols` (1..=32) columns.
#[inline(always)]
fn column_masks(cols: usize) -> [u16; 2] {
    let lo = if cols >= 16 {
        0xFFFF
    } else {
        (1u32 << cols) as u16 - 1
    };
    let hi = if cols >= 32 {
        0xFFFF
    } else if cols > 16 {
        (1u32 << (cols - 16)) as u16 - 1
    } else {
        0
    };
    [lo, hi]
}

/// One `R × 32` tile: `C ← fma(α, Σₚ A[r, p]·B[p, ·], β·C)` over `kc` steps.
///
/// # Safety
/// As [`sgemm`], for the tile: `R` rows of `A` from `a` (strides `rsa`, `csa`) over `kc` columns;
/// `kc` rows of `B` from `b` with row stride `ldb`, of which the lanes set in `masks` are readable;
/// `R` rows of `C` from `c` (row stride `rsc`), lanes in `masks` writable.
#[target_feature(enable = "avx512f")]
#[inline]
#[allow(clippy::too_many_arguments)]
unsafe fn tile<const R: usize>(
    kc: usize,
    alpha: f32,
    a: *const f32,
    rsa: isize,
    csa: isize,
    b: *const f32,
    ldb: isize,
    beta: f32,
    c: *mut f32,
    rsc: isize,
    masks: [u16; 2],
) {
    let [m0, m1] = masks;
    let mut acc = [[_mm512_setzero_ps(); 2]; R];
    let mut a_col = a;
    let mut b_row = b;
    for _ in 0..kc {
        // SAFETY: see the function's contract; masked-off lanes are not read.
        let (b0, b1) = unsafe {
            (
                _mm512_maskz_loadu_ps(m0, b_row),
                _mm512_maskz_loadu_ps(m1, b_row.add(16)),
            )
        };
        for (r, acc_r) in acc.iter_mut().enumerate() {
            let av = _mm512_set1_ps(unsafe { *a_col.offset(r as isize * rsa) });
            acc_r[0] = _mm512_fmadd_ps(av, b0, acc_r[0]);
            acc_r[1] = _mm512_fmadd_ps(av, b1, acc_r[1]);
        }
        a_col = unsafe { a_col.offset(csa) };
        b_row = unsafe { b_row.offset(ldb) };
    }
    let alphav = _mm512_set1_ps(alpha);
    for (r, acc_r) in acc.iter().enumerate() {
        let row = unsafe { c.offset(r as isize * rsc) };
        for (h, (&v, mask)) in acc_r.iter().zip([m0, m1]).enumerate() {
            if mask == 0 {
                continue;
            }
            let dst = unsafe { row.add(16 * h) };
            let out = if beta == 0.0 {
                _mm512_mul_ps(alphav, v)
            } else {
                let cv = unsafe { _mm512_maskz_loadu_ps(mask, dst) };
                _mm512_fmadd_ps(alphav, v, _mm512_mul_ps(cv, _mm512_set1_ps(beta)))
            };
            unsafe { _mm512_mask_storeu_ps(dst, mask, out) };
        }
    }
}
