#!/usr/bin/env python3
"""The Kafka scoring stage a data engineer would write in Python, for comparison with `aeflow stream`.

    python kafka_python.py --brokers HOST:PORT --group-id G --input-topic IN --output-topic OUT \
        --model MODEL.aemodel [--dlq-topic DLQ] [--batch-size 1000]

Runs in the virtual environment that benches/reference/kafka_run.py makes (confluent-kafka, numpy,
safetensors, orjson); it does not import aeflow. What it does, per micro-batch of up to 1000 messages:

1. `Consumer.consume(1000)` (librdkafka underneath, as in aeflow), offsets not auto-committed (each
   message's offset is stored as it is handed out, and committed by step 5);
2. parses each message with orjson (the fastest well-kept JSON library for Python) and takes the
   model's features in order into one float32 matrix; a message that is not a JSON object with every
   feature as a finite number goes to the dead-letter topic (or is dropped without one);
3. scores the matrix with numpy on the weights read from the model file (docs/model-format.md, the
   recipe of tests/python/reproduce.py): scale, encoder, decoder, mean squared error per row, flag
   above the model's threshold;
4. produces the input object plus `reconstruction_error`, `is_anomaly` and `model` (the fields
   `aeflow stream` appends), keyed as the input;
5. waits for every output of the batch to be delivered (`flush`), fails on a delivery error, and only
   then commits the offsets of everything consumed so far, synchronously: at-least-once, like `aeflow stream` without
   `--exactly-once`. The producer is idempotent, as aeflow's is.

Stops cleanly on SIGTERM or SIGINT. Prints one JSON line at exit with its counts (and with `--progress`, one line per committed batch).
"""
import argparse
import json
import signal
import sys

import numpy as np
import orjson
from confluent_kafka import Consumer, KafkaException, Producer
from safetensors import safe_open

np.seterr(over="ignore")  # exp overflow in a sigmoid saturates to 0, as it should

ACT = {
    "relu": lambda x: np.maximum(x, 0),
    "linear": lambda x: x,
    "leaky_relu": lambda x: np.where(x > 0, x, np.float32(0.01) * x),
    "elu": lambda x: np.where(x > 0, x, np.expm1(np.minimum(x, 0))),
    "selu": lambda x: np.float32(1.0507009873554805)
    * np.where(x > 0, x, np.float32(1.6732632423543772) * np.expm1(np.minimum(x, 0))),
    "tanh": np.tanh,
    "sigmoid": lambda x: 1 / (1 + np.exp(-x)),
}


