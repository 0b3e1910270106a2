//! A stack of layers applied in order, with dropout between them during training.
//!
//! `y = fₗ(… f₂(f₁(x·W₁ᵀ + b₁)·W₂ᵀ + b₂) …)` for dense layers, mapping `[batch, in]` to
//! `[batch, out]`; any [`Layer`] (convolutions, pooling, upsampling) can stand in the stack. An
//! autoencoder is two of these (encoder, decoder); the model joins them at the latent layer, where
//! it can add its own terms (sparsity penalties, a variational sampling step).
//!
//! Dropout, when configured, follows every layer but the last (never on a latent or output
//! layer). Training keeps each layer's output in a [`Tape`] whose buffers are reused across
//! batches; inference uses [`Buffers`] the same way.

use ndarray::{Array2, ArrayView2, ArrayViewMut2, s};
use rand::Rng;

use super::activation::Activation;
use super::dense::{Dense, DenseGrad, GradAt};
use super::dropout::Dropout;
use super::layer::Layer;
use super::optim::Optimizer;
use crate::error::{Error, Result};

/// Layers applied in order.
#[derive(Debug, Clone, PartialEq)]
pub struct Sequential {
    layers: Vec<Layer>,
    dropout: Option<Dropout>,
}

/// Parameter gradients of a [`Sequential`], one entry per layer.
#[derive(Debug, Clone, PartialEq)]
pub struct Grads {
    /// Per layer, in order.
    pub layers: Vec<DenseGrad>,
}

/// Per-layer activations of a training forward pass, kept for the backward pass.
#[derive(Debug, Default)]
pub struct Tape {
    rows: usize,
    /// Output of each layer before dropout, `[rows, out_i]` (buffers may have more rows).
    outputs: Vec<Array2<f32>>,
    /// Output after dropout (layers followed by dropout only).
    dropped: Vec<Array2<f32>>,
    /// Dropout multipliers, `0` or `1/(1 − p)`.
    masks: Vec<Array2<f32>>,
    /// `∂L/∂output` of each layer.
    grads: Vec<Array2<f32>>,
}

/// Reusable inference buffers: one output per layer.
#[derive(Debug, Default, Clone)]
pub struct Buffers {
    outputs: Vec<Array2<f32>>,
}

/// `rows × cols` view of `buf`, reallocating when it is too small or of another width.
fn rows_of(buf: &mut Array2<f32>, rows: usize, cols: usize) -> ArrayViewMut2<'_, f32> {
    if buf.nrows() < rows || buf.ncols() != cols {
        *buf = Array2::zeros((rows, cols));
    }
    buf.slice_mut(s![..rows, ..])
}

fn ensure_len(v: &mut Vec<Array2<f32>>, n: usize) {
    if v.len() < n {
        v.resize_with(n, || Array2::zeros((0, 0)));
    }
}

impl Sequential {
    /// Layers of widths `dims[0] → dims[1] → … → dims[l]` with `activations[i]` after layer `i`,
    /// initialised from `rng`. `dropout` is the drop probability between layers (0 = none).
    pub fn new(
        dims: &[usize],
        activations: &[Activation],
        dropout: f32,
        rng: &mut impl Rng,
    ) -> Result<Self> {
        if dims.len() < 2 || activations.len() != dims.len() - 1 {
            return Err(Error::shape(
                "Sequential::new",
                format!(
                    "{} activations for {} layer widths",
                    dims.len().saturating_sub(1),
                    dims.len()
                ),
                format!("{} activations", activations.len()),
            ));
        }
        let layers = dims
            .windows(2)
            .zip(activations)
            .map(|(w, &a)| Dense::new(w[0], w[1], a, rng))
            .collect::<Vec<_>>();
        Self::from_layers(layers, dropout)
    }

