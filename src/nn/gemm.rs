//! Single-precision matrix products: the only place matrixmultiply is called.
//!
//! `C ← α·A·B + β·C` with arbitrary row and column strides, so a transposed operand is just a
//! transposed view (`w.t()`), never a copy.
//!
//! # Threads
//! matrixmultiply's `threading` feature splits products that are large enough (its heuristic:
//! `m·k + k·n ≥ 2¹⁵` for two threads) over a thread pool created on first use. The pool size
//! comes from the environment variable `MATMUL_NUM_THREADS`, read once; when unset it is the
//! number of physical cores (capped at 4). Small products run on the calling thread.

use ndarray::{ArrayView2, ArrayViewMut2};

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
    let [rsa, csa] = strides(a.strides());
    let [rsb, csb] = strides(b.strides());
    let [rsc, csc] = strides(c.strides());
    // SAFETY: the pointers and strides come from live ndarray views whose dimensions were checked
    // above to be [m, k], [k, n] and [m, n]; every index sgemm forms lies inside those views. `c`
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

    #[test]
    fn large_threaded_product_matches_naive() {
        let a = Array2::from_shape_fn((200, 300), |(i, j)| ((i * 7 + j * 3) % 11) as f32 - 5.0);
        let b = Array2::from_shape_fn((300, 150), |(i, j)| ((i * 5 + j) % 13) as f32 - 6.0);
        let mut c = Array2::zeros((200, 150));
        gemm(1.0, a.view(), b.view(), 0.0, c.view_mut());
        assert_eq!(c, naive(a.view(), b.view()));
    }
}
