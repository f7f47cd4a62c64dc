package onnx

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"unsafe"

	"github.com/carton-run/carton/backend"
	"github.com/carton-run/carton/dlopen"
	"github.com/carton-run/carton/tensor"
)

// ioSpec is one model input or output as the session reports it.
type ioSpec struct {
	name     string
	cname    []byte // NUL-terminated, referenced by the names array
	dtype    tensor.DType
	ortType  uintptr
	dims     []int64     // -1 for dynamic
	symbolic []string    // symbolic dim names ("" if none)
	anyRank  bool        // declared without a shape: any rank (markShapeless); dims is empty
	plan     []dimSource // outputs: how to compute the shape from inputs; nil if it cannot be
}

// dimSource gives one output dim: a fixed size (input < 0) or the size of
// dimension dim of input number input.
type dimSource struct {
	size       int64
	input, dim int
}

// planOutputs decides which outputs can be pre-allocated: numeric ones of
// rank <= 8 whose dims are all fixed or symbols that also name an input dim.
// An output that is also a graph input is not: ONNX Runtime leaves a
// buffer given for it untouched.
func (s *session) planOutputs() {
	bySymbol := map[string]dimSource{}
	inputNames := map[string]bool{}
	for i, in := range s.inputs {
		inputNames[in.name] = true
		for j, sym := range in.symbolic {
			if sym != "" && in.dims[j] < 0 {
				if _, seen := bySymbol[sym]; !seen {
					bySymbol[sym] = dimSource{input: i, dim: j}
				}
			}
		}
	}
	some := false
	for i := range s.outputs {
		o := &s.outputs[i]
		if o.dtype == tensor.String || len(o.dims) > 8 || o.anyRank || inputNames[o.name] {
			continue
		}
		plan := make([]dimSource, len(o.dims))
		for j, d := range o.dims {
			if d >= 0 {
				plan[j] = dimSource{size: d, input: -1}
				continue
			}
			src, ok := bySymbol[o.symbolic[j]]
			if !ok {
				plan = nil
				break
			}
			plan[j] = src
		}
		if plan != nil {
			o.plan = plan
			s.planDims += len(plan)
			some = true
		}
	}
	s.prealloc.Store(some)
}

type session struct {
	lib     *library
	handle  uintptr // OrtSession*
	inputs  []ioSpec
	outputs []ioSpec
	// C-style arrays of char* into the specs' cname buffers; pinned for the
	// session's life so each Run passes them as they are.
	inNames, outNames []uintptr
	outKeys           []string // the outputs' names, in order
	skipped           []string // outputs that are not tensors, which runs leave out
	namePin           runtime.Pinner
	release           func(uintptr) // frees one OrtValue; shared by all outputs
	prealloc          atomic.Bool   // some outputs are allocated in Go before Run
	planDims          int           // the dims of every planned output shape, together
	scratch           sync.Pool     // *callState
	closeOnce         sync.Once
}

// callState is the per-call scratch that Run writes into; pooled so that a
// call allocates nothing for it.
type callState struct {
	dlopen.Caller
	pin     runtime.Pinner
	inVals  []uintptr
	ins     []tensor.Tensor // this call's inputs, in the model's order; cleared after it
	outVals []uintptr
	outGo   []tensor.Tensor // pre-allocated outputs in Go memory
	// Pre-allocation's first pass: which outputs it makes, their shapes
	// (over outDims).
	pre       []bool
	outShapes []tensor.Shape
	outDims   []int64
	value     uintptr        // written by CreateTensor*
	info      uintptr        // written by GetTensorTypeAndShape
	data      unsafe.Pointer // written by GetTensorMutableData
	count     uintptr        // written by GetStringTensorDataLength
	dims      [8]int64
	// runOpts is this call state's OrtRunOptions, made by its first call
	// with a cancellable context and freed when the call state is
	// collected; cancelling sets its terminate flag (cancel.go).
	runOpts     uintptr
	terminate   func()         // sets runOpts' terminate flag, then Done
	terminating sync.WaitGroup // one while a call may still run terminate
}

