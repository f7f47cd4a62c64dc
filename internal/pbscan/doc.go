// Package pbscan checks a serialized protobuf message's top-level fields
// without decoding it: enough to tell an ONNX model or a SavedModel from
// another file, at the cost of one small read per field whatever the
// message's size. It keeps no state; every function is safe to call
// concurrently on readers that are.
package pbscan
