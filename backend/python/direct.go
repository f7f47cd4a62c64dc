package python

import (
	"encoding/json"
	"fmt"
	"runtime"
	"sync/atomic"
	"unicode/utf8"
	"unsafe"

	"github.com/carton-run/carton/backend"
	"github.com/carton-run/carton/dlopen"
	"github.com/carton-run/carton/tensor"
)

// The direct path of an infer: Go makes the input arrays over the
// tensors' memory with numpy's C API, calls the model's bound
// infer_with_tensors, and takes a dict of ready numeric arrays as it is.
// Anything else (an iterator, strings, arrays needing a conversion) goes
// to the bridge's finish, which answers JSON.

// result is what one run gives: taken arrays (refs), or the bridge's JSON.
type result struct {
	refs *pyRefs
	json string
}

// takenArray is one output array, held by a reference of its own.
type takenArray struct {
	name string
	arrayInfo
	nbytes int
	ref    uintptr // the ndarray
}

// run calls the model on inputs with the GIL held; stream asks the bridge
// to keep an iterator as a stream.
func (s *session) run(inputs map[string]tensor.Tensor, stream bool) (result, error) {
	it := s.it
	c := calls.Get().(*pyCall)
	defer calls.Put(c)
	it.enter(c)
	defer it.leave(c)
	direct := it.numpyAPI(c)
	args, err := s.arrays(c, inputs, direct)
	if err != nil {
		return result{}, err
	}
	defer c.Call(it.fn.decRef, args)
	out := it.invoke(c, s.method, args)
	runtime.KeepAlive(inputs) // Python read their memory during the call
	if out == 0 {
		return result{}, s.raised(c)
	}
	defer c.Call(it.fn.decRef, out)
	if direct && !stream {
		if r, ok := s.take(c, out); ok {
			return r, nil
		}
	}
	js, err := it.callHeld(c, "finish", obj(out), obj(args), boolInt(stream))
	return result{json: js}, err
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// arrays is a new dict of arrays over the inputs' memory (read during
// the call: a model that keeps an input array after returning must copy
// it).
func (s *session) arrays(c *pyCall, inputs map[string]tensor.Tensor, direct bool) (uintptr, error) {
	it := s.it
	d := c.Call(it.fn.dictNew)
	if d == 0 {
		return 0, s.raised(c)
	}
	for name, t := range inputs {
		var a uintptr
		switch {
		case !utf8.ValidString(name):
			c.Call(it.fn.decRef, d)
			return 0, fmt.Errorf("%w: input name %q is not UTF-8 (Python's names are str)", backend.ErrInvalidInput, name)
		case npyType[t.DType()] < 0 && t.DType() != tensor.String:
			c.Call(it.fn.decRef, d)
			return 0, fmt.Errorf("%w: input %q: numpy has no %s", backend.ErrInvalidInput, name, t.DType())
		case direct && t.DType() != tensor.String:
			a = it.newArray(c, t)
		default:
			a = it.arrayViaBridge(c, t)
		}
		if a == 0 {
			c.Call(it.fn.decRef, d)
			return 0, s.raised(c)
		}
		key := it.newStr(c, name)
		rc := int32(-1)
		if key != 0 {
			rc = int32(c.Call(it.fn.dictSetItem, d, key, a)) // references of its own
			c.Call(it.fn.decRef, key)
		}
		c.Call(it.fn.decRef, a)
		if rc != 0 {
			c.Call(it.fn.decRef, d)
			return 0, s.raised(c)
		}
	}
	return d, nil
}

// newArray is an ndarray over t's memory (numpy allocates for an empty one).
func (it *interp) newArray(c *pyCall, t tensor.Tensor) uintptr {
	shape := t.Shape()
	var dims uintptr
	if len(shape) > 0 {
		dims = uintptr(unsafe.Pointer(&shape[0]))
	}
	var data uintptr
	if t.ByteLen() > 0 {
		data = uintptr(t.Pointer())
	}
	a := c.Call(it.numpy.new, it.numpy.arrayType, uintptr(len(shape)), dims, uintptr(npyType[t.DType()]), 0,
		data, 0, npyCArray, 0)
	runtime.KeepAlive(shape)
	return a
}

// arrayViaBridge is an array made by the bridge from t's address, or a
// str array: for strings, and where numpy's C API is not usable.
func (it *interp) arrayViaBridge(c *pyCall, t tensor.Tensor) uintptr {
	sp := spec{DType: t.DType().String(), Shape: t.Shape()}
	if t.DType() == tensor.String {
		sp.Strings, _ = t.Strings()
		if sp.Strings == nil {
			sp.Strings = []string{}
		}
	} else {
		sp.Addr, sp.NBytes = uintptr(t.Pointer()), t.ByteLen()
	}
	js, _ := json.Marshal(sp)
	arg := it.newStr(c, string(js))
	if arg == 0 {
		return 0
	}
	a := it.invoke(c, it.bridge["array_at"], arg)
	c.Call(it.fn.decRef, arg)
	return a
}

// raised is Python's pending exception as an error (with its type,
// message and traceback), the indicator cleared.
func (s *session) raised(c *pyCall) error {
	it := s.it
	fetched := []uintptr{uintptr(unsafe.Pointer(&c.excType)), uintptr(unsafe.Pointer(&c.exc)), uintptr(unsafe.Pointer(&c.tb))}
	c.Call(it.fn.errFetch, fetched...)
	if c.excType == 0 {
		return fmt.Errorf("%w: a call failed without an exception", ErrPython)
	}
	c.Call(it.fn.errNormalize, fetched...)
	typ, val, tb := c.excType, c.exc, c.tb
	if tb != 0 && val != 0 {
		c.Call(it.fn.excSetTraceback, val, tb)
	}
	defer func() {
		for _, o := range []uintptr{typ, val, tb} {
			c.Call(it.fn.decRef, o) // Py_DecRef takes NULL
		}
	}()
	if val == 0 {
		return fmt.Errorf("%w: an exception without a value", ErrPython)
	}
	js, err := it.callHeld(c, "error_json", obj(val))
	if err != nil {
		return err
	}
	var res struct {
		Error *pythonError `json:"error"`
	}
	if err := json.Unmarshal([]byte(js), &res); err != nil || res.Error == nil {
		return fmt.Errorf("%w: an exception that could not be described", ErrPython)
	}
	return fmt.Errorf("%w: %w", backend.ErrFramework, res.Error)
}

// take reads out if it is a dict of str to arrays Go takes as they are;
// each array gets a reference of its own, dropped when the last tensor
// over the call's outputs is released. false leaves out untouched.
func (s *session) take(c *pyCall, out uintptr) (result, bool) {
	it := s.it
	if peek[uintptr](out, offType) != it.fn.dictType {
		return result{}, false
	}
	refs := &pyRefs{it: it}
	refs.taken = refs.inline[:0]
	c.pos = 0
	for c.Call(it.fn.dictNext, out, uintptr(unsafe.Pointer(&c.pos)), uintptr(unsafe.Pointer(&c.key)), uintptr(unsafe.Pointer(&c.value))) != 0 {
		key, val := c.key, c.value
		if peek[uintptr](key, offType) != it.fn.unicodeType {
			return result{}, false
		}
		refs.taken = append(refs.taken, takenArray{ref: val})
		a := &refs.taken[len(refs.taken)-1]
		if !it.arrayOf(val, &a.arrayInfo) {
			return result{}, false
		}
		n, err := a.shape().NumElements()
		if err != nil {
			return result{}, false
		}
		a.nbytes = n * a.dtype.Size()
		var ok bool
		if a.name, ok = it.goStr(c, key); !ok {
			c.Call(it.fn.errClear)
			return result{}, false
		}
	}
	for i := range refs.taken {
		c.Call(it.fn.incRef, refs.taken[i].ref)
	}
	if len(refs.taken) > 0 { // an empty dict leaves nothing to drop
		refs.watch()
	}
	return result{refs: refs}, true
}

// pyRefs holds the arrays one call's outputs live in (the taken arrays'
// references, or the bridge's token for them): dropped under the GIL when
// the last of the tensors made over them is released.
type pyRefs struct {
	it      *interp
	taken   []takenArray
	inline  [2]takenArray // most calls' outputs: no allocation of their own
	token   int
	n       atomic.Int32 // the tensors made over them (adopt) and not yet released
	dropped atomic.Bool
}

// adopt puts t, a tensor over r's arrays, into outputs.
func (r *pyRefs) adopt(outputs map[string]tensor.Tensor, name string, t tensor.Tensor) {
	r.n.Add(1)
	outputs[name] = t
}

// abandon releases the outputs of a call that failed half-way, and r's
// arrays (nil: none) with them even where no tensor was made over them.
func abandon(outputs map[string]tensor.Tensor, r *pyRefs) {
	for _, t := range outputs {
		t.Release()
	}
	clear(outputs)
	if r != nil {
		r.drop()
	}
}

// watch drops the arrays of tensors a caller forgets to release once none
// is reachable, on a goroutine of its own, as the finalizer goroutine must
// not wait for the GIL.
func (r *pyRefs) watch() { runtime.SetFinalizer(r, func(r *pyRefs) { go r.drop() }) }

func (r *pyRefs) Release() {
	if r.n.Add(-1) == 0 {
		r.drop()
	}
}

func (r *pyRefs) drop() {
	if r.dropped.Swap(true) {
		return
	}
	runtime.SetFinalizer(r, nil)
	if r.token != 0 {
		_, _ = r.it.call("release", r.token)
		return
	}
	c := calls.Get().(*pyCall)
	defer calls.Put(c)
	r.it.enter(c)
	for i := range r.taken {
		c.Call(r.it.fn.decRef, r.taken[i].ref)
	}
	r.it.leave(c)
}

// tensors makes the Go tensors of the taken arrays.
func (r result) tensors(outputs map[string]tensor.Tensor) error {
	for i := range r.refs.taken {
		a := &r.refs.taken[i]
		t, err := tensor.ForeignShared(a.dtype, a.shape(), dlopen.Pointer(a.data), a.nbytes, r.refs)
		if err != nil {
			abandon(outputs, r.refs)
			return fmt.Errorf("%w: output %q: %w", ErrPython, a.name, err)
		}
		r.refs.adopt(outputs, a.name, t)
	}
	return nil
}

// detach copies outputs whose memory lies in an input's (a model that
// returned its input, or a view of it) into memory of their own: the
// input's memory is the caller's, free to change or go once Infer returns.
func detach(inputs, outputs map[string]tensor.Tensor) error {
	for name, o := range outputs {
		p, n := uintptr(o.Pointer()), uintptr(o.ByteLen())
		if n == 0 || o.DType() == tensor.String {
			continue
		}
		for _, in := range inputs {
			q, m := uintptr(in.Pointer()), uintptr(in.ByteLen())
			if m == 0 || in.DType() == tensor.String || p >= q+m || q >= p+n {
				continue
			}
			cp, err := o.Clone()
			if err != nil {
				return fmt.Errorf("%w: output %q: %w", ErrPython, name, err)
			}
			o.Release()
			outputs[name] = cp
			break
		}
	}
	return nil
}
