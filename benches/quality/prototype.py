#!/usr/bin/env python3
"""Cheap prototypes of the issue-17 candidates, built from `aeflow train` / `aeflow score` calls
plus a little numpy, so that each can be measured on every set before any is implemented.

    nice -n 19 python3 benches/quality/prototype.py [--sets a,b] [--seeds 2] [--protocols A,B]
        [--candidates base,trim05,...] [--aeflow PATH] [--out FILE.json]

Candidates (every one uses aeflow's defaults unless it says otherwise; none is tuned per set):
- base: `aeflow train` defaults, score = reconstruction_error;
- pfnorm: the same model, score = mean over features of squared error / that feature's mean
  squared error on the fitting rows;
- trimQQ: train, drop the fitting rows with the highest QQ % of errors, retrain on the rest;
- ensN: N models with seeds S, S+1000, … each score divided by that model's median error on the
  fitting rows, then averaged (score averaging; `--ensemble N` is the folded form, try it as
  'flag:--ensemble 3');
- flag:--x v: any aeflow train flags;
- pca95 / pca90: `--latent k`, k = fewest principal components of the standardised fitting rows
  explaining ≥ 95 % (90 %) of the variance, at most d − 1;
- few: `--latent d − 1` when d ≤ 10 (the defaults otherwise);
- robust: columns scaled by median / IQR (IQR 0 → 1) in numpy, `--scaler none`;
- combinations joined with '+' (e.g. pca95+ens3, pca95+trim05+ens3).
Prints per cell the mean ROC-AUC of each candidate, IsolationForest and PCA, then per candidate
in how many cells it reaches IsolationForest's and PCA's mean ROC-AUC.
"""
import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import run  # noqa: E402


def pca_latent(X, share):
    import numpy as np
    from sklearn.decomposition import PCA
    from sklearn.preprocessing import StandardScaler

    Z = StandardScaler().fit_transform(X)
    ratio = PCA(svd_solver="full").fit(Z).explained_variance_ratio_
    k = int(np.searchsorted(np.cumsum(ratio), share) + 1)
    return max(1, min(k, X.shape[1] - 1))


def train_score(binary, X_fit, X_score, seed, flags, wd, tag):
    """(errors on fitting rows, errors on scored rows, per-feature errors of both)."""
    import numpy as np
    import pyarrow.parquet as pq

    fit, sco = wd / f"{tag}-fit.parquet", wd / f"{tag}-score.parquet"
    run.write_parquet(X_fit, fit)
    run.write_parquet(X_score, sco)
    model = wd / f"{tag}.aeflow"
    cmd = [str(binary), "train", "--input", str(fit), "--out", str(model), "--seed", str(seed), "--quiet", *flags]
    p = subprocess.run(cmd, capture_output=True, text=True)
    if p.returncode:
        raise RuntimeError(p.stderr[-1000:])
    outs = []
    for f in (fit, sco):
        o = wd / f"{tag}-out.parquet"
        p = subprocess.run([str(binary), "score", "--model", str(model), "--input", str(f), "--output", str(o),
                            "--quiet", "--per-feature"], capture_output=True, text=True)
        if p.returncode:
            raise RuntimeError(p.stderr[-1000:])
        t = pq.read_table(o)
        fe = np.array(t.column("feature_errors").to_pylist(), dtype=float)
        outs.append((t.column("reconstruction_error").to_numpy(), fe))
    return outs[0], outs[1]


