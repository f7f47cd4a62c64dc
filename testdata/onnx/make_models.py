"""Builds the ONNX test models and their reference outputs.

Run with a Python that has onnx, onnxruntime and numpy:
    python make_models.py
Each model NAME gets NAME.onnx, NAME.in.<input>.npy and NAME.out.<output>.npy
(outputs computed by the onnxruntime Python package). external/ holds a model
whose weights live in an external-data file beside it.
"""
import os

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper, numpy_helper

HERE = os.path.dirname(os.path.abspath(__file__))
OPSET = [helper.make_opsetid("", 17)]
rng = np.random.default_rng(20261125)


def portable(v):
    """Strings as fixed-width unicode, not pickled objects."""
    return v.astype(str) if v.dtype == object else v


def save(name, graph, inputs, subdir="", external=False, check=True):
    model = helper.make_model(graph, opset_imports=OPSET, producer_name="carton-testdata")
    model.ir_version = 8  # loadable by every ORT release we test
    if check:
        onnx.checker.check_model(model)
    d = os.path.join(HERE, subdir)
    os.makedirs(d, exist_ok=True)
    path = os.path.join(d, name + ".onnx")
    if external:
        stale = os.path.join(d, "weights.bin")
        if os.path.exists(stale):
            os.remove(stale)  # onnx appends to an existing external-data file
        onnx.save_model(model, path, save_as_external_data=True, all_tensors_to_one_file=True,
                        location="weights.bin", size_threshold=0)
    else:
        onnx.save_model(model, path)
    sess = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    outs = sess.run(None, inputs)
    for k, v in inputs.items():
        np.save(os.path.join(d, f"{name}.in.{k}.npy"), portable(v))
    for o, v in zip(sess.get_outputs(), outs):
        np.save(os.path.join(d, f"{name}.out.{o.name}.npy"), portable(v))
    print(name, {o.name: v.shape for o, v in zip(sess.get_outputs(), outs)})


# 1. MatMul + Add with a dynamic batch axis.
w = rng.standard_normal((4, 3)).astype(np.float32)
b = rng.standard_normal((3,)).astype(np.float32)
g = helper.make_graph(
    [helper.make_node("MatMul", ["x", "w"], ["xw"]), helper.make_node("Add", ["xw", "b"], ["y"])],
    "matmul_add",
    [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 4])],
    [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 3])],
    [numpy_helper.from_array(w, "w"), numpy_helper.from_array(b, "b")],
)
save("matmul_add", g, {"x": rng.standard_normal((5, 4)).astype(np.float32)})

# 2. Several inputs and outputs, mixed dtypes.
g = helper.make_graph(
    [
        helper.make_node("Mul", ["a", "two"], ["scaled"]),
        helper.make_node("Add", ["ids", "one"], ["next_ids"]),
        helper.make_node("Not", ["mask"], ["inverted"]),
        helper.make_node("Cast", ["mask"], ["mask_f"], to=TensorProto.FLOAT),
        helper.make_node("ReduceSum", ["a", "axis1"], ["row_sum"], keepdims=0),
        helper.make_node("Mul", ["row_sum", "mask_f"], ["masked_sum"]),
    ],
    "multi_io",
    [
        helper.make_tensor_value_info("a", TensorProto.FLOAT, ["n", 2]),
        helper.make_tensor_value_info("ids", TensorProto.INT64, ["n"]),
        helper.make_tensor_value_info("mask", TensorProto.BOOL, ["n"]),
    ],
    [
        helper.make_tensor_value_info("scaled", TensorProto.FLOAT, ["n", 2]),
        helper.make_tensor_value_info("next_ids", TensorProto.INT64, ["n"]),
        helper.make_tensor_value_info("inverted", TensorProto.BOOL, ["n"]),
        helper.make_tensor_value_info("masked_sum", TensorProto.FLOAT, ["n"]),
    ],
    [
        numpy_helper.from_array(np.array(2, np.float32), "two"),
        numpy_helper.from_array(np.array(1, np.int64), "one"),
        numpy_helper.from_array(np.array([1], np.int64), "axis1"),
    ],
)
save("multi_io", g, {
    "a": rng.standard_normal((3, 2)).astype(np.float32),
    "ids": np.array([5, -7, 1 << 40], np.int64),
    "mask": np.array([True, False, True]),
})