    /// From existing layers (dense or any [`Layer`]); consecutive widths must agree.
    pub fn from_layers(layers: Vec<impl Into<Layer>>, dropout: f32) -> Result<Self> {
        let layers: Vec<Layer> = layers.into_iter().map(Into::into).collect();
        if layers.is_empty() {
            return Err(Error::shape(
                "Sequential::from_layers",
                "at least one layer",
                "none",
            ));
        }
        for (i, pair) in layers.windows(2).enumerate() {
            if pair[0].out_features() != pair[1].in_features() {
                return Err(Error::shape(
                    "Sequential::from_layers",
                    format!(
                        "layer {} with {} inputs (outputs of layer {i})",
                        i + 1,
                        pair[0].out_features()
                    ),
                    format!("{} inputs", pair[1].in_features()),
                ));
            }
        }
        let dropout = (dropout > 0.0).then(|| Dropout::new(dropout));
        Ok(Sequential { layers, dropout })
    }

    /// The layers, in order.
    pub fn layers(&self) -> &[Layer] {
        &self.layers
    }

    /// Input width.
    pub fn in_features(&self) -> usize {
        self.layers[0].in_features()
    }

    /// Output width.
    pub fn out_features(&self) -> usize {
        self.layers[self.layers.len() - 1].out_features()
    }

    /// Activation of the last layer.
    pub fn output_activation(&self) -> Activation {
        self.layers[self.layers.len() - 1].activation()
    }

    /// Number of parameter tensors (weight and bias per layer), i.e. optimizer slots used.
    pub fn n_slots(&self) -> usize {
        2 * self.layers.len()
    }

    /// Zeroed gradients.
    pub fn zero_grads(&self) -> Grads {
        Grads {
            layers: self.layers.iter().map(Layer::zero_grad).collect(),
        }
    }

