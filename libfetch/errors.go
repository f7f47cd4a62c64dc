package libfetch

import (
	"errors"

	"github.com/carton-run/carton/format"
)

var (
	// ErrOffline: CARTON_OFFLINE=1 forbids the download a runtime needed.
	// It is format.ErrOffline, which a carton's linked files give too.
	ErrOffline = format.ErrOffline
	// ErrNoRelease: no release table entry or package index file offers the
	// framework version for this platform.
	ErrNoRelease = errors.New("no downloadable runtime")
	// ErrUnverified: the only archive on offer has no known digest, and the
	// caller neither supplied one nor opted in.
	ErrUnverified = errors.New("unverified runtime archive")
	// ErrDigest: the downloaded bytes do not have the expected sha256.
	ErrDigest = errors.New("runtime archive digest mismatch")
	// ErrDownload: the transfer failed (HTTP status, truncated body, stall,
	// size cap, refused redirect).
	ErrDownload = errors.New("runtime download failed")
	// ErrArchive: the archive is malformed or has members that would land
	// outside the install directory.
	ErrArchive = errors.New("bad runtime archive")
	// ErrInvalidVersion: a version string that cannot name a cache entry
	// (it would be a path outside the cache, or is empty).
	ErrInvalidVersion = errors.New("invalid runtime version")
)