# 3. float16 in and out.
g = helper.make_graph(
    [helper.make_node("Mul", ["x", "x"], ["sq"]), helper.make_node("Add", ["sq", "x"], ["y"])],
    "float16",
    [helper.make_tensor_value_info("x", TensorProto.FLOAT16, [2, 3])],
    [helper.make_tensor_value_info("y", TensorProto.FLOAT16, [2, 3])],
)
save("float16", g, {"x": rng.standard_normal((2, 3)).astype(np.float16)})

# 4. Strings in and out.
g = helper.make_graph(
    [helper.make_node("StringNormalizer", ["text"], ["upper"], case_change_action="UPPER", locale="C.UTF-8")],
    "strings",
    [helper.make_tensor_value_info("text", TensorProto.STRING, ["n"])],
    [helper.make_tensor_value_info("upper", TensorProto.STRING, ["n"])],
)
save("strings", g, {"text": np.array(["hello", "Wörld", "", "carton ✓"], dtype=object)})

# 5. Weights in an external-data file beside the model.
w2 = rng.standard_normal((4, 2)).astype(np.float32)
g = helper.make_graph(
    [helper.make_node("MatMul", ["x", "w"], ["y"])],
    "external",
    [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 4])],
    [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 2])],
    [numpy_helper.from_array(w2, "w")],
)
save("model", g, {"x": rng.standard_normal((2, 4)).astype(np.float32)}, subdir="external", external=True)

# 6. Shape of a large input: O(1) work, so a benchmark sees only the overhead
#    of handing the input over (which must not grow with its size).
g = helper.make_graph(
    [helper.make_node("Shape", ["x"], ["shape"])],
    "shape_of",
    [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n"])],
    [helper.make_tensor_value_info("shape", TensorProto.INT64, [1])],
)
save("shape_of", g, {"x": np.zeros(8, np.float32)})

# 7. An output whose declared shape is wrong: declared [n], really [2n].
#    The runner must still return the true output.
g = helper.make_graph(
    [helper.make_node("Concat", ["x", "x"], ["y"], axis=0)],
    "lying_shape",
    [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n"])],
    [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["n"])],
)
save("lying_shape", g, {"x": np.arange(3, dtype=np.float32)})

# 8. Compute-bound: a 256x512 @ 512x512 MatMul chain, for the concurrency
#    benchmark (throughput at 2 callers vs 1, one intra-op thread each).
w1 = rng.standard_normal((512, 512)).astype(np.float32)
w2 = rng.standard_normal((512, 512)).astype(np.float32)
g = helper.make_graph(
    [helper.make_node("MatMul", ["x", "w1"], ["h"]), helper.make_node("Relu", ["h"], ["r"]),
     helper.make_node("MatMul", ["r", "w2"], ["y"])],
    "compute",
    [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 512])],
    [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 512])],
    [numpy_helper.from_array(w1, "w1"), numpy_helper.from_array(w2, "w2")],
)
save("compute", g, {"x": rng.standard_normal((4, 512)).astype(np.float32)})

