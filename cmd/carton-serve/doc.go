// Command carton-serve is an example service: it loads one carton and
// serves inference over HTTP with JSON, built with CGO_ENABLED=0 like the
// carton CLI (see `make dist`).
//
//	carton-serve -carton model.carton -addr 127.0.0.1:8080
//	curl -d '{"inputs":{"x":{"dtype":"float32","shape":[1,4],"data":[1,2,3,4]}}}' 127.0.0.1:8080/v1/infer
package main