type sessionOptions struct {
	intraOp, interOp int64
	optLevel         uintptr
	loadFrom         string
}

func parseOptions(opts map[string]any) (sessionOptions, error) {
	o := sessionOptions{optLevel: 99, loadFrom: "auto"} // ORT_ENABLE_ALL
	for k, v := range opts {
		switch k {
		case "intra_op_threads", "inter_op_threads":
			n, err := backend.ThreadCount(k, v)
			if err != nil {
				return o, err
			}
			if k == "intra_op_threads" {
				o.intraOp = n
			} else {
				o.interOp = n
			}
		case "graph_optimization_level":
			levels := map[string]uintptr{"disable": 0, "basic": 1, "extended": 2, "all": 99}
			s, _ := v.(string)
			l, ok := levels[s]
			if !ok {
				return o, fmt.Errorf("%w: option %s = %v: want disable, basic, extended or all", backend.ErrInvalidOption, k, v)
			}
			o.optLevel = l
		case "load_from":
			s, _ := v.(string)
			if s != "auto" && s != "file" && s != "bytes" {
				return o, fmt.Errorf("%w: option %s = %v: want auto, file or bytes", backend.ErrInvalidOption, k, v)
			}
			o.loadFrom = s
		default:
			return o, fmt.Errorf("%w: unknown option %q (known: intra_op_threads, inter_op_threads, graph_optimization_level, load_from)", backend.ErrInvalidOption, k)
		}
	}
	return o, nil
}

// newSession creates a session from model bytes (when model is not nil) or
// from the file at path.
func newSession(lib *library, path string, model []byte, o sessionOptions) (*session, error) {
	a := lib.api
	optsOut := dlopen.New[uintptr]()
	if err := a.call(fnCreateSessionOptions, ptr(optsOut)); err != nil {
		return nil, err
	}
	opts := *optsOut
	defer a.raw(fnReleaseSessionOptions, opts)
	if err := a.call(fnSetIntraOpNumThreads, opts, uintptr(o.intraOp)); err != nil {
		return nil, err
	}
	if err := a.call(fnSetInterOpNumThreads, opts, uintptr(o.interOp)); err != nil {
		return nil, err
	}
	if err := a.call(fnSetSessionGraphOptimization, opts, o.optLevel); err != nil {
		return nil, err
	}
	s := &session{lib: lib}
	var err error
	if model != nil {
		err = a.call(fnCreateSessionFromArray, lib.env, ptr(unsafe.SliceData(model)), uintptr(len(model)), opts, ptr(&s.handle))
		runtime.KeepAlive(model)
	} else {
		cpath := dlopen.CString(path)
		err = a.call(fnCreateSession, lib.env, ptr(&cpath[0]), opts, ptr(&s.handle))
		runtime.KeepAlive(cpath)
	}
	if err != nil {
		return nil, err
	}
	if s.inputs, _, err = s.readSpecs(fnSessionGetInputCount, fnSessionGetInputName, fnSessionGetInputTypeInfo, false); err == nil {
		s.outputs, s.skipped, err = s.readSpecs(fnSessionGetOutputCount, fnSessionGetOutputName, fnSessionGetOutputTypeInfo, true)
	}
	if err == nil && len(s.outputs) == 0 && len(s.skipped) > 0 {
		err = fmt.Errorf("%w: the model has no tensor outputs (%s: sequences, maps and optionals are not supported)", ErrRuntime, strings.Join(s.skipped, ", "))
	}
	if err == nil {
		err = s.markShapeless(path, model)
	}
	if err != nil {
		a.raw(fnReleaseSession, s.handle)
		return nil, err
	}
	for i := range s.inputs {
		s.namePin.Pin(&s.inputs[i].cname[0])
		s.inNames = append(s.inNames, ptr(&s.inputs[i].cname[0]))
	}
	for i := range s.outputs {
		s.namePin.Pin(&s.outputs[i].cname[0])
		s.outNames = append(s.outNames, ptr(&s.outputs[i].cname[0]))
		s.outKeys = append(s.outKeys, s.outputs[i].name)
	}
	releaseValue := a.table.Fn(fnReleaseValue)
	s.planOutputs()
	s.release = func(v uintptr) { dlopen.Call(releaseValue, v) }
	s.scratch.New = func() any {
		return &callState{
			inVals: make([]uintptr, len(s.inputs)), ins: make([]tensor.Tensor, len(s.inputs)),
			outVals: make([]uintptr, len(s.outputs)), outGo: make([]tensor.Tensor, len(s.outputs)),
			pre: make([]bool, len(s.outputs)), outShapes: make([]tensor.Shape, len(s.outputs)), outDims: make([]int64, s.planDims),
		}
	}
	return s, nil
}

