// Package npy converts between numpy .npy files and tensors, on top of the
// npyio library. It is used by the CLI; tensors it returns own their memory.
//
// Read and Write are safe for concurrent use on different readers and
// writers. Read rejects what numpy itself would not read (a header over
// numpy's 10000-byte limit) with ErrMalformed, and content a tensor cannot
// hold with ErrUnsupported.
package npy
