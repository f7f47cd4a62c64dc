package libtorch

import (
	"context"
	"fmt"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"unsafe"

	"github.com/carton-run/carton/backend"
	"github.com/carton-run/carton/dlopen"
	"github.com/carton-run/carton/format"
	"github.com/carton-run/carton/tensor"
)

// ctTensor mirrors struct ct_tensor in include/carton_torch.h.
type ctTensor struct {
	name    uintptr
	dtype   int32
	ndim    int32
	shape   uintptr
	data    uintptr
	nbytes  int64
	strs    uintptr
	strLens uintptr
}

// ctCall mirrors struct ct_call.
type ctCall struct {
	outNames  uintptr // the module's pinned name array
	nOutNames int64
	done      [maxDone]uintptr // results for ct_forward to free first
	nDone     int64
	result    uintptr // written by ct_forward
	err       uintptr // written on failure
}

// maxDone and directInputs mirror CT_MAX_DONE and CT_DIRECT_INPUTS.
const (
	maxDone      = 8
	directInputs = 10
)

// ctResult mirrors struct ct_result.
type ctResult struct {
	n       int64
	tensors uintptr
}

// cname is a name as both a Go string and a pinned C string.
type cname struct {
	name string
	c    []byte
}

type module struct {
	shim        *shim
	handle      uintptr // ct_module*
	dictMode    bool
	nArgs       int
	inputs      []cname // declared inputs, in order; empty when the carton declares none
	outputs     []cname // declared output names, for positional results
	outPtrs     []uintptr
	pin         runtime.Pinner // pins the C strings above for the module's life
	namesMu     sync.RWMutex
	extraNames  []cname  // undeclared input names seen so far, pinned
	seenOutputs []string // undeclared output names seen so far
	// Call states: the last call's waits in lastCall, which a lone
	// goroutine's calls hand on with one atomic swap each way (measured
	// cheaper than the pool's Get and Put between two forwards); concurrent
	// calls take more from scratch.
	lastCall atomic.Pointer[callState]
	scratch  sync.Pool
	closed   sync.Once
	// freeResult frees a ct_result; the release of a lone foreign output.
	freeResult func(uintptr)
	// Results no Go tensor refers to (every output was copied out) wait
	// for the next ct_forward to free them: no native call of their own
	// per Infer. One waits in retiredOne, which a lone goroutine's calls
	// hand on without a lock; more (concurrent calls) queue in retired,
	// bounded by maxRetired, counted in nRetired. Close frees what is left.
	retiredOne atomic.Uintptr
	nRetired   atomic.Int32
	retiredMu  sync.Mutex
	retired    []uintptr
}

// maxRetired bounds the results waiting for the next forward; past it a
// result is freed at once.
const maxRetired = 64

// callState is one Infer's scratch, pooled. Nothing the shim reads from
// it holds an unpinned Go pointer: input data rides in ct_forward's
// arguments (Go's rules let a call's arguments point at Go memory without
// a pin), shapes are copied into dims, and names are pinned with the
// module. So a call with numeric inputs pins nothing; only string inputs
// and inputs past the tenth, whose pointers sit in ins, use pin.
type callState struct {
	dlopen.Caller
	call    ctCall
	pin     runtime.Pinner
	pinned  bool
	ins     []ctTensor // over insBuf until a call needs more; then kept
	insBuf  [4]ctTensor
	dims    []int64 // every input's sizes, concatenated; over dimsBuf likewise
	dimsBuf [16]int64
	data    [directInputs]uintptr // the first inputs' data, passed as arguments
	kinds   []backend.OutputKind  // outputsOf's sorting of the outputs, reused
	tensors []tensor.Tensor
	// When the carton declares no inputs: the input names of this call
	// state's last call, in forward's order, and their pinned C names. The
	// next call with the same names looks them up in this order instead of
	// iterating and sorting the map.
	keys   []string
	cnames []uintptr
	// outNames are the names of the last call's outputs, by position.
	outNames []string
}