// readSpecs describes the session's inputs or outputs. With skipOthers,
// values that are not tensors (sequences, maps, optionals) are left out
// and named in skipped; else they are an error.
func (s *session) readSpecs(countFn, nameFn, typeFn int, skipOthers bool) (specs []ioSpec, skipped []string, err error) {
	a := s.lib.api
	n := dlopen.New[uintptr]()
	if err := a.call(countFn, s.handle, ptr(n)); err != nil {
		return nil, nil, err
	}
	for i := range int(*n) {
		cname, typeInfo := dlopen.New[uintptr](), dlopen.New[uintptr]()
		if err := a.call(nameFn, s.handle, uintptr(i), s.lib.allocator, ptr(cname)); err != nil {
			return nil, nil, err
		}
		name := dlopen.GoString(*cname)
		_ = a.call(fnAllocatorFree, s.lib.allocator, *cname)
		if err := a.call(typeFn, s.handle, uintptr(i), ptr(typeInfo)); err != nil {
			return nil, nil, err
		}
		spec, err := s.describe(name, *typeInfo)
		a.raw(fnReleaseTypeInfo, *typeInfo)
		if skipOthers && errors.Is(err, errNotTensor) {
			skipped = append(skipped, name)
			continue
		}
		if err != nil {
			return nil, nil, err
		}
		specs = append(specs, spec)
	}
	return specs, skipped, nil
}

// errNotTensor marks a value that is a sequence, map or optional.
var errNotTensor = errors.New("not a tensor")

// describe reads a tensor type info (which the caller releases).
func (s *session) describe(name string, typeInfo uintptr) (ioSpec, error) {
	a := s.lib.api
	spec := ioSpec{name: name, cname: dlopen.CString(name)}
	out := dlopen.New[[4]uintptr]() // onnx type, tensor info, element type, rank
	if err := a.call(fnGetOnnxTypeFromTypeInfo, typeInfo, ptr(&out[0])); err != nil {
		return spec, err
	}
	onnxType := out[0]
	const onnxTypeTensor = 1
	if onnxType != onnxTypeTensor {
		return spec, fmt.Errorf("%w: %q is %w (ONNX type %d: sequences, maps and optionals are not supported)", ErrRuntime, name, errNotTensor, onnxType)
	}
	if err := a.call(fnCastTypeInfoToTensorInfo, typeInfo, ptr(&out[1])); err != nil {
		return spec, err
	}
	tensorInfo := out[1]
	if err := a.call(fnGetTensorElementType, tensorInfo, ptr(&out[2])); err != nil {
		return spec, err
	}
	elem := out[2]
	dt, err := dtypeFromORT(elem)
	if err != nil {
		return spec, fmt.Errorf("%q: %w", name, err)
	}
	spec.dtype, spec.ortType = dt, elem
	if err := a.call(fnGetDimensionsCount, tensorInfo, ptr(&out[3])); err != nil {
		return spec, err
	}
	rank := out[3]
	spec.dims = make([]int64, rank)
	spec.symbolic = make([]string, rank)
	if rank > 0 {
		if err := a.call(fnGetDimensions, tensorInfo, ptr(&spec.dims[0]), rank); err != nil {
			return spec, err
		}
		syms := make([]uintptr, rank)
		if err := a.call(fnGetSymbolicDimensions, tensorInfo, ptr(&syms[0]), rank); err == nil {
			for i, p := range syms {
				spec.symbolic[i] = dlopen.GoString(p)
			}
		}
	}
	return spec, nil
}

