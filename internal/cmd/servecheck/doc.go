// Command servecheck runs a carton-serve binary against a real model, as
// `make dist-check` does with the linux/amd64 build: it starts the service
// on a free loopback port serving the carton as model "m", waits for
// /v2/health/ready, posts the input .npy files as an Open Inference
// Protocol JSON request to /v2/models/m/infer, compares the outputs with
// the reference .npy files (numpy.allclose's default tolerance), and stops
// the service with SIGTERM, which must end it cleanly.
//
//	servecheck SERVE_BINARY CARTON in:NAME=FILE.npy... out:NAME=FILE.npy...
package main