func newModule(s *shim, path string, model []byte, device string, cfg *format.Config) (*module, error) {
	m := &module{shim: s}
	out := dlopen.New[[3]uintptr]() // module, error, (mode, n_args) as two int32
	dev := dlopen.CString(device)
	var c dlopen.Caller
	var status uintptr
	if model != nil {
		status = c.Call(s.fn.load, 0, uintptr(unsafe.Pointer(unsafe.SliceData(model))), uintptr(len(model)), uintptr(unsafe.Pointer(&dev[0])), uintptr(unsafe.Pointer(&out[0])), uintptr(unsafe.Pointer(&out[1])))
	} else {
		p := dlopen.CString(path)
		status = c.Call(s.fn.load, uintptr(unsafe.Pointer(&p[0])), 0, 0, uintptr(unsafe.Pointer(&dev[0])), uintptr(unsafe.Pointer(&out[0])), uintptr(unsafe.Pointer(&out[1])))
		runtime.KeepAlive(p)
	}
	runtime.KeepAlive(model)
	runtime.KeepAlive(dev)
	if err := s.check(&c, status, &out[1]); err != nil {
		return nil, fmt.Errorf("%w: %w", backend.ErrModel, err)
	}
	m.handle = out[0]
	info := dlopen.New[[2]int32]()
	if err := s.check(&c, c.Call(s.fn.forwardInfo, m.handle, uintptr(unsafe.Pointer(&info[0])), uintptr(unsafe.Pointer(&info[1])), uintptr(unsafe.Pointer(&out[1]))), &out[1]); err != nil {
		c.Call(s.fn.moduleFree, m.handle)
		return nil, err
	}
	m.dictMode, m.nArgs = info[0] == 1, int(info[1])
	for _, spec := range cfg.Inputs {
		m.inputs = append(m.inputs, cname{spec.Name, dlopen.CString(spec.Name)})
	}
	for _, spec := range cfg.Outputs {
		m.outputs = append(m.outputs, cname{spec.Name, dlopen.CString(spec.Name)})
	}
	// Fewer declared inputs than forward takes leave its trailing
	// arguments to their defaults (TorchScript names any without one).
	if !m.dictMode && len(m.inputs) > m.nArgs {
		c.Call(s.fn.moduleFree, m.handle)
		return nil, fmt.Errorf("%w: forward takes %d arguments but the carton declares %d inputs", backend.ErrModel, m.nArgs, len(m.inputs))
	}
	if name, clash := defaultNameClash(m.outputs); !m.dictMode && clash {
		c.Call(s.fn.moduleFree, m.handle)
		return nil, fmt.Errorf("%w: declared output %q is the name forward's positional output past the %d declared ones gets; rename it",
			backend.ErrModel, name, len(m.outputs))
	}
	for i := range m.inputs {
		m.pin.Pin(&m.inputs[i].c[0])
	}
	for i := range m.outputs {
		m.pin.Pin(&m.outputs[i].c[0])
		m.outPtrs = append(m.outPtrs, uintptr(unsafe.Pointer(&m.outputs[i].c[0])))
	}
	if len(m.outPtrs) > 0 {
		m.pin.Pin(&m.outPtrs[0])
	}
	var outNames uintptr
	if len(m.outPtrs) > 0 {
		outNames = uintptr(unsafe.Pointer(&m.outPtrs[0]))
	}
	m.scratch.New = func() any {
		cs := &callState{call: ctCall{outNames: outNames, nOutNames: int64(len(m.outPtrs))}}
		cs.ins, cs.dims = cs.insBuf[:0], cs.dimsBuf[:0]
		return cs
	}
	resultFree := s.fn.resultFree
	m.freeResult = func(r uintptr) { dlopen.Call(resultFree, r) }
	return m, nil
}

// defaultNameClash finds a declared output named output_N for an N past
// the declared outputs: the name the shim gives positional output N, so
// two outputs of one call could share it.
func defaultNameClash(declared []cname) (string, bool) {
	for _, o := range declared {
		if n, ok := strings.CutPrefix(o.name, "output_"); ok {
			if i, err := strconv.Atoi(n); err == nil && i >= len(declared) && strconv.Itoa(i) == n {
				return o.name, true
			}
		}
	}
	return "", false
}

var _ backend.BlockSession = (*module)(nil)

// Infer runs forward.
func (m *module) Infer(ctx context.Context, inputs, out map[string]tensor.Tensor) error {
	_, err := m.InferBlock(ctx, inputs, out, nil)
	return err
}

