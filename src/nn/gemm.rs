//! Single-precision matrix products: the only place matrixmultiply is called.
//!
//! `C ← α·A·B + β·C` with arbitrary row and column strides, so a transposed operand is just a
//! transposed view (`w.t()`), never a copy.
//!
//! matrixmultiply picks its AVX-512 / AVX2 / SSE kernel at run time (its default `avx512`
//! feature); its own `threading` feature is off: the split below keeps both cores busy instead.
//!
//! # Threads
//! A product of at least [`SPLIT_MIN_MULADDS`] multiply-adds is cut in two halves along the rows or
//! the columns of `C`, one per core ([`super::parallel::join`]); each half is one single-threaded
//! product. The cut duplicates the packing of one operand, so it goes across the dimension whose
//! other operand is the smaller one: rows of `C` (sharing `B`) when `n ≤ m`, else columns (sharing
//! `A`). Halves start at multiples of 16. The summed dimension `k` is never split, so results are
//! the same bits on one core or two. `MATMUL_NUM_THREADS=1` keeps every product on the calling
//! thread.
//!
//! Why not matrixmultiply's thread pool: it packs `B` on one thread and forks and joins once per
//! 256-deep block of `k`; one cut per product, handed to a helper thread that is already spinning,
//! costs one hand-over. Measured side by side in the README's benchmark section.

use ndarray::{ArrayView2, ArrayViewMut2, Axis};

use super::parallel;

/// Products of fewer multiply-adds than this (`m·k·n`) stay on one thread: below it the
/// hand-over to the second core costs more than it saves (about 50 µs of work on one core).
pub(crate) const SPLIT_MIN_MULADDS: usize = 1 << 22;

/// Halves start at a multiple of this (the AVX-512 kernel's 16×16 tile).
const TILE: usize = 16;

/// `C ← α·A·B + β·C`.
///
/// # Shapes
/// `a`: `[m, k]`, `b`: `[k, n]`, `c`: `[m, n]`, each with any strides. When `β = 0`, `C` is
/// not read, so it may hold anything (NaN included) on entry.
///
/// # Panics
/// When the shapes do not agree: that is a bug in the caller, never a property of user data.
pub fn gemm(
    alpha: f32,
    a: ArrayView2<'_, f32>,
    b: ArrayView2<'_, f32>,
    beta: f32,
    mut c: ArrayViewMut2<'_, f32>,
) {
    let (m, k) = a.dim();
    let (kb, n) = b.dim();
    if kb != k || c.dim() != (m, n) {
        shape_mismatch(a.dim(), b.dim(), c.dim());
    }
    if m == 0 || n == 0 {
        return;
    }
    if k == 0 {
        // An empty sum: C ← β·C (and exactly 0 when β = 0, whatever C held).
        if beta == 0.0 {
            c.fill(0.0);
        } else {
            c.mapv_inplace(|v| beta * v);
        }
        return;
    }
    if m * k * n >= SPLIT_MIN_MULADDS && parallel::two_threads() {
        if n <= m {
            let cut = split_point(m);
            let (a1, a2) = a.split_at(Axis(0), cut);
            let (c1, c2) = c.split_at(Axis(0), cut);
            parallel::join(
                || sgemm(alpha, a1, b, beta, c1),
                || sgemm(alpha, a2, b, beta, c2),
            );
        } else {
            let cut = split_point(n);
            let (b1, b2) = b.split_at(Axis(1), cut);
            let (c1, c2) = c.split_at(Axis(1), cut);
            parallel::join(
                || sgemm(alpha, a, b1, beta, c1),
                || sgemm(alpha, a, b2, beta, c2),
            );
        }
    } else {
        sgemm(alpha, a, b, beta, c);
    }
}

/// Where to cut `len` in two: the middle, rounded up to a whole tile (both halves non-empty for
/// `len ≥ 2`).
fn split_point(len: usize) -> usize {
    let half = len.div_ceil(2);
    let rounded = half.div_ceil(TILE) * TILE;
    if rounded < len { rounded } else { half }
}

