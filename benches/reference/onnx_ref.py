"""onnxruntime: a dense MLP (Gemm + Relu, sigmoid or linear last) of the given widths, random
weights. Prints one JSON line: median rows/s per batch size, for 1 and 2 intra-op threads."""
import time, json, argparse
import numpy as np, onnx, onnx.helper as oh, onnx.numpy_helper as nh, onnxruntime as ort

ap = argparse.ArgumentParser()
ap.add_argument("--dims", default="784,128,64,32,64,128,784")
ap.add_argument("--batches", default="4096")
ap.add_argument("--last", default="sigmoid", choices=["sigmoid", "linear"])
a = ap.parse_args()
dims = [int(v) for v in a.dims.split(",")]
rng = np.random.default_rng(0)
nodes, inits, prev = [], [], "x"
for i in range(len(dims) - 1):
    inits += [nh.from_array((rng.normal(size=(dims[i], dims[i + 1])) * 0.05).astype(np.float32), f"W{i}"),
              nh.from_array(np.zeros(dims[i + 1], np.float32), f"b{i}")]
    nodes.append(oh.make_node("Gemm", [prev, f"W{i}", f"b{i}"], [f"g{i}"]))
    prev = f"g{i}"
    if i < len(dims) - 2 or a.last == "sigmoid":
        act = "Relu" if i < len(dims) - 2 else "Sigmoid"
        nodes.append(oh.make_node(act, [prev], [f"a{i}"]))
        prev = f"a{i}"
g = oh.make_graph(nodes, "mlp", [oh.make_tensor_value_info("x", onnx.TensorProto.FLOAT, [None, dims[0]])],
                  [oh.make_tensor_value_info(prev, onnx.TensorProto.FLOAT, [None, dims[-1]])], inits)
model = oh.make_model(g, opset_imports=[oh.make_opsetid("", 17)]).SerializeToString()
out = {"framework": f"onnxruntime {ort.__version__}", "dims": dims, "rows_per_s": {}}
for batch in [int(b) for b in a.batches.split(",")]:
    x = rng.random((batch, dims[0]), dtype=np.float32)
    res = {}
    for th in (1, 2):
        so = ort.SessionOptions()
        so.intra_op_num_threads = th
        s = ort.InferenceSession(model, so, providers=["CPUExecutionProvider"])
        for _ in range(5):
            s.run(None, {"x": x})
        reps = max(30, int(2e5 / batch))
        ts = []
        for _ in range(reps):
            t = time.perf_counter()
            s.run(None, {"x": x})
            ts.append(time.perf_counter() - t)
        res[str(th)] = round(batch / float(np.median(ts)))
    out["rows_per_s"][str(batch)] = res
print(json.dumps(out))
