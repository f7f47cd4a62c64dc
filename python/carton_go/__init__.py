"""carton_go: run any ML model from Python through carton's Go core,
in-process (libcarton, the C ABI), shaped like upstream Carton's cartonml.

    import carton_go as carton
    model = await carton.load("model.carton")
    out = await model.infer({"x": np.ones((1, 4), np.float32)})

Inputs are numpy arrays (C-contiguous ones are read in place; others are
copied once), str/bytes arrays for string tensors. Outputs are numpy
arrays over carton's memory, freed when the last of a call's arrays is
collected; string outputs are str arrays. The GIL is released while a
model runs, so threads infer concurrently. load_sync and infer_sync are
the synchronous twins of load and infer.
"""
__version__ = "0.1.0"

import asyncio
import ctypes
import json
import os
import threading

from ._errors import (CartonError, ChecksumError, ClosedError, FrameworkError, InvalidArgumentError,
                      InvalidInputError, InvalidOptionError, MalformedError, ModelError, NoRuntimeError,
                      NotFoundError, OfflineError, PlatformError, RemoteError, UnknownRunnerError, error_for)
from ._info import CartonInfo, RunnerInfo, TensorSpec
from ._native import LoadOptions, lib
from ._tensors import to_arrays, to_views

_fastpath = None
if os.environ.get("CARTON_GO_NO_FAST") != "1":  # the ctypes path alone (its tests set it)
    try:
        from . import _fast as _fastpath
    except ImportError:  # built for another Python: the ctypes path does it all
        pass
    else:
        _fastpath.init(*(ctypes.cast(getattr(lib, f), ctypes.c_void_p).value
                     for f in ("carton_infer_views", "carton_outputs_get_views", "carton_outputs_free")))

__all__ = [
    "load", "load_sync", "get_model_info", "get_model_info_sync", "Carton", "CartonInfo", "RunnerInfo", "TensorSpec",
    "CartonError", "ChecksumError", "ClosedError", "FrameworkError", "InvalidArgumentError", "InvalidInputError",
    "InvalidOptionError", "MalformedError", "ModelError", "NoRuntimeError", "NotFoundError", "OfflineError",
    "PlatformError", "RemoteError", "UnknownRunnerError", "version",
]


def version():
    """libcarton's version."""
    return lib.carton_version().decode()


def _check(status, err):
    if status != 0:
        message = ctypes.cast(err, ctypes.c_char_p).value.decode("utf-8", "replace") if err.value else "carton failed"
        lib.carton_free_error(err)
        raise error_for(status, message)


def _device(visible_device):
    if visible_device is None:
        return None
    if isinstance(visible_device, int):
        return f"cuda:{visible_device}".encode()
    return str(visible_device).encode()


def _opt_value(v):
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float, str)):
        return str(v)
    raise TypeError(f"runner option values are int, float, bool or str, not {type(v).__name__}")


class _Outputs:
    """One call's outputs, given back to the model when collected."""

    __slots__ = ("ptr",)

    def __init__(self, ptr):
        self.ptr = ptr

    def __del__(self):
        if self.ptr:
            lib.carton_outputs_free(self.ptr)
            self.ptr = None


class Carton:
    """A loaded model. Safe to use from many threads; close() (or the end of
    a with block) frees it once no call runs."""

    def __init__(self, handle):
        self._handle = handle
        self._lock = threading.Lock()
        self._info = None

    @property
    def info(self):
        """The carton's metadata (CartonInfo)."""
        if self._info is None:
            self._info = CartonInfo._from_json(json.loads(lib.carton_model_info_json(self._ptr())))
        return self._info

    def _ptr(self):
        h = self._handle
        if not h:
            raise ClosedError("the model is closed")
        return h

    def infer_sync(self, tensors):
        """Runs the model on a dict of numpy arrays; returns a dict of them."""
        if _fastpath is not None:
            r = _fastpath.infer(self._ptr(), tensors)
            if type(r) is dict:
                return r
            if r is not None:
                status, ptr = r
                if status:
                    _check(status, ctypes.c_void_p(ptr))
                return to_arrays(lib, ptr, _Outputs(ptr))
        n, names, views, keep = to_views(tensors)
        outs = ctypes.c_void_p()
        err = ctypes.c_void_p()
        status = lib.carton_infer_views(self._ptr(), n, names, views, ctypes.byref(outs), ctypes.byref(err))
        if status:
            _check(status, err)
        return to_arrays(lib, outs.value, _Outputs(outs.value))

    async def infer(self, tensors):
        """infer_sync on a worker thread."""
        return await asyncio.to_thread(self.infer_sync, tensors)

    def close(self):
        with self._lock:
            h, self._handle = self._handle, None
        if h:
            err = ctypes.c_void_p()
            _check(lib.carton_close(h, ctypes.byref(err)), err)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __del__(self):
        try:
            self.close()
        except Exception:
            pass


def load_sync(path, visible_device=None, override_runner_name=None, override_required_framework_version=None,
              override_runner_opts=None, runtime_path=None, cache_dir=None):
    """Loads the carton at path (a file, a directory or an http(s) URL).

    visible_device: "cpu", "cuda:N" or N; override_required_framework_version:
    a runtime version or requirement to use besides the carton's;
    override_runner_opts: runner options by name; runtime_path: the framework
    library to use; cache_dir: carton's cache."""
    if override_runner_name is not None:
        raise InvalidOptionError("override_runner_name: carton picks the runner the carton names")
    opts = LoadOptions()
    opts.size = ctypes.sizeof(LoadOptions)
    opts.device = _device(visible_device)
    opts.framework_version = override_required_framework_version.encode() if override_required_framework_version else None
    opts.runtime_path = str(runtime_path).encode() if runtime_path else None
    opts.cache_dir = str(cache_dir).encode() if cache_dir else None
    if override_runner_opts:
        keys = [str(k).encode() for k in override_runner_opts]
        values = [_opt_value(v).encode() for v in override_runner_opts.values()]
        opts.num_runner_opts = len(keys)
        opts.runner_opt_keys = (ctypes.c_char_p * len(keys))(*keys)
        opts.runner_opt_values = (ctypes.c_char_p * len(values))(*values)
    handle = ctypes.c_void_p()
    err = ctypes.c_void_p()
    _check(lib.carton_load(str(path).encode(), ctypes.byref(opts), ctypes.byref(handle), ctypes.byref(err)), err)
    return Carton(handle.value)


async def load(path, **kwargs):
    """load_sync on a worker thread."""
    return await asyncio.to_thread(load_sync, path, **kwargs)


def get_model_info_sync(url_or_path):
    """The carton's metadata, without loading a runtime."""
    handle = ctypes.c_void_p()
    err = ctypes.c_void_p()
    _check(lib.carton_info(str(url_or_path).encode(), ctypes.byref(handle), ctypes.byref(err)), err)
    try:
        return CartonInfo._from_json(json.loads(lib.carton_model_info_json(handle.value)))
    finally:
        lib.carton_close(handle.value, None)


async def get_model_info(url_or_path):
    """get_model_info_sync on a worker thread."""
    return await asyncio.to_thread(get_model_info_sync, url_or_path)
