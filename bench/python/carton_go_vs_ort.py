"""Per-call time of carton_go against ONNX Runtime's own Python API, one
thread, the same libonnxruntime, alternated rounds.

usage: carton_go_vs_ort.py MODEL.onnx MODEL.carton INPUT [ROUNDS]

INPUT is a .npy file, or a shape (1x3x224x224) for seeded random float32.
Prints each side's median per-call µs over ROUNDS alternated rounds of
about half a second each (after a warm-up), and the ratio carton_go / ORT.
"""
import os
import statistics
import sys
import time

import numpy as np
import onnxruntime as ort

import carton_go as carton


def per_call(fn, n):
    start = time.perf_counter()
    for _ in range(n):
        fn()
    return (time.perf_counter() - start) / n * 1e6


def main(onnx_path, carton_path, input_path, rounds=15):
    if input_path.endswith(".npy"):
        x = np.load(input_path)
    else:
        x = np.random.default_rng(0).standard_normal([int(d) for d in input_path.split("x")], dtype=np.float32)
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    opts.inter_op_num_threads = 1
    sess = ort.InferenceSession(onnx_path, opts, providers=["CPUExecutionProvider"])
    lib = os.path.join(os.path.dirname(ort.__file__), "capi")
    lib = os.path.join(lib, [f for f in os.listdir(lib) if f.startswith("libonnxruntime.so")][0])
    model = carton.load_sync(carton_path, runtime_path=lib,
                             override_runner_opts={"intra_op_threads": 1, "inter_op_threads": 1})
    name = sess.get_inputs()[0].name
    ort_call = lambda: sess.run(None, {name: x})
    carton_call = lambda: model.infer_sync({name: x})
    want = ort_call()[0]
    got = carton_call()
    assert np.allclose(list(got.values())[0], want), "different outputs"
    warm = per_call(ort_call, 20)
    n = max(5, int(0.5e6 / warm))  # calls per round: about half a second
    per_call(carton_call, n)
    per_call(ort_call, n)
    o, c = [], []
    for _ in range(int(rounds)):
        o.append(per_call(ort_call, n))
        c.append(per_call(carton_call, n))
    mo, mc = statistics.median(o), statistics.median(c)
    print(f"onnxruntime python {ort.__version__}: {mo:.2f} µs/call (rounds {min(o):.2f}-{max(o):.2f})")
    print(f"carton_go {carton.version()} ({model.info.runtime['version']}): {mc:.2f} µs/call (rounds {min(c):.2f}-{max(c):.2f})")
    print(f"carton_go / onnxruntime: {mc / mo:.3f} ({n} calls a round, {rounds} rounds)")


if __name__ == "__main__":
    main(*sys.argv[1:])