def candidate(name, binary, X_fit, X_score, seed, wd, cache):
    """Score of X_score rows under candidate `name` ('+'-joined parts)."""
    import numpy as np

    parts = set(name.split("+"))
    flags = []
    Xf, Xs = X_fit, X_score
    if "robust" in parts:
        med = np.median(X_fit, axis=0)
        iqr = np.subtract(*np.percentile(X_fit, [75, 25], axis=0))
        iqr[iqr == 0] = 1.0
        Xf, Xs = (X_fit - med) / iqr, (X_score - med) / iqr
        flags += ["--scaler", "none"]
    for share in ("95", "90", "99"):
        if f"pca{share}" in parts:
            flags += ["--latent", str(pca_latent(X_fit, int(share) / 100))]
    if "few" in parts and X_fit.shape[1] <= 10:
        flags += ["--latent", str(max(1, X_fit.shape[1] - 1))]
    for p in parts:
        if p.startswith("flag:"):
            flags += p[5:].split()
    trim = next((int(p[4:]) / 100 for p in parts if p.startswith("trim")), 0.0)
    members = next((int(p[3:]) for p in parts if p.startswith("ens")), 1)
    pfnorm = "pfnorm" in parts

    def one(member_seed):
        key = (tuple(flags), trim, member_seed, "robust" in parts)
        if key in cache:
            return cache[key]
        (ef, fef), (es, fes) = train_score(binary, Xf, Xs, member_seed, flags, wd, "m")
        if trim > 0:
            keep = ef <= np.quantile(ef, 1 - trim)
            (ef, fef), (es, fes) = train_score(binary, Xf[keep], Xs, member_seed, flags, wd, "m")
        cache[key] = (ef, fef, es, fes)
        return cache[key]

    total = 0.0
    for m in range(members):
        ef, fef, es, fes = one(seed + 1000 * m)
        if pfnorm:
            s = (fes / np.maximum(fef.mean(axis=0), 1e-12)).mean(axis=1)
            ref = (fef / np.maximum(fef.mean(axis=0), 1e-12)).mean(axis=1)
        else:
            s, ref = es, ef
        total = total + (s / np.median(ref) if members > 1 else s)
    return total / members


def main():
    if not run.in_venv():
        run.ensure_venv()
        import os
        os.execv(str(run.PY), [str(run.PY), str(Path(__file__).resolve()), *sys.argv[1:]])
    import numpy as np
    from datasets import DEFAULT, load

    ap = argparse.ArgumentParser()
    ap.add_argument("--sets", default=",".join(DEFAULT))
    ap.add_argument("--seeds", type=int, default=2)
    ap.add_argument("--protocols", default="A,B")
    ap.add_argument("--candidates", default="base,pfnorm,trim05,trim10,ens3,pca95,robust")
    ap.add_argument("--aeflow", type=Path, default=run.RELEASE if run.RELEASE.exists() else run.DEBUG)
    ap.add_argument("--out", type=Path, default=run.WORK / "prototype.json")
    a = ap.parse_args()
    wd = run.WORK / f"proto-{int(time.time())}"
    wd.mkdir(parents=True, exist_ok=True)
    binary = wd / "aeflow"
    import shutil
    shutil.copy2(a.aeflow, binary)
    cands = a.candidates.split(",")
    cells = []
    t0 = time.time()
    for set_name in a.sets.split(","):
        X, y = run.subsample(*load(set_name), 5000)
        for protocol in a.protocols.split(","):
            X_fit = X if protocol == "A" else X[y == 0]
            roc = {c: [] for c in cands + ["IF", "PCA"]}
            for seed in range(a.seeds):
                cache = {}
                for c in cands:
                    try:
                        s = candidate(c, binary, X_fit, X, seed, wd, cache)
                        roc[c].append(run.metrics(y, s)[0])
                    except RuntimeError as e:
                        print(f"{set_name} {protocol} {seed} {c}: {e}", file=sys.stderr)
                roc["IF"].append(run.metrics(y, run.baseline_scores(X_fit, X, protocol, seed, "IsolationForest"))[0])
                if seed == 0:
                    roc["PCA"].append(run.metrics(y, run.baseline_scores(X_fit, X, protocol, seed, "PCA"))[0])
            cell = {"set": set_name, "protocol": protocol, "roc": roc}
            cells.append(cell)
            print(f"{set_name:12s} {protocol} " + " ".join(f"{c}={np.mean(v):.3f}" for c, v in roc.items() if v),
                  f"[{(time.time() - t0) / 60:.1f} min]", flush=True)
            a.out.write_text(json.dumps(cells))
    print("\ncandidate: cells ≥ IF, cells ≥ PCA, mean ROC")
    for c in cands:
        m = [(np.mean(x["roc"][c]), np.mean(x["roc"]["IF"]), np.mean(x["roc"]["PCA"])) for x in cells if x["roc"][c]]
        print(f"{c:24s} {sum(v >= i for v, i, _ in m)}/{len(m)}  {sum(v >= p for v, _, p in m)}/{len(m)}  "
              f"{np.mean([v for v, _, _ in m]):.3f}")
    shutil.rmtree(wd, ignore_errors=True)


if __name__ == "__main__":
    main()
