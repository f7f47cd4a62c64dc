package libfetch

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// CacheDir is $CARTON_CACHE_DIR, else <user cache dir>/carton.
func CacheDir() (string, error) {
	if d := os.Getenv("CARTON_CACHE_DIR"); d != "" {
		return d, nil
	}
	base, err := os.UserCacheDir()
	if err != nil {
		return "", fmt.Errorf("no cache directory (set CARTON_CACHE_DIR): %w", err)
	}
	return filepath.Join(base, "carton"), nil
}

// platformDir is the cache's directory name for a GOOS/GOARCH platform.
func platformDir(platform string) string { return strings.ReplaceAll(platform, "/", "-") }

// RuntimeDir is where the cache keeps one runtime:
// <cache>/runtimes/<framework>/<goos>-<goarch>/<version>/. An entry is
// complete when it exists: installs are built in a temporary directory and
// renamed into place. It holds lib/ (and include/ for libtorch), a
// build-version file and runtime.json (where it came from).
func RuntimeDir(cache string, fw Framework, version, platform string) string {
	return filepath.Join(cache, "runtimes", string(fw), platformDir(platform), version)
}

// checkVersion accepts a version that can be a cache entry's directory
// name: letters, digits and . + - _, not starting with a dot ("2.15.0+cu132"
// passes; "..", "../x" and "" do not). Fetch and Remove call it before
// RuntimeDir, so no version a caller passes reaches outside the cache.
func checkVersion(version string) error {
	ok := version != "" && version[0] != '.'
	for _, r := range version {
		ok = ok && (r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || strings.ContainsRune(".+-_", r))
	}
	if !ok {
		return fmt.Errorf("%w: %q (want letters, digits and . + - _, like 2.15.0+cu132)", ErrInvalidVersion, version)
	}
	return nil
}

// Installed describes one runtime in the cache.
type Installed struct {
	Framework Framework `json:"framework"`
	Version   string    `json:"version"`
	Platform  string    `json:"platform"`
	Dir       string    `json:"dir"`
	// From is the URL it was downloaded from ("" when placed by hand).
	From    string    `json:"from,omitempty"`
	SHA256  string    `json:"sha256,omitempty"`
	Fetched time.Time `json:"fetched,omitempty"`
	// Verified says whether the archive matched a known digest (the
	// release table's, the index's or the caller's).
	Verified bool `json:"verified"`
	// VerifiedBy says whose digest it matched: "release table", "package
	// index" or "caller".
	VerifiedBy string `json:"verified_by,omitempty"`
	// Index is the package index a wheel came from; nil otherwise.
	Index *Index `json:"index,omitempty"`
}

const metaFile = "runtime.json"

// Origin says where the runtime was downloaded from: its URL, and the
// package index a wheel was found on ("" when placed by hand).
func (in Installed) Origin() string {
	if in.From == "" {
		return ""
	}
	if in.Index != nil {
		return in.From + " from the package index " + in.Index.String()
	}
	return in.From
}

// cacheSource lists the runtimes in the cache for this platform.
type cacheSource struct{}

func (cacheSource) Name() string { return "cache" }

func (cacheSource) Find(_ context.Context, req Request) ([]Candidate, error) {
	cache, err := CacheDir()
	if err != nil {
		return nil, nil
	}
	list, err := ListInstalled(cache, req.Framework, Platform())
	if err != nil {
		return nil, nil
	}
	var out []Candidate
	for _, in := range list {
		if path := entryPath(in.Framework, in.Dir); path != "" {
			out = append(out, Candidate{Framework: in.Framework, Version: in.Version, Source: "cache", Path: path, Origin: in.Origin()})
		}
	}
	return out, nil
}

// entryPath is what a runner loads from a cache entry: the library file
// for ONNX Runtime, the directory otherwise ("" when it is unusable).
func entryPath(fw Framework, dir string) string {
	if fw != ONNXRuntime {
		return dir
	}
	p, err := newestMatch(filepath.Join(dir, "lib"), onnxRuntimeGlobs)
	if err != nil {
		return ""
	}
	return p
}

// ListInstalled lists the complete cache entries of fw ("" for all) for
// platform ("" for all).
func ListInstalled(cache string, fw Framework, platform string) ([]Installed, error) {
	fws := []Framework{fw}
	if fw == "" {
		fws = []Framework{ONNXRuntime, LibTorch, TensorFlow}
	}
	var out []Installed
	for _, f := range fws {
		plats, err := os.ReadDir(filepath.Join(cache, "runtimes", string(f)))
		if err != nil {
			continue
		}
		for _, p := range plats {
			plat := strings.Replace(p.Name(), "-", "/", 1)
			if !p.IsDir() || strings.HasPrefix(p.Name(), ".") || (platform != "" && plat != platform) {
				continue
			}
			versions, _ := os.ReadDir(filepath.Join(cache, "runtimes", string(f), p.Name()))
			for _, v := range versions {
				if !v.IsDir() || strings.HasPrefix(v.Name(), ".") {
					continue // temporary directories of an install in progress
				}
				dir := filepath.Join(cache, "runtimes", string(f), p.Name(), v.Name())
				in := Installed{Framework: f, Platform: plat, Dir: dir}
				if b, err := os.ReadFile(filepath.Join(dir, metaFile)); err == nil {
					_ = json.Unmarshal(b, &in)
					in.Dir = dir
				}
				version, err := ReadBuildVersion(dir)
				if err != nil {
					continue // never offer an entry without its version
				}
				in.Version = version
				out = append(out, in)
			}
		}
	}
	return out, nil
}

// ReadBuildVersion reads the build-version file of a runtime directory (as
// libtorch archives ship it), looking in dir and its parent (for a lib/
// directory given directly).
func ReadBuildVersion(dir string) (string, error) {
	var firstErr error
	for _, d := range []string{dir, filepath.Dir(dir)} {
		b, err := os.ReadFile(filepath.Join(d, "build-version"))
		if err == nil {
			return strings.TrimSpace(string(b)), nil
		}
		if firstErr == nil {
			firstErr = err
		}
	}
	return "", firstErr
}
