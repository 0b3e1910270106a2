"""Reproduce aeflow's `encode` and `score` from a model file with numpy + safetensors only.

Usage: reproduce.py MODEL INPUT.f32 ROWS OUT_PREFIX
INPUT.f32 holds ROWS rows of little-endian float32 features (NaN = missing), row-major.
Writes OUT_PREFIX.latent.f32 (float32 [ROWS, k]), OUT_PREFIX.error.f64 (float64 [ROWS]) and
OUT_PREFIX.anomaly.u8 (uint8 [ROWS], 1 = anomaly; all 2 when the model has no threshold).
This is the recipe of docs/model-format.md, sections "Reproducing encode and score" and "Checksums".
"""
import hashlib, json, sys
import numpy as np
np.seterr(over="ignore")  # exp overflow in sigmoid saturates to 0, as it should
from safetensors import safe_open

ACT = {
    "relu": lambda x: np.maximum(x, 0), "linear": lambda x: x,
    "leaky_relu": lambda x: np.where(x > 0, x, np.float32(0.01) * x),
    "elu": lambda x: np.where(x > 0, x, np.expm1(np.minimum(x, 0))),
    "selu": lambda x: np.float32(1.0507009873554805) * np.where(x > 0, x, np.float32(1.6732632423543772) * np.expm1(np.minimum(x, 0))),
    "tanh": np.tanh, "sigmoid": lambda x: 1 / (1 + np.exp(-x)),
}

def load(path):
    with safe_open(path, framework="np") as f:
        meta = f.metadata()
        assert meta["format"] == "aeflow.autoencoder" and meta["format_version"] == "1"
        model = json.loads(meta["model"])
        tensors = {name: f.get_tensor(name) for name in f.keys()}
    check_sums(meta, tensors)
    return model, tensors

def run(layers, prefix, tensors, h):
    for i, layer in enumerate(layers):
        h = ACT[layer["activation"]](h @ tensors[f"{prefix}.{i}.weight"].T + tensors[f"{prefix}.{i}.bias"])
    return h.astype(np.float32)

def encode_and_score(model, tensors, x):
    p = model["preprocessing"]
    fill, offset, scale = (np.array(p[k], dtype=np.float32) for k in ("fill", "offset", "scale"))
    missing = ~np.isfinite(x)
    if missing.any() and p["missing"] == "reject":
        raise ValueError("missing values and the model's policy is reject")
    xs = (np.where(missing, fill, x) - offset) / scale
    z = run(model["encoder"], "encoder", tensors, xs)
    xs_hat = run(model["decoder"], "decoder", tensors, z)
    error = ((xs - xs_hat) ** 2).astype(np.float64).mean(axis=1)
    t = model["threshold"]
    return z, error, (error > t if t is not None else None)

def check_sums(meta, tensors):
    """The two checksums of the section "Checksums"."""
    assert hashlib.sha256(meta["model"].encode()).hexdigest() == meta["model_sha256"]
    h = hashlib.sha256()
    for name in sorted(tensors, key=lambda n: n.encode()):
        t = tensors[name]
        h.update(name.encode() + b"\0F32\0" + ",".join(map(str, t.shape)).encode() + b"\0" + t.astype("<f4").tobytes())
    assert h.hexdigest() == meta["tensors_sha256"]

if __name__ == "__main__":
    path, inp, rows, out = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
    model, tensors = load(path)
    x = np.fromfile(inp, dtype="<f4").reshape(rows, len(model["features"]))
    z, error, anomaly = encode_and_score(model, tensors, x)
    z.astype("<f4").tofile(out + ".latent.f32")
    error.astype("<f8").tofile(out + ".error.f64")
    (anomaly.astype(np.uint8) if anomaly is not None else np.full(rows, 2, np.uint8)).tofile(out + ".anomaly.u8")
