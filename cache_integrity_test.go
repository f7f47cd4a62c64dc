package carton_test

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/carton-run/carton"
	"github.com/carton-run/carton/format"
	"github.com/carton-run/carton/internal/ziptest"
)

// loadAndClose loads path with cache and closes the model.
func loadAndClose(t *testing.T, path, cache string) error {
	t.Helper()
	m, err := carton.Load(context.Background(), path, carton.WithCacheDir(cache))
	if err == nil {
		require.NoError(t, m.Close())
	}
	return err
}

func cachedWeights(cache, sha string) string {
	return filepath.Join(cache, "models", sha, "model", "weights.bin")
}

// A cached model altered (same size, new content) or deleted since its
// extraction is noticed by the next Load, which extracts it again from
// the carton.
func TestDamagedCacheEntryIsExtractedAgain(t *testing.T) {
	for name, damage := range map[string]func(string) error{
		"altered": func(p string) error { return os.WriteFile(p, make([]byte, 4096), 0o644) },
		"deleted": os.Remove,
		"grown": func(p string) error {
			f, err := os.OpenFile(p, os.O_APPEND|os.O_WRONLY, 0)
			if err == nil {
				_, err = f.Write([]byte{1})
				f.Close()
			}
			return err
		},
		"stamp removed": func(p string) error {
			return os.Remove(filepath.Join(filepath.Dir(filepath.Dir(p)), format.StampName))
		},
	} {
		t.Run(name, func(t *testing.T) {
			path, sha := packNoop(t)
			cache := t.TempDir()
			require.NoError(t, loadAndClose(t, path, cache))
			weights := cachedWeights(cache, sha)
			require.NoError(t, damage(weights))

			require.NoError(t, loadAndClose(t, path, cache), "the damaged copy is extracted again")
			got, err := os.ReadFile(weights)
			require.NoError(t, err)
			assert.Equal(t, bytesOf(0xab, 4096), got, "the copy holds the carton's bytes again")
		})
	}
}

func bytesOf(b byte, n int) []byte {
	out := make([]byte, n)
	for i := range out {
		out[i] = b
	}
	return out
}

// The stamp remembers the carton file verified in full; a change to the
// file (even one that keeps its size and modification time) makes the
// next Load verify it again.
func TestStampRemembersTheVerifiedCarton(t *testing.T) {
	path, sha := packNoop(t)
	cache := t.TempDir()
	require.NoError(t, loadAndClose(t, path, cache))
	verified := func() []format.FileIdentity {
		b, err := os.ReadFile(filepath.Join(cache, "models", sha, format.StampName))
		require.NoError(t, err)
		var s struct{ Verified []format.FileIdentity }
		require.NoError(t, json.Unmarshal(b, &s))
		return s.Verified
	}
	first := verified()
	require.Len(t, first, 1)
	abs, _ := filepath.Abs(path)
	assert.Equal(t, abs, first[0].Path)

	require.NoError(t, loadAndClose(t, path, cache))
	assert.Equal(t, first, verified(), "an unchanged carton is not recorded again")

	// Rewrite the same bytes and put the old modification time back: the
	// change time still moves.
	raw, err := os.ReadFile(path)
	require.NoError(t, err)
	st, err := os.Stat(path)
	require.NoError(t, err)
	time.Sleep(10 * time.Millisecond)
	require.NoError(t, os.WriteFile(path, raw, 0o644))
	require.NoError(t, os.Chtimes(path, st.ModTime(), st.ModTime()))
	require.NoError(t, loadAndClose(t, path, cache))
	again := verified()
	require.Len(t, again, 1, "one identity per path")
	assert.NotEqual(t, first[0].ChangeTime, again[0].ChangeTime, "verified again after the change")
}

