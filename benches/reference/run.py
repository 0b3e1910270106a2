#!/usr/bin/env python3
"""aeflow's reference bench, then Keras 3 (JAX backend) and onnxruntime on the same data and cores.

    python3 benches/reference/run.py [--epochs 5] [--rounds 3] [--skip-build]

1. Makes (once) a virtual environment in ~/.cache/aeflow/refvenv with numpy, jax[cpu], keras, onnx
   and onnxruntime from PyPI (aeflow itself depends on none of them).
2. Runs `cargo bench --bench reference` with AEFLOW_BENCH_DATA=~/.cache/aeflow/data, which also
   writes its training and test rows there (raw f32).
3. Trains the same model in Keras on those rows (same epochs, batch, optimizer, loss), measures its
   test MSE and inference at batch 4096 (jit-compiled); runs onnxruntime (1 and 2 threads) on the
   reference and the small model.
4. Repeats 2–3 `--rounds` times (this machine is a shared VM whose speed changes from minute to
   minute: the same binary has measured 210k and 340k rows/s two minutes apart), so that every
   framework is measured in every round, interleaved with the others.
5. Prints one Markdown table with the median over rounds of each figure and the ratios of those
   medians, the ratio in each round, plus the load.
"""
import statistics
import argparse, json, os, subprocess, sys, time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
CACHE = Path.home() / ".cache" / "aeflow"
VENV = CACHE / "refvenv"
DATA = CACHE / "data"
PY = VENV / "bin" / "python"


def ensure_venv():
    if PY.exists():
        probe = subprocess.run([str(PY), "-c", "import keras, jax, onnxruntime, onnx, numpy"], capture_output=True)
        if probe.returncode == 0:
            return
    CACHE.mkdir(parents=True, exist_ok=True)
    subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True)
    subprocess.run([str(PY), "-m", "pip", "install", "-q", "numpy", "jax[cpu]", "keras", "onnx", "onnxruntime"], check=True)


def last_json(text):
    for line in reversed(text.strip().splitlines()):
        line = line.strip()
        if line.startswith("{"):
            return json.loads(line)
    raise SystemExit("no JSON line in output:\n" + text)


def run_aeflow(epochs, skip_build):
    env = dict(os.environ, AEFLOW_BENCH_DATA=str(DATA), AEFLOW_BENCH_EPOCHS=str(epochs))
    # The bench needs only the core (no SQL, Kafka or CLI): building without them takes minutes
    # instead of half an hour in release mode.
    cmd = ["cargo", "bench", "--no-default-features", "--bench", "reference"]
    if skip_build:
        cmd = ["cargo", "bench", "-q", "--no-default-features", "--bench", "reference"]
    p = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True)
    sys.stdout.write(p.stdout)
    if p.returncode != 0:
        sys.stderr.write(p.stderr)
        raise SystemExit("aeflow bench failed")
    return last_json(p.stdout)


def run_ref(script, *args):
    p = subprocess.run([str(PY), str(HERE / script), *args], capture_output=True, text=True,
                       env=dict(os.environ, KERAS_BACKEND="jax", TF_CPP_MIN_LOG_LEVEL="3"))
    if p.returncode != 0:
        sys.stderr.write(p.stderr[-3000:])
        raise SystemExit(f"{script} failed")
    out = last_json(p.stdout)
    print(json.dumps(out))
    return out


def median_of(rounds, key):
    """The median over rounds of every number in the results `key` (nested dicts); other values
    from the first round."""
    def merge(values):
        first = values[0]
        if isinstance(first, dict):
            return {k: merge([v[k] for v in values]) for k in first}
        if isinstance(first, (int, float)) and not isinstance(first, bool):
            return statistics.median(values)
        return first
    return merge([r[key] for r in rounds])