// InferBlock runs forward, copying the small outputs into spare when
// backend.ReuseBlock allows.
func (m *module) InferBlock(_ context.Context, inputs, out map[string]tensor.Tensor, spare []byte) ([]byte, error) {
	cs := m.lastCall.Swap(nil)
	if cs == nil {
		cs = m.scratch.Get().(*callState)
	}
	defer m.putCallState(cs)
	if err := m.gather(cs, inputs); err != nil {
		return nil, err
	}
	cs.ins, cs.dims = cs.ins[:0], cs.dims[:0]
	for i, t := range cs.tensors {
		var name uintptr
		if len(m.inputs) > 0 {
			name = uintptr(unsafe.Pointer(&m.inputs[i].c[0]))
		} else { // the carton declares no inputs: name them from the map
			name = cs.cnames[i]
		}
		if !t.Valid() { // declared inputs were checked by carton; these were not
			return nil, fmt.Errorf("%w: input %q is an invalid or released tensor", backend.ErrInvalidInput, m.inputName(cs, i))
		}
		ct, err := m.describe(cs, i, name, t)
		if err != nil {
			return nil, err
		}
		cs.ins = append(cs.ins, ct)
	}
	var insPtr, dimsPtr uintptr
	if len(cs.ins) > 0 {
		insPtr = uintptr(unsafe.Pointer(&cs.ins[0]))
	}
	if len(cs.dims) > 0 {
		dimsPtr = uintptr(unsafe.Pointer(&cs.dims[0]))
	}
	m.takeRetired(cs)
	d := &cs.data
	status := cs.Call(m.shim.fn.forward, m.handle, insPtr, uintptr(len(cs.ins)), dimsPtr, uintptr(unsafe.Pointer(&cs.call)),
		d[0], d[1], d[2], d[3], d[4], d[5], d[6], d[7], d[8], d[9])
	// The shim freed call.done, even on failure. cs.tensors keeps the
	// inputs' memory reachable until here.
	if err := m.shim.check(&cs.Caller, status, &cs.call.err); err != nil {
		return nil, err
	}
	return m.outputsOf(cs, out, spare)
}

// inputName is the name of the call's input i, for errors.
func (m *module) inputName(cs *callState, i int) string {
	if len(m.inputs) > 0 {
		return m.inputs[i].name
	}
	return cs.keys[i]
}

// putCallState hands cs on to the next call, dropping its references to
// the caller's tensors.
func (m *module) putCallState(cs *callState) {
	if cs.pinned {
		cs.pin.Unpin()
		cs.pinned = false
	}
	clear(cs.tensors)
	clear(cs.data[:])
	if !m.lastCall.CompareAndSwap(nil, cs) {
		m.scratch.Put(cs)
	}
}

// takeRetired moves retired results into cs.call.done for the next forward.
func (m *module) takeRetired(cs *callState) {
	n := 0
	if r := m.retiredOne.Swap(0); r != 0 {
		cs.call.done[0], n = r, 1
	}
	if m.nRetired.Load() > 0 {
		m.retiredMu.Lock()
		k := copy(cs.call.done[n:], m.retired)
		m.retired = m.retired[:copy(m.retired, m.retired[k:])]
		m.nRetired.Store(int32(len(m.retired)))
		m.retiredMu.Unlock()
		n += k
	}
	cs.call.nDone = int64(n)
}

// retire hands a result no tensor refers to back for the next forward to
// free, or frees it now when enough are waiting.
func (m *module) retire(result uintptr) {
	if m.retiredOne.CompareAndSwap(0, result) {
		return
	}
	m.retiredMu.Lock()
	if len(m.retired) < maxRetired {
		m.retired = append(m.retired, result)
		m.nRetired.Store(int32(len(m.retired)))
		m.retiredMu.Unlock()
		return
	}
	m.retiredMu.Unlock()
	m.freeResult(result)
}

