package carton_test

import (
	"context"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/carton-run/carton"
)

// The models Load extracts are listed with their size and last use, a
// Load of a cached one counts as a use, and pruning removes the unused
// ones (and what a crashed extraction left) while Load extracts a removed
// one again.
func TestModelCache(t *testing.T) {
	ctx := context.Background()
	path, sha := packNoop(t)
	cache := t.TempDir()
	models, err := carton.CachedModels(cache)
	require.NoError(t, err)
	assert.Empty(t, models, "an absent cache is empty")

	load := func() {
		t.Helper()
		m, err := carton.Load(ctx, path, carton.WithCacheDir(cache))
		require.NoError(t, err)
		require.NoError(t, m.Close())
	}
	load()
	models, err = carton.CachedModels(cache)
	require.NoError(t, err)
	require.Len(t, models, 1)
	assert.Equal(t, sha, models[0].ManifestSHA256)
	assert.Equal(t, int64(4096), models[0].Bytes, "packNoop's weights.bin")
	assert.FileExists(t, filepath.Join(models[0].Path, "weights.bin"))

	dir := filepath.Dir(models[0].Path)
	twoHoursAgo := time.Now().Add(-2 * time.Hour)
	require.NoError(t, os.Chtimes(dir, twoHoursAgo, twoHoursAgo))
	load()
	models, err = carton.CachedModels(cache)
	require.NoError(t, err)
	assert.WithinDuration(t, time.Now(), models[0].LastLoaded, time.Minute, "a Load from the cache is a use")

	crashed := filepath.Join(cache, "models", ".extract-"+sha[:12]+"-1")
	young := filepath.Join(cache, "models", ".extract-"+sha[:12]+"-2")
	long := filepath.Join(cache, "models", ".extract-"+sha[:12]+"-3") // started long ago, still writing
	for _, d := range []string{crashed, young, long} {
		require.NoError(t, os.MkdirAll(filepath.Join(d, "model"), 0o755))
	}
	require.NoError(t, os.WriteFile(filepath.Join(long, "model", "part.bin"), nil, 0o644))
	for _, d := range []string{crashed, filepath.Join(crashed, "model"), long, filepath.Join(long, "model")} {
		require.NoError(t, os.Chtimes(d, twoHoursAgo, twoHoursAgo))
	}
	removed, err := carton.PruneCachedModels(cache, time.Hour)
	require.NoError(t, err)
	assert.Empty(t, removed, "used a moment ago")
	assert.NoDirExists(t, crashed, "an extraction left for an hour is a crashed one")
	assert.DirExists(t, young, "a young one may be another process's, in progress")
	assert.DirExists(t, long, "so may an old one still writing its files")
	require.NoError(t, os.RemoveAll(long))

	require.NoError(t, os.Chtimes(dir, twoHoursAgo, twoHoursAgo))
	removed, err = carton.PruneCachedModels(cache, time.Hour)
	require.NoError(t, err)
	require.Len(t, removed, 1)
	assert.Equal(t, sha, removed[0].ManifestSHA256)
	assert.NoDirExists(t, dir)
	entries, err := os.ReadDir(filepath.Join(cache, "models"))
	require.NoError(t, err)
	require.Len(t, entries, 1, "nothing left but the young extraction")
	load() // extracted again

	require.NoError(t, carton.RemoveCachedModel(cache, sha))
	assert.NoDirExists(t, dir)
	require.ErrorIs(t, carton.RemoveCachedModel(cache, sha), fs.ErrNotExist)
	for _, bad := range []string{"", "..", "../../etc", sha[:63], sha + "0", "G" + sha[1:], "A" + sha[1:]} {
		require.ErrorIs(t, carton.RemoveCachedModel(cache, bad), carton.ErrInvalidInput, bad)
	}
	_, err = carton.PruneCachedModels(cache, -time.Second)
	require.ErrorIs(t, err, carton.ErrInvalidInput)
}