// Infer runs the session. Inputs are looked up by the model's input names.
//
// Outputs whose shape follows from the inputs' shapes (fixed dims, or
// symbols that also name input dims) are allocated in Go memory before Run
// and handed to ORT to fill, which saves querying and freeing ORT memory
// for each: as many native calls as the bare C API needs. ORT checks that
// shape; if a model's outputs do not keep their declared symbols, the call
// is retried with ORT allocating and the session stops pre-allocating.
func (s *session) Infer(ctx context.Context, inputs, out map[string]tensor.Tensor) error {
	_, err := s.InferBlock(ctx, inputs, out, nil)
	return err
}

var _ backend.BlockSession = (*session)(nil)

// InferBlock is Infer carving the pre-allocated outputs from spare when
// backend.ReuseBlock allows.
func (s *session) InferBlock(ctx context.Context, inputs, out map[string]tensor.Tensor, spare []byte) ([]byte, error) {
	a := s.lib.api
	cs := s.scratch.Get().(*callState)
	created := 0
	defer func() {
		for i := 0; i < created; i++ {
			a.rawC(&cs.Caller, fnReleaseValue, cs.inVals[i])
		}
		cs.pin.Unpin()
		clear(cs.ins)
		s.scratch.Put(cs)
	}()
	for i := range s.inputs {
		spec := &s.inputs[i]
		t, ok := inputs[spec.name]
		if !ok {
			return nil, fmt.Errorf("%w: missing input %q", backend.ErrInvalidInput, spec.name)
		}
		v, err := s.inputValue(cs, spec, t)
		if err != nil {
			return nil, err
		}
		cs.inVals[i] = v
		cs.ins[i] = t
		created++
	}
	if len(inputs) != len(s.inputs) {
		return nil, fmt.Errorf("%w: the model takes %d inputs, got %d", backend.ErrInvalidInput, len(s.inputs), len(inputs))
	}
	var block []byte
	pre := s.prealloc.Load()
	if pre {
		var err error
		if block, err = s.preallocate(cs, spare); err != nil {
			return nil, err
		}
	} else {
		clear(cs.outVals) // ORT allocates every output
	}
	err := s.run(ctx, cs)
	if err != nil && pre {
		s.dropPreallocated(cs)
		if ctx.Err() == nil { // not a cancellation: retry with ORT allocating
			if err = s.run(ctx, cs); err == nil {
				s.prealloc.Store(false)
			}
		}
	}
	if err != nil {
		return nil, err
	}
	for i := range s.outputs {
		if cs.outGo[i].Valid() {
			a.rawC(&cs.Caller, fnReleaseValue, cs.outVals[i]) // the wrapper only; the data is Go's
			out[s.outputs[i].name] = cs.outGo[i]
			cs.outGo[i] = tensor.Tensor{}
			continue
		}
		t, err := s.outputTensor(cs, &s.outputs[i], cs.outVals[i])
		if err != nil {
			backend.ReleaseStored(out, s.outKeys[:i])
			s.releaseOutputs(cs, i+1)
			return nil, fmt.Errorf("output %q: %w", s.outputs[i].name, err)
		}
		out[s.outputs[i].name] = t
	}
	backend.KeepOnly(out, s.outKeys)
	return block, nil
}

// runWith calls Run with runOpts (0 for none).
func (s *session) runWith(cs *callState, runOpts uintptr) error {
	return s.lib.api.callC(&cs.Caller, fnRun, s.handle, runOpts,
		ptr(unsafe.SliceData(s.inNames)), ptr(unsafe.SliceData(cs.inVals)), uintptr(len(cs.inVals)),
		ptr(unsafe.SliceData(s.outNames)), uintptr(len(s.outNames)), ptr(unsafe.SliceData(cs.outVals)))
}

