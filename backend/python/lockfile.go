package python

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"

	"github.com/BurntSushi/toml"

	"github.com/carton-run/carton/backend"
	"github.com/carton-run/carton/libfetch"
)

// lockFile is upstream's model/.carton/carton.lock: per environment
// (PEP 508 markers), the wheels a model's requirements resolved to.
type lockFile struct {
	OrigDepsHash string      `toml:"orig_deps_hash"`
	Entries      []lockEntry `toml:"lockfile"`
}

type lockEntry struct {
	Markers    map[string]any `toml:"-"`
	LockedDeps []lockedDep    `toml:"locked_deps"`
}

type lockedDep struct {
	SHA256  string `toml:"sha256"`
	URL     string `toml:"url"`
	Bundled string `toml:"bundled_whl_path"`
}

// markerKeys are the markers a lock entry may name (upstream's).
var markerKeys = []string{"os_name", "sys_platform", "platform_machine", "platform_python_implementation",
	"platform_release", "platform_system", "python_version", "python_full_version", "implementation_name",
	"implementation_version"}

const maxLockBytes = 8 << 20

// readLock reads dir/.carton/carton.lock; a model without one has no
// locked dependencies (nil).
func readLock(dir string) (*lockFile, error) {
	f, err := os.Open(filepath.Join(dir, ".carton", "carton.lock"))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("%w: %w", backend.ErrModel, err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxLockBytes+1))
	if err != nil {
		return nil, fmt.Errorf("%w: carton.lock: %w", backend.ErrModel, err)
	}
	if len(b) > maxLockBytes {
		return nil, fmt.Errorf("%w: carton.lock is larger than %d bytes", backend.ErrModel, maxLockBytes)
	}
	var raw struct {
		OrigDepsHash string           `toml:"orig_deps_hash"`
		Entries      []map[string]any `toml:"lockfile"`
	}
	if _, err := toml.Decode(string(b), &raw); err != nil {
		return nil, fmt.Errorf("%w: carton.lock: %w", backend.ErrModel, err)
	}
	lock := &lockFile{OrigDepsHash: raw.OrigDepsHash}
	for i, e := range raw.Entries {
		entry := lockEntry{Markers: map[string]any{}}
		for k, v := range e {
			if k != "locked_deps" {
				entry.Markers[k] = v
				continue
			}
			deps, ok := v.([]map[string]any)
			if !ok {
				return nil, fmt.Errorf("%w: carton.lock entry %d: locked_deps is not a list of tables", backend.ErrModel, i+1)
			}
			for _, d := range deps {
				dep := lockedDep{}
				dep.SHA256, _ = d["sha256"].(string)
				dep.URL, _ = d["url"].(string)
				dep.Bundled, _ = d["bundled_whl_path"].(string)
				if dep.SHA256 == "" || (dep.URL == "") == (dep.Bundled == "") {
					return nil, fmt.Errorf("%w: carton.lock entry %d: a dependency needs a sha256 and one of url and bundled_whl_path", backend.ErrModel, i+1)
				}
				entry.LockedDeps = append(entry.LockedDeps, dep)
			}
		}
		lock.Entries = append(lock.Entries, entry)
	}
	return lock, nil
}

// matches says whether every marker the entry names has this install's value.
func (e lockEntry) matches(in install) bool {
	for k, v := range e.Markers {
		if s, ok := v.(string); !ok || in.Markers[k] != s {
			return false
		}
	}
	return true
}

// lockedWheels unpacks (fetching when needed) the wheels of the lock
// entry for this install, and returns their directories.
func lockedWheels(ctx context.Context, modelDir string, in install) ([]string, error) {
	lock, err := readLock(modelDir)
	if err != nil || lock == nil {
		return nil, err
	}
	var entry *lockEntry
	for i := range lock.Entries {
		if lock.Entries[i].matches(in) {
			entry = &lock.Entries[i]
			break
		}
	}
	if entry == nil {
		var have []string
		for _, k := range markerKeys {
			if v := in.Markers[k]; v != "" {
				have = append(have, k+"="+v)
			}
		}
		sort.Strings(have)
		return nil, fmt.Errorf("%w: carton.lock has no entry for this environment (%s): repack the model where it runs, or with a lock for it",
			backend.ErrModel, strings.Join(have, ", "))
	}
	cache, err := libfetch.CacheDir()
	if err != nil {
		return nil, err
	}
	fo, err := libfetch.OptionsFromEnv()
	if err != nil {
		return nil, err
	}
	var dirs []string
	for _, dep := range entry.LockedDeps {
		var dir string
		if dep.Bundled != "" {
			dir, err = bundledWheel(ctx, cache, modelDir, dep)
		} else {
			u := dep.URL
			if i := strings.IndexAny(u, "?#"); i >= 0 {
				u = u[:i]
			}
			dir, err = libfetch.Wheel(ctx, cache, path.Base(u), strings.ToLower(dep.SHA256), fo)
		}
		if err != nil {
			return nil, fmt.Errorf("%w: a locked dependency: %w", backend.ErrNoRuntime, err)
		}
		dirs = append(dirs, dir)
	}
	return dirs, nil
}

// bundledWheel unpacks a wheel the carton carries
// (model/.carton/bundled_wheels/...).
func bundledWheel(ctx context.Context, cache, modelDir string, dep lockedDep) (string, error) {
	rel := filepath.FromSlash(dep.Bundled)
	if !filepath.IsLocal(rel) {
		return "", fmt.Errorf("%w: bundled_whl_path %q leaves the model directory", backend.ErrModel, dep.Bundled)
	}
	return libfetch.UnpackWheel(ctx, cache, filepath.Base(rel), strings.ToLower(dep.SHA256), func(dst io.Writer) error {
		src, err := os.Open(filepath.Join(modelDir, rel))
		if err != nil {
			return fmt.Errorf("%w: %w", backend.ErrModel, err)
		}
		defer src.Close()
		_, err = io.Copy(dst, src)
		return err
	})
}
