#!/usr/bin/env python3
"""`aeflow stream` against the Python stage users write instead, on one broker, pinned.

    python3 benches/reference/kafka_run.py --brokers 127.0.0.1:PORT [--broker-pid PID] \
        [--messages 200000] [--rounds 3] [--partitions 4] [--broker-core 0] [--stage-core 1]

1. Makes (once) a virtual environment in ~/.cache/aeflow/kafkavenv with confluent-kafka, numpy,
   safetensors, orjson and pyarrow from PyPI, and re-runs itself in it.
2. Builds `aeflow` and the bench binary `kafka_stage` (release; benches/kafka_stage.rs: the stage as
   `aeflow stream` builds it, here run as its pass-through: consume → batch → produce → commit, no
   model, which `aeflow stream` does not expose).
3. Makes 5000 rows of 32 features (seeded; the curve of benches/stream.rs), trains one model on them
   with `aeflow train --epochs 5 --seed 1`, and produces `--messages` input messages, message i being
   row i mod 5000 with `"id": i`: once as JSON objects `{"id":i,"f0":…,…,"f31":…}` (one topic) and
   once as Arrow IPC streams of one row (id Int64, f0…f31 Float64; another topic).
4. Pins the broker to `--broker-core` (`taskset -a -p`: every thread of the running broker; the pid is
   `--broker-pid` or read from $AEFLOW_TOOLS/tansu.pid) and runs each stage under
   `taskset -c STAGE_CORE`, with one score thread. Per round, in a rotating order:
   the Python stage (benches/reference/kafka_python.py), `aeflow stream --format json`, the JSON
   pass-through, `aeflow stream --format arrow-ipc`, the IPC pass-through. Each run reads the input
   topic with a fresh consumer group and writes a fresh output topic.
5. Times each run by the stage's count of outputs delivered (acknowledged by the broker), polled
   every 20 ms: `aeflow_stream_messages_out_total` from the Prometheus endpoint of `aeflow stream
   --metrics-addr` and of kafka_stage, the `progress N` line the Python stage prints after each
   committed batch. (The output topic's high watermark would have been the same yardstick for all,
   but Tansu 0.6 reports the first offset of a partition's last record batch as its high watermark.)
   The rate is (N − w₀) / (t_N − t₀), from the first poll that saw outputs (so process start, model
   load and the group join are not counted) to the one that saw all N. It also records the CPU
   seconds the stage process and the broker used over that time.
6. Checks that the Python stage and `aeflow stream` wrote the same scores (relative difference
   ≤ 1e-4 on 2000 ids), and prints the medians over rounds, their ratios and every round's figures as
   Markdown, and one JSON line.

The bars (issue 14): aeflow ≥ 5× the Python stage's messages/s; score ÷ pass-through ≥ 80 % for
arrow-ipc and ≥ 60 % for JSON.
"""
import argparse, json, os, shutil, signal, statistics, subprocess, sys, tempfile, time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
CACHE = Path.home() / ".cache" / "aeflow"
VENV = CACHE / "kafkavenv"
PY = VENV / "bin" / "python"
PACKAGES = ["confluent-kafka", "numpy", "safetensors", "orjson", "pyarrow"]
FEATURES = 32
DISTINCT_ROWS = 5000


def ensure_venv():
    """Creates the venv when it is missing or broken, then re-runs this script in it."""
    if Path(sys.prefix).resolve() == VENV.resolve():
        return
    probe = PY.exists() and subprocess.run(
        [str(PY), "-c", "import confluent_kafka, numpy, safetensors, orjson, pyarrow"],
        capture_output=True).returncode == 0
    if not probe:
        CACHE.mkdir(parents=True, exist_ok=True)
        subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True)
        subprocess.run([str(PY), "-m", "pip", "install", "-q", *PACKAGES], check=True)
    os.execv(str(PY), [str(PY), __file__, *sys.argv[1:]])


def build():
    """Builds the release `aeflow` and the `kafka_stage` bench binary (one cargo call, release
    profile); returns their paths."""
    p = subprocess.run(["cargo", "build", "--release", "--bin", "aeflow", "--bench", "kafka_stage",
                        "--message-format=json-render-diagnostics"],
                       cwd=REPO, check=True, stdout=subprocess.PIPE, text=True)
    exe = {}
    for line in p.stdout.splitlines():
        msg = json.loads(line)
        if msg.get("reason") == "compiler-artifact" and msg.get("executable"):
            exe[msg["target"]["name"]] = msg["executable"]
    if set(exe) != {"aeflow", "kafka_stage"}:
        raise SystemExit(f"cargo reported the executables {sorted(exe)}, expected aeflow and kafka_stage")
    return exe["aeflow"], exe["kafka_stage"]