// gather puts the inputs in forward's order into cs.tensors.
func (m *module) gather(cs *callState, inputs map[string]tensor.Tensor) error {
	cs.tensors = cs.tensors[:0]
	if len(m.inputs) > 0 {
		for _, in := range m.inputs {
			t, ok := inputs[in.name]
			if !ok {
				return fmt.Errorf("%w: missing input %q", backend.ErrInvalidInput, in.name)
			}
			cs.tensors = append(cs.tensors, t)
		}
		return nil
	}
	if !m.dictMode && len(inputs) > 1 {
		return fmt.Errorf("%w: forward takes %d positional tensors; declare [[input]] specs to order them", backend.ErrInvalidInput, m.nArgs)
	}
	if cs.sameKeys(inputs) {
		return nil
	}
	cs.keys, cs.cnames, cs.tensors = cs.keys[:0], cs.cnames[:0], cs.tensors[:0]
	for k := range inputs {
		cs.keys = append(cs.keys, k)
	}
	if len(cs.keys) > 1 {
		sort.Strings(cs.keys)
	}
	for _, k := range cs.keys {
		cs.tensors = append(cs.tensors, inputs[k])
		cs.cnames = append(cs.cnames, m.cName(k))
	}
	return nil
}

// sameKeys gathers the inputs in the last call's order when inputs has
// exactly the last call's names, and says whether it did.
func (cs *callState) sameKeys(inputs map[string]tensor.Tensor) bool {
	if len(cs.keys) != len(inputs) || len(inputs) == 0 {
		return false
	}
	for _, k := range cs.keys {
		t, ok := inputs[k]
		if !ok {
			cs.tensors = cs.tensors[:0]
			return false
		}
		cs.tensors = append(cs.tensors, t)
	}
	return true
}

// cName returns a pinned C string for an input name the carton does not
// declare, made once per name for the module's life. Names are few: a
// linear search under a read lock, which (unlike a sync.Map) does not box
// the key into an interface on every call.
func (m *module) cName(name string) uintptr {
	m.namesMu.RLock()
	for _, n := range m.extraNames {
		if n.name == name {
			m.namesMu.RUnlock()
			return uintptr(unsafe.Pointer(&n.c[0]))
		}
	}
	m.namesMu.RUnlock()
	m.namesMu.Lock()
	defer m.namesMu.Unlock()
	for _, n := range m.extraNames {
		if n.name == name {
			return uintptr(unsafe.Pointer(&n.c[0]))
		}
	}
	b := dlopen.CString(name)
	m.pin.Pin(&b[0])
	m.extraNames = append(m.extraNames, cname{name, b})
	return uintptr(unsafe.Pointer(&b[0]))
}

// describe fills input i's ct_tensor and appends its sizes to cs.dims.
// Its data goes in cs.data when i < directInputs, else into the ct_tensor,
// pinned for the call (as string pointers are).
func (m *module) describe(cs *callState, i int, name uintptr, t tensor.Tensor) (ctTensor, error) {
	shape := t.Shape()
	ct := ctTensor{name: name, dtype: int32(t.DType()), ndim: int32(len(shape))}
	cs.dims = append(cs.dims, shape...)
	if t.DType() == tensor.String {
		strs, _ := t.Strings()
		if len(strs) == 0 {
			return ct, nil
		}
		ptrs := make([]uintptr, len(strs))
		lens := make([]int64, len(strs))
		for i, s := range strs {
			if len(s) > 0 {
				p := unsafe.StringData(s)
				cs.pinOne(unsafe.Pointer(p))
				ptrs[i] = uintptr(unsafe.Pointer(p))
			} else {
				ptrs[i] = uintptr(unsafe.Pointer(&emptyString[0]))
			}
			lens[i] = int64(len(s))
		}
		cs.pinOne(unsafe.Pointer(&ptrs[0]))
		cs.pinOne(unsafe.Pointer(&lens[0]))
		ct.strs, ct.strLens = uintptr(unsafe.Pointer(&ptrs[0])), uintptr(unsafe.Pointer(&lens[0]))
		return ct, nil
	}
	p := t.Pointer()
	if p == nil {
		return ct, nil
	}
	ct.nbytes = int64(t.ByteLen())
	if i < directInputs {
		cs.data[i] = uintptr(p)
		return ct, nil
	}
	if !t.IsForeign() {
		cs.pinOne(p)
	}
	ct.data = uintptr(p)
	return ct, nil
}

// pinOne pins p until the call state goes back to the pool.
func (cs *callState) pinOne(p unsafe.Pointer) {
	cs.pin.Pin(p)
	cs.pinned = true
}

var emptyString = [1]byte{}

