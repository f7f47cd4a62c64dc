// Command servecheck runs a carton-serve binary against a real model, as
// `make dist-check` does with the linux/amd64 build: it starts the service
// on a free loopback port, waits for /v1/info, posts the input .npy files
// as JSON to /v1/infer, compares the outputs with the reference .npy files
// (numpy.allclose's default tolerance), and stops the service.
//
//	servecheck SERVE_BINARY CARTON in:NAME=FILE.npy... out:NAME=FILE.npy...
package main
