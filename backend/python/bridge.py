# The Python half of carton's python runner, run once in the embedded
# interpreter as the module _carton_bridge. Go makes the input arrays
# (numpy's C API) and calls the model's infer_with_tensors itself, and
# takes a dict of C-contiguous numeric arrays as it is; the rest (load,
# strings, iterators, outputs needing a conversion, errors) goes through
# these functions, which answer JSON; tensors travel as addresses.
import glob
import importlib
import itertools
import json
import os
import sys
import traceback

_models = {}  # token -> the model object the entrypoint returned
_kept = {}  # token -> arrays whose memory Go tensors use
_streams = {}  # token -> _Stream
_tokens = itertools.count(1)

_DTYPES = {"float32": "<f4", "float64": "<f8", "int8": "|i1", "int16": "<i2", "int32": "<i4", "int64": "<i8",
           "uint8": "|u1", "uint16": "<u2", "uint32": "<u4", "uint64": "<u8", "bool": "|b1", "float16": "<f2"}
_NAMES = {v: k for k, v in _DTYPES.items()}


def _error(e):
    return json.dumps({"error": {"type": type(e).__module__ + "." + type(e).__qualname__, "message": str(e),
                                 "traceback": "".join(traceback.format_exception(e))}})


def _top_level(dist_info):
    """The top-level modules a wheel's .dist-info says it installs."""
    top = os.path.join(dist_info, "top_level.txt")
    if os.path.exists(top):
        with open(top) as f:
            return {line.strip() for line in f if line.strip()}
    names = set()
    with open(os.path.join(dist_info, "RECORD")) as f:
        for line in f:
            first = line.split(",", 1)[0].split("/", 1)[0]
            if first and not first.endswith((".dist-info", ".data")) and first != "..":
                names.add(first[:-3] if first.endswith(".py") else first)
    return names


_provided = {}  # top-level module -> the wheel (name-version) a model's path gave it


def _check_conflicts(paths):
    """Refuses wheels whose modules the process already imported in
    another version: a process has one version of a package. The same
    version from another copy (another cache) is the same package."""
    problems, provides = [], {}
    for p in paths:
        root = os.path.realpath(p) + os.sep
        for info in sorted(glob.glob(os.path.join(p, "*.dist-info"))):
            dist = os.path.basename(info)[:-len(".dist-info")]
            version = dist.split("-", 1)[1] if "-" in dist else ""
            for mod in sorted(_top_level(info)):
                provides[mod] = dist
                m = sys.modules.get(mod)
                where = getattr(m, "__file__", None) if m is not None else None
                if not where or os.path.realpath(where).startswith(root):
                    continue
                prior = _provided.get(mod)
                if prior == dist or (prior is None and str(getattr(m, "__version__", "")) == version):
                    continue
                problems.append(f"{mod} of {dist} is already imported ({prior or getattr(m, '__version__', '?')}) from {where}")
    if problems:
        raise ImportError("the model's locked packages conflict with packages another model of this process imported "
                          "(a process runs one version of a package; load this model in another process): " + "; ".join(problems))
    for mod, dist in provides.items():
        _provided.setdefault(mod, dist)


def load(package_dir, module, fn, opts_json, paths_json, pycache):
    """Imports module (package_dir's model package), calls fn(**opts), and
    returns {"token": N}; paths go first on sys.path. Bytecode is written
    under pycache (the first load's that exists), never beside the sources: the
    locked wheels are unpacked without it, and the user's directories are
    not carton's to write."""
    try:
        if pycache and (sys.pycache_prefix is None or not os.path.isdir(sys.pycache_prefix)):  # unset, or its cache removed
            sys.pycache_prefix = pycache
            sys.dont_write_bytecode = False
        paths = json.loads(paths_json) or []
        _check_conflicts(paths)
        for p in reversed([package_dir] + paths):
            if p not in sys.path:
                sys.path.insert(0, p)
        importlib.invalidate_caches()
        mod = importlib.import_module(module)
        model = getattr(mod, fn)(**json.loads(opts_json))
        if _infer_of(model) is None:
            raise TypeError(f"{module}.{fn}() returned {type(model).__name__}, which has no infer_with_tensors "
                            "(nor seal and infer_with_handle)")
        token = next(_tokens)
        _models[token] = model
        return json.dumps({"token": token})
    except BaseException as e:  # everything goes back to Go as an error
        return _error(e)


def unload(token, package_dir):
    """Forgets model token (0: none was made) and removes the bytecode of
    its package directory (one of its own per load) from the pycache tree."""
    _models.pop(token, None)
    if sys.pycache_prefix:
        import shutil
        shutil.rmtree(os.path.join(sys.pycache_prefix, os.path.abspath(package_dir).lstrip(os.sep)), ignore_errors=True)
    return ""