// preallocate fills cs.outVals with ORT values over Go tensors for the
// small outputs whose shape the inputs determine, and zero for the others.
// The tensors are carved from one block, spare when backend.ReuseBlock
// allows, which it returns.
func (s *session) preallocate(cs *callState, spare []byte) ([]byte, error) {
	a := s.lib.api
	size, dims := 0, cs.outDims
	for i := range s.outputs {
		cs.outVals[i], cs.pre[i] = 0, false
		spec := &s.outputs[i]
		if spec.plan == nil {
			continue
		}
		shape := tensor.Shape(dims[:len(spec.plan):len(spec.plan)])
		dims = dims[len(spec.plan):]
		for j, d := range spec.plan {
			if d.input < 0 {
				shape[j] = d.size
			} else {
				shape[j] = cs.ins[d.input].Shape()[d.dim]
			}
		}
		if n, err := shape.NumElements(); err != nil || n*spec.dtype.Size() > backend.SmallOutputBytes {
			continue // large: ORT's arena reuses its memory, Go's GC would churn
		}
		k, err := tensor.BlockSize(spec.dtype, shape)
		if err != nil {
			return nil, err
		}
		size += k
		cs.pre[i], cs.outShapes[i] = true, shape
	}
	block := backend.ReuseBlock(spare, size, cs.ins)
	rest := block
	for i := range s.outputs {
		if !cs.pre[i] {
			continue
		}
		spec := &s.outputs[i]
		t, r, err := tensor.Carve(rest, spec.dtype, cs.outShapes[i]) // copies the shape
		if err != nil {
			s.dropPreallocated(cs)
			return nil, err
		}
		rest = r
		// The tensor is ours, held in cs.outGo through the call, and heap
		// memory never moves: no pin needed.
		data := t.Pointer()
		if data == nil {
			data = unsafe.Pointer(&zeroByte[0])
		}
		ts := t.Shape()
		var shapePtr uintptr
		if len(ts) > 0 {
			shapePtr = ptr(&ts[0])
		}
		if err := a.callC(&cs.Caller, fnCreateTensorWithDataAsOrtVal, s.lib.memInfo, uintptr(data), uintptr(t.ByteLen()), shapePtr, uintptr(len(ts)), spec.ortType, ptr(&cs.outVals[i])); err != nil {
			s.dropPreallocated(cs)
			return nil, err
		}
		cs.outGo[i] = t
	}
	return block, nil
}

// dropPreallocated releases pre-allocated output wrappers and forgets them.
func (s *session) dropPreallocated(cs *callState) {
	for i := range s.outputs {
		if cs.outGo[i].Valid() && cs.outVals[i] != 0 {
			s.lib.api.rawC(&cs.Caller, fnReleaseValue, cs.outVals[i])
		}
		cs.outVals[i] = 0
		cs.outGo[i] = tensor.Tensor{}
	}
}

// releaseOutputs frees ORT-allocated outputs from index from on.
func (s *session) releaseOutputs(cs *callState, from int) {
	for i := from; i < len(s.outputs); i++ {
		if cs.outVals[i] != 0 {
			s.lib.api.rawC(&cs.Caller, fnReleaseValue, cs.outVals[i])
		}
		cs.outGo[i] = tensor.Tensor{}
	}
}

// zeroByte stands in for the data pointer of empty tensors.
var zeroByte [8]byte