// resultOwner frees one ct_result when every tensor over it is released.
type resultOwner struct {
	shim   *shim
	result uintptr
	refs   atomic.Int32
}

func (o *resultOwner) Release() {
	if o.refs.Add(-1) == 0 {
		runtime.SetFinalizer(o, nil)
		o.free()
	}
}

func (o *resultOwner) free() { dlopen.Call(o.shim.fn.resultFree, o.result) }

// outputsOf hands the result's outputs over into out and returns the Go
// block the copied ones occupy (spare when backend.ReuseBlock allows).
func (m *module) outputsOf(cs *callState, out map[string]tensor.Tensor, spare []byte) ([]byte, error) {
	result := cs.call.result
	res := (*ctResult)(dlopen.Pointer(result))
	outs := unsafe.Slice((*ctTensor)(dlopen.Pointer(res.tensors)), res.n)
	// Outputs up to backend.SmallOutputBytes are copied into one Go block
	// carved into tensors, and the result goes back to the shim with the
	// next forward. Larger ones stay over libtorch memory and keep the
	// result alive: one such output owns it directly (its release frees
	// the result: no owner object); several share a counted owner.
	// The first pass sorts the outputs and sizes the block; the second
	// hands each over as sorted, without searching the inputs again.
	kinds := cs.kinds[:0]
	foreign, blockSize := 0, 0
	for i := range outs {
		o := &outs[i]
		kind := backend.KindOf(cs.tensors, tensor.DType(o.dtype), o.data, int(o.nbytes))
		switch kind {
		case backend.OutputForeign:
			foreign++
		case backend.OutputCopied:
			n, err := tensor.BlockSize(tensor.DType(o.dtype), outputShape(o))
			if err != nil {
				m.retire(result)
				return nil, fmt.Errorf("%w: output %d: %w", backend.ErrModel, i, err)
			}
			blockSize += n
		}
		kinds = append(kinds, kind)
	}
	cs.kinds = kinds
	block := backend.ReuseBlock(spare, blockSize, cs.tensors)
	var owner *resultOwner
	if foreign > 1 {
		owner = &resultOwner{shim: m.shim, result: result}
		owner.refs.Store(1) // held by this function until the end
		// Safety net: if the caller drops outputs without Release, the
		// result is freed once none of them is reachable.
		runtime.SetFinalizer(owner, (*resultOwner).free)
	}
	// Cleanup without defer: Go could not open-code one in a function of
	// this shape, and the defer record it falls back to cost more than the
	// rest of the bookkeeping here (docs/benchmarks-history.md).
	stored, handedOver, err := m.handOver(cs, out, outs, block, owner, result)
	switch {
	case owner != nil:
		owner.Release()
	case !handedOver: // no tensor refers to the result
		m.retire(result)
	}
	if err != nil {
		backend.ReleaseStored(out, cs.outNames[:stored])
		return nil, err
	}
	backend.KeepOnly(out, cs.outNames[:stored])
	return block, nil
}

// handOver is outputsOf's second pass: it puts each output in out as
// cs.kinds sorted it, their names in cs.outNames, and says how many it
// stored and whether a lone foreign output took the result over.
func (m *module) handOver(cs *callState, out map[string]tensor.Tensor, outs []ctTensor, block []byte, owner *resultOwner, result uintptr) (stored int, handedOver bool, err error) {
	for i := range outs {
		o := &outs[i]
		name := cs.outputName(m, i, o.name)
		dtype := tensor.DType(o.dtype)
		shape := outputShape(o)
		var t tensor.Tensor
		switch cs.kinds[i] {
		case backend.OutputStrings:
			if t, err = stringsOutput(o, shape); err != nil {
				err = fmt.Errorf("output %q: %w", name, err)
			}
		case backend.OutputAlias:
			// A view of the caller's Go memory stays valid after the call.
			var ok bool
			if t, ok = backend.AliasOfInput(cs.tensors, dtype, shape, o.data, int(o.nbytes)); !ok {
				err = fmt.Errorf("%w: output %q: %s %v does not fit the input it aliases", backend.ErrModel, name, dtype, shape)
			}
		case backend.OutputCopied:
			t, block, err = tensor.Carve(block, dtype, shape) // copies the shape
			switch {
			case err != nil:
				err = fmt.Errorf("output %q: %w", name, err)
			case o.nbytes != int64(t.ByteLen()):
				err = fmt.Errorf("%w: output %q: %d bytes for shape %v of %s", backend.ErrModel, name, o.nbytes, shape, dtype)
			case o.nbytes > 0:
				copy(unsafe.Slice((*byte)(t.Pointer()), o.nbytes), unsafe.Slice((*byte)(dlopen.Pointer(o.data)), o.nbytes))
			}
		case backend.OutputForeign:
			if owner != nil {
				owner.refs.Add(1)
				if t, err = tensor.ForeignShared(dtype, shape, dlopen.Pointer(o.data), int(o.nbytes), owner); err != nil {
					owner.Release()
				}
			} else {
				t, err = tensor.ForeignHandle(dtype, shape, dlopen.Pointer(o.data), int(o.nbytes), m.freeResult, result)
				handedOver = err == nil
			}
			if err != nil {
				err = fmt.Errorf("output %q: %w", name, err)
			}
		}
		if err != nil {
			return i, handedOver, err
		}
		out[name] = t
	}
	return len(outs), handedOver, nil
}