def make_rows():
    """DISTINCT_ROWS × 32 float32 rows: a noisy curve, as benches/stream.rs makes them."""
    import numpy as np
    rng = np.random.default_rng(1)
    t = rng.uniform(0, 2 * np.pi, size=(DISTINCT_ROWS, 1))
    j = np.arange(FEATURES)
    x = np.sin(t + j * 0.3) * (1 + j / 16) + rng.uniform(-0.05, 0.05, size=(DISTINCT_ROWS, FEATURES))
    return x.astype(np.float32)


def train(aeflow, rows, workdir):
    import numpy as np
    csv = workdir / "train.csv"
    header = ",".join(f"f{j}" for j in range(FEATURES))
    np.savetxt(csv, rows, delimiter=",", header=header, comments="", fmt="%.8g")
    model = workdir / "bench32.aemodel"
    subprocess.run([str(aeflow), "train", "--input", str(csv), "--out", str(model), "--epochs", "5",
                    "--seed", "1"], check=True, capture_output=True)
    return model


def json_payloads(rows, n):
    import numpy as np
    parts = [",".join(f'"f{j}":{np.format_float_positional(v, unique=True, trim="-")}' for j, v in enumerate(r))
             for r in rows]
    return [f'{{"id":{i},{parts[i % len(parts)]}}}'.encode() for i in range(n)]


def ipc_payloads(rows, n):
    """One IPC stream per message (schema, one one-row batch, end marker), as pyarrow's stream
    writer writes it, built from the schema message serialised once."""
    import numpy as np
    import pyarrow as pa
    schema = pa.schema([("id", pa.int64())] + [(f"f{j}", pa.float64()) for j in range(FEATURES)])
    cols = rows.astype("float64")[np.arange(n) % len(rows)]
    batch = pa.record_batch([pa.array(np.arange(n, dtype=np.int64))] + [pa.array(cols[:, j]) for j in range(FEATURES)],
                            schema=schema)
    head = schema.serialize().to_pybytes()
    end = b"\xff\xff\xff\xff\x00\x00\x00\x00"
    return [head + batch.slice(i, 1).serialize().to_pybytes() + end for i in range(n)]


def create_topic(brokers, name, partitions):
    from confluent_kafka.admin import AdminClient, NewTopic
    admin = AdminClient({"bootstrap.servers": brokers})
    for _, f in admin.create_topics([NewTopic(name, partitions, 1)], operation_timeout=30).items():
        f.result()
    return name


def produce(brokers, topic, payloads, partitions):
    from confluent_kafka import Producer
    p = Producer({"bootstrap.servers": brokers, "linger.ms": 20, "queue.buffering.max.messages": 1_000_000,
                  "batch.num.messages": 10000})
    for i, v in enumerate(payloads):
        while True:
            try:
                p.produce(topic, v, key=str(i).encode(), partition=i % partitions)
                break
            except BufferError:
                p.poll(0.05)
    left = p.flush(120)
    if left:
        raise SystemExit(f"{left} input messages not delivered to {topic}")


class Progress:
    """Outputs written so far by a stage: read from its Prometheus endpoint (`aeflow stream
    --metrics-addr`, kafka_stage), or from the `progress N` lines the Python stage prints."""

    def __init__(self, metrics_port=None):
        self.port = metrics_port
        self.count = 0

    def follow(self, stream):
        import threading

        def read():
            for line in stream:
                if line.startswith(b"progress "):
                    self.count = int(line.split()[1])
        threading.Thread(target=read, daemon=True).start()

    def get(self):
        if self.port is None:
            return self.count
        import urllib.request
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/metrics", timeout=5) as r:
                text = r.read().decode()
        except OSError:
            return 0  # not serving yet
        out = dead = 0
        for line in text.splitlines():
            if line.startswith("aeflow_stream_messages_out_total"):
                out = int(float(line.split()[-1]))
            elif line.startswith("aeflow_stream_messages_dead_lettered_total"):
                dead = int(float(line.split()[-1]))
        return out + dead


