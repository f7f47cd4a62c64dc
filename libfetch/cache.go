package libfetch

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
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

// RuntimeDir is where the cache keeps one runtime:
// <cache>/runtimes/<framework>/<version>/. A complete entry holds a
// build-version file, written last.
func RuntimeDir(cache string, fw Framework, version string) string {
	return filepath.Join(cache, "runtimes", string(fw), version)
}

// cacheSource lists the runtimes in the cache.
type cacheSource struct{}

func (cacheSource) Name() string { return "cache" }

func (cacheSource) Find(_ context.Context, req Request) ([]Candidate, error) {
	cache, err := CacheDir()
	if err != nil {
		return nil, nil
	}
	entries, err := os.ReadDir(filepath.Join(cache, "runtimes", string(req.Framework)))
	if err != nil {
		return nil, nil // no cache yet
	}
	var out []Candidate
	for _, e := range entries {
		if !e.IsDir() || strings.HasPrefix(e.Name(), ".") {
			continue // temporary directories of an install in progress
		}
		dir := filepath.Join(cache, "runtimes", string(req.Framework), e.Name())
		version, err := ReadBuildVersion(dir)
		if err != nil {
			continue // incomplete: never offer it
		}
		path := dir
		if req.Framework == ONNXRuntime {
			if path, err = newestMatch(filepath.Join(dir, "lib"), onnxRuntimeGlobs); err != nil || path == "" {
				continue
			}
		}
		out = append(out, Candidate{Framework: req.Framework, Version: version, Source: "cache", Path: path})
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