// stringsOutput copies a string output into Go strings.
func stringsOutput(o *ctTensor, shape tensor.Shape) (tensor.Tensor, error) {
	n, err := shape.NumElements()
	if err != nil {
		return tensor.Tensor{}, err
	}
	strs := make([]string, n)
	ptrs := unsafe.Slice((*uintptr)(dlopen.Pointer(o.strs)), n)
	lens := unsafe.Slice((*int64)(dlopen.Pointer(o.strLens)), n)
	for j := range strs {
		strs[j] = string(unsafe.Slice((*byte)(dlopen.Pointer(ptrs[j])), lens[j]))
	}
	return tensor.FromStrings(shape, strs) // copies the shape
}

// outputShape is an output's shape in the shim's memory (not copied).
func outputShape(o *ctTensor) tensor.Shape {
	if o.ndim <= 0 {
		return nil
	}
	return unsafe.Slice((*int64)(dlopen.Pointer(o.shape)), o.ndim)
}

// outputName is output i's name as a Go string: without a lock or an
// allocation when output i had the same name in this call state's last
// call, else through the module's lookup.
func (cs *callState) outputName(m *module, i int, c uintptr) string {
	if i < len(cs.outNames) && cstrIs(c, cs.outNames[i]) {
		return cs.outNames[i]
	}
	name := m.outputName(c)
	switch {
	case i < len(cs.outNames):
		cs.outNames[i] = name
	case i == len(cs.outNames):
		cs.outNames = append(cs.outNames, name)
	}
	return name
}

// cstrIs says whether the C string at c is s (which holds no NUL byte).
func cstrIs(c uintptr, s string) bool {
	p := unsafe.Slice((*byte)(dlopen.Pointer(c)), len(s)+1)
	for i := 0; i < len(s); i++ {
		if p[i] != s[i] { // stops at c's NUL at the latest
			return false
		}
	}
	return p[len(s)] == 0
}

// outputName maps the C name to a Go string without allocating when it is
// a declared output or one seen before (up to 64 are remembered).
func (m *module) outputName(c uintptr) string {
	for _, o := range m.outputs {
		if cstrIs(c, o.name) {
			return o.name
		}
	}
	m.namesMu.RLock()
	for _, name := range m.seenOutputs {
		if cstrIs(c, name) {
			m.namesMu.RUnlock()
			return name
		}
	}
	m.namesMu.RUnlock()
	name := dlopen.GoString(c)
	m.namesMu.Lock()
	if len(m.seenOutputs) < 64 {
		m.seenOutputs = append(m.seenOutputs, name)
	}
	m.namesMu.Unlock()
	return name
}

// Close frees the module.
func (m *module) Close() error {
	m.closed.Do(func() {
		var c dlopen.Caller
		m.retiredMu.Lock()
		if r := m.retiredOne.Swap(0); r != 0 {
			m.retired = append(m.retired, r)
		}
		for _, r := range m.retired {
			c.Call(m.shim.fn.resultFree, r)
		}
		m.retired = nil
		m.nRetired.Store(0)
		m.retiredMu.Unlock()
		c.Call(m.shim.fn.moduleFree, m.handle)
		m.pin.Unpin()
	})
	return nil
}