    /// Inference: the output for `x` (`[batch, in]` → `[batch, out]`), computed in `buffers`.
    pub fn forward<'b>(
        &self,
        x: ArrayView2<'_, f32>,
        buffers: &'b mut Buffers,
    ) -> ArrayView2<'b, f32> {
        let rows = x.nrows();
        let n = self.layers.len();
        ensure_len(&mut buffers.outputs, n);
        for (i, layer) in self.layers.iter().enumerate() {
            let (before, after) = buffers.outputs.split_at_mut(i);
            let input = if i == 0 {
                x.view()
            } else {
                before[i - 1].slice(s![..rows, ..])
            };
            layer.forward(input, rows_of(&mut after[0], rows, layer.out_features()));
        }
        buffers.outputs[n - 1].slice(s![..rows, ..])
    }

    /// Training forward pass: keeps every layer's output in `tape` and applies dropout (drawn from
    /// `rng`) between layers.
    pub fn forward_train(&self, x: ArrayView2<'_, f32>, tape: &mut Tape, rng: &mut impl Rng) {
        let rows = x.nrows();
        let n = self.layers.len();
        tape.rows = rows;
        for v in [
            &mut tape.outputs,
            &mut tape.dropped,
            &mut tape.masks,
            &mut tape.grads,
        ] {
            ensure_len(v, n);
        }
        for (i, layer) in self.layers.iter().enumerate() {
            let out = layer.out_features();
            {
                let (before, after) = tape.outputs.split_at_mut(i);
                let input = if i == 0 {
                    x.view()
                } else if self.dropout.is_some() {
                    tape.dropped[i - 1].slice(s![..rows, ..])
                } else {
                    before[i - 1].slice(s![..rows, ..])
                };
                layer.forward(input, rows_of(&mut after[0], rows, out));
            }
            if let Some(d) = self.dropout.filter(|_| i + 1 < n) {
                let mask = rows_of(&mut tape.masks[i], rows, out);
                let dropped = rows_of(&mut tape.dropped[i], rows, out);
                d.forward(tape.outputs[i].slice(s![..rows, ..]), mask, dropped, rng);
            }
        }
    }

    /// Backward pass after [`Sequential::forward_train`] on the same `x`. The caller has written
    /// the gradient at the output into [`Tape::output_and_grad`] (`at` says where it sits).
    /// Writes parameter gradients to `grads` and, when `dx` is given, `∂L/∂x` to it.
    pub fn backward(
        &self,
        x: ArrayView2<'_, f32>,
        tape: &mut Tape,
        at: GradAt,
        grads: &mut Grads,
        mut dx: Option<ArrayViewMut2<'_, f32>>,
    ) {
        let rows = tape.rows;
        let n = self.layers.len();
        for i in (0..n).rev() {
            let layer = &self.layers[i];
            let out = layer.out_features();
            if let Some(d) = self.dropout.filter(|_| i + 1 < n) {
                d.backward(
                    tape.masks[i].slice(s![..rows, ..]),
                    tape.grads[i].slice_mut(s![..rows, ..]),
                );
            }
            let input = if i == 0 {
                x.view()
            } else if self.dropout.is_some() {
                tape.dropped[i - 1].slice(s![..rows, ..])
            } else {
                tape.outputs[i - 1].slice(s![..rows, ..])
            };
            let (lower, upper) = tape.grads.split_at_mut(i);
            let dy = upper[0].slice_mut(s![..rows, ..out]);
            let dx_i = if i == 0 {
                dx.as_mut().map(|d| d.view_mut())
            } else {
                Some(rows_of(&mut lower[i - 1], rows, layer.in_features()))
            };
            let at_i = if i + 1 == n { at } else { GradAt::Output };
            layer.backward(
                input,
                tape.outputs[i].slice(s![..rows, ..]),
                dy,
                at_i,
                &mut grads.layers[i],
                dx_i,
            );
        }
    }

    /// One optimizer step on every parameter, using slots `first_slot ..` (weights decay, biases
    /// do not). Returns the next free slot.
    pub fn step(
        &mut self,
        grads: &Grads,
        optimizer: &mut dyn Optimizer,
        first_slot: usize,
    ) -> usize {
        let mut slot = first_slot;
        for (layer, g) in self.layers.iter_mut().zip(&grads.layers) {
            let Some((w, b)) = layer.params_mut() else {
                slot += 2;
                continue;
            };
            optimizer.update(
                slot,
                w,
                g.weight.as_slice().expect("gradients are contiguous"),
                true,
            );
            optimizer.update(
                slot + 1,
                b,
                g.bias.as_slice().expect("gradients are contiguous"),
                false,
            );
            slot += 2;
        }
        slot
    }
}

impl Tape {
    /// An empty tape; buffers grow on first use and are then reused.
    pub fn new() -> Self {
        Tape::default()
    }

    /// The last layer's output of the current batch and its gradient buffer (to be filled by the
    /// loss). Valid after [`Sequential::forward_train`].
    pub fn output_and_grad(&mut self) -> (ArrayView2<'_, f32>, ArrayViewMut2<'_, f32>) {
        let rows = self.rows;
        let last = self.outputs.len() - 1;
        let cols = self.outputs[last].ncols();
        let y = self.outputs[last].slice(s![..rows, ..]);
        let g = rows_of(&mut self.grads[last], rows, cols);
        (y, g)
    }

    /// The last layer's output of the current batch.
    pub fn output(&self) -> ArrayView2<'_, f32> {
        self.outputs[self.outputs.len() - 1].slice(s![..self.rows, ..])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nn::gradcheck::{assert_gradient, numeric_grad};
    use crate::nn::loss::Loss;
    use ndarray::Axis;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    fn net(dropout: f32) -> Sequential {
        let mut rng = ChaCha8Rng::seed_from_u64(5);
        Sequential::new(
            &[4, 5, 3, 4],
            &[Activation::Tanh, Activation::Elu, Activation::Sigmoid],
            dropout,
            &mut rng,
        )
        .unwrap()
    }