def _infer_of(model):
    """What an infer calls: the model's infer_with_tensors; or, as upstream
    does for a model with only seal and infer_with_handle, the two in turn
    (seal returns an int handle)."""
    infer = getattr(model, "infer_with_tensors", None)
    if callable(infer):
        return infer
    seal, with_handle = getattr(model, "seal", None), getattr(model, "infer_with_handle", None)
    if not callable(seal) or not callable(with_handle):
        return None

    def infer_sealed(tensors):
        handle = seal(tensors)
        if not isinstance(handle, int) or isinstance(handle, bool):
            raise TypeError(f"seal returned {type(handle).__name__}, not an int handle")
        return with_handle(handle)

    return infer_sealed


def method(token):
    """The callable Go calls for an infer (_infer_of)."""
    return _infer_of(_models[token])


def array_api():
    """numpy's C API capsule (numpy 2 moved it)."""
    for name in ("numpy._core._multiarray_umath", "numpy.core._multiarray_umath"):
        try:
            return importlib.import_module(name)._ARRAY_API
        except (ImportError, AttributeError):
            pass
    return None


def array_at(spec_json):
    """An input array: over memory at an address (where Go cannot use
    numpy's C API), or of str objects for a string tensor."""
    import ctypes
    import numpy as np
    spec = json.loads(spec_json)
    if spec["dtype"] == "string":
        arr = np.empty(len(spec["strings"]), dtype=object)
        arr[:] = spec["strings"]
        return arr.reshape(spec["shape"])
    if not spec.get("nbytes"):
        return np.empty(spec["shape"], dtype=_DTYPES[spec["dtype"]])
    buf = (ctypes.c_char * spec["nbytes"]).from_address(spec["addr"])
    return np.frombuffer(buf, dtype=_DTYPES[spec["dtype"]]).reshape(spec["shape"])


def error_json(exc):
    return _error(exc)


def _describe(np, out):
    """Describes a dict of outputs; numeric arrays are kept until release."""
    if not isinstance(out, dict):
        raise TypeError(f"the model returned {type(out).__name__}, not a dict of arrays")
    keep, described = [], []
    for name, value in out.items():
        if not isinstance(name, str):
            raise TypeError(f"output names are str; the model returned {name!r}")
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


class _Stream:
    """A model's iterator (sync or async) of output dicts, with the input
    arrays it may still read."""

    def __init__(self, it, inputs):
        self.it, self.inputs, self.loop = it, inputs, None
        if hasattr(it, "__anext__"):
            import asyncio
            self.loop = asyncio.new_event_loop()

    def next(self):
        try:
            if self.loop is not None:
                return self.loop.run_until_complete(self.it.__anext__())
            return next(self.it)
        except (StopIteration, StopAsyncIteration):
            return None

    def close(self):
        try:
            if self.loop is not None:
                if hasattr(self.it, "aclose"):
                    self.loop.run_until_complete(self.it.aclose())
                self.loop.close()
            elif hasattr(self.it, "close"):
                self.it.close()
        finally:
            self.inputs = None


def _stream_of(out, inputs):
    if hasattr(out, "__anext__") or hasattr(out, "__next__"):
        return _Stream(out, inputs)
    if hasattr(out, "__aiter__"):
        return _Stream(out.__aiter__(), inputs)
    return None


def finish(out, inputs, stream):
    """What Go does not take as it is: an iterator (with stream, a token
    for next_step; without, its last step), or outputs to describe
    (numeric ones as addresses into arrays kept until release)."""
    try:
        import numpy as np
        if not isinstance(out, dict):
            st = _stream_of(out, inputs)
            if st is None:
                raise TypeError(f"the model returned {type(out).__name__}, not a dict of arrays nor an iterator of them")
            if stream:
                t = next(_tokens)
                _streams[t] = st
                return json.dumps({"stream": t})
            last = None
            try:
                while (step := st.next()) is not None:
                    last = step
            finally:
                st.close()
            if last is None:
                raise ValueError("the model's iterator yielded nothing")
            out = last
        return _describe(np, out)
    except BaseException as e:  # everything goes back to Go as an error
        return _error(e)


def next_step(token):
    """The next step of a stream: {"outputs", "kept"}, or {"done": true}."""
    try:
        import numpy as np
        step = _streams[token].next()
        if step is None:
            return json.dumps({"done": True})
        return _describe(np, step)
    except BaseException as e:
        return _error(e)


def close_stream(token):
    st = _streams.pop(token, None)
    try:
        if st is not None:
            st.close()
        return ""
    except BaseException as e:
        return _error(e)


def release(token):
    _kept.pop(token, None)
    return ""
