package dlopen

import (
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"testing"
	"unsafe"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func libc(t *testing.T) string {
	if runtime.GOOS != "linux" {
		t.Skip("libc path is Linux-specific")
	}
	return "libc.so.6"
}

func TestOpenCallAndBind(t *testing.T) {
	lib, err := Open(libc(t))
	require.NoError(t, err)
	var strlen, getpid uintptr
	require.NoError(t, lib.Bind(map[string]*uintptr{"strlen": &strlen, "getpid": &getpid}))
	s := CString("hello")
	var pin runtime.Pinner
	pin.Pin(&s[0])
	n := Call(strlen, uintptr(unsafe.Pointer(&s[0])))
	pin.Unpin()
	assert.Equal(t, uintptr(5), n)
	assert.Equal(t, uintptr(os.Getpid()), Call(getpid))

	err = lib.Bind(map[string]*uintptr{"strlen": &strlen, "no_such_fn_1": new(uintptr), "no_such_fn_2": new(uintptr)})
	require.ErrorIs(t, err, ErrSymbol)
	var de *Error
	require.ErrorAs(t, err, &de)
	assert.Equal(t, []string{"no_such_fn_1", "no_such_fn_2"}, de.Symbols)
	assert.Contains(t, err.Error(), "libc.so.6")

	_, err = lib.Symbol("no_such_fn_3")
	require.ErrorIs(t, err, ErrSymbol)
	assert.Contains(t, err.Error(), "no_such_fn_3")
}

func TestOpenErrors(t *testing.T) {
	libc(t)
	_, err := Open("/nonexistent/libnothing.so")
	require.ErrorIs(t, err, ErrOpen)
	assert.Contains(t, err.Error(), "/nonexistent/libnothing.so")

	bogus := filepath.Join(t.TempDir(), "libbogus.so")
	require.NoError(t, os.WriteFile(bogus, []byte("not an ELF file"), 0o644))
	_, err = Open(bogus)
	require.True(t, errors.Is(err, ErrOpen))
	assert.Contains(t, err.Error(), "libbogus.so")
}

func TestGoStringAndTable(t *testing.T) {
	b := CString("abc")
	assert.Equal(t, "abc", GoString(uintptr(unsafe.Pointer(&b[0]))))
	assert.Equal(t, "", GoString(0))
	fns := []uintptr{10, 20, 30}
	assert.Equal(t, uintptr(30), Table(uintptr(unsafe.Pointer(&fns[0]))).Fn(2))
}
