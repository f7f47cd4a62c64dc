package carton

import _ "embed"

// The libtorch shim's sources ship inside every binary that imports the
// torchscript runner, so it can build the shim for a libtorch fetched at
// run time (backend/libtorch.BuildShim). They are embedded here because Go
// forbids C++ files in a package directory without cgo, and embed cannot
// reach ../csrc from the backend's own directory.
var (
	//go:embed csrc/carton_torch.cpp
	torchShimSource string
	//go:embed include/carton_torch.h
	torchShimHeader string
)

// TorchShimSources returns carton_torch.cpp and carton_torch.h.
func TorchShimSources() (cpp, header string) { return torchShimSource, torchShimHeader }
