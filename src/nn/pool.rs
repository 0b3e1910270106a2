//! Max pooling over non-overlapping windows (1-D or 2-D): the encoder's fixed downsampling.
//!
//! A `[C, H, W]` sample becomes `[C, ⌊H/ph⌋, ⌊W/pw⌋]` with
//! `y[c, oy, ox] = max_{i<ph, j<pw} x[c, oy·ph + i, ox·pw + j]`; trailing rows or columns that do
//! not fill a window are dropped (as PyTorch's `MaxPool2d(ceil_mode=False)`). The layer has no
//! parameters and no activation.
//!
//! # Backward
//! Each window's gradient goes to its maximum (the first one, on ties), found again from `x`
//! and `y`, so nothing but the layer's input and output is kept between the passes.

use ndarray::{ArrayView2, ArrayViewMut2};

use super::im2col::{row_of, with_row_mut};
use crate::error::{Error, Result};

/// Max pooling with window = stride.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MaxPool {
    channels: usize,
    size: [usize; 2],
    window: [usize; 2],
}

impl MaxPool {
    /// Pooling of `[channels, size]` samples over `window` (1-D: `size = [1, L]`,
    /// `window = [1, p]`).
    pub fn new(channels: usize, size: [usize; 2], window: [usize; 2]) -> Result<Self> {
        let ok = channels > 0
            && window.iter().all(|&w| w > 0)
            && size[0] >= window[0]
            && size[1] >= window[1];
        if !ok {
            return Err(Error::shape(
                "MaxPool::new",
                "channels ≥ 1 and windows ≥ 1 that fit the input",
                format!("{channels} channels of {size:?}, window {window:?}"),
            ));
        }
        Ok(MaxPool {
            channels,
            size,
            window,
        })
    }

    /// Channels `C`.
    pub fn channels(&self) -> usize {
        self.channels
    }

    /// Input size `[H, W]`.
    pub fn size(&self) -> [usize; 2] {
        self.size
    }

    /// Window (and stride) `[ph, pw]`.
    pub fn window(&self) -> [usize; 2] {
        self.window
    }

    /// Output size `[⌊H/ph⌋, ⌊W/pw⌋]`.
    pub fn out_size(&self) -> [usize; 2] {
        [self.size[0] / self.window[0], self.size[1] / self.window[1]]
    }

    /// Input width `C·H·W`.
    pub fn in_features(&self) -> usize {
        self.channels * self.size[0] * self.size[1]
    }

    /// Output width `C·Ho·Wo`.
    pub fn out_features(&self) -> usize {
        let [ho, wo] = self.out_size();
        self.channels * ho * wo
    }

    /// Calls `f(output index, input index of the window's maximum)` for every output of a
    /// sample `x`.
    fn for_each_max(&self, x: &[f32], mut f: impl FnMut(usize, usize)) {
        let [h, w] = self.size;
        let [ph, pw] = self.window;
        let [ho, wo] = self.out_size();
        for c in 0..self.channels {
            for oy in 0..ho {
                for ox in 0..wo {
                    let mut best = c * h * w + oy * ph * w + ox * pw;
                    for i in 0..ph {
                        let start = c * h * w + (oy * ph + i) * w + ox * pw;
                        for idx in start..start + pw {
                            // `>` keeps the first maximum; NaN never wins, as in the reference.
                            if x[idx] > x[best] {
                                best = idx;
                            }
                        }
                    }
                    f((c * ho + oy) * wo + ox, best);
                }
            }
        }
    }

    /// `y ← maxpool(x)`.
    ///
    /// # Shapes
    /// `x`: `[batch, C·H·W]`, `y`: `[batch, C·Ho·Wo]`.
    pub fn forward(&self, x: ArrayView2<'_, f32>, mut y: ArrayViewMut2<'_, f32>) {
        let mut tmp = Vec::new();
        for b in 0..x.nrows() {
            let xs = row_of(x, b, &mut tmp);
            with_row_mut(&mut y, b, |row| {
                self.for_each_max(xs, |o, i| row[o] = xs[i]);
            });
        }
    }