# 9. Values declared without a shape (any rank), which ONNX Runtime reports
#    as rank 0 like a scalar: x takes any rank, scale is a true scalar, and
#    the outputs' ranks follow the inputs. The runner must not take any of
#    them for scalars. (onnx.checker wants a shape on a graph input; ONNX
#    Runtime, and exporters' models, do without.)
g = helper.make_graph(
    [helper.make_node("Mul", ["x", "scale"], ["scaled"]), helper.make_node("Reshape", ["x", "to"], ["reshaped"])],
    "any_rank",
    [
        helper.make_tensor_value_info("x", TensorProto.FLOAT, None),
        helper.make_tensor_value_info("scale", TensorProto.FLOAT, []),
        helper.make_tensor_value_info("to", TensorProto.INT64, ["k"]),
    ],
    [helper.make_tensor_value_info("scaled", TensorProto.FLOAT, None),
     helper.make_tensor_value_info("reshaped", TensorProto.FLOAT, None)],
)
save("any_rank", g, {"x": np.arange(6, dtype=np.float32).reshape(2, 3), "scale": np.array(2, np.float32),
                     "to": np.array([3, 1, 2], np.int64)}, check=False)

# 10. A graph input that is also an output, beside a computed one: ONNX
#     Runtime passes the input's own memory through (and ignores a buffer
#     given for it).
g = helper.make_graph(
    [helper.make_node("Add", ["x", "x"], ["doubled"])],
    "passthrough",
    [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n", 2])],
    [helper.make_tensor_value_info("doubled", TensorProto.FLOAT, ["n", 2]),
     helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n", 2])],
)
save("passthrough", g, {"x": np.arange(6, dtype=np.float32).reshape(3, 2)})

# 11. An output declared with fixed dims that a run breaks: declared [2, 4],
#     really [1, 4] (a Slice from a start given at run time). ONNX Runtime
#     only warns; the runner must return the true shape, and not read past
#     the output's data.
g = helper.make_graph(
    [helper.make_node("Slice", ["x", "start", "end"], ["y"])],
    "lying_static",
    [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 4]),
     helper.make_tensor_value_info("start", TensorProto.INT64, [1])],
    [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, 4])],
    [numpy_helper.from_array(np.array([2], np.int64), "end")],
)
save("lying_static", g, {"x": np.arange(8, dtype=np.float32).reshape(2, 4), "start": np.array([1], np.int64)})

# 12. A sequence output beside a tensor one (as skl2onnx's ZipMap gives a
#     sequence of maps beside the labels): the runner serves the tensor
#     outputs and leaves the other out. Only y has a reference.
g = helper.make_graph(
    [helper.make_node("SplitToSequence", ["x"], ["pieces"], axis=0), helper.make_node("Neg", ["x"], ["y"])],
    "sequence_output",
    [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n", 2])],
    [helper.make_tensor_sequence_value_info("pieces", TensorProto.FLOAT, None),
     helper.make_tensor_value_info("y", TensorProto.FLOAT, ["n", 2])],
)
model = helper.make_model(g, opset_imports=OPSET, producer_name="carton-testdata")
model.ir_version = 8
onnx.checker.check_model(model)
onnx.save_model(model, os.path.join(HERE, "sequence_output.onnx"))
x = np.arange(6, dtype=np.float32).reshape(3, 2)
pieces, y = ort.InferenceSession(os.path.join(HERE, "sequence_output.onnx"), providers=["CPUExecutionProvider"]).run(None, {"x": x})
np.save(os.path.join(HERE, "sequence_output.in.x.npy"), x)
np.save(os.path.join(HERE, "sequence_output.out.y.npy"), y)
print("sequence_output", {"pieces": len(pieces), "y": y.shape})

# 13. Only a sequence output: nothing for the runner to serve.
g = helper.make_graph(
    [helper.make_node("SplitToSequence", ["x"], ["pieces"], axis=0)],
    "sequence_only",
    [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n", 2])],
    [helper.make_tensor_sequence_value_info("pieces", TensorProto.FLOAT, None)],
)
model = helper.make_model(g, opset_imports=OPSET, producer_name="carton-testdata")
model.ir_version = 8
onnx.checker.check_model(model)
onnx.save_model(model, os.path.join(HERE, "sequence_only.onnx"))
print("sequence_only")
