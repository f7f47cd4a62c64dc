package python

import (
	_ "embed"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"unsafe"

	"github.com/ebitengine/purego"

	"github.com/carton-run/carton/backend"
	"github.com/carton-run/carton/dlopen"
)

//go:embed bridge.py
var bridgeSource string

// ErrPython is the runner's sentinel for errors Python raised (it matches
// backend.ErrFramework).
var ErrPython = backend.FrameworkSentinel("python")

// ErrOtherPython: the process already runs another libpython; CPython
// cannot be initialised twice, nor two releases side by side.
var ErrOtherPython = errors.New("another Python already runs in this process")

// interp is the one embedded interpreter of the process.
type interp struct {
	lib, executable string
	fn              struct {
		gilEnsure, incRef, decRef, callObject, tupleNew, tupleSetItem    uintptr
		thisThreadState, restoreThread, saveThread                       uintptr
		longFromLongLong, unicodeFromStringAndSize, unicodeAsUTF8AndSize uintptr
		errPrint, errFetch, errNormalize, excSetTraceback, errClear      uintptr
		dictNew, dictSetItem, dictNext                                   uintptr
		capsuleGetName, capsuleGetPointer                                uintptr
		vectorcallDict                                                   uintptr // 0 before 3.9
		dictType, unicodeType                                            uintptr // the type objects
	}
	numpy  numpyState         // numpy's C API, taken at the first infer
	bridge map[string]uintptr // the bridge's functions (PyObject*), owned forever
}

var (
	the    *interp
	theErr error
	theMu  sync.Mutex // guards the choice of the interpreter
)

// interpreter starts the process's Python from lib (its shared libpython)
// with the environment of executable, once; a later call for another lib
// fails with ErrOtherPython.
func interpreter(lib, executable string) (*interp, error) {
	theMu.Lock()
	defer theMu.Unlock()
	if the != nil || theErr != nil {
		if theErr != nil {
			return nil, theErr
		}
		if the.lib != lib {
			return nil, fmt.Errorf("%w: %s runs, %s was asked for", ErrOtherPython, the.lib, lib)
		}
		return the, nil
	}
	the, theErr = start(lib, executable)
	return the, theErr
}

