# The Python half of carton's python runner, run once in the embedded
# interpreter as the module _carton_bridge. Go calls load, infer and
# release with plain arguments (str, int) and gets JSON back, so that the
# Go side needs few of the C API's functions; tensors travel as addresses.
import ctypes
import importlib
import itertools
import json
import sys
import traceback

_models = {}  # token -> the model object the entrypoint returned
_kept = {}  # token -> arrays whose memory Go tensors use
_tokens = itertools.count(1)

_DTYPES = {"float32": "<f4", "float64": "<f8", "int8": "|i1", "int16": "<i2", "int32": "<i4", "int64": "<i8",
           "uint8": "|u1", "uint16": "<u2", "uint32": "<u4", "uint64": "<u8", "bool": "|b1", "float16": "<f2"}
_NAMES = {v: k for k, v in _DTYPES.items()}


def _error(e):
    return json.dumps({"error": {"type": type(e).__module__ + "." + type(e).__qualname__, "message": str(e),
                                 "traceback": "".join(traceback.format_exception(e))}})


def load(package_dir, module, fn, opts_json, paths_json):
    """Imports module (package_dir's model package), calls fn(**opts), and
    returns {"token": N}; paths go first on sys.path."""
    try:
        for p in reversed([package_dir] + (json.loads(paths_json) or [])):
            if p not in sys.path:
                sys.path.insert(0, p)
        importlib.invalidate_caches()
        mod = importlib.import_module(module)
        model = getattr(mod, fn)(**json.loads(opts_json))
        if not callable(getattr(model, "infer_with_tensors", None)):
            raise TypeError(f"{module}.{fn}() returned {type(model).__name__}, which has no infer_with_tensors")
        token = next(_tokens)
        _models[token] = model
        return json.dumps({"token": token})
    except BaseException as e:  # everything goes back to Go as an error
        return _error(e)


def unload(token):
    _models.pop(token, None)
    return ""


def _array(np, spec):
    if spec["dtype"] == "string":
        return np.array(spec["strings"], dtype=object).reshape(spec["shape"]) if spec["strings"] else \
            np.empty(spec["shape"], dtype=object)
    if not spec["nbytes"]:
        return np.empty(spec["shape"], dtype=_DTYPES[spec["dtype"]])
    buf = (ctypes.c_char * spec["nbytes"]).from_address(spec["addr"])
    return np.frombuffer(buf, dtype=_DTYPES[spec["dtype"]]).reshape(spec["shape"])


def infer(token, specs_json):
    """Runs the model on arrays over the inputs' memory; returns the
    outputs: numeric ones as addresses into arrays kept until release."""
    try:
        import numpy as np
        inputs = {s["name"]: _array(np, s) for s in json.loads(specs_json)}
        out = _models[token].infer_with_tensors(inputs)
        if not isinstance(out, dict):
            raise TypeError(f"infer_with_tensors returned {type(out).__name__}, not a dict of arrays")
        keep, described = [], []
        for name, value in out.items():
            arr = np.asarray(value)
            if arr.dtype.kind in "USO":
                flat = [v.decode() if isinstance(v, bytes) else str(v) for v in arr.ravel().tolist()]
                described.append({"name": name, "dtype": "string", "shape": list(arr.shape), "strings": flat})
                continue
            if arr.dtype.byteorder == ">" or arr.dtype.str not in _NAMES:
                swapped = arr.dtype.newbyteorder("<") if arr.dtype.byteorder == ">" else arr.dtype
                if swapped.str not in _NAMES:
                    raise TypeError(f"output {name!r}: carton has no dtype for numpy's {arr.dtype}")
                arr = arr.astype(swapped)
            if not arr.flags.c_contiguous:
                arr = np.ascontiguousarray(arr)  # the one copy a strided output costs
            keep.append(arr)
            described.append({"name": name, "dtype": _NAMES[arr.dtype.str], "shape": list(arr.shape),
                              "addr": arr.__array_interface__["data"][0], "nbytes": arr.nbytes})
        kept = 0
        if keep:
            kept = next(_tokens)
            _kept[kept] = keep
        return json.dumps({"outputs": described, "kept": kept})
    except BaseException as e:
        return _error(e)


def release(token):
    _kept.pop(token, None)
    return ""
