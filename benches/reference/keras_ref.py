"""Keras 3 on aeflow's reference data: 784-128-64-32-64-128-784, relu, sigmoid output, Adam, MSE,
batch 256, shuffled each epoch. Reads train.f32 / test.f32 (raw f32, 784 columns) written by
`cargo bench --bench reference` with AEFLOW_BENCH_DATA. Prints one JSON line: median seconds per
epoch (epoch 1 excluded: it compiles), test MSE after the last epoch, inference rows/s at batch
4096 (jit-compiled forward pass, median of 20)."""
import os, time, json, argparse
os.environ.setdefault("KERAS_BACKEND", "jax")
import numpy as np, keras

ap = argparse.ArgumentParser()
ap.add_argument("--data", required=True)
ap.add_argument("--epochs", type=int, default=5)
ap.add_argument("--dims", default="784,128,64,32,64,128,784")
ap.add_argument("--batch", type=int, default=256)
a = ap.parse_args()
dims = [int(v) for v in a.dims.split(",")]
x = np.fromfile(os.path.join(a.data, "train.f32"), dtype="<f4").reshape(-1, dims[0])
xt = np.fromfile(os.path.join(a.data, "test.f32"), dtype="<f4").reshape(-1, dims[0])
keras.utils.set_random_seed(0)
L = keras.layers
layers = [keras.Input((dims[0],))] + [L.Dense(w, activation="relu") for w in dims[1:-1]] + [L.Dense(dims[-1], activation="sigmoid")]
m = keras.Sequential(layers)
m.compile(optimizer="adam", loss="mse")


class T(keras.callbacks.Callback):
    def __init__(s):
        s.t = []

    def on_epoch_begin(s, e, logs=None):
        s.t0 = time.perf_counter()

    def on_epoch_end(s, e, logs=None):
        s.t.append(time.perf_counter() - s.t0)


cb = T()
m.fit(x, x, batch_size=a.batch, epochs=a.epochs, shuffle=True, verbose=0, callbacks=[cb])
test_mse = float(m.evaluate(xt, xt, batch_size=4096, verbose=0))
import jax
f = jax.jit(lambda tv, ntv, v: m.stateless_call(tv, ntv, v, training=False)[0])
tv = [v.value for v in m.trainable_variables]
ntv = [v.value for v in m.non_trainable_variables]
xj = jax.numpy.asarray(x[:4096])
for _ in range(3):
    f(tv, ntv, xj).block_until_ready()
ts = []
for _ in range(20):
    t = time.perf_counter()
    f(tv, ntv, xj).block_until_ready()
    ts.append(time.perf_counter() - t)
print(json.dumps({"framework": f"keras {keras.__version__} / {keras.backend.backend()} {jax.__version__}",
                  "epochs": a.epochs, "epoch_s": [round(t, 4) for t in cb.t],
                  "epoch_s_median": float(np.median(cb.t[1:] if len(cb.t) > 1 else cb.t)),
                  "test_mse": test_mse, "infer_rows_per_s_4096": round(4096 / float(np.median(ts)))}))
