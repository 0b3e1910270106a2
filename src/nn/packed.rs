//! A dense layer for inference only, its weights packed once: `y = f(x·Wᵀ + b)` without
//! repacking `W` for every block of rows, and with bias and activation applied to each tile of
//! rows while it is in cache.
//!
//! matrixmultiply (the GEMM of training, [`super::gemm`]) copies both operands into its own
//! layout on every call: for inference in blocks of a few hundred rows, the weights are copied
//! again for every block. Here `W` (`[out, in]`) is rearranged once into panels of [`NR`] output
//! columns, `panel[p][kk][c] = W[p·NR + c, kk]` (zero past `out`), and the rows of `x` are read
//! where they are. Each tile of [`MR`] rows × [`NR`] columns is summed in registers over `kk` in
//! increasing order, one multiply and one add per term (Rust never fuses them), then stored.
//! After the [`MR`] rows of a tile have all their columns, the caller's pass runs on them while
//! they are in L1 (bias + activation, or the scoring error).
//!
//! The tile loop is plain Rust compiled for AVX-512, AVX2 and baseline x86_64 and picked at run
//! time ([`super::simd`]); the 6×16 accumulators fill 12 of the 16 AVX2 registers. Results equal
//! matrixmultiply's within rounding (it uses fused multiply-adds and blocks the sum), which the
//! tests check on every shape class.
//!
//! # Shapes
//! `x`: `[rows, in]`, each row contiguous (any row stride); `y`: `[rows, out]`, standard layout.

use ndarray::{Array1, ArrayView2, ArrayViewMut2, s};

use super::activation::Activation;
use super::dense::Dense;
use super::simd::multiversion;

/// Output columns per panel (two AVX2 vectors).
pub const NR: usize = 16;
/// Rows per tile.
pub const MR: usize = 6;

/// A [`Dense`] layer with its weights packed for inference.
#[derive(Debug, Clone, PartialEq)]
pub struct PackedDense {
    in_features: usize,
    out_features: usize,
    /// `out.div_ceil(NR)` panels of `[in, NR]`.
    panels: Vec<f32>,
    /// Subtracted from each input column as it is read (`[in]`); `None`: nothing.
    input_offset: Option<Vec<f32>>,
    bias: Array1<f32>,
    activation: Activation,
}

impl PackedDense {
    /// Packs `layer`'s weights.
    pub fn new(layer: &Dense) -> Self {
        Self::with_input_affine(layer, None, None)
    }

    /// The packed layer that computes on raw inputs `r` what `layer` computes on
    /// `(r − offset) / scale` (column by column): the weights divided by `scale` once,
    /// `W'[o, j] = W[o, j] / scale[j]`, and `offset` subtracted from each input as it is read,
    /// `Σⱼ (r[j] − offset[j])·W'[o, j]`. The subtraction is the one the separate pass would do,
    /// so no precision is lost to cancellation (folding the offset into the bias would round
    /// the products on `|r|` instead of `|r − offset|`). `None`: 0 offsets, unit scales.
    ///
    /// # Shapes
    /// `offset`, `scale`: `[in]`, every `scale[j] ≠ 0`.
    pub fn with_input_affine(layer: &Dense, offset: Option<&[f32]>, scale: Option<&[f32]>) -> Self {
        let w = layer.weight();
        let (out, k) = w.dim();
        let mut panels = vec![0.0f32; out.div_ceil(NR) * k * NR];
        for (o, row) in w.rows().into_iter().enumerate() {
            let base = (o / NR) * k * NR + o % NR;
            for (kk, &v) in row.iter().enumerate() {
                panels[base + kk * NR] = match scale {
                    Some(s) => v / s[kk],
                    None => v,
                };
            }
        }
        let input_offset = offset
            .filter(|o| o.iter().any(|&v| v != 0.0))
            .map(|o| o[..k].to_vec());
        PackedDense {
            in_features: k,
            out_features: out,
            panels,
            input_offset,
            bias: layer.bias().clone(),
            activation: layer.activation(),
        }
    }

    /// Input width.
    pub fn in_features(&self) -> usize {
        self.in_features
    }

    /// Output width.
    pub fn out_features(&self) -> usize {
        self.out_features
    }

    /// `b`, `[out]`.
    pub fn bias(&self) -> &[f32] {
        self.bias
            .as_slice()
            .expect("PackedDense keeps its bias contiguous")
    }

    /// The activation applied to the output.
    pub fn activation(&self) -> Activation {
        self.activation
    }

