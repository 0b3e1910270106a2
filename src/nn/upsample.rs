//! Nearest-neighbour resizing (1-D or 2-D): the decoder's fixed upsampling.
//!
//! A `[C, H, W]` sample becomes `[C, H', W']` with
//! `y[c, oy, ox] = x[c, ⌊oy·H/H'⌋, ⌊ox·W/W'⌋]`. For `H' = 2H` this is the usual ×2 upsampling
//! (each input repeated twice); any target size is allowed, so a decoder can land exactly on an
//! odd encoder size (7 → 14 → 28, or 12 → 25). No parameters, no activation.
//!
//! # Backward
//! `dx[c, iy, ix] = Σ dy[c, oy, ox]` over the outputs that copied `(iy, ix)`.

use ndarray::{ArrayView2, ArrayViewMut2};

use super::im2col::{row_of, with_row_mut};
use crate::error::{Error, Result};

/// Nearest-neighbour resize of `[C, H, W]` samples to `[C, H', W']`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Upsample {
    channels: usize,
    from: [usize; 2],
    to: [usize; 2],
    /// Source index, within a channel, of each output position (`H'·W'` of them).
    source: Vec<usize>,
}

impl Upsample {
    /// Resize `channels` planes of size `from` to size `to` (1-D: `[1, L]` to `[1, L']`).
    pub fn new(channels: usize, from: [usize; 2], to: [usize; 2]) -> Result<Self> {
        if channels == 0 || from.contains(&0) || to.contains(&0) {
            return Err(Error::shape(
                "Upsample::new",
                "channels and sizes ≥ 1",
                format!("{channels} channels, {from:?} → {to:?}"),
            ));
        }
        let source = (0..to[0])
            .flat_map(|oy| (0..to[1]).map(move |ox| (oy * from[0] / to[0], ox * from[1] / to[1])))
            .map(|(iy, ix)| iy * from[1] + ix)
            .collect();
        Ok(Upsample {
            channels,
            from,
            to,
            source,
        })
    }

    /// Channels `C`.
    pub fn channels(&self) -> usize {
        self.channels
    }

    /// Input size `[H, W]`.
    pub fn from_size(&self) -> [usize; 2] {
        self.from
    }

    /// Output size `[H', W']`.
    pub fn to_size(&self) -> [usize; 2] {
        self.to
    }

    /// Input width `C·H·W`.
    pub fn in_features(&self) -> usize {
        self.channels * self.from[0] * self.from[1]
    }

    /// Output width `C·H'·W'`.
    pub fn out_features(&self) -> usize {
        self.channels * self.to[0] * self.to[1]
    }

    /// `y ← resize(x)`.
    ///
    /// # Shapes
    /// `x`: `[batch, C·H·W]`, `y`: `[batch, C·H'·W']`.
    pub fn forward(&self, x: ArrayView2<'_, f32>, mut y: ArrayViewMut2<'_, f32>) {
        let (pin, pout) = (self.from[0] * self.from[1], self.source.len());
        let mut tmp = Vec::new();
        for b in 0..x.nrows() {
            let xs = row_of(x, b, &mut tmp);
            with_row_mut(&mut y, b, |row| {
                for (src, dst) in xs.chunks_exact(pin).zip(row.chunks_exact_mut(pout)) {
                    for (d, &s) in dst.iter_mut().zip(&self.source) {
                        *d = src[s];
                    }
                }
            });
        }
    }

    /// `dx ← ∂L/∂x` from `dy`.
    ///
    /// # Shapes
    /// `dy`: `[batch, C·H'·W']`, `dx`: `[batch, C·H·W]`.
    pub fn backward(&self, dy: ArrayView2<'_, f32>, mut dx: ArrayViewMut2<'_, f32>) {
        let (pin, pout) = (self.from[0] * self.from[1], self.source.len());
        let mut tmp = Vec::new();
        for b in 0..dy.nrows() {
            let g = row_of(dy, b, &mut tmp);
            with_row_mut(&mut dx, b, |row| {
                row.fill(0.0);
                for (dst, src) in row.chunks_exact_mut(pin).zip(g.chunks_exact(pout)) {
                    for (&s, &v) in self.source.iter().zip(src) {
                        dst[s] += v;
                    }
                }
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nn::gradcheck::{assert_gradient, numeric_grad};
    use ndarray::{Array2, array};

    #[test]
    fn doubles_and_resizes_to_odd_sizes() {
        let u = Upsample::new(1, [2, 2], [4, 4]).unwrap();
        let x = array![[1.0f32, 2.0, 3.0, 4.0]];
        let mut y = Array2::zeros((1, 16));
        u.forward(x.view(), y.view_mut());
        assert_eq!(
            y.row(0).to_vec(),
            vec![
                1., 1., 2., 2., 1., 1., 2., 2., 3., 3., 4., 4., 3., 3., 4., 4.
            ]
        );
        let u = Upsample::new(2, [1, 3], [1, 7]).unwrap();
        let x = array![[1.0f32, 2.0, 3.0, 4.0, 5.0, 6.0]];
        let mut y = Array2::zeros((1, 14));
        u.forward(x.view(), y.view_mut());
        assert_eq!(
            y.row(0).to_vec(),
            vec![1., 1., 1., 2., 2., 3., 3., 4., 4., 4., 5., 5., 6., 6.]
        );
    }

    #[test]
    fn gradients_match_finite_differences() {
        for (channels, from, to) in [(2, [3, 2], [7, 4]), (1, [1, 5], [1, 10])] {
            let u = Upsample::new(channels, from, to).unwrap();
            let x =
                Array2::from_shape_fn((2, u.in_features()), |(i, j)| ((i * 9 + j) as f32).sin());
            let c = Array2::from_shape_fn((2, u.out_features()), |(i, j)| {
                ((i * 5 + j) as f32 * 0.3).cos()
            });
            let loss = |x: &Array2<f32>| -> f64 {
                let mut y = Array2::zeros((2, u.out_features()));
                u.forward(x.view(), y.view_mut());
                y.iter().zip(&c).map(|(&a, &b)| a as f64 * b as f64).sum()
            };
            let mut dx = Array2::from_elem(x.raw_dim(), f32::NAN);
            u.backward(c.view(), dx.view_mut());
            assert_gradient(&dx, &numeric_grad(&x, loss), &format!("{from:?} → {to:?}"));
        }
    }
}
