// Package httpfile reads a file on an HTTP server as an io.ReaderAt, with
// range requests, so that a zip (a .carton) can be opened by URL and read
// entry by entry without downloading all of it first.
//
// Open fetches the file's last bytes (where a zip keeps its directory) and
// learns its size and validator (ETag, else Last-Modified) from that
// answer. Later reads ask for an open-ended range and keep the response as
// a stream: a read at or a little after where a stream stands continues
// it, so reading a zip's entries in order costs one request, not one per
// read. Every range request carries the validator (If-Match or
// If-Unmodified-Since), so a file replaced on the server is ErrChanged, not
// a mix of two versions. A server that ignores ranges (answers 200) gets
// its whole answer copied into a temporary file, removed by Close.
//
// Ownership and lifetimes: a *File holds up to a few open responses and
// possibly a temporary file until Close. Its methods are safe for
// concurrent use; concurrent reads use separate streams. Interrupt fails
// the reads in progress (a caller's context ending) without closing the
// File; Close does both and may be called more than once.
package httpfile
