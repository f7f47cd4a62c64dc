package libtorch

import (
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The constants here follow include/carton_torch.h, whose sources the
// package embeds and builds.
func TestShimVersionsMatchTheHeader(t *testing.T) {
	header, err := os.ReadFile(filepath.Join("..", "..", "include", "carton_torch.h"))
	require.NoError(t, err)
	for name, want := range map[string]int{"CT_ABI_VERSION": ShimABIVersion, "CT_SHIM_REVISION": ShimRevision} {
		m := regexp.MustCompile(`#define ` + name + ` (\d+)`).FindSubmatch(header)
		require.NotNil(t, m, name)
		got, _ := strconv.Atoi(string(m[1]))
		assert.Equal(t, want, got, name)
	}
}

// A shim is current when it carries this revision's symbol, whatever its
// file holds besides; an older revision's, or none, is stale.
func TestShimIsCurrent(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		require.NoError(t, os.WriteFile(p, []byte(content), 0o755))
		return p
	}
	assert.True(t, shimIsCurrent(write("current.so", "\x7fELF...ct_abi_version\x00ct_revision_"+strconv.Itoa(ShimRevision)+"\x00...")))
	assert.False(t, shimIsCurrent(write("older.so", "\x7fELF...ct_revision_"+strconv.Itoa(ShimRevision-1)+"\x00")))
	assert.False(t, shimIsCurrent(write("prefix.so", "\x7fELF...ct_revision_"+strconv.Itoa(ShimRevision)+"0\x00")), "revision 20 is not 2")
	assert.False(t, shimIsCurrent(write("none.so", "\x7fELF...ct_abi_version\x00")))
	assert.False(t, shimIsCurrent(filepath.Join(dir, "missing.so")))
}