func (s *session) inputValue(cs *callState, spec *ioSpec, t tensor.Tensor) (uintptr, error) {
	a := s.lib.api
	if t.DType() != spec.dtype {
		return 0, fmt.Errorf("%w: input %q is %s, the model wants %s", backend.ErrInvalidInput, spec.name, t.DType(), spec.dtype)
	}
	shape := t.Shape()
	if len(shape) != len(spec.dims) && !spec.anyRank {
		return 0, fmt.Errorf("%w: input %q has rank %d, the model wants %d", backend.ErrInvalidInput, spec.name, len(shape), len(spec.dims))
	}
	// ORT copies the shape during the call; a tensor's shape is always heap
	// memory the tensor owns (constructors copy it), so it needs no pin.
	var shapePtr uintptr
	if len(shape) > 0 {
		shapePtr = ptr(&shape[0])
	}
	if t.DType() == tensor.String {
		if err := a.callC(&cs.Caller, fnCreateTensorAsOrtValue, s.lib.allocator, shapePtr, uintptr(len(shape)), ortString, ptr(&cs.value)); err != nil {
			return 0, err
		}
		v := cs.value
		if err := s.fillStrings(cs, spec, v, t); err != nil {
			a.rawC(&cs.Caller, fnReleaseValue, v)
			return 0, err
		}
		return v, nil
	}
	data := t.Pointer()
	if data == nil {
		data = unsafe.Pointer(&zeroByte[0])
	} else if !t.IsForeign() {
		cs.pin.Pin(data)
	}
	err := a.callC(&cs.Caller, fnCreateTensorWithDataAsOrtVal, s.lib.memInfo, uintptr(data), uintptr(t.ByteLen()), shapePtr, uintptr(len(shape)), spec.ortType, ptr(&cs.value))
	if err != nil {
		return 0, err
	}
	return cs.value, nil
}

// fillStrings copies a string tensor into an ORT string tensor.
// FillStringTensor takes C strings, which end at a NUL byte; strings
// holding one are then written again whole through
// GetResizedStringTensorElementBuffer (ORT 1.15 on), or refused.
func (s *session) fillStrings(cs *callState, spec *ioSpec, v uintptr, t tensor.Tensor) error {
	strs, _ := t.Strings()
	if len(strs) == 0 {
		return nil
	}
	withNUL := -1
	for i, x := range strs {
		if strings.IndexByte(x, 0) >= 0 {
			withNUL = i
			break
		}
	}
	if withNUL >= 0 && s.lib.resizeString == 0 {
		return fmt.Errorf("%w: input %q element %d holds a NUL byte, which ONNX Runtime %s cannot take (1.15 and later can)",
			backend.ErrInvalidInput, spec.name, withNUL, s.lib.version)
	}
	total := 0
	for _, x := range strs {
		total += len(x) + 1
	}
	buf := make([]byte, total)
	ptrs := make([]uintptr, len(strs))
	cs.pin.Pin(&buf[0])
	cs.pin.Pin(&ptrs[0])
	off := 0
	for i, x := range strs {
		copy(buf[off:], x)
		ptrs[i] = ptr(&buf[off])
		off += len(x) + 1
	}
	if err := s.lib.api.call(fnFillStringTensor, v, ptr(&ptrs[0]), uintptr(len(strs))); err != nil || withNUL < 0 {
		return err
	}
	for i := withNUL; i < len(strs); i++ {
		if strings.IndexByte(strs[i], 0) < 0 {
			continue
		}
		var dst uintptr
		if err := s.lib.api.check(dlopen.Call(s.lib.resizeString, v, uintptr(i), uintptr(len(strs[i])), ptr(&dst))); err != nil {
			return err
		}
		copy(unsafe.Slice((*byte)(dlopen.Pointer(dst)), len(strs[i])), strs[i])
	}
	return nil
}

