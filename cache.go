package carton

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/carton-run/carton/format"
)

// CachedModel is a packed carton's model/ that Load extracted into the
// cache. Each is named by its carton's manifest hash, so every carton with
// that MANIFEST (a shrunk copy included) shares it.
type CachedModel struct {
	ManifestSHA256 string    `json:"manifest_sha256"`
	Path           string    `json:"path"` // the extracted model/ directory
	Bytes          int64     `json:"bytes"`
	LastLoaded     time.Time `json:"last_loaded"` // the last Load that used it, or its extraction
}

// leftoverAge is how long nothing in an unfinished extraction or removal
// must have changed before PruneCachedModels takes it for a crashed
// process's.
const leftoverAge = time.Hour

// modelCache is where Load extracts models under a cache directory ("" is
// DefaultCacheDir).
func modelCache(cacheDir string) (string, error) {
	if cacheDir == "" {
		dir, err := DefaultCacheDir()
		if err != nil {
			return "", err
		}
		cacheDir = dir
	}
	return filepath.Join(cacheDir, modelsDir), nil
}

// modelsDir is the cache's subdirectory of extracted models.
const modelsDir = "models"

// CachedModels lists the models extracted under cacheDir ("" is
// DefaultCacheDir), most recently loaded first. An absent cache is empty.
func CachedModels(cacheDir string) ([]CachedModel, error) {
	root, err := modelCache(cacheDir)
	if err != nil {
		return nil, err
	}
	list, err := os.ReadDir(root)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var models []CachedModel
	for _, d := range list {
		if !d.IsDir() || !format.IsSHA256Hex(d.Name()) {
			continue // unfinished extractions and removals start with a dot
		}
		info, err := d.Info()
		if err != nil {
			continue // removed meanwhile
		}
		dir := filepath.Join(root, d.Name())
		models = append(models, CachedModel{
			ManifestSHA256: d.Name(),
			Path:           filepath.Join(dir, "model"),
			Bytes:          treeBytes(filepath.Join(dir, "model")),
			LastLoaded:     info.ModTime(),
		})
	}
	slices.SortFunc(models, func(a, b CachedModel) int { return b.LastLoaded.Compare(a.LastLoaded) })
	return models, nil
}

// RemoveCachedModel deletes the model extracted for a manifest hash; the
// next Load of such a carton extracts it again. The directory is renamed
// away first, so a concurrent Load never finds half of it; one that had
// already opened it may fail reading it. A hash with nothing cached
// wraps fs.ErrNotExist; one that is not a sha256 ErrInvalidInput.
func RemoveCachedModel(cacheDir, manifestSHA256 string) error {
	if !format.IsSHA256Hex(manifestSHA256) {
		return fmt.Errorf("%w: %q is not a manifest sha256 (64 lowercase hex digits)", ErrInvalidInput, manifestSHA256)
	}
	root, err := modelCache(cacheDir)
	if err != nil {
		return err
	}
	return removeAside(root, manifestSHA256)
}

// PruneCachedModels removes the models no Load used for unusedFor or
// longer, what crashed extractions left behind, and the metadata kept for
// cartons by URL whose model is gone, and returns the models removed.
func PruneCachedModels(cacheDir string, unusedFor time.Duration) ([]CachedModel, error) {
	if unusedFor < 0 {
		return nil, fmt.Errorf("%w: unusedFor %v is negative", ErrInvalidInput, unusedFor)
	}
	models, err := CachedModels(cacheDir)
	if err != nil {
		return nil, err
	}
	root, _ := modelCache(cacheDir)
	now := time.Now()
	var removed []CachedModel
	var errs []error
	for _, m := range models {
		if now.Sub(m.LastLoaded) < unusedFor {
			continue
		}
		if err := removeAside(root, m.ManifestSHA256); err != nil {
			if !errors.Is(err, fs.ErrNotExist) {
				errs = append(errs, err)
			}
			continue
		}
		removed = append(removed, m)
	}
	list, _ := os.ReadDir(root)
	for _, d := range list {
		dir := filepath.Join(root, d.Name())
		if strings.HasPrefix(d.Name(), ".") && !touchedSince(dir, now.Add(-leftoverAge)) {
			if err := os.RemoveAll(dir); err != nil {
				errs = append(errs, err)
			}
		}
	}
	errs = append(errs, pruneKeptMetadata(filepath.Dir(root)))
	return removed, errors.Join(errs...)
}