    /// `y ← f(x·Wᵀ + b)`.
    pub fn forward(&self, x: ArrayView2<'_, f32>, y: ArrayViewMut2<'_, f32>) {
        let act = self.activation;
        let b = self.bias.view();
        self.products(x, y, |_, tile| act.bias_forward(tile, b));
    }

    /// [`PackedDense::forward`], calling `inspect(tile)` on each tile of at most [`MR`] rows of
    /// the products `x·Wᵀ` before bias and activation are applied to it.
    pub fn forward_inspecting(
        &self,
        x: ArrayView2<'_, f32>,
        y: ArrayViewMut2<'_, f32>,
        mut inspect: impl FnMut(ArrayView2<'_, f32>),
    ) {
        let act = self.activation;
        let b = self.bias.view();
        self.products(x, y, |_, tile| {
            inspect(tile.view());
            act.bias_forward(tile, b);
        });
    }

    /// `y ← x·Wᵀ` (no bias, no activation), calling `on_tile(first_row, tile)` on each tile of
    /// at most [`MR`] finished rows of `y`, in order, right after they are computed.
    pub fn products(
        &self,
        x: ArrayView2<'_, f32>,
        mut y: ArrayViewMut2<'_, f32>,
        mut on_tile: impl FnMut(usize, ArrayViewMut2<'_, f32>),
    ) {
        let (m, k) = x.dim();
        let n = self.out_features;
        assert!(
            k == self.in_features && y.dim() == (m, n),
            "PackedDense: x {:?} and y {:?} for a {k}→{n} layer",
            x.dim(),
            y.dim()
        );
        let contiguous = x.ncols() <= 1 || x.strides()[1] == 1;
        let copy;
        let x = if contiguous {
            x
        } else {
            copy = x.as_standard_layout().into_owned();
            copy.view()
        };
        let mut tile = [[0.0f32; NR]; MR];
        let offset = self.input_offset.as_deref();
        for i0 in (0..m).step_by(MR) {
            let r = MR.min(m - i0);
            let rows: [&[f32]; MR] = std::array::from_fn(|t| {
                x.row(i0 + t.min(r - 1))
                    .to_slice()
                    .expect("rows are contiguous")
            });
            let mut out = y.slice_mut(s![i0..i0 + r, ..]);
            for (p, panel) in self.panels.chunks_exact(k * NR).enumerate() {
                match offset {
                    Some(o) => multiply_tile_offset(&rows[..r], o, k, panel, &mut tile),
                    None => multiply_tile(&rows[..r], k, panel, &mut tile),
                }
                let c0 = p * NR;
                let c1 = (c0 + NR).min(n);
                for (t, mut row) in out.rows_mut().into_iter().enumerate() {
                    let dst = row
                        .as_slice_mut()
                        .expect("y is in standard layout");
                    dst[c0..c1].copy_from_slice(&tile[t][..c1 - c0]);
                }
            }
            on_tile(i0, out);
        }
    }
}

multiversion! {
    /// `tile[t][c] ← Σ_kk rows[t][kk] · panel[kk·NR + c]` for the first `rows.len()` (≤ MR)
    /// rows, the sum in increasing `kk`.
    fn multiply_tile(rows: &[&[f32]], k: usize, panel: &[f32], tile: &mut [[f32; NR]; MR]) {
        match rows.len() {
            6 => tile_of::<6, false>(rows, &[], k, panel, tile),
            5 => tile_of::<5, false>(rows, &[], k, panel, tile),
            4 => tile_of::<4, false>(rows, &[], k, panel, tile),
            3 => tile_of::<3, false>(rows, &[], k, panel, tile),
            2 => tile_of::<2, false>(rows, &[], k, panel, tile),
            _ => tile_of::<1, false>(rows, &[], k, panel, tile),
        }
    }
}

multiversion! {
    /// [`multiply_tile`] of `rows[t][kk] − offset[kk]`.
    fn multiply_tile_offset(
        rows: &[&[f32]],
        offset: &[f32],
        k: usize,
        panel: &[f32],
        tile: &mut [[f32; NR]; MR],
    ) {
        match rows.len() {
            6 => tile_of::<6, true>(rows, offset, k, panel, tile),
            5 => tile_of::<5, true>(rows, offset, k, panel, tile),
            4 => tile_of::<4, true>(rows, offset, k, panel, tile),
            3 => tile_of::<3, true>(rows, offset, k, panel, tile),
            2 => tile_of::<2, true>(rows, offset, k, panel, tile),
            _ => tile_of::<1, true>(rows, offset, k, panel, tile),
        }
    }
}

/// [`multiply_tile`] for `R` rows: `R × NR` accumulators, one broadcast of `rows[t][kk]` (less
/// `offset[kk]` when `SUB`) and one panel row of `NR` weights per step.
#[inline(always)]
fn tile_of<const R: usize, const SUB: bool>(
    rows: &[&[f32]],
    offset: &[f32],
    k: usize,
    panel: &[f32],
    tile: &mut [[f32; NR]; MR],
) {
    let a: [&[f32]; R] = std::array::from_fn(|t| &rows[t][..k]);
    let offset = if SUB { &offset[..k] } else { offset };
    let panel = &panel[..k * NR];
    let mut acc = [[0.0f32; NR]; R];
    for (kk, w) in panel.chunks_exact(NR).enumerate() {
        let w: &[f32; NR] = w.try_into().expect("a panel row holds NR weights");
        for t in 0..R {
            let v = if SUB { a[t][kk] - offset[kk] } else { a[t][kk] };
            for c in 0..NR {
                acc[t][c] += v * w[c];
            }
        }
    }
    tile[..R].copy_from_slice(&acc);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nn::gemm;
    use ndarray::Array2;
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    /// Products of every shape class (rows: 1, < MR, = MR, > MR, many; outputs below, at and
    /// past a panel; inputs 1 to wide; rows read through a strided view) equal matrixmultiply's
    /// `x·Wᵀ` within rounding, for the vector and the baseline versions.
    #[test]
    fn products_equal_matrixmultiply_on_every_shape_class() {
        let mut rng = ChaCha8Rng::seed_from_u64(5);
        for &m in &[1usize, 4, 6, 7, 13, 257] {
            for &n in &[1usize, 4, 15, 16, 17, 33, 130] {
                for &k in &[1usize, 3, 32, 97, 784] {
                    let w = Array2::from_shape_fn((n, k), |_| rng.random_range(-1.0f32..1.0));
                    let wide = Array2::from_shape_fn((m, k + 3), |_| rng.random_range(-2.0f32..2.0));
                    // Rows with a stride of k + 3: a view like the decoder's of the encoder output.
                    let x = wide.slice(s![.., 1..k + 1]);
                    let layer = Dense::from_parts(w.clone(), Array1::zeros(n), Activation::Linear)
                        .unwrap();
                    let packed = PackedDense::new(&layer);
                    let mut want = Array2::zeros((m, n));
                    gemm(1.0, x, w.t(), 0.0, want.view_mut());
                    for portable in [false, true] {
                        let mut got = Array2::from_elem((m, n), f32::NAN);
                        let mut seen = Vec::new();
                        let mut run = || {
                            packed.products(x, got.view_mut(), |i0, t| seen.push((i0, t.nrows())))
                        };
                        if portable {
                            crate::nn::simd::portable(run);
                        } else {
                            run();
                        }
                        let bound = |i: usize, j: usize| {
                            1e-6 * x.row(i).iter().zip(w.row(j)).map(|(a, b)| (a * b).abs()).sum::<f32>()
                                + 1e-30
                        };
                        for ((i, j), &g) in got.indexed_iter() {
                            let d = (g - want[[i, j]]).abs();
                            assert!(d <= bound(i, j), "{m}×{k}·{k}×{n} at ({i}, {j}): {g} vs {}", want[[i, j]]);
                        }
                        let rows: usize = seen.iter().map(|s| s.1).sum();
                        assert_eq!(rows, m);
                        assert!(seen.iter().all(|&(i0, r)| i0 % MR == 0 && r <= MR));
                    }
                }
            }
        }
    }

    /// With bias and activation: the packed layer's forward equals the layer's.
    #[test]
    fn forward_equals_the_dense_layer() {
        let mut rng = ChaCha8Rng::seed_from_u64(6);
        for act in [Activation::Relu, Activation::Sigmoid, Activation::Tanh, Activation::Elu] {
            let layer = Dense::new(45, 19, act, &mut rng);
            let layer = Dense::from_parts(
                layer.weight().clone(),
                Array1::from_shape_fn(19, |_| rng.random_range(-0.5f32..0.5)),
                act,
            )
            .unwrap();
            let x = Array2::from_shape_fn((23, 45), |_| rng.random_range(-1.0f32..1.0));
            let mut want = Array2::zeros((23, 19));
            layer.forward(x.view(), want.view_mut());
            let mut got = Array2::zeros((23, 19));
            PackedDense::new(&layer).forward(x.view(), got.view_mut());
            for (g, w) in got.iter().zip(&want) {
                assert!((g - w).abs() <= 1e-5 * (1.0 + w.abs()), "{act:?}: {g} vs {w}");
            }
        }
    }
}
