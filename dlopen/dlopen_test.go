package dlopen

import (
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
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

// libcSymbol returns a libc function, skipping the test without libc.so.6.
func libcSymbol(tb testing.TB, name string) uintptr {
	tb.Helper()
	lib, err := Open("libc.so.6")
	if err != nil {
		tb.Skip(err)
	}
	p, err := lib.Symbol(name)
	if err != nil {
		tb.Fatal(err)
	}
	return p
}

// Every argument slot reaches the callee in order, registers and stack
// alike, and the result comes back: snprintf with 12 numbers after its
// three fixed arguments.
func TestCallerPassesFifteenArguments(t *testing.T) {
	snprintf, labs := libcSymbol(t, "snprintf"), libcSymbol(t, "labs")
	buf := New[[256]byte]()
	format := CString("%ld %ld %ld %ld %ld %ld %ld %ld %ld %ld %ld %ld")
	var c Caller
	for round := range 3 { // a reused frame must not leak one call's arguments into the next
		args := []uintptr{uintptr(unsafe.Pointer(&buf[0])), uintptr(len(buf)), uintptr(unsafe.Pointer(&format[0]))}
		want := ""
		for i := range 12 {
			v := int64(round*100 + i*7 - 30)
			args = append(args, uintptr(v))
			if i > 0 {
				want += " "
			}
			want += strconv.FormatInt(v, 10)
		}
		n := c.Call(snprintf, args...)
		got := string(buf[:])
		if i := strings.IndexByte(got, 0); i >= 0 {
			got = got[:i]
		}
		if got != want || int(n) != len(want) {
			t.Fatalf("round %d: snprintf wrote %q (returned %d), want %q", round, got, n, want)
		}
		if got := int64(c.Call(labs, uintptr(^uint64(41)))); got != 42 {
			t.Fatalf("labs(-42) = %d", got)
		}
	}
	runtime.KeepAlive(format)
}

// More arguments than the trampoline loads still reach the callee (through
// purego): snprintf with 17 numbers.
func TestCallerPassesTwentyArguments(t *testing.T) {
	snprintf := libcSymbol(t, "snprintf")
	buf := New[[256]byte]()
	format := CString(strings.TrimSpace(strings.Repeat("%ld ", 17)))
	args := []uintptr{uintptr(unsafe.Pointer(&buf[0])), uintptr(len(buf)), uintptr(unsafe.Pointer(&format[0]))}
	var want []string
	for i := range 17 {
		args = append(args, uintptr(i*3))
		want = append(want, strconv.Itoa(i*3))
	}
	var c Caller
	n := c.Call(snprintf, args...)
	got := string(buf[:n])
	if got != strings.Join(want, " ") {
		t.Fatalf("snprintf wrote %q, want %q", got, strings.Join(want, " "))
	}
	runtime.KeepAlive(format)
}

// The hot paths' native calls allocate nothing (an escaping argument slice
// would cost one allocation per call).
func TestCallerAllocatesNothing(t *testing.T) {
	labs := libcSymbol(t, "labs")
	var c Caller
	if n := testing.AllocsPerRun(1000, func() { c.Call(labs, 7) }); n != 0 {
		t.Fatalf("Caller.Call allocates %v times a call", n)
	}
}
