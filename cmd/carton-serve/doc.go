// Command carton-serve serves cartons over the Open Inference Protocol
// (KServe's v2 predict protocol, as Triton and Seldon MLServer speak it):
// REST with JSON and Triton's binary tensor data extension, and gRPC
// (--grpc-addr, default 127.0.0.1:8001) (package serve).
// Built with CGO_ENABLED=0 like the carton CLI (`make dist`).
//
//	carton-serve --model resnet=resnet.carton --model bert=https://host/bert.carton --addr 127.0.0.1:8000
//	carton-serve --model-repository /models   # NAME.carton, or NAME/VERSION/*.carton
//	carton-serve --config models.toml --device resnet=cuda:0 --opt bert:intra_op_threads=4 for versions
//	curl 127.0.0.1:8000/v2/models/resnet
//	curl -d '{"inputs":[{"name":"x","shape":[1,4],"datatype":"FP32","data":[1,2,3,4]}]}' 127.0.0.1:8000/v2/models/resnet/infer
//
// Per-model device, runner options, runtime, framework version and queue
// come from --config (a TOML file of [[model]] tables) and from flags that
// apply to every model or, prefixed NAME= (NAME: for --opt), to one
// (docs/serving.md). Models load at start; one that fails is logged and reported not ready
// while the others serve. On SIGTERM or SIGINT readiness turns false
// first and keep-alive ends, new connections are still answered for
// --drain, then the server stops accepting, answers every request it
// accepted, and closes the models.
package main