// outputTensor wraps one output OrtValue that ONNX Runtime allocated; on
// error the value is released. Its shape is asked for even when the model
// declares every dim: ONNX Runtime only warns when a model's output breaks
// its declared shape, and a shape taken on trust would read past the data.
func (s *session) outputTensor(cs *callState, spec *ioSpec, v uintptr) (tensor.Tensor, error) {
	a := s.lib.api
	shape, err := s.outputShape(cs, v)
	if err != nil {
		a.rawC(&cs.Caller, fnReleaseValue, v)
		return tensor.Tensor{}, err
	}
	if spec.dtype == tensor.String {
		defer a.rawC(&cs.Caller, fnReleaseValue, v)
		return s.readStrings(cs, v, shape)
	}
	if err := a.callC(&cs.Caller, fnGetTensorMutableData, v, ptr(&cs.data)); err != nil {
		a.rawC(&cs.Caller, fnReleaseValue, v)
		return tensor.Tensor{}, err
	}
	n, err := shape.NumElements()
	if err != nil {
		a.rawC(&cs.Caller, fnReleaseValue, v)
		return tensor.Tensor{}, err
	}
	nbytes := n * spec.dtype.Size()
	if in, off, ok := backend.InputHolding(cs.ins, uintptr(cs.data), nbytes); ok {
		// A graph input passed through: the value wraps the caller's memory.
		a.rawC(&cs.Caller, fnReleaseValue, v)
		return backend.HeldOutput(in, off, spec.dtype, shape, nbytes)
	}
	t, err := tensor.ForeignHandle(spec.dtype, shape, cs.data, nbytes, s.release, v)
	if err != nil {
		a.rawC(&cs.Caller, fnReleaseValue, v)
	}
	return t, err
}

// outputShape asks ONNX Runtime for an output value's shape, over cs.dims
// up to rank 8 (tensors copy the shapes they are given).
func (s *session) outputShape(cs *callState, v uintptr) (tensor.Shape, error) {
	a := s.lib.api
	if err := a.callC(&cs.Caller, fnGetTensorTypeAndShape, v, ptr(&cs.info)); err != nil {
		return nil, err
	}
	defer a.rawC(&cs.Caller, fnReleaseTensorTypeAndShapeInfo, cs.info)
	if err := a.callC(&cs.Caller, fnGetDimensionsCount, cs.info, ptr(&cs.count)); err != nil {
		return nil, err
	}
	rank := int(cs.count)
	dims := cs.dims[:0]
	if rank > len(cs.dims) {
		dims = make([]int64, 0, rank)
	}
	dims = dims[:rank]
	if rank > 0 {
		if err := a.callC(&cs.Caller, fnGetDimensions, cs.info, ptr(&dims[0]), uintptr(rank)); err != nil {
			return nil, err
		}
	}
	return dims, nil
}

func (s *session) readStrings(cs *callState, v uintptr, shape tensor.Shape) (tensor.Tensor, error) {
	a := s.lib.api
	n, err := shape.NumElements()
	if err != nil {
		return tensor.Tensor{}, err
	}
	strs := make([]string, n)
	if n > 0 {
		if err := a.call(fnGetStringTensorDataLength, v, ptr(&cs.count)); err != nil {
			return tensor.Tensor{}, err
		}
		total := cs.count
		buf := make([]byte, total+1) // +1 keeps &buf[0] valid when total is 0
		offsets := make([]uintptr, n)
		if err := a.call(fnGetStringTensorContent, v, ptr(&buf[0]), total, ptr(&offsets[0]), uintptr(n)); err != nil {
			return tensor.Tensor{}, err
		}
		for i := range strs {
			end := total
			if i+1 < n {
				end = offsets[i+1]
			}
			strs[i] = string(buf[offsets[i]:end])
		}
	}
	return tensor.FromStrings(shape, strs) // copies the shape
}

// Close releases the session. The library stays loaded (see package doc).
func (s *session) Close() error {
	s.closeOnce.Do(func() {
		s.lib.api.raw(fnReleaseSession, s.handle)
		s.namePin.Unpin()
	})
	return nil
}

// modelPath picks model/model.onnx, or the only .onnx file in dir.
func modelPath(dir string) (string, error) {
	p := filepath.Join(dir, "model.onnx")
	if _, err := os.Stat(p); err == nil {
		return p, nil
	}
	m, _ := filepath.Glob(filepath.Join(dir, "*.onnx"))
	if len(m) == 1 {
		return m[0], nil
	}
	return "", fmt.Errorf("%w: no model/model.onnx in the carton", backend.ErrModel)
}
