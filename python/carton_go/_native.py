"""ctypes declarations of libcarton's C ABI (include/carton.h)."""
import ctypes
import os
import sys

ABI_VERSION = 1

c_char_pp = ctypes.POINTER(ctypes.c_char_p)
c_int64_p = ctypes.POINTER(ctypes.c_int64)
c_size_t_p = ctypes.POINTER(ctypes.c_size_t)


class TensorSpec(ctypes.Structure):
    _fields_ = [("name", ctypes.c_char_p), ("dtype", ctypes.c_int), ("ndim", ctypes.c_int64), ("shape", c_int64_p)]


class LoadOptions(ctypes.Structure):
    _fields_ = [
        ("size", ctypes.c_size_t),
        ("device", ctypes.c_char_p),
        ("framework_version", ctypes.c_char_p),
        ("runtime_path", ctypes.c_char_p),
        ("cache_dir", ctypes.c_char_p),
        ("num_runner_opts", ctypes.c_size_t),
        ("runner_opt_keys", c_char_pp),
        ("runner_opt_values", c_char_pp),
    ]


class TensorView(ctypes.Structure):
    _fields_ = [
        ("dtype", ctypes.c_int),
        ("ndim", ctypes.c_size_t),
        ("shape", c_int64_p),
        ("data", ctypes.c_void_p),
        ("nbytes", ctypes.c_size_t),
        ("strings", c_char_pp),
        ("string_lens", c_size_t_p),
    ]


def _library_path():
    explicit = os.environ.get("CARTON_GO_LIB")
    if explicit:
        return explicit
    name = "libcarton.dylib" if sys.platform == "darwin" else "libcarton.so"
    return os.path.join(os.path.dirname(os.path.abspath(__file__)), name)


def _declare(lib):
    """Sets the argument and result types of every function used."""
    p = ctypes.c_void_p
    for name, res, args in [
        ("carton_abi_version", ctypes.c_int, []),
        ("carton_version", ctypes.c_char_p, []),
        ("carton_free_error", None, [p]),
        ("carton_load", ctypes.c_int, [ctypes.c_char_p, ctypes.POINTER(LoadOptions), ctypes.POINTER(p), ctypes.POINTER(p)]),
        ("carton_info", ctypes.c_int, [ctypes.c_char_p, ctypes.POINTER(p), ctypes.POINTER(p)]),
        ("carton_close", ctypes.c_int, [p, ctypes.POINTER(p)]),
        ("carton_model_info_json", ctypes.c_char_p, [p]),
        ("carton_model_runtime_framework", ctypes.c_char_p, [p]),
        ("carton_model_runtime_version", ctypes.c_char_p, [p]),
        ("carton_infer_views", ctypes.c_int, [p, ctypes.c_size_t, c_char_pp, ctypes.POINTER(TensorView), ctypes.POINTER(p), ctypes.POINTER(p)]),
        ("carton_outputs_count", ctypes.c_size_t, [p]),
        ("carton_outputs_name", ctypes.c_char_p, [p, ctypes.c_size_t]),
        ("carton_outputs_tensor", p, [p, ctypes.c_size_t]),
        ("carton_outputs_free", None, [p]),
        ("carton_tensor_get_view", ctypes.c_int, [p, ctypes.POINTER(TensorView)]),
        ("carton_outputs_get_views", ctypes.c_size_t, [p, c_char_pp, ctypes.POINTER(TensorView), ctypes.c_size_t]),
    ]:
        fn = getattr(lib, name)
        fn.restype = res
        fn.argtypes = args


def load_library():
    path = _library_path()
    # Runtimes pip installed beside carton_go (onnxruntime, torch,
    # tensorflow-cpu) are found through this interpreter unless
    # CARTON_PYTHON says which to ask; libcarton reads the environment
    # when it is loaded.
    if sys.executable and "CARTON_PYTHON" not in os.environ:
        os.environ["CARTON_PYTHON"] = sys.executable
    try:
        # CDLL releases the GIL for the length of every call: inference on
        # one thread does not stop Python code on the others.
        lib = ctypes.CDLL(path)
    except OSError as e:
        raise ImportError(f"carton_go: cannot load libcarton ({path}): {e}; set CARTON_GO_LIB to its path") from e
    _declare(lib)
    if lib.carton_abi_version() != ABI_VERSION:
        raise ImportError(f"carton_go: {path} has C ABI {lib.carton_abi_version()}, this package needs {ABI_VERSION}")
    return lib


lib = load_library()