def fmt_rate(v):
    return f"{v / 1000:,.0f}k" if v < 1e7 else f"{v / 1e6:,.1f}M"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--epochs", type=int, default=5)
    ap.add_argument("--rounds", type=int, default=3, help="times every framework is measured, interleaved")
    ap.add_argument("--skip-build", action="store_true", help="quiet cargo output")
    a = ap.parse_args()
    ensure_venv()
    load_before = os.getloadavg()
    rounds = []
    for r in range(a.rounds):
        print(f"--- round {r + 1} of {a.rounds}")
        rounds.append({
            "ae": run_aeflow(a.epochs, a.skip_build or r > 0),
            "keras": run_ref("keras_ref.py", "--data", str(DATA), "--epochs", str(a.epochs)),
            "ort_ref": run_ref("onnx_ref.py", "--dims", "784,128,64,32,64,128,784", "--batches", "4096"),
            "ort_small": run_ref("onnx_ref.py", "--dims", "32,16,4,16,32", "--batches", "256,4096", "--last", "linear"),
        })
    ae = median_of(rounds, "ae")
    keras = median_of(rounds, "keras")
    ort_ref = median_of(rounds, "ort_ref")
    ort_small = median_of(rounds, "ort_small")
    load_after = os.getloadavg()
    cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
    ncpu = os.cpu_count()

    ort2 = ort_ref["rows_per_s"]["4096"]["2"]
    rows = [
        ("train, s/epoch (lower is better)", f"{ae['epoch_s_median']:.3f}", f"{keras['epoch_s_median']:.3f}", "–",
         f"{keras['epoch_s_median'] / ae['epoch_s_median']:.2f}× Keras"),
        (f"test MSE after {a.epochs} epochs", f"{ae['test_mse']:.5f}", f"{keras['test_mse']:.5f}", "–",
         f"quality: aeflow's MSE {(ae['test_mse'] / keras['test_mse'] - 1) * 100:+.1f} % vs Keras's"),
        ("inference rows/s, batch 4096", fmt_rate(ae["infer_rows_per_s_4096"]), fmt_rate(keras["infer_rows_per_s_4096"]),
         fmt_rate(ort2),
         f"{ae['infer_rows_per_s_4096'] / keras['infer_rows_per_s_4096']:.2f}× Keras, {ae['infer_rows_per_s_4096'] / ort2:.2f}× onnxruntime"),
        ("small 32-16-4-16-32: inference rows/s, batch 256", fmt_rate(ae["small_infer_rows_per_s_256"]), "–",
         fmt_rate(ort_small["rows_per_s"]["256"]["1"]),
         f"{ae['small_infer_rows_per_s_256'] / ort_small['rows_per_s']['256']['1']:.2f}× onnxruntime (1 thread)"),
        ("small 32-16-4-16-32: inference rows/s, batch 4096", fmt_rate(ae["small_infer_rows_per_s_4096"]), "–",
         fmt_rate(ort_small["rows_per_s"]["4096"]["2"]),
         f"{ae['small_infer_rows_per_s_4096'] / ort_small['rows_per_s']['4096']['2']:.2f}× onnxruntime (2 threads)"),
        ("small 32-16-4-16-32: train rows/s, batch 256", fmt_rate(ae["small_train_rows_per_s_256"]), "–", "–", ""),
    ]
    print()
    print(f"Machine: {cpu}, {ncpu} cores; load average {load_before[0]:.2f} before, {load_after[0]:.2f} after; "
          f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}")
    print(f"aeflow threads: {ae['threads']}; {keras['framework']}; {ort_ref['framework']} (2 threads unless noted)")
    print(f"Medians over {a.rounds} rounds, each measuring every framework once (interleaved). Per round, inference "
          "at batch 4096, aeflow ÷ onnxruntime: "
          + ", ".join(f"{r['ae']['infer_rows_per_s_4096'] / r['ort_ref']['rows_per_s']['4096']['2']:.2f}" for r in rounds)
          + "; aeflow ÷ Keras: "
          + ", ".join(f"{r['ae']['infer_rows_per_s_4096'] / r['keras']['infer_rows_per_s_4096']:.2f}" for r in rounds))
    print()
    print("| | aeflow | Keras + JAX | onnxruntime | aeflow's speed ÷ the reference's (> 1: aeflow ahead) |")
    print("|---|---|---|---|---|")
    for r in rows:
        print("| " + " | ".join(r) + " |")


if __name__ == "__main__":
    main()
