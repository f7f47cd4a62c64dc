package dlopen

import (
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"unsafe"

	"github.com/ebitengine/purego"
)

var (
	// ErrOpen: the library (or a library it depends on) could not be loaded.
	ErrOpen = errors.New("cannot load shared library")
	// ErrSymbol: a symbol is missing from a loaded library.
	ErrSymbol = errors.New("missing symbol")
)

// Error describes a failure to load a library or find its symbols.
type Error struct {
	Library string
	Symbols []string // missing symbols, for ErrSymbol
	Reason  string   // dlerror text
	kind    error
}

func (e *Error) Error() string {
	if e.kind == ErrSymbol {
		return fmt.Sprintf("%s: %v %s: %s", e.Library, ErrSymbol, strings.Join(e.Symbols, ", "), e.Reason)
	}
	return fmt.Sprintf("%v %s: %s", ErrOpen, e.Library, e.Reason)
}

// Unwrap returns ErrOpen or ErrSymbol.
func (e *Error) Unwrap() error { return e.kind }

// Library is an open shared library.
type Library struct {
	Path   string
	handle uintptr
}

// Open loads the library at path with RTLD_NOW|RTLD_LOCAL.
func Open(path string) (*Library, error) {
	h, err := purego.Dlopen(path, purego.RTLD_NOW|purego.RTLD_LOCAL)
	if err != nil {
		return nil, &Error{Library: path, Reason: err.Error(), kind: ErrOpen}
	}
	return &Library{Path: path, handle: h}, nil
}

// Symbol returns the address of name.
func (l *Library) Symbol(name string) (uintptr, error) {
	p, err := purego.Dlsym(l.handle, name)
	if err != nil || p == 0 {
		reason := "not found"
		if err != nil {
			reason = err.Error()
		}
		return 0, &Error{Library: l.Path, Symbols: []string{name}, Reason: reason, kind: ErrSymbol}
	}
	return p, nil
}

// Bind resolves every symbol in table (name -> destination) and reports all
// missing ones at once.
func (l *Library) Bind(table map[string]*uintptr) error {
	var missing []string
	var reason string
	for name, dst := range table {
		p, err := purego.Dlsym(l.handle, name)
		if err != nil || p == 0 {
			missing = append(missing, name)
			if err != nil {
				reason = err.Error()
			}
			continue
		}
		*dst = p
	}
	if len(missing) > 0 {
		sort.Strings(missing)
		if reason == "" {
			reason = "not found"
		}
		return &Error{Library: l.Path, Symbols: missing, Reason: reason, kind: ErrSymbol}
	}
	return nil
}

// Close unloads the library. See the package documentation before using it.
func (l *Library) Close() error { return purego.Dlclose(l.handle) }

// Call calls the C function at fn with integer/pointer arguments and returns
// its integer/pointer result, through a pooled Caller: no allocation, and
// safe from any goroutine. Hot paths keep a Caller in their per-call state
// instead, which saves the pool's round trip.
func Call(fn uintptr, args ...uintptr) uintptr {
	c := callerPool.Get().(*Caller)
	r := c.Call(fn, args...)
	callerPool.Put(c)
	return r
}

// Caller makes native calls without allocating, through a frame it
// reuses: on Linux (amd64, arm64) the frame of a lean trampoline of its
// own (up to 15 integer arguments, see RATIONALE.md), elsewhere the heap
// slice purego needs. A Caller must not be used by two goroutines at once; keep one per
// call state.
type Caller struct {
	frame callFrame
}

// Call calls fn like the package-level Call, without the pool, allocating
// nothing for up to 15 arguments. fn must take only integer or pointer arguments.
func (c *Caller) Call(fn uintptr, args ...uintptr) uintptr {
	if fn == 0 {
		panic("dlopen: call of a nil function pointer")
	}
	return c.call(fn, args)
}

var callerPool = sync.Pool{New: func() any { return new(Caller) }}

// Table is the address of a C struct of function pointers.
type Table uintptr

// Fn returns the function pointer at index (0-based, pointer-sized slots).
func (t Table) Fn(index int) uintptr {
	return *(*uintptr)(unsafe.Add(Pointer(uintptr(t)), index*int(unsafe.Sizeof(uintptr(0)))))
}

// GoString copies the NUL-terminated C string at p (empty for 0).
func GoString(p uintptr) string {
	if p == 0 {
		return ""
	}
	base := Pointer(p)
	n := 0
	for *(*byte)(unsafe.Add(base, n)) != 0 {
		n++
	}
	return string(unsafe.Slice((*byte)(base), n))
}

// Pointer turns an address of C memory into an unsafe.Pointer. Only for
// memory outside the Go heap, which the garbage collector ignores.
func Pointer(p uintptr) unsafe.Pointer {
	return *(*unsafe.Pointer)(unsafe.Pointer(&p))
}

// CString returns s as a NUL-terminated byte slice in Go memory; pass
// &b[0] to C while b is alive and pinned.
func CString(s string) []byte {
	b := make([]byte, len(s)+1)
	copy(b, s)
	return b
}

// New returns a zeroed T on the Go heap, for out-parameters of C calls.
//
// Never pass the address of a local variable to C through a uintptr: the
// compiler may keep the variable on the goroutine stack, and the stack can
// move (when a callee grows it) between the conversion and the call, so C
// would write to the old stack. Heap objects never move.
//
//go:noinline
func New[T any]() *T { return new(T) }
