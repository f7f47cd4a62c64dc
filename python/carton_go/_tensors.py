"""numpy arrays to carton_tensor_view and outputs back to numpy arrays.

Per thread, the ctypes arrays a call fills are made once (_Scratch): a
call sets the fields of preallocated views instead of building new ctypes
objects, which is most of what a call costs in Python.
"""
import ctypes
import threading

import numpy as np

from ._native import TensorView, c_int64_p

STRING = 3
MAX_DIMS = 32
SLOTS = 32  # inputs and outputs a thread's scratch holds; more take the slow path

# carton_dtype codes and the numpy type strings (little-endian) they are.
_CARTON_TO_NUMPY = {
    1: "<f4", 2: "<f8", 4: "|i1", 5: "<i2", 6: "<i4", 7: "<i8", 8: "|u1", 9: "<u2", 10: "<u4", 11: "<u8",
    12: "|b1", 13: "<f2",
    14: "<u2",  # bfloat16: numpy has none; its bits, as uint16
}
_NUMPY_TO_CARTON = {v: k for k, v in _CARTON_TO_NUMPY.items() if k != 14}
# By numpy's type number, for native (little-endian) arrays: one lookup.
_NUM_TO_CARTON = {np.dtype(t).num: code for t, code in _NUMPY_TO_CARTON.items()}
_LITTLE = np.little_endian


class _Scratch(threading.local):
    def __init__(self):
        self.names = (ctypes.c_char_p * SLOTS)()
        self.views = (TensorView * SLOTS)()
        self.shapes = [(ctypes.c_int64 * MAX_DIMS)() for _ in range(SLOTS)]
        self.slots = [self.views[i] for i in range(SLOTS)]
        for view, shape in zip(self.slots, self.shapes):
            view.shape = ctypes.cast(shape, c_int64_p)
        self.out_names = (ctypes.c_char_p * SLOTS)()
        self.out_views = (TensorView * SLOTS)()
        self.out_slots = [self.out_views[i] for i in range(SLOTS)]


_scratch = _Scratch()
_encoded = {}  # input names, encoded once


def to_views(tensors):
    """The names and views of tensors, and the objects that must outlive
    the call (the arrays, and any copies made)."""
    n = len(tensors)
    s = _scratch
    if n > SLOTS:
        s = _Scratch.__new__(_Scratch)  # a one-off scratch of the right size
        _Scratch.__init__(s)
    names, slots, shapes = s.names, s.slots, s.shapes
    keep = []
    for i, (name, value) in enumerate(tensors.items()):
        key = _encoded.get(name)
        if key is None:
            key = _encoded.setdefault(name, name.encode())
        names[i] = key
        arr = value if type(value) is np.ndarray else np.asarray(value)
        view = slots[i]
        shape = arr.shape
        if len(shape) > MAX_DIMS:
            raise ValueError(f"input {name!r}: {len(shape)} dimensions, at most {MAX_DIMS}")
        shapes[i][:len(shape)] = shape
        view.ndim = len(shape)
        code = _NUM_TO_CARTON.get(arr.dtype.num) if arr.dtype.isnative or arr.dtype.itemsize == 1 else None
        if code is None:
            if arr.dtype.kind in "USO":
                _string_view(view, arr, keep)
                continue
            arr, code = _convertible(name, arr)
        if not arr.flags.c_contiguous:
            arr = np.ascontiguousarray(arr)  # the one copy a strided array costs
        view.dtype = code
        view.data = arr.ctypes.data if not arr.flags.writeable else ctypes.addressof(ctypes.c_char.from_buffer(arr))
        view.nbytes = arr.nbytes
        view.strings = None
        keep.append(arr)
    return n, names, s.views, keep


def _convertible(name, arr):
    """arr in a dtype carton has: a big-endian array byte-swapped (a copy)."""
    if arr.dtype.byteorder == ">":
        swapped = arr.dtype.newbyteorder("<")
        if swapped.str in _NUMPY_TO_CARTON:
            return arr.astype(swapped), _NUMPY_TO_CARTON[swapped.str]
    raise TypeError(f"input {name!r}: carton has no dtype for numpy's {arr.dtype}")


def _string_view(view, arr, keep):
    flat = [v.encode() if isinstance(v, str) else bytes(v) for v in arr.ravel().tolist()]
    strs = (ctypes.c_char_p * len(flat))(*flat)
    lens = (ctypes.c_size_t * len(flat))(*map(len, flat))
    view.dtype = STRING
    view.data = None
    view.nbytes = 0
    view.strings = strs
    view.string_lens = lens
    keep.append((strs, lens, flat))


class _Memory:
    """An output's memory as numpy sees it; holds the outputs it belongs to."""

    __slots__ = ("__array_interface__", "_owner")

    def __init__(self, owner, ptr, shape, typestr):
        self._owner = owner
        self.__array_interface__ = {"data": (ptr, False), "shape": shape, "typestr": typestr, "version": 3}


def to_arrays(lib, outs, owner):
    """The outputs as numpy arrays: numeric ones over carton's memory (kept
    by owner until every array is collected), strings copied to str arrays."""
    s = _scratch
    n = lib.carton_outputs_get_views(outs, s.out_names, s.out_views, SLOTS)
    if n > SLOTS:
        s = _Scratch.__new__(_Scratch)
        _Scratch.__init__(s)
        s.out_names = (ctypes.c_char_p * n)()
        s.out_views = (TensorView * n)()
        s.out_slots = [s.out_views[i] for i in range(n)]
        lib.carton_outputs_get_views(outs, s.out_names, s.out_views, n)
    result = {}
    names = s.out_names
    for i in range(n):
        view = s.out_slots[i]
        name = names[i].decode()
        shape = tuple(view.shape[:view.ndim])
        code = view.dtype
        if code == STRING:
            k = 1
            for d in shape:
                k *= d
            vals = [ctypes.string_at(view.strings[j], view.string_lens[j]).decode("utf-8", "replace") for j in range(k)]
            result[name] = np.array(vals, dtype=str).reshape(shape)
        elif not view.data or not view.nbytes:
            result[name] = np.empty(shape, dtype=_CARTON_TO_NUMPY[code])
        else:
            result[name] = np.asarray(_Memory(owner, view.data, shape, _CARTON_TO_NUMPY[code]))
    return result