/// One single-threaded sgemm call on checked, non-empty shapes (`m, n, k ≥ 1`).
fn sgemm(
    alpha: f32,
    a: ArrayView2<'_, f32>,
    b: ArrayView2<'_, f32>,
    beta: f32,
    mut c: ArrayViewMut2<'_, f32>,
) {
    let (m, k) = a.dim();
    let n = b.ncols();
    let [rsa, csa] = strides(a.strides());
    let [rsb, csb] = strides(b.strides());
    let [rsc, csc] = strides(c.strides());
    // SAFETY: the pointers and strides come from live ndarray views whose dimensions were checked
    // by `gemm` to be [m, k], [k, n] and [m, n]; every index sgemm forms lies inside those views. `c`
    // is a mutable view, so it does not alias `a` or `b`, and its elements do not alias each other.
    unsafe {
        matrixmultiply::sgemm(
            m,
            k,
            n,
            alpha,
            a.as_ptr(),
            rsa,
            csa,
            b.as_ptr(),
            rsb,
            csb,
            beta,
            c.as_mut_ptr(),
            rsc,
            csc,
        );
    }
}

fn strides(s: &[isize]) -> [isize; 2] {
    [s[0], s[1]]
}

#[cold]
#[inline(never)]
fn shape_mismatch(a: (usize, usize), b: (usize, usize), c: (usize, usize)) -> ! {
    panic!("gemm: shapes do not agree: A {a:?} · B {b:?} → C {c:?}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::{Array2, array};

    fn naive(a: ArrayView2<f32>, b: ArrayView2<f32>) -> Array2<f32> {
        let mut c = Array2::zeros((a.nrows(), b.ncols()));
        for i in 0..a.nrows() {
            for j in 0..b.ncols() {
                c[[i, j]] = (0..a.ncols()).map(|p| a[[i, p]] * b[[p, j]]).sum();
            }
        }
        c
    }

    #[test]
    fn matches_naive_product_with_transposed_views() {
        let a = array![[1.0f32, 2.0, 3.0], [4.0, 5.0, 6.0]];
        let b = array![[1.0f32, 0.5], [-1.0, 2.0], [0.0, 3.0]];
        let mut c = Array2::from_elem((2, 2), f32::NAN);
        gemm(1.0, a.view(), b.view(), 0.0, c.view_mut());
        assert_eq!(c, naive(a.view(), b.view()));

        // Aᵀ·A through strides.
        let mut ata = Array2::zeros((3, 3));
        gemm(1.0, a.t(), a.view(), 0.0, ata.view_mut());
        assert_eq!(ata, naive(a.t(), a.view()));

        // β = 1 accumulates, α scales.
        let mut acc = Array2::ones((2, 2));
        gemm(2.0, a.view(), b.view(), 1.0, acc.view_mut());
        assert_eq!(acc, naive(a.view(), b.view()) * 2.0 + 1.0);
    }

    #[test]
    fn empty_inner_dimension_scales_c() {
        let a = Array2::<f32>::zeros((2, 0));
        let b = Array2::<f32>::zeros((0, 3));
        let mut c = Array2::from_elem((2, 3), f32::NAN);
        gemm(1.0, a.view(), b.view(), 0.0, c.view_mut());
        assert!(c.iter().all(|&v| v == 0.0));
    }

    /// Products large enough to be cut in two (both directions, odd sizes, transposed views)
    /// equal the uncut product bit for bit.
    #[test]
    fn split_products_equal_one_sgemm() {
        for (m, k, n) in [(300, 200, 100), (100, 200, 300), (257, 129, 255)] {
            let a = Array2::from_shape_fn((m, k), |(i, j)| ((i * 7 + j * 3) as f32 * 0.013).sin());
            let b = Array2::from_shape_fn((n, k), |(i, j)| ((i * 5 + j) as f32 * 0.029).cos());
            assert!(m * n * k >= SPLIT_MIN_MULADDS);
            let mut split = Array2::from_elem((m, n), 1.0f32);
            gemm(0.5, a.view(), b.t(), 0.25, split.view_mut());
            let mut whole = Array2::from_elem((m, n), 1.0f32);
            sgemm(0.5, a.view(), b.t(), 0.25, whole.view_mut());
            assert!(
                split
                    .iter()
                    .zip(&whole)
                    .all(|(x, y)| x.to_bits() == y.to_bits())
            );
        }
        assert_eq!(split_point(256), 128);
        assert_eq!(split_point(784), 400);
        assert_eq!(split_point(20), 16);
        assert_eq!(split_point(3), 2);
    }

    #[test]
    fn large_threaded_product_matches_naive() {
        let a = Array2::from_shape_fn((200, 300), |(i, j)| ((i * 7 + j * 3) % 11) as f32 - 5.0);
        let b = Array2::from_shape_fn((300, 150), |(i, j)| ((i * 5 + j) % 13) as f32 - 6.0);
        let mut c = Array2::zeros((200, 150));
        gemm(1.0, a.view(), b.view(), 0.0, c.view_mut());
        assert_eq!(c, naive(a.view(), b.view()));
    }
}