class Model:
    """An aeflow model file read with safetensors; `score` follows docs/model-format.md."""

    def __init__(self, path):
        with safe_open(path, framework="np") as f:
            meta = f.metadata()
            if meta.get("format") != "aeflow.autoencoder" or meta.get("format_version") != "1":
                raise SystemExit(f"{path}: not an aeflow model of format version 1")
            spec = json.loads(meta["model"])
            tensors = {name: f.get_tensor(name) for name in f.keys()}
        self.features = spec["features"]
        p = spec["preprocessing"]
        self.offset = np.array(p["offset"], dtype=np.float32)
        self.scale = np.array(p["scale"], dtype=np.float32)
        self.threshold = spec["threshold"]
        # Transposed once, contiguous: every batch is then `h @ w + b`.
        self.layers = [
            (np.ascontiguousarray(tensors[f"{part}.{i}.weight"].T), tensors[f"{part}.{i}.bias"], ACT[layer["activation"]])
            for part in ("encoder", "decoder")
            for i, layer in enumerate(spec[part])
        ]
        self.tag = {"name": path.rsplit("/", 1)[-1].rsplit(".", 1)[0], "version": meta["tensors_sha256"][:12]}

    def score(self, x):
        """x: float32 [rows, d] → (error float64 [rows], is_anomaly bool [rows] or None)."""
        xs = (x - self.offset) / self.scale
        h = xs
        for w, b, act in self.layers:
            h = act(h @ w + b)
        error = ((xs - h) ** 2).astype(np.float64).mean(axis=1)
        return error, (error > self.threshold if self.threshold is not None else None)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--brokers", required=True)
    ap.add_argument("--group-id", required=True)
    ap.add_argument("--input-topic", required=True)
    ap.add_argument("--output-topic", required=True)
    ap.add_argument("--dlq-topic")
    ap.add_argument("--model", required=True)
    ap.add_argument("--batch-size", type=int, default=1000)
    ap.add_argument("--progress", action="store_true",
                    help="after each committed batch, print `progress N` (N: outputs + dead letters so far)")
    args = ap.parse_args()

    model = Model(args.model)
    features = model.features
    consumer = Consumer({
        "bootstrap.servers": args.brokers,
        "group.id": args.group_id,
        "enable.auto.commit": False,
        "auto.offset.reset": "earliest",
        "fetch.wait.max.ms": 10,
    })
    failed = []

    def on_delivery(err, _msg):
        if err is not None:
            failed.append(err)

    producer = Producer({
        "bootstrap.servers": args.brokers,
        "enable.idempotence": True,
        "linger.ms": 5,
        "on_delivery": on_delivery,
    })
    running = True

    def stop(*_):
        nonlocal running
        running = False

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    consumer.subscribe([args.input_topic])
    counts = {"in": 0, "out": 0, "dead_lettered": 0, "batches": 0}

    def produce(topic, value, key):
        while True:
            try:
                producer.produce(topic, value, key)
                return
            except BufferError:  # local queue full: let deliveries drain, then retry
                producer.poll(0.05)

    while running:
        msgs = consumer.consume(args.batch_size, timeout=0.1)
        if not msgs:
            continue
        objs, rows, srcs, dead = [], [], [], []
        for m in msgs:
            if m.error() is not None:
                raise KafkaException(m.error())
            try:
                obj = orjson.loads(m.value())
                row = [obj[f] for f in features]  # KeyError / TypeError below when not an object
            except (orjson.JSONDecodeError, KeyError, TypeError) as e:
                dead.append((m, f"{type(e).__name__}: {e}"))
                continue
            objs.append(obj)
            rows.append(row)
            srcs.append(m)
        if rows:
            try:
                x = np.array(rows, dtype=np.float32)
            except (ValueError, TypeError):  # a feature that is not a number: find which messages
                x = None
            if x is None or x.ndim != 2 or not np.isfinite(x).all():
                good = [i for i, r in enumerate(rows) if _usable(r)]
                bad = set(range(len(rows))) - set(good)
                dead.extend((srcs[i], "non-numeric or non-finite feature") for i in sorted(bad))
                objs = [objs[i] for i in good]
                srcs = [srcs[i] for i in good]
                x = np.array([rows[i] for i in good], dtype=np.float32).reshape(len(good), len(features))
            error, anomaly = model.score(x)
            for i, obj in enumerate(objs):
                obj["reconstruction_error"] = float(error[i])
                obj["is_anomaly"] = bool(anomaly[i]) if anomaly is not None else None
                obj["model"] = model.tag
                produce(args.output_topic, orjson.dumps(obj), srcs[i].key())
                producer.poll(0)
        for m, reason in dead:
            if args.dlq_topic:
                producer.produce(args.dlq_topic, m.value(), m.key(), headers={"aeflow.dlq.reason": reason})
        counts["dead_lettered"] += len(dead)
        # At-least-once: offsets are committed only once every output of the batch is delivered.
        producer.flush()
        if failed:
            raise SystemExit(f"delivery failed: {failed[0]}")
        consumer.commit(asynchronous=False)
        counts["in"] += len(msgs)
        counts["out"] += len(objs)
        counts["batches"] += 1
        if args.progress:
            print(f"progress {counts['out'] + counts['dead_lettered']}", flush=True)
    consumer.close()
    producer.flush()
    print(json.dumps(counts))


def _usable(row):
    try:
        return all(np.isfinite(float(v)) for v in row)
    except (ValueError, TypeError):
        return False


if __name__ == "__main__":
    sys.exit(main())