func start(lib, executable string) (*interp, error) {
	h, err := purego.Dlopen(lib, purego.RTLD_NOW|purego.RTLD_GLOBAL) // extension modules resolve the C API here
	if err != nil {
		return nil, fmt.Errorf("%w: opening %s: %v", backend.ErrNoRuntime, lib, err)
	}
	sym := func(name string) (uintptr, error) {
		p, err := purego.Dlsym(h, name)
		if err != nil {
			return 0, fmt.Errorf("%w: %s has no %s: %v", backend.ErrNoRuntime, lib, name, err)
		}
		return p, nil
	}
	it := &interp{lib: lib, executable: executable, bridge: map[string]uintptr{}}
	table := map[string]*uintptr{
		"PyGILState_Ensure": &it.fn.gilEnsure, "Py_DecRef": &it.fn.decRef,
		"PyObject_CallObject": &it.fn.callObject, "PyTuple_New": &it.fn.tupleNew, "PyTuple_SetItem": &it.fn.tupleSetItem,
		"PyLong_FromLongLong": &it.fn.longFromLongLong, "PyUnicode_FromStringAndSize": &it.fn.unicodeFromStringAndSize,
		"PyUnicode_AsUTF8AndSize": &it.fn.unicodeAsUTF8AndSize, "PyErr_Print": &it.fn.errPrint,
		"PyGILState_GetThisThreadState": &it.fn.thisThreadState, "PyEval_RestoreThread": &it.fn.restoreThread,
		"PyEval_SaveThread": &it.fn.saveThread, "Py_IncRef": &it.fn.incRef,
		"PyErr_Fetch": &it.fn.errFetch, "PyErr_NormalizeException": &it.fn.errNormalize,
		"PyException_SetTraceback": &it.fn.excSetTraceback, "PyErr_Clear": &it.fn.errClear,
		"PyDict_New": &it.fn.dictNew, "PyDict_SetItem": &it.fn.dictSetItem, "PyDict_Next": &it.fn.dictNext,
		"PyCapsule_GetName": &it.fn.capsuleGetName, "PyCapsule_GetPointer": &it.fn.capsuleGetPointer,
		"PyDict_Type": &it.fn.dictType, "PyUnicode_Type": &it.fn.unicodeType,
	}
	for name, p := range table {
		if *p, err = sym(name); err != nil {
			return nil, err
		}
	}
	if p, err := sym("PyObject_VectorcallDict"); err == nil {
		it.fn.vectorcallDict = p
	}
	var init struct{ decodeLocale, setProgramName, initializeEx, saveThread, addModule, getDict, runString, getItem uintptr }
	for name, p := range map[string]*uintptr{"Py_DecodeLocale": &init.decodeLocale, "Py_SetProgramName": &init.setProgramName,
		"Py_InitializeEx": &init.initializeEx, "PyEval_SaveThread": &init.saveThread, "PyImport_AddModule": &init.addModule,
		"PyModule_GetDict": &init.getDict, "PyRun_String": &init.runString, "PyDict_GetItemString": &init.getItem} {
		if *p, err = sym(name); err != nil {
			return nil, err
		}
	}
	// Isolated from the user's environment: no PYTHON* variables, no user
	// site directory; the interpreter's own environment (executable's
	// site-packages) stays, behind the model's locked wheels.
	for _, flag := range []string{"Py_IgnoreEnvironmentFlag", "Py_NoUserSiteDirectory", "Py_DontWriteBytecodeFlag"} {
		p, err := sym(flag)
		if err != nil {
			return nil, err
		}
		*(*int32)(dlopen.Pointer(p)) = 1 // a C global of libpython's
	}
	runtime.LockOSThread() // the thread that initialises holds the GIL until SaveThread
	defer runtime.UnlockOSThread()
	if executable != "" {
		name := dlopen.CString(executable)
		w := dlopen.Call(init.decodeLocale, uintptr(unsafe.Pointer(&name[0])), 0)
		runtime.KeepAlive(name)
		if w != 0 {
			dlopen.Call(init.setProgramName, w) // kept by Python: never freed
		}
	}
	dlopen.Call(init.initializeEx, 0) // 0: leave signal handling to Go
	modName := dlopen.CString("_carton_bridge")
	mod := dlopen.Call(init.addModule, uintptr(unsafe.Pointer(&modName[0])))
	if mod == 0 {
		return nil, fmt.Errorf("%w: cannot make the bridge module", ErrPython)
	}
	dict := dlopen.Call(init.getDict, mod)
	src := dlopen.CString(bridgeSource)
	const fileInput = 257 // Py_file_input
	res := dlopen.Call(init.runString, uintptr(unsafe.Pointer(&src[0])), fileInput, dict, dict)
	runtime.KeepAlive(src)
	if res == 0 {
		dlopen.Call(it.fn.errPrint)
		return nil, fmt.Errorf("%w: the bridge did not run (see stderr)", ErrPython)
	}
	dlopen.Call(it.fn.decRef, res)
	for _, name := range []string{"load", "unload", "method", "array_at", "finish", "error_json", "array_api", "release", "next_step", "close_stream"} {
		n := dlopen.CString(name)
		f := dlopen.Call(init.getItem, dict, uintptr(unsafe.Pointer(&n[0]))) // borrowed from the module, which lives forever
		runtime.KeepAlive(n)
		if f == 0 {
			return nil, fmt.Errorf("%w: the bridge has no %s", ErrPython, name)
		}
		it.bridge[name] = f
	}
	dlopen.Call(init.saveThread) // release the GIL: every call takes it with PyGILState_Ensure
	return it, nil
}

// arg is an argument of a bridge call: a string, an int, or a Python
// object (obj, borrowed).
type arg any

// obj is a PyObject* passed to a bridge function as it is.
type obj uintptr

// pyCall is the per-call state of calls into Python, pooled: the Caller,
// and the out-parameters and argument vectors C reads and writes. They
// live on the heap, as C must never get the address of a goroutine's
// stack (dlopen.New says why).
type pyCall struct {
	dlopen.Caller
	argv             [8]uintptr // invoke's arguments
	pos, n           int64      // PyDict_Next's position; PyUnicode_AsUTF8AndSize's length
	key, value       uintptr    // PyDict_Next's item
	excType, exc, tb uintptr    // PyErr_Fetch's
}

