// Package pbscan walks a serialized protobuf message's fields without
// decoding it: enough to tell an ONNX model or a SavedModel from another
// file, or to find the few small messages worth decoding in a model of
// gigabytes, at the cost of one small read per window of fields whatever
// the message's size. It keeps no state between calls; every function is
// safe to call concurrently on readers that are.
package pbscan