// A bit flipped in the cached copy, size and time kept, passes the cheap
// check; VerifyCachedModels and Verify find it and remove the copy.
func TestVerifyFindsWhatTheCheapCheckCannot(t *testing.T) {
	ctx := context.Background()
	for _, via := range []string{"VerifyCachedModels", "Verify"} {
		t.Run(via, func(t *testing.T) {
			path, sha := packNoop(t)
			cache := t.TempDir()
			require.NoError(t, loadAndClose(t, path, cache))
			weights := cachedWeights(cache, sha)
			st, err := os.Stat(weights)
			require.NoError(t, err)
			flipped := bytesOf(0xab, 4096)
			flipped[7] ^= 1
			require.NoError(t, os.WriteFile(weights, flipped, 0o644))
			require.NoError(t, os.Chtimes(weights, st.ModTime(), st.ModTime()))
			require.NoError(t, loadAndClose(t, path, cache), "the cheap check passes")

			switch via {
			case "VerifyCachedModels":
				checks, err := carton.VerifyCachedModels(ctx, cache)
				require.NoError(t, err)
				require.Len(t, checks, 1)
				require.ErrorIs(t, checks[0].Err, carton.ErrChecksum)
				assert.Contains(t, checks[0].Err.Error(), "model/weights.bin")
			case "Verify":
				_, err := carton.Verify(ctx, path, carton.WithCacheDir(cache))
				require.ErrorIs(t, err, carton.ErrChecksum)
				assert.Contains(t, err.Error(), "model/weights.bin")
			}
			_, err = os.Stat(filepath.Join(cache, "models", sha))
			require.ErrorIs(t, err, os.ErrNotExist, "the damaged copy is removed")
			require.NoError(t, loadAndClose(t, path, cache))
			got, err := os.ReadFile(weights)
			require.NoError(t, err)
			assert.Equal(t, bytesOf(0xab, 4096), got)

			checks, err := carton.VerifyCachedModels(ctx, cache)
			require.NoError(t, err)
			require.Len(t, checks, 1)
			require.NoError(t, checks[0].Err)
			assert.Equal(t, 1, checks[0].Files)
			r, err := carton.Verify(ctx, path, carton.WithCacheDir(cache))
			require.NoError(t, err)
			assert.Equal(t, filepath.Join(cache, "models", sha, "model"), r.Cached)
		})
	}
}

// A carton.toml built to make the TOML decoder take minutes and tens of
// GB is refused with ErrLimit, naming the file, long before a deadline.
func TestHostileConfigIsRefusedNotParsed(t *testing.T) {
	path, _ := packNoop(t)
	raw, err := os.ReadFile(path)
	require.NoError(t, err)
	deep := []byte("spec_version = 1\nx = " + strings.Repeat("{a=", 16000) + "1" + strings.Repeat("}", 16000) + "\n")
	bad := filepath.Join(t.TempDir(), "deep.carton")
	c, err := format.Open(path, format.OpenOptions{})
	require.NoError(t, err)
	entries := map[string]string{}
	for _, p := range c.Manifest.Paths() {
		entries[p], _ = c.Manifest.Hash(p)
	}
	c.Close()
	entries["carton.toml"] = format.SHA256(deep) // a hostile carton's MANIFEST agrees with it
	mf, err := format.NewManifest(entries)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(bad, ziptest.Rewrite(t, raw, map[string][]byte{"carton.toml": deep, "MANIFEST": mf.Bytes()}), 0o644))
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	_, err = carton.Load(ctx, bad, carton.WithCacheDir(t.TempDir()))
	require.ErrorIs(t, err, carton.ErrLimit)
	assert.Contains(t, err.Error(), "carton.toml")
	assert.NoError(t, ctx.Err(), "refused before the deadline")
	_, err = carton.ModelInfo(context.Background(), bad)
	require.ErrorIs(t, err, carton.ErrLimit)
}

// Load and ModelInfo answer to their context while the carton is opened.
func TestOpenStopsWithItsContext(t *testing.T) {
	path, _ := packNoop(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := format.Open(path, format.OpenOptions{Context: ctx})
	require.ErrorIs(t, err, context.Canceled)
	_, err = carton.Load(ctx, path, carton.WithCacheDir(t.TempDir()))
	require.ErrorIs(t, err, context.Canceled)
	c, err := format.Open(path, format.OpenOptions{Context: context.Background()})
	require.NoError(t, err, "a context ended after Open does not reach later reads")
	c.Close()
}