def cpu_seconds(pid):
    """User + system CPU seconds of process `pid` and its threads so far."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (FileNotFoundError, ProcessLookupError):
        return float("nan")


def run_stage(label, cmd, progress, n, core, broker_pid, log):
    """Runs `cmd` pinned to `core` until `progress` reaches `n` outputs; returns its figures."""
    pipe = progress.port is None
    proc = subprocess.Popen(["taskset", "-c", str(core), *map(str, cmd)],
                            stdout=subprocess.PIPE if pipe else log, stderr=log)
    if pipe:
        progress.follow(proc.stdout)
    deadline = time.monotonic() + 300
    t0 = w0 = None
    try:
        while True:
            if proc.poll() is not None:
                raise SystemExit(f"{label} exited with {proc.returncode} before the end (log: {log.name})")
            if time.monotonic() > deadline:
                raise SystemExit(f"{label} did not write {n} outputs in 300 s (log: {log.name})")
            w = progress.get()
            now = time.monotonic()
            if t0 is None and w > 0:
                t0, w0 = now, w
                stage0 = cpu_seconds(proc.pid)
                broker0 = cpu_seconds(broker_pid) if broker_pid else float("nan")
            if w >= n:
                t1 = now
                break
            time.sleep(0.02)
        stage_cpu = cpu_seconds(proc.pid) - stage0
        broker_cpu = (cpu_seconds(broker_pid) - broker0) if broker_pid else float("nan")
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    secs = t1 - t0
    return {"rate": (n - w0) / secs, "seconds": secs, "stage_cpu": stage_cpu / secs, "broker_cpu": broker_cpu / secs}


def read_scores(brokers, topic, partitions, want, fmt="json"):
    """id → reconstruction_error for the first `want` outputs of partition 0 of `topic`."""
    import orjson
    from confluent_kafka import Consumer, TopicPartition
    c = Consumer({"bootstrap.servers": brokers, "group.id": f"check-{topic}", "enable.auto.commit": False})
    c.assign([TopicPartition(topic, 0, 0)])
    out = {}
    deadline = time.monotonic() + 60
    while len(out) < want and time.monotonic() < deadline:
        for m in c.consume(1000, timeout=1):
            if m.error() is None:
                o = orjson.loads(m.value())
                out[o["id"]] = o["reconstruction_error"]
    c.close()
    return out


def free_port():
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def median(v):
    return statistics.median(v)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--brokers", required=True)
    ap.add_argument("--broker-pid", type=int)
    ap.add_argument("--messages", type=int, default=200_000)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--partitions", type=int, default=4)
    ap.add_argument("--broker-core", type=int, default=0)
    ap.add_argument("--stage-core", type=int, default=1)
    ap.add_argument("--bins", nargs=2, metavar=("AEFLOW", "KAFKA_STAGE"),
                    help="use these two executables instead of building them (e.g. to test this script)")
    ap.add_argument("--only", help="comma-separated variants to run (python,aeflow-json,pass-json,aeflow-ipc,pass-ipc)")
    args = ap.parse_args()
    ensure_venv()

    aeflow, stage_bin = args.bins if args.bins else build()
    pid = args.broker_pid
    if pid is None:
        pid_file = Path(os.environ.get("AEFLOW_TOOLS", CACHE)) / "tansu.pid"
        pid = int(pid_file.read_text().strip()) if pid_file.exists() else None
    if pid:
        subprocess.run(["taskset", "-a", "-p", "-c", str(args.broker_core), str(pid)], check=True,
                       stdout=subprocess.DEVNULL)
    # This driver polls the broker and sleeps; it shares the broker's core, not the stage's.
    os.sched_setaffinity(0, {args.broker_core})

    work = Path(tempfile.mkdtemp(prefix="aeflow-kafka-bench-"))
    rows = make_rows()
    model = train(aeflow, rows, work)
    n, parts, brokers = args.messages, args.partitions, args.brokers
    tag = f"kb{os.getpid()}"
    inputs = {}
    for fmt, make in (("json", json_payloads), ("ipc", ipc_payloads)):
        payloads = make(rows, n)
        topic = create_topic(brokers, f"{tag}-in-{fmt}", parts)
        t = time.monotonic()
        produce(brokers, topic, payloads, parts)
        size = sum(map(len, payloads)) / n
        print(f"produced {n} {fmt} messages (avg {size:.0f} B) to {topic} in {time.monotonic() - t:.1f} s", flush=True)
        inputs[fmt] = (topic, size)
        del payloads

    def cmd(variant, group, inp, out, port):
        """The command line of `variant`, and where to read its progress."""
        if variant == "python":
            return [PY, HERE / "kafka_python.py", "--brokers", brokers, "--group-id", group, "--input-topic", inp,
                    "--output-topic", out, "--model", model, "--batch-size", 1000, "--progress"], Progress()
        fmt = "json" if variant.endswith("json") else "arrow-ipc"
        metrics = f"127.0.0.1:{port}"
        if variant.startswith("aeflow"):
            return [aeflow, "stream", "--brokers", brokers, "--group-id", group, "--input-topic", inp,
                    "--output-topic", out, "--model", model, "--format", fmt, "--batch-size", 1000,
                    "--linger-ms", 10, "--score-threads", 1, "--metrics-addr", metrics], Progress(port)
        return [stage_bin, brokers, group, inp, out, fmt, "pass-through", 1, metrics], Progress(port)

    variants = ["python", "aeflow-json", "pass-json", "aeflow-ipc", "pass-ipc"]
    if args.only:
        variants = [v for v in variants if v in args.only.split(",")]
    results = {v: [] for v in variants}
    checks = []
    log = open(work / "stages.log", "w")
    for r in range(args.rounds):
        order = variants[r % len(variants):] + variants[:r % len(variants)]
        outs = {}
        for v in order:
            inp = inputs["json" if v in ("python", "aeflow-json", "pass-json") else "ipc"][0]
            out = create_topic(brokers, f"{tag}-out-{r}-{v}", parts)
            group = f"{tag}-g-{r}-{v}"
            command, progress = cmd(v, group, inp, out, free_port())
            res = run_stage(v, command, progress, n, args.stage_core, pid, log)
            res["load"] = os.getloadavg()[0]
            results[v].append(res)
            outs[v] = out
            print(f"round {r} {v:<12} {res['rate']:>9.0f} msg/s  {res['seconds']:.2f} s  stage CPU "
                  f"{100 * res['stage_cpu']:.0f} %  broker CPU {100 * res['broker_cpu']:.0f} %  load {res['load']:.2f}",
                  flush=True)
        if "python" in outs and "aeflow-json" in outs:
            a = read_scores(brokers, outs["aeflow-json"], parts, 2000)
            p = read_scores(brokers, outs["python"], parts, 2000)
            common = sorted(set(a) & set(p))
            worst = max((abs(a[i] - p[i]) / max(abs(a[i]), 1e-12) for i in common), default=float("nan"))
            checks.append((len(common), worst))
            print(f"round {r} check: {len(common)} ids scored by both, worst relative difference {worst:.2e}", flush=True)
            if not common or worst > 1e-4:
                raise SystemExit("the Python stage and aeflow disagree")

    med = {v: median([x["rate"] for x in results[v]]) for v in variants}
    print()
    print(f"{n} messages of {FEATURES} features, {parts} partitions, batch 1000; broker on core {args.broker_core}, "
          f"each stage on core {args.stage_core}; JSON avg {inputs['json'][1]:.0f} B, IPC avg {inputs['ipc'][1]:.0f} B; "
          f"medians of {args.rounds} interleaved rounds")
    print()
    print("| stage | messages/s (median) | rounds | stage CPU (cores) | messages per stage CPU-second | broker CPU |")
    print("|---|---|---|---|---|---|")
    per_cpu = {v: median([x["rate"] / x["stage_cpu"] for x in results[v]]) for v in variants}
    for v in variants:
        rs = results[v]
        rates = ", ".join(f"{x['rate']:,.0f}" for x in rs)
        print(f"| {v} | {med[v]:,.0f} | {rates} | {median([x['stage_cpu'] for x in rs]):.2f} | {per_cpu[v]:,.0f} | "
              f"{100 * median([x['broker_cpu'] for x in rs]):.0f} % |")
    summary = {"messages": n, "medians": med, "load": [x["load"] for v in variants for x in results[v]]}
    if "python" in med and "aeflow-json" in med:
        summary["aeflow_over_python"] = med["aeflow-json"] / med["python"]
        per_round = [a["rate"] / p["rate"] for a, p in zip(results["aeflow-json"], results["python"])]
        summary["aeflow_over_python_per_cpu"] = per_cpu["aeflow-json"] / per_cpu["python"]
        rounds = ", ".join(f"{x:.2f}" for x in per_round)
        print(f"\naeflow ÷ Python: {summary['aeflow_over_python']:.2f}× (bar ≥ 5×); per round {rounds}; "
              f"per stage CPU-second {summary['aeflow_over_python_per_cpu']:.2f}×")
    for fmt, bar in (("json", 60), ("ipc", 80)):
        if f"aeflow-{fmt}" in med and f"pass-{fmt}" in med:
            ratio = med[f"aeflow-{fmt}"] / med[f"pass-{fmt}"]
            summary[f"score_over_pass_{fmt}"] = ratio
            per_round = [a["rate"] / p["rate"] for a, p in zip(results[f"aeflow-{fmt}"], results[f"pass-{fmt}"])]
            rounds = ", ".join(f"{100 * x:.1f}" for x in per_round)
            print(f"score ÷ pass-through, {fmt}: {100 * ratio:.1f} % (bar ≥ {bar} %); per round {rounds}")
    if checks:
        print(f"scores checked: {checks}")
    print(json.dumps(summary))
    log.close()
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
