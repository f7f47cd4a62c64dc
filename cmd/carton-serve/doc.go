// Command carton-serve is an example service: it loads one carton and
// serves inference over HTTP with JSON, built with CGO_ENABLED=0 like the
// carton CLI (see `make dist`).
//
//	carton-serve -carton model.carton -addr 127.0.0.1:8080
//	carton-serve -carton https://host/model.carton  # read through range requests; offline afterwards from the cache
//	curl -d '{"inputs":{"x":{"dtype":"float32","shape":[1,4],"data":[1,2,3,4]}}}' 127.0.0.1:8080/v1/infer
//
// A tensor is {"dtype", "shape", "data"} with data flat in C order: JSON
// numbers (integers exact up to int64 and uint64; NaN and the infinities
// as the strings "NaN", "Inf" and "-Inf"), booleans or strings (UTF-8: a
// string output holding other bytes is an error, not silently altered). Outputs
// come back the same way under "outputs". A request that does not fit its
// model's inputs is a 400; cancelling the request (the client going away)
// stops an ONNX Runtime run. SIGINT or SIGTERM (what an orchestrator sends)
// stops it gracefully: no new connections, the requests in flight finish
// (for up to 5 s), then the model closes and it exits 0.
package main