    /// `dx ← ∂L/∂x` from `dy`; the window maxima are found again in `x`.
    ///
    /// # Shapes
    /// `x`, `dx`: `[batch, C·H·W]`; `dy`: `[batch, C·Ho·Wo]`.
    pub fn backward(
        &self,
        x: ArrayView2<'_, f32>,
        dy: ArrayView2<'_, f32>,
        mut dx: ArrayViewMut2<'_, f32>,
    ) {
        let (mut tx, mut tdy) = (Vec::new(), Vec::new());
        for b in 0..x.nrows() {
            let xs = row_of(x, b, &mut tx);
            let g = row_of(dy, b, &mut tdy);
            with_row_mut(&mut dx, b, |row| {
                row.fill(0.0);
                self.for_each_max(xs, |o, i| row[i] += g[o]);
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nn::gradcheck::assert_gradient;
    use ndarray::{Array2, array};

    #[test]
    fn known_values_in_2d_and_1d() {
        let p = MaxPool::new(1, [3, 4], [2, 2]).unwrap();
        let x = array![[
            1.0f32, 5.0, 2.0, 0.0, -1.0, 3.0, 4.0, 9.0, 7.0, 7.0, 7.0, 7.0
        ]];
        let mut y = Array2::zeros((1, 2));
        p.forward(x.view(), y.view_mut());
        assert_eq!(y, array![[5.0f32, 9.0]]);
        let p = MaxPool::new(2, [1, 5], [1, 2]).unwrap();
        let x = array![[1.0f32, 2.0, 4.0, 3.0, 8.0, 0.0, -1.0, -3.0, -2.0, 6.0]];
        let mut y = Array2::zeros((1, 4));
        p.forward(x.view(), y.view_mut());
        assert_eq!(y, array![[2.0f32, 4.0, 0.0, -2.0]]);
    }

    /// L = Σ c ⊙ maxpool(x); inputs distinct so no window has a tie within ±h.
    #[test]
    fn gradients_match_finite_differences() {
        for (channels, size, window) in [(2, [5, 6], [2, 3]), (3, [1, 9], [1, 2])] {
            let p = MaxPool::new(channels, size, window).unwrap();
            let n = p.in_features();
            let x = Array2::from_shape_fn((2, n), |(i, j)| {
                // A permutation of distinct values spaced 0.1 apart.
                (((i * n + j) * 37) % (2 * n)) as f32 * 0.1
            });
            let c = Array2::from_shape_fn((2, p.out_features()), |(i, j)| {
                ((i * 5 + j) as f32 * 0.7).cos()
            });
            let loss = |x: &Array2<f32>| -> f64 {
                let mut y = Array2::zeros((2, p.out_features()));
                p.forward(x.view(), y.view_mut());
                y.iter().zip(&c).map(|(&a, &b)| a as f64 * b as f64).sum()
            };
            let mut dx = Array2::from_elem(x.raw_dim(), f32::NAN);
            p.backward(x.view(), c.view(), dx.view_mut());
            assert_gradient(&dx, &numeric_grad_small(&x, loss), &format!("{size:?}"));
        }
    }

    /// Central differences with a fixed step well below the 0.1 spacing of the test inputs (the
    /// shared helper scales its step with |x|, which would cross that spacing here).
    fn numeric_grad_small(
        x: &Array2<f32>,
        mut loss: impl FnMut(&Array2<f32>) -> f64,
    ) -> Array2<f32> {
        let mut g = Array2::zeros(x.raw_dim());
        let mut q = x.clone();
        for (idx, &v) in x.indexed_iter() {
            let h = 1e-2f32;
            q[idx] = v + h;
            let up = loss(&q);
            q[idx] = v - h;
            let down = loss(&q);
            q[idx] = v;
            g[idx] = ((up - down) / (2.0 * h as f64)) as f32;
        }
        g
    }

    #[test]
    fn rejects_a_window_larger_than_the_input() {
        assert!(MaxPool::new(1, [1, 3], [1, 4]).is_err());
        assert!(MaxPool::new(0, [2, 2], [1, 1]).is_err());
    }
}
