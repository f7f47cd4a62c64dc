"""The reference tensors the client scripts send and compare with."""
import glob
import os

import numpy as np


def tensors(prefix, kind):
    """PREFIX.KIND.NAME.npy files (kind "in" or "out") as {NAME: array}."""
    out = {}
    for path in sorted(glob.glob(prefix + "." + kind + ".*.npy")):
        name = os.path.basename(path)[len(os.path.basename(prefix)) + len(kind) + 2:-4]
        out[name] = np.load(path, allow_pickle=True)
    return out


def as_sent(arr):
    """Strings travel as BYTES: numpy's unicode arrays become object arrays of bytes."""
    if arr.dtype.kind == "U":
        return np.array([s.encode() for s in arr.ravel()], dtype=np.object_).reshape(arr.shape)
    return arr