// pruneKeptMetadata removes the metadata Load kept for cartons by URL
// (remote.go) whose model is no longer in the cache.
func pruneKeptMetadata(cacheDir string) error {
	dir, models := filepath.Join(cacheDir, keptDir), filepath.Join(cacheDir, modelsDir)
	list, _ := os.ReadDir(dir)
	var errs []error
	for _, d := range list {
		p := filepath.Join(dir, d.Name())
		c, err := format.Open(p, format.OpenOptions{})
		if err != nil {
			continue // being written, or not ours
		}
		sha := c.ManifestSHA256
		c.Close()
		if _, err := os.Stat(filepath.Join(models, sha)); errors.Is(err, fs.ErrNotExist) {
			if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
				errs = append(errs, err)
			}
		}
	}
	return errors.Join(errs...)
}

// touchedSince reports whether anything under dir changed after t: an
// extraction in progress writes its files for as long as it takes.
func touchedSince(dir string, t time.Time) bool {
	recent := errors.New("recent")
	err := filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err != nil {
			return nil // gone meanwhile: nothing recent there
		}
		if info, err := d.Info(); err == nil && info.ModTime().After(t) {
			return recent
		}
		return nil
	})
	return err == recent
}

// removeAside renames root/name to a dot-name, then deletes that.
func removeAside(root, name string) error { return format.RemoveExtraction(root, name) }

// CachedModelCheck is what VerifyCachedModels found of one cached model.
type CachedModelCheck struct {
	CachedModel
	Files int `json:"files"` // files hashed
	// Err is the damage found (a *format.DamagedError, matching
	// ErrChecksum), nil when every file matched. A damaged model was
	// removed: the next Load of its carton extracts it again.
	Err error `json:"-"`
	// Error is Err's text, for JSON.
	Error string `json:"error,omitempty"`
}

// VerifyCachedModels hashes every file of every model extracted under
// cacheDir ("" is DefaultCacheDir) against the sha256 it was extracted
// with, and removes the models that no longer match (a file changed or
// missing, or extracted by an older carton without a record of what it
// wrote): a Load checks only each file's size and modification time, so
// this catches what that cannot, such as a bit flipped on disk. It
// returns a check per model, damaged or not; the error is for the cache
// itself (unreadable) or a removal that failed.
func VerifyCachedModels(ctx context.Context, cacheDir string) ([]CachedModelCheck, error) {
	models, err := CachedModels(cacheDir)
	if err != nil {
		return nil, err
	}
	root, _ := modelCache(cacheDir)
	var checks []CachedModelCheck
	var errs []error
	for _, m := range models {
		n, err := format.VerifyExtraction(ctx, filepath.Join(root, m.ManifestSHA256))
		if ctx.Err() != nil {
			return checks, ctx.Err()
		}
		check := CachedModelCheck{CachedModel: m, Files: n, Err: err}
		if err != nil {
			check.Error = err.Error()
			if rerr := removeAside(root, m.ManifestSHA256); rerr != nil && !errors.Is(rerr, fs.ErrNotExist) {
				errs = append(errs, rerr)
			}
		}
		checks = append(checks, check)
	}
	return checks, errors.Join(errs...)
}

// markLoaded records that a Load used the model extracted at modelDir, for
// PruneCachedModels. A read-only cache just keeps the older time.
func markLoaded(modelDir string) {
	now := time.Now()
	_ = os.Chtimes(filepath.Dir(modelDir), now, now)
}

func treeBytes(dir string) int64 {
	var n int64
	_ = filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			if info, err := d.Info(); err == nil {
				n += info.Size()
			}
		}
		return nil
	})
	return n
}
