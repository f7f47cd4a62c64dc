// Package python is the python runner: upstream Carton's Python models
// (runner_name = "python"), run in-process by an embedded CPython loaded
// with purego, with no subprocess and no IPC.
//
// Conventions (upstream's): the framework version is the interpreter's
// (required_framework_version = "=3.11"); runner options
// entrypoint_package and entrypoint_fn name the module in model/ and the
// function returning the model, which gets the options named model.* as
// keyword arguments (prefix stripped); the model's infer_with_tensors
// takes and returns a dict of numpy arrays (a model with seal and
// infer_with_handle instead has an infer call the two in turn). model/.carton/carton.lock
// lists, per environment (PEP 508 markers), the wheels the model's
// requirements resolved to, by URL and sha256 or bundled in the carton;
// they are fetched once, through the configured package index by file
// name, verified, and unpacked under the cache
// (<cache>/python/wheels/<sha256>/), never installed into an environment,
// and put first on the model's sys.path. Bytecode is written under
// <cache>/python/pycache (sys.pycache_prefix, the first Load's cache),
// never beside any source.
//
// # Interpreter
//
// The Python is found like the other runtimes: the Load option or
// $CARTON_PYTHON_LIB (a libpython, or an interpreter), else the
// interpreters $CARTON_PYTHON lists (python3 on PATH); each is asked for
// its shared libpython (sysconfig) and version. One interpreter runs per
// process, started once with the environment of its executable (its
// site-packages come after the model's wheels) and isolated from the
// user's (no PYTHON* variables, no user site directory); a model asking
// for another Python version in the same process fails with
// ErrOtherPython. Modules are shared by every model of the process, as in
// any Python process: each model's directory is imported as a package of
// its own name, and a model whose locked packages another model already
// imported from elsewhere is refused at Load (one version of a package
// per process). Pack writes the lock of a model's requirements.txt
// (CompleteModel, through pip); a model returning an iterator of dicts
// streams (InferStream).
//
// # Memory
//
// Inputs reach Python as numpy arrays over the tensors' memory (numpy's C
// API), read during the call (a model that keeps an input array past the
// call must copy it). Numeric outputs are tensors over the arrays' own
// memory when they are C-contiguous, native-endian ndarrays (others are
// copied once, in Python), kept alive in Python until the last tensor of
// the call is released (or, for tensors a caller drops without releasing,
// until none is reachable); an output over an input's memory is copied
// into Go memory; string outputs are copied into Go strings.
//
// # Concurrency
//
// Many goroutines may call Infer: each call locks its goroutine to its OS
// thread and takes the GIL, so Python runs one call at a time, while
// native code the model calls that releases the GIL (numpy, torch) runs
// beside other calls. Close must not race with calls on the same session.
package python
