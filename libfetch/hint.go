package libfetch

import (
	"fmt"
	"path/filepath"
	"strings"
)

// pipPackages is the PyPI package whose install a Python carton finds.
var pipPackages = map[Framework]string{ONNXRuntime: "onnxruntime", LibTorch: "torch", TensorFlow: "tensorflow-cpu"}

// Searched says, for a newcomer, where carton looked for fw and where it
// would download it from, and the one step most likely to fix a failure
// to find or fetch it.
func Searched(fw Framework) string {
	var b strings.Builder
	cache, _ := CacheDir()
	pythons := Pythons()
	fmt.Fprintf(&b, "looked for %s in: the Load option and $%s, the cache (%s), ", fw, envVars[fw], filepath.Join(cache, "runtimes", string(fw)))
	if len(pythons) == 0 {
		b.WriteString("no Python (python3 is not on PATH, $CARTON_PYTHON is unset)")
	} else {
		fmt.Fprintf(&b, "the Python packages of %s", strings.Join(pythons, ", "))
	}
	if fw == ONNXRuntime {
		b.WriteString(", node_modules (./node_modules, $CARTON_NODE_MODULES, npm's global root)")
	}
	b.WriteString("; downloads: ")
	if i, ok := configuredIndex(); ok {
		fmt.Fprintf(&b, "the package index %s", i)
	} else {
		b.WriteString("the package index pip would use (none configured, pip's default asked of the Python above)")
	}
	b.WriteString(", then the release table")
	fmt.Fprintf(&b, "\nto fix: `pip install %s` into a Python carton finds, set $%s to one you have, or name a reachable package index in $CARTON_PYPI_INDEX (or pip's index-url)", pipPackages[fw], envVars[fw])
	return b.String()
}
