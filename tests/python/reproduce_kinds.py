"""Reproduce aeflow's `encode` and `score` for format version 2 models (variational and
convolutional kinds) with numpy + safetensors only, following docs/model-format.md, section
"Version 2", on top of the version 1 recipe.

Usage: reproduce_kinds.py MODEL INPUT.f32 ROWS OUT_PREFIX
Writes OUT_PREFIX.latent.f32 (float32 [ROWS, k]), OUT_PREFIX.error.f64 (float64 [ROWS]) and
OUT_PREFIX.anomaly.u8 (uint8 [ROWS], 1 = anomaly; all 2 when the model has no threshold).
"""
import json, os, sys
import numpy as np
np.seterr(over="ignore")
from safetensors import safe_open

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from reproduce import check_sums  # the checksums of section "Checksums", the same for 4-D tensors

ACT = {
    "relu": lambda x: np.maximum(x, 0), "linear": lambda x: x,
    "leaky_relu": lambda x: np.where(x > 0, x, np.float32(0.01) * x),
    "elu": lambda x: np.where(x > 0, x, np.expm1(np.minimum(x, 0))),
    "selu": lambda x: np.float32(1.0507009873554805) * np.where(x > 0, x, np.float32(1.6732632423543772) * np.expm1(np.minimum(x, 0))),
    "tanh": np.tanh, "sigmoid": lambda x: 1 / (1 + np.exp(-x)),
}

def conv(x, s, W, b, act):
    C, H, Wd = s["in_shape"]; (kh, kw), (sh, sw), (ph, pw) = s["kernel"], s["stride"], s["padding"]
    xp = np.pad(x.reshape(-1, C, H, Wd), ((0, 0), (0, 0), (ph, ph), (pw, pw)))
    Ho, Wo = (H + 2 * ph - kh) // sh + 1, (Wd + 2 * pw - kw) // sw + 1
    y = np.zeros((x.shape[0], W.shape[0], Ho, Wo), np.float32)
    for i in range(kh):
        for j in range(kw):
            patch = xp[:, :, i:i + sh * Ho:sh, j:j + sw * Wo:sw]
            y += np.einsum("rchw,fc->rfhw", patch, W[:, :, i, j])
    return act(y + b[None, :, None, None]).reshape(x.shape[0], -1)

def conv_transpose(x, s, W, b, act):
    F, H, Wd = s["out_shape"]; C = s["in_channels"]
    (kh, kw), (sh, sw), (ph, pw) = s["kernel"], s["stride"], s["padding"]
    Ho, Wo = (H + 2 * ph - kh) // sh + 1, (Wd + 2 * pw - kw) // sw + 1
    xs = x.reshape(-1, C, Ho, Wo)
    full = np.zeros((x.shape[0], F, H + 2 * ph, Wd + 2 * pw), np.float32)
    for i in range(kh):
        for j in range(kw):
            full[:, :, i:i + sh * Ho:sh, j:j + sw * Wo:sw] += np.einsum("rchw,cf->rfhw", xs, W[:, :, i, j])
    y = full[:, :, ph:ph + H, pw:pw + Wd]
    return act(y + b[None, :, None, None]).reshape(x.shape[0], -1)

def max_pool(x, s):
    C, H, Wd = s["in_shape"]; wh, ww = s["window"]
    Ho, Wo = H // wh, Wd // ww
    xs = x.reshape(-1, C, H, Wd)[:, :, :Ho * wh, :Wo * ww].reshape(-1, C, Ho, wh, Wo, ww)
    return xs.max(axis=(3, 5)).reshape(x.shape[0], -1)

def upsample(x, s):
    C, H, Wd = s["in_shape"]; H2, W2 = s["out_size"]
    iy, ix = (np.arange(H2) * H) // H2, (np.arange(W2) * Wd) // W2
    return x.reshape(-1, C, H, Wd)[:, :, iy][:, :, :, ix].reshape(x.shape[0], -1)

def run(layers, prefix, tensors, h):
    for i, layer in enumerate(layers):
        act = ACT[layer["activation"]]
        s = layer.get("spatial")
        W, b = tensors.get(f"{prefix}.{i}.weight"), tensors.get(f"{prefix}.{i}.bias")
        if s is None:
            h = act(h @ W.T + b)
        elif s["type"] == "conv":
            h = conv(h, s, W, b, act)
        elif s["type"] == "conv_transpose":
            h = conv_transpose(h, s, W, b, act)
        elif s["type"] == "max_pool":
            h = max_pool(h, s)
        elif s["type"] == "upsample":
            h = upsample(h, s)
        else:
            raise ValueError(f"unknown layer type {s['type']}")
        h = h.astype(np.float32)
    return h

def encode_and_score(model, tensors, x):
    p = model["preprocessing"]
    fill, offset, scale = (np.array(p[k], dtype=np.float32) for k in ("fill", "offset", "scale"))
    missing = ~np.isfinite(x)
    if missing.any() and p["missing"] == "reject":
        raise ValueError("missing values and the model's policy is reject")
    xs = (np.where(missing, fill, x) - offset) / scale
    h = run(model["encoder"], "encoder", tensors, xs)
    k = model["latent_dim"]
    z = h[:, :k]
    xs_hat = run(model["decoder"], "decoder", tensors, z)
    d = xs.shape[1]
    error = ((xs - xs_hat) ** 2).astype(np.float64).mean(axis=1)
    kind = model["kind"]
    if kind["kind"] == "variational" and kind["score"] == "elbo":
        mu, lv = h[:, :k].astype(np.float64), h[:, k:].astype(np.float64)
        kl = (-0.5 * (1 + lv - mu ** 2 - np.exp(lv))).sum(axis=1)
        error = error + kind["beta"] * kl / d
    t = model["threshold"]
    return z, error, (error > t if t is not None else None)

if __name__ == "__main__":
    path, inp, rows, out = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
    with safe_open(path, framework="np") as f:
        meta = f.metadata()
        assert meta["format"] == "aeflow.autoencoder" and meta["format_version"] in ("1", "2")
        model = json.loads(meta["model"])
        tensors = {name: f.get_tensor(name) for name in f.keys()}
    check_sums(meta, tensors)
    x = np.fromfile(inp, dtype="<f4").reshape(rows, len(model["features"]))
    z, error, anomaly = encode_and_score(model, tensors, x)
    z.astype("<f4").tofile(out + ".latent.f32")
    error.astype("<f8").tofile(out + ".error.f64")
    (anomaly.astype(np.uint8) if anomaly is not None else np.full(rows, 2, np.uint8)).tofile(out + ".anomaly.u8")
