// Package atomicfile writes a file so that readers see all of it or none:
// the bytes go to a temporary file beside it, which is synced and renamed
// into place only once written; a failure removes it. The file is 0644.
// Safe for concurrent use: the last rename wins.
package atomicfile
