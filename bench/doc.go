// Package bench compares carton with the libraries a Go user would pick
// instead. It is a separate module so that their cgo (onnxruntime_go
// compiles a C wrapper) stays out of carton's own module, which builds
// with CGO_ENABLED=0.
//
//	cd bench && CARTON_ONNXRUNTIME_LIB=/path/to/libonnxruntime.so go test -bench . -count 10
//
// `make bench` at the repository root runs it with the runtime `make setup`
// installed and summarises the results with benchstat into BENCHMARKS.md.
package bench
