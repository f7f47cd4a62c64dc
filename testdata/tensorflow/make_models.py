"""Builds the TensorFlow SavedModel test models and their reference outputs.

Run with a Python that has tensorflow (make setup installs tensorflow-cpu
into build/venv):
    build/venv/bin/python testdata/tensorflow/make_models.py
Each model NAME gets a SavedModel directory NAME/ and reference tensors
NAME.in.<input>.npy and NAME.out.<output>.npy (signature keys), computed by
TensorFlow itself.
"""
import os
import shutil

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np
import tensorflow as tf

HERE = os.path.dirname(os.path.abspath(__file__))
tf.random.set_seed(20261125)
rng = np.random.default_rng(20261125)


def as_numpy(v):
    v = np.asarray(v.numpy())
    if v.dtype == object or v.dtype.kind == "S":  # tf.string comes back as bytes
        return np.array([s.decode() for s in v.reshape(-1)], dtype=str).reshape(v.shape)
    return v


def save(name, module, signatures, fn, inputs):
    path = os.path.join(HERE, name)
    shutil.rmtree(path, ignore_errors=True)
    tf.saved_model.save(module, path, signatures=signatures)
    outputs = fn(**{k: tf.constant(v) for k, v in inputs.items()})
    for k, v in inputs.items():
        np.save(os.path.join(HERE, f"{name}.in.{k}.npy"), v)
    for k, v in outputs.items():
        np.save(os.path.join(HERE, f"{name}.out.{k}.npy"), as_numpy(v))
    print(name, {k: tuple(v.shape) for k, v in outputs.items()})


# 1. A dense layer with a dynamic batch.
class Dense(tf.Module):
    def __init__(self):
        super().__init__()
        self.w = tf.Variable(tf.random.normal([4, 3]), name="w")
        self.b = tf.Variable(tf.random.normal([3]), name="b")

    @tf.function(input_signature=[tf.TensorSpec([None, 4], tf.float32, name="x")])
    def serve(self, x):
        return {"y": tf.matmul(x, self.w) + self.b}


m = Dense()
save("dense", m, {"serving_default": m.serve}, m.serve,
     {"x": rng.standard_normal((5, 4)).astype(np.float32)})


# 2. Several inputs and outputs: int64, bool, float64 and a scalar.
class Mixed(tf.Module):
    @tf.function(input_signature=[
        tf.TensorSpec([None], tf.int64, name="ids"),
        tf.TensorSpec([None], tf.bool, name="mask"),
        tf.TensorSpec([None], tf.float64, name="x"),
    ])
    def serve(self, ids, mask, x):
        return {
            "next_ids": ids + 1,
            "inverted": tf.logical_not(mask),
            "halved": x * 0.5,
            "masked_sum": tf.reduce_sum(tf.where(mask, ids, tf.zeros_like(ids))),
        }


m = Mixed()
save("mixed", m, {"serving_default": m.serve}, m.serve, {
    "ids": np.array([5, -7, 1 << 40, 3], dtype=np.int64),
    "mask": np.array([True, False, True, True]),
    "x": rng.standard_normal(4),
})


# 3. Every other numeric dtype, in and out (identity, and float16 arithmetic).
DTYPES = {
    "f16": (tf.float16, np.float16), "i8": (tf.int8, np.int8), "i16": (tf.int16, np.int16),
    "i32": (tf.int32, np.int32), "u8": (tf.uint8, np.uint8), "u16": (tf.uint16, np.uint16),
    "u32": (tf.uint32, np.uint32), "u64": (tf.uint64, np.uint64),
}


class DTypes(tf.Module):
    @tf.function(input_signature=[tf.TensorSpec([None], t, name=k) for k, (t, _) in DTYPES.items()])
    def serve(self, f16, i8, i16, i32, u8, u16, u32, u64):
        args = [f16, i8, i16, i32, u8, u16, u32, u64]
        out = {f"{k}_out": tf.identity(a) for k, a in zip(DTYPES, args)}
        out["f16_doubled"] = f16 * tf.constant(2, tf.float16)
        return out


m = DTypes()
inputs = {}
for k, (_, npt) in DTYPES.items():
    if npt is np.float16:
        inputs[k] = np.array([0.5, -1.25, 1000], dtype=npt)
    else:
        info = np.iinfo(npt)
        inputs[k] = np.array([info.min, 1, info.max], dtype=npt)
save("dtypes", m, {"serving_default": m.serve}, m.serve, inputs)


# 4. Strings in and out: short (inline) and long (heap) TF_TStrings.
class Strings(tf.Module):
    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="text")])
    def serve(self, text):
        return {
            "upper": tf.strings.upper(text),
            "lengths": tf.strings.length(text),
            "joined": tf.strings.reduce_join(text, separator=" | "),
        }


m = Strings()
save("strings", m, {"serving_default": m.serve}, m.serve, {
    "text": np.array(["hello", "", "carton runs models from go in-process", "tf"], dtype=str),
})


# 5. A non-default signature name beside serving_default.
class TwoSignatures(tf.Module):
    @tf.function(input_signature=[tf.TensorSpec([None], tf.float32, name="x")])
    def plus_one(self, x):
        return {"y": x + 1}

    @tf.function(input_signature=[tf.TensorSpec([None], tf.float32, name="value")])
    def times_two(self, value):
        return {"doubled": value * 2}


m = TwoSignatures()
save("signatures", m, {"serving_default": m.plus_one, "times_two": m.times_two}, m.times_two,
     {"value": np.array([1.5, -2, 8], dtype=np.float32)})


# 6. O(1) work on any input size: for the overhead benchmark's 64 MiB input.
class First(tf.Module):
    @tf.function(input_signature=[tf.TensorSpec([None], tf.float32, name="x")])
    def serve(self, x):
        return {"first": x[:1] * 1}


m = First()
save("first", m, {"serving_default": m.serve}, m.serve, {"x": np.arange(8, dtype=np.float32)})


# 7. A signature that lies about its output: y is x * 2 (shape [None]), but
#    saved_model.pb's signature is edited to say [8]. TensorFlow runs the
#    graph regardless; the runner must return y's true shape, and not read
#    past its data.
class Double(tf.Module):
    @tf.function(input_signature=[tf.TensorSpec([None], tf.float32, name="x")])
    def serve(self, x):
        return {"y": x * 2}


m = Double()
save("lying_signature", m, {"serving_default": m.serve}, m.serve, {"x": np.arange(3, dtype=np.float32)})
from tensorflow.core.protobuf import saved_model_pb2  # noqa: E402

pb_path = os.path.join(HERE, "lying_signature", "saved_model.pb")
sm = saved_model_pb2.SavedModel()
with open(pb_path, "rb") as f:
    sm.ParseFromString(f.read())
shape = sm.meta_graphs[0].signature_def["serving_default"].outputs["y"].tensor_shape
del shape.dim[:]
shape.dim.add(size=8)
with open(pb_path, "wb") as f:
    f.write(sm.SerializeToString())