var calls = sync.Pool{New: func() any { return new(pyCall) }}

// call runs bridge function name(args...) with the GIL held on a locked
// thread and returns the str it returns.
func (it *interp) call(name string, args ...arg) (string, error) {
	c := calls.Get().(*pyCall)
	defer calls.Put(c)
	it.enter(c)
	defer it.leave(c)
	return it.callHeld(c, name, args...)
}

// enter locks the goroutine to its OS thread and takes the GIL. Each OS
// thread keeps the Python thread state it first got: taking the GIL is
// then PyEval_RestoreThread, where PyGILState_Ensure and Release would
// make and free a thread state every call.
func (it *interp) enter(c *pyCall) {
	runtime.LockOSThread()
	if ts := c.Call(it.fn.thisThreadState); ts != 0 {
		c.Call(it.fn.restoreThread, ts)
	} else {
		c.Call(it.fn.gilEnsure) // never released: the state stays the thread's
	}
}

// leave releases the GIL and the thread.
func (it *interp) leave(c *pyCall) {
	c.Call(it.fn.saveThread)
	runtime.UnlockOSThread()
}

// callHeld is call with the GIL already held.
func (it *interp) callHeld(c *pyCall, name string, args ...arg) (string, error) {
	objs := make([]uintptr, 0, len(args))
	defer func() {
		for _, o := range objs {
			c.Call(it.fn.decRef, o)
		}
	}()
	for i, a := range args {
		var o uintptr
		switch v := a.(type) {
		case string:
			o = it.newStr(c, v)
		case int:
			o = c.Call(it.fn.longFromLongLong, uintptr(v))
		case obj:
			c.Call(it.fn.incRef, uintptr(v))
			o = uintptr(v)
		default:
			return "", fmt.Errorf("bridge argument %T", a)
		}
		if o == 0 {
			c.Call(it.fn.errPrint)
			return "", fmt.Errorf("%w: cannot convert argument %d", ErrPython, i)
		}
		objs = append(objs, o)
	}
	res := it.invoke(c, it.bridge[name], objs...)
	if res == 0 {
		c.Call(it.fn.errPrint)
		return "", fmt.Errorf("%w: the bridge's %s raised (see stderr)", ErrPython, name)
	}
	defer c.Call(it.fn.decRef, res)
	s, ok := it.goStr(c, res)
	if !ok {
		c.Call(it.fn.errPrint)
		return "", fmt.Errorf("%w: the bridge's %s returned no str", ErrPython, name)
	}
	return s, nil
}

// invoke calls fn(*args) (borrowed references) and returns its result, a
// new reference, or 0 with Python's error set.
func (it *interp) invoke(c *pyCall, fn uintptr, args ...uintptr) uintptr {
	if it.fn.vectorcallDict != 0 && len(args) <= len(c.argv) {
		copy(c.argv[:], args)
		return c.Call(it.fn.vectorcallDict, fn, uintptr(unsafe.Pointer(&c.argv[0])), uintptr(len(args)), 0)
	}
	tuple := c.Call(it.fn.tupleNew, uintptr(len(args)))
	if tuple == 0 {
		return 0
	}
	for i, a := range args {
		c.Call(it.fn.incRef, a)
		c.Call(it.fn.tupleSetItem, tuple, uintptr(i), a) // steals the reference
	}
	r := c.Call(it.fn.callObject, fn, tuple)
	c.Call(it.fn.decRef, tuple)
	return r
}

// newStr is a new Python str of s, or 0.
func (it *interp) newStr(c *pyCall, s string) uintptr {
	var p uintptr
	if len(s) > 0 {
		p = uintptr(unsafe.Pointer(unsafe.StringData(s)))
	}
	o := c.Call(it.fn.unicodeFromStringAndSize, p, uintptr(len(s)))
	runtime.KeepAlive(s)
	return o
}

// goStr copies Python str o; false when o is no str.
func (it *interp) goStr(c *pyCall, o uintptr) (string, bool) {
	p := c.Call(it.fn.unicodeAsUTF8AndSize, o, uintptr(unsafe.Pointer(&c.n))) // Py_ssize_t
	if p == 0 {
		return "", false
	}
	return string(unsafe.Slice((*byte)(dlopen.Pointer(p)), int(c.n))), true
}
