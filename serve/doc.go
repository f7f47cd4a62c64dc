// Package serve speaks the Open Inference Protocol (KServe's "v2"
// predict protocol, which Triton and Seldon MLServer speak too) over HTTP
// and gRPC for a set of loaded carton models: an http.Handler and a gRPC
// service registration (RegisterGRPC) a Go program mounts in its own
// servers, or a gRPC server of its own (NewGRPCServer), and what
// cmd/carton-serve runs.
//
// The REST endpoints are the protocol's, with and without /versions/V:
// server live and ready, server metadata, model metadata and ready, and
// infer, with JSON data (flat or nested) and Triton's binary tensor data
// extension both ways (advertised as "binary_tensor_data"). Errors are
// {"error": "..."}: 400 for a request that does not fit the model, 404 for
// an unknown model or version, 503 when not ready. gRPC serves KServe's
// inference.GRPCInferenceService (its six RPCs; internal/oippb, generated
// by `make proto`), with typed contents or raw_input_contents in and
// raw_output_contents out, the same failures as InvalidArgument,
// NotFound and Unavailable.
//
// # Memory
//
// Binary input data becomes the input tensors without a copy where its
// alignment allows (the request body is read once into one buffer);
// outputs are written to the response from the framework's memory once,
// then given back to the model (carton.Model.ReleaseOutputs). On a
// NewGRPCServer, raw_input_contents are views of the HTTP/2 frames they
// arrived in, where those lie one after another in the server's frame
// arena (a message not interleaved with others nor cut by flow control),
// or else of one aligned copy of the request message; a response is
// encoded from the outputs' memory. On a server of the caller's
// (RegisterGRPC), grpc-go's codec copies each raw input out of the
// message and each output is copied into the response first, since
// grpc-go encodes it after the handler returns.
//
// The buffer a REST body or (on a NewGRPCServer without interceptors) a
// gRPC request is copied into comes from a pool when it is over 32 KiB,
// and a gRPC request's frames are held, until the response is written or
// encoded: a model must not keep an input's memory past its Infer (as
// carton.Model requires).
//
// # Concurrency
//
// A Server is safe for concurrent use: each request runs its model's Infer
// on its own goroutine, as carton.Model allows. The models belong to the
// caller, who closes them after the server is done (SetReady(false) first,
// then http.Server.Shutdown, then Close).
package serve
