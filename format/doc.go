// Package format reads and writes cartons: the zip (or unpacked directory)
// layout of carton.toml, MANIFEST, model/, tensor_data/, misc/ and LINKS that
// upstream Carton defined (see FORMAT.md in the shared docs).
//
// Reading is split in two so that metadata stays cheap: Open checks the
// container's structure (entry names, symlink targets, sizes, compression
// methods) and parses carton.toml, MANIFEST and LINKS; Materialize then
// hashes every file against MANIFEST and, for a zip, extracts model/ into a
// cache directory keyed by the manifest hash, writing into a temporary
// directory that is renamed into place only once every byte verified.
//
// ExtractModel is Materialize for a carton that is costly to read (one
// read over the network through OpenReader): it reads model/ alone and
// leaves the other files to ReadFile, which checks each as it reads it.
// An error of the reader a zip is read from (a disk's, a network's) comes
// back as it is, inside a FileError naming the entry, not as ErrMalformed.
//
// Safety: entries that escape the root (.., absolute paths, symlinks whose
// target resolves outside), more entries or bytes than Limits allow, and
// entries whose compression ratio looks like a zip bomb are rejected before
// anything is written. Every error wraps one of ErrMalformed, ErrChecksum,
// ErrUnsafePath or ErrLimit.
//
// Writing (Write) is deterministic: entries sorted by name, fixed timestamps,
// zstd for content and Stored for MANIFEST and LINKS, written last, as
// upstream does; the same input gives the same bytes.
//
// Lifetimes and concurrency: a *Carton holds its zip file open until Close.
// One from OpenReader reads the caller's io.ReaderAt until Close instead,
// and leaves it open.
// Its methods may be called from several goroutines at once; Close must not
// race with them. Parsed values (Config, Manifest, TensorData) are plain data
// owned by the caller.
package format
