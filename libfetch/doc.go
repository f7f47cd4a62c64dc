// Package libfetch finds framework runtimes on this machine: given a
// framework, it returns candidate installations (a library file or a
// directory) with their version and where they came from.
//
// Sources, in order: an explicit path (a Load option), the framework's
// environment variable (CARTON_ONNXRUNTIME_LIB, CARTON_LIBTORCH_DIR,
// CARTON_TENSORFLOW_DIR), an installed Python package (in the Python named by
// CARTON_PYTHON, else python3 on PATH), and an npm package (onnxruntime-node,
// in ./node_modules, CARTON_NODE_MODULES or npm's global root). Downloading
// by version is a Source still to come; Find takes any Source, so it plugs in
// without changing callers.
//
// Probing a Python or npm installation runs a subprocess; results are
// cached for the life of the process, keyed by the interpreter or directory.
//
// Concurrency: Find and the built-in sources are safe for concurrent use.
// Nothing here loads a library; callers dlopen what they choose.
package libfetch