    #[test]
    fn inference_and_training_forward_agree_without_dropout() {
        let s = net(0.0);
        let x = Array2::from_shape_fn((7, 4), |(i, j)| ((i + 2 * j) as f32 * 0.3).cos());
        let mut b = Buffers::default();
        let y = s.forward(x.view(), &mut b).to_owned();
        let mut tape = Tape::new();
        s.forward_train(x.view(), &mut tape, &mut ChaCha8Rng::seed_from_u64(0));
        assert_eq!(y, tape.output());
        // Buffers sized for 7 rows serve a smaller batch.
        let y3 = s.forward(x.slice(s![..3, ..]), &mut b).to_owned();
        assert_eq!(y3, y.slice(s![..3, ..]));
    }

    /// MSE through three layers, with and without dropout (a fixed mask: same seed each call),
    /// every gradient compared relative to its own size (see [`assert_gradient`]).
    #[test]
    fn gradients_match_finite_differences() {
        for dropout in [0.0, 0.3] {
            let s = net(dropout);
            let x = Array2::from_shape_fn((6, 4), |(i, j)| ((i * 4 + j) as f32 * 0.41).sin());
            let t = Array2::from_shape_fn((6, 4), |(i, j)| {
                0.5 + 0.4 * ((i * 4 + j) as f32 * 0.29).cos()
            });
            let eval = |s: &Sequential, x: &Array2<f32>| {
                let mut tape = Tape::new();
                s.forward_train(x.view(), &mut tape, &mut ChaCha8Rng::seed_from_u64(9));
                Loss::Mse.value(tape.output(), t.view())
            };
            let mut tape = Tape::new();
            s.forward_train(x.view(), &mut tape, &mut ChaCha8Rng::seed_from_u64(9));
            let (y, g) = tape.output_and_grad();
            let y = y.to_owned();
            let (_, at) = Loss::Mse.value_and_grad(y.view(), t.view(), Activation::Sigmoid, g);
            let mut grads = s.zero_grads();
            let mut dx = Array2::zeros((6, 4));
            s.backward(x.view(), &mut tape, at, &mut grads, Some(dx.view_mut()));

            assert_gradient(
                &dx,
                &numeric_grad(&x, |x| eval(&s, x)),
                &format!("dx, dropout {dropout}"),
            );
            for li in 0..3 {
                let w = s.layers()[li].as_dense().unwrap().weight().clone();
                let num = numeric_grad(&w, |w| {
                    let mut layers = s.layers().to_vec();
                    let b = layers[li].as_dense().unwrap().bias().clone();
                    layers[li] = Dense::from_parts(w.clone(), b, layers[li].activation())
                        .unwrap()
                        .into();
                    eval(&Sequential::from_layers(layers, dropout).unwrap(), &x)
                });
                assert_gradient(
                    &grads.layers[li].weight,
                    &num,
                    &format!("dW{li}, dropout {dropout}"),
                );
                let b = s.layers()[li]
                    .as_dense()
                    .unwrap()
                    .bias()
                    .clone()
                    .insert_axis(Axis(0));
                let num = numeric_grad(&b, |b| {
                    let mut layers = s.layers().to_vec();
                    let w = layers[li].as_dense().unwrap().weight().clone();
                    layers[li] = Dense::from_parts(w, b.row(0).to_owned(), layers[li].activation())
                        .unwrap()
                        .into();
                    eval(&Sequential::from_layers(layers, dropout).unwrap(), &x)
                });
                assert_gradient(
                    &grads.layers[li].bias.clone().insert_axis(Axis(0)),
                    &num,
                    &format!("db{li}, dropout {dropout}"),
                );
            }
        }
    }

    #[test]
    fn rejects_mismatched_widths() {
        let mut rng = ChaCha8Rng::seed_from_u64(0);
        let a = Dense::new(3, 4, Activation::Relu, &mut rng);
        let b = Dense::new(5, 2, Activation::Relu, &mut rng);
        let err = Sequential::from_layers(vec![a, b], 0.0).unwrap_err();
        assert!(err.to_string().contains("layer 1 with 4 inputs"), "{err}");
    }
}
