//! Layers, activations, losses and optimizers on ndarray; the only place GEMM is called.
