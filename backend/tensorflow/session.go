package tensorflow

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"slices"
	"sync"
	"time"
	"unsafe"

	pb "github.com/wamuir/graft/tensorflow/core/protobuf/for_core_protos_go_proto"
	"google.golang.org/protobuf/proto"

	"github.com/carton-run/carton/backend"
	"github.com/carton-run/carton/dlopen"
	"github.com/carton-run/carton/tensor"
)

// tfOutput mirrors TF_Output: an operation and one of its outputs.
type tfOutput struct {
	oper  uintptr
	index int32
	_     int32
}

// tfBuffer mirrors TF_Buffer.
type tfBuffer struct {
	data        uintptr
	length      uintptr
	deallocator uintptr
}

type session struct {
	lib     *library
	handle  uintptr // TF_Session*
	graph   uintptr // TF_Graph*
	sig     *signature
	inOps   []tfOutput // pinned for the session's life
	outOps  []tfOutput
	pin     runtime.Pinner
	scratch sync.Pool // *callState
	closed  sync.Once
	dealloc uintptr // the TF_NewTensor deallocator for inputs
}

// callState is the per-call scratch TF_SessionRun writes into; pooled so a
// call allocates nothing for it.
type callState struct {
	dlopen.Caller
	lib     *library
	status  status
	pin     runtime.Pinner
	inVals  []uintptr // TF_Tensor* per input
	outVals []uintptr // TF_Tensor* per output, written by TF_SessionRun
	inputs  []tensor.Tensor
	outs    []outputInfo // outputsOf's findings per output
	outDims []int64      // the output shapes TensorFlow reported, concatenated
	runOpts tfBuffer
}

// freeStatus deletes the TF_Status of a call state the pool dropped.
func freeStatus(cs *callState) { cs.lib.deleteStatus(cs.status) }

func newSession(lib *library, dir string, o sessionOptions) (*session, error) {
	var c dlopen.Caller
	st := lib.newStatus()
	defer lib.deleteStatus(st)
	opts := c.Call(lib.fn.newSessionOptions)
	defer c.Call(lib.fn.deleteSessionOptions, opts)
	cfg, err := o.configProto()
	if err != nil {
		return nil, fmt.Errorf("%w: %v", backend.ErrInvalidOption, err)
	}
	if len(cfg) > 0 {
		c.Call(lib.fn.setConfig, opts, uintptr(unsafe.Pointer(&cfg[0])), uintptr(len(cfg)), uintptr(st))
		runtime.KeepAlive(cfg)
		if err := lib.err(&c, st); err != nil {
			return nil, fmt.Errorf("%w: session config: %v", backend.ErrInvalidOption, err)
		}
	}
	var pin runtime.Pinner
	defer pin.Unpin()
	cdir := dlopen.CString(dir)
	pin.Pin(&cdir[0])
	tagPtrs := make([]uintptr, len(o.tags)+1)
	pin.Pin(&tagPtrs[0])
	for i, t := range o.tags {
		ct := dlopen.CString(t)
		pin.Pin(&ct[0])
		tagPtrs[i] = uintptr(unsafe.Pointer(&ct[0]))
	}
	graph := c.Call(lib.fn.newGraph)
	metaBuf := c.Call(lib.fn.newBuffer)
	defer c.Call(lib.fn.deleteBuffer, metaBuf)
	handle := c.Call(lib.fn.loadSessionFromSavedModel, opts, 0, uintptr(unsafe.Pointer(&cdir[0])),
		uintptr(unsafe.Pointer(&tagPtrs[0])), uintptr(len(o.tags)), graph, metaBuf, uintptr(st))
	if err := lib.err(&c, st); err != nil || handle == 0 {
		c.Call(lib.fn.deleteGraph, graph)
		if err == nil {
			err = errors.New("TF_LoadSessionFromSavedModel returned no session")
		}
		return nil, fmt.Errorf("%w: %s (tags %v): %w", backend.ErrModel, dir, o.tags, err)
	}
	s := &session{lib: lib, handle: handle, graph: graph, dealloc: noopDeallocator()}
	if err := s.bindSignature(&c, metaBuf, o.signature); err != nil {
		s.Close()
		return nil, err
	}
	s.scratch.New = func() any {
		cs := &callState{
			lib: lib, status: lib.newStatus(),
			inVals: make([]uintptr, len(s.inOps)), outVals: make([]uintptr, len(s.outOps)),
			inputs: make([]tensor.Tensor, len(s.inOps)), outs: make([]outputInfo, len(s.outOps)),
			outDims: make([]int64, 0, 16),
		}
		runtime.SetFinalizer(cs, freeStatus)
		return cs
	}
	return s, nil
}

// bindSignature parses the MetaGraphDef TensorFlow returned and maps the
// signature's keys to graph outputs.
func (s *session) bindSignature(c *dlopen.Caller, metaBuf uintptr, name string) error {
	buf := (*tfBuffer)(dlopen.Pointer(metaBuf))
	if buf.data == 0 {
		return fmt.Errorf("%w: TensorFlow returned no MetaGraphDef", backend.ErrModel)
	}
	var mg pb.MetaGraphDef
	if err := proto.Unmarshal(unsafe.Slice((*byte)(dlopen.Pointer(buf.data)), buf.length), &mg); err != nil {
		return fmt.Errorf("%w: MetaGraphDef: %w", backend.ErrModel, err)
	}
	sig, err := resolveSignature(&mg, name)
	if err != nil {
		return err
	}
	s.sig = sig
	resolve := func(specs []ioSpec) ([]tfOutput, error) {
		outs := make([]tfOutput, len(specs)+1) // +1: never empty, so &outs[0] is valid
		for i, sp := range specs {
			cop := dlopen.CString(sp.op)
			op := c.Call(s.lib.fn.graphOperationByName, s.graph, uintptr(unsafe.Pointer(&cop[0])))
			runtime.KeepAlive(cop)
			if op == 0 {
				return nil, fmt.Errorf("%w: signature %q names %s:%d for %q, which is not in the graph", backend.ErrModel, name, sp.op, sp.index, sp.key)
			}
			outs[i] = tfOutput{oper: op, index: int32(sp.index)}
		}
		s.pin.Pin(&outs[0])
		return outs[:len(specs)], nil
	}
	if s.inOps, err = resolve(sig.inputs); err != nil {
		return err
	}
	if s.outOps, err = resolve(sig.outputs); err != nil {
		return err
	}
	return s.matchGraph(c)
}

// matchGraph checks each output the signature declares against the graph
// that computes it. A dtype the graph does not compute fails the load; the
// shape is the graph's, whose static shapes TensorFlow's own kernels
// follow, not the signature's: a signature is only metadata, edited or
// exported wrong at times, and a shape taken on trust would read past the
// end of a smaller output.
func (s *session) matchGraph(c *dlopen.Caller) error {
	lib := s.lib
	st := lib.newStatus()
	defer lib.deleteStatus(st)
	for i := range s.sig.outputs {
		spec, o := &s.sig.outputs[i], s.outOps[i]
		if t := int32(c.Call(lib.fn.operationOutputType, o.oper, uintptr(o.index))); t != spec.tfType {
			return fmt.Errorf("%w: signature %q declares output %q as TF_DataType %d, but the graph computes %d at %s:%d",
				backend.ErrModel, s.sig.name, spec.key, spec.tfType, t, spec.op, spec.index)
		}
		var dims []int64 // nil: rank unknown
		if n := int32(c.Call(lib.fn.graphGetTensorNumDims, s.graph, o.oper, uintptr(o.index), uintptr(st))); lib.err(c, st) == nil && n >= 0 {
			dims = make([]int64, n)
			if n > 0 {
				c.Call(lib.fn.graphGetTensorShape, s.graph, o.oper, uintptr(o.index), uintptr(unsafe.Pointer(&dims[0])), uintptr(n), uintptr(st))
				if lib.err(c, st) != nil {
					dims = nil
				}
			}
		}
		spec.dims, spec.known = dims, dims != nil && !slices.Contains(dims, -1)
	}
	return nil
}

// zeroBytes stands in for the data of empty tensors.
var zeroBytes [tstringSize]byte

var _ backend.BlockSession = (*session)(nil)

// Infer runs the signature. See the package documentation for memory.
func (s *session) Infer(ctx context.Context, inputs, out map[string]tensor.Tensor) error {
	_, err := s.InferBlock(ctx, inputs, out, nil)
	return err
}

// InferBlock is Infer carving the small outputs it copies from spare when
// backend.ReuseBlock allows.
func (s *session) InferBlock(ctx context.Context, inputs, out map[string]tensor.Tensor, spare []byte) ([]byte, error) {
	lib := s.lib // carton.Model checked ctx already
	cs := s.scratch.Get().(*callState)
	created := 0
	defer func() {
		for i := 0; i < created; i++ {
			cs.Call(lib.fn.deleteTensor, cs.inVals[i])
		}
		// Every tensor over Go memory is deleted by now (aliasing outputs
		// too), so TensorFlow holds none of it: unpin.
		cs.pin.Unpin()
		clear(cs.inputs)
		s.scratch.Put(cs)
	}()
	for i := range s.sig.inputs {
		spec := &s.sig.inputs[i]
		t, ok := inputs[spec.key]
		if !ok {
			return nil, fmt.Errorf("%w: missing input %q (the signature takes %s)", backend.ErrInvalidInput, spec.key, keyList(s.sig.inputs))
		}
		v, err := s.newInputTensor(cs, spec, t)
		if err != nil {
			return nil, err
		}
		cs.inVals[i] = v
		cs.inputs[i] = t
		created++
	}
	if len(inputs) != len(s.sig.inputs) {
		return nil, fmt.Errorf("%w: the signature takes %d inputs (%s), got %d", backend.ErrInvalidInput, len(s.sig.inputs), keyList(s.sig.inputs), len(inputs))
	}
	runOpts, err := cs.runOptions(ctx)
	if err != nil {
		return nil, err
	}
	cs.Call(lib.fn.sessionRun, s.handle, runOpts,
		uintptr(unsafe.Pointer(unsafe.SliceData(s.inOps))), uintptr(unsafe.Pointer(unsafe.SliceData(cs.inVals))), uintptr(len(s.inOps)),
		uintptr(unsafe.Pointer(unsafe.SliceData(s.outOps))), uintptr(unsafe.Pointer(unsafe.SliceData(cs.outVals))), uintptr(len(s.outOps)),
		0, 0, 0, uintptr(cs.status))
	if err := lib.err(&cs.Caller, cs.status); err != nil {
		if ctxErr := ctx.Err(); ctxErr != nil {
			return nil, fmt.Errorf("%w (%w)", ctxErr, err)
		}
		return nil, err
	}
	return s.outputsOf(cs, out, spare)
}

func keyList(specs []ioSpec) string {
	s := ""
	for i, sp := range specs {
		if i > 0 {
			s += ", "
		}
		s += sp.key
	}
	return s
}

// runOptions returns a TF_Buffer* holding RunOptions with a timeout when
// ctx has a deadline (TensorFlow then stops the step itself), else 0.
func (cs *callState) runOptions(ctx context.Context) (uintptr, error) {
	deadline, ok := ctx.Deadline()
	if !ok {
		return 0, nil
	}
	ms := time.Until(deadline).Milliseconds()
	if ms < 1 {
		return 0, context.DeadlineExceeded
	}
	b, err := proto.Marshal(&pb.RunOptions{TimeoutInMs: ms})
	if err != nil {
		return 0, err
	}
	cs.pin.Pin(&b[0])
	cs.runOpts = tfBuffer{data: uintptr(unsafe.Pointer(&b[0])), length: uintptr(len(b))}
	return uintptr(unsafe.Pointer(&cs.runOpts)), nil // cs is heap memory held in the pool
}

// newInputTensor wraps t in a TF_Tensor over its memory (numeric) or over
// views of its bytes (strings). TensorFlow copies numeric data that is not
// 64-byte aligned; tensor.New allocates aligned memory so it need not.
func (s *session) newInputTensor(cs *callState, spec *ioSpec, t tensor.Tensor) (uintptr, error) {
	if t.DType() != spec.dtype {
		return 0, fmt.Errorf("%w: input %q is %s, the signature wants %s", backend.ErrInvalidInput, spec.key, t.DType(), spec.dtype)
	}
	shape := t.Shape()
	if spec.dims != nil {
		if len(shape) != len(spec.dims) {
			return 0, fmt.Errorf("%w: input %q has rank %d, the signature wants %d", backend.ErrInvalidInput, spec.key, len(shape), len(spec.dims))
		}
		for j, d := range spec.dims {
			if d >= 0 && shape[j] != d {
				return 0, fmt.Errorf("%w: input %q has shape %v, the signature wants size %d at dim %d", backend.ErrInvalidInput, spec.key, shape, d, j)
			}
		}
	}
	// TensorFlow copies the dims during TF_NewTensor; a tensor's shape is
	// heap memory it owns (constructors copy it).
	var shapePtr uintptr
	if len(shape) > 0 {
		shapePtr = uintptr(unsafe.Pointer(&shape[0]))
	}
	var data unsafe.Pointer
	var nbytes int
	if t.DType() == tensor.String {
		data, nbytes = cs.stringViews(t)
	} else {
		data, nbytes = t.Pointer(), t.ByteLen()
		if data != nil && !t.IsForeign() {
			cs.pin.Pin(data)
		}
	}
	if data == nil {
		data = unsafe.Pointer(&zeroBytes[0])
	}
	v := cs.Call(s.lib.fn.newTensor, uintptr(spec.tfType), shapePtr, uintptr(len(shape)), uintptr(data), uintptr(nbytes), s.dealloc, 0)
	if v == 0 {
		return 0, fmt.Errorf("%w: input %q: TF_NewTensor refused %s %v (%d bytes)", backend.ErrInvalidInput, spec.key, t.DType(), shape, nbytes)
	}
	return v, nil
}

// stringViews lays out a string tensor as TF_TString views over one pinned
// copy of its bytes.
func (cs *callState) stringViews(t tensor.Tensor) (unsafe.Pointer, int) {
	strs, _ := t.Strings()
	if len(strs) == 0 {
		return nil, 0
	}
	total := 1 // never empty, so &buf[0] is valid
	for _, x := range strs {
		total += len(x)
	}
	buf := make([]byte, total)
	hdr := make([]byte, len(strs)*tstringSize)
	cs.pin.Pin(&buf[0])
	cs.pin.Pin(&hdr[0])
	encodeViews(hdr, buf, strs)
	return unsafe.Pointer(&hdr[0]), len(hdr)
}

// outputInfo is what outputsOf's first pass found about one output.
type outputInfo struct {
	kind      backend.OutputKind
	off, rank int // its shape in callState.outDims, unless the spec's is known
	data      uintptr
	nbytes    int
}

// outputShape is output i's shape: its spec's when known, else the one
// TensorFlow reported (in cs.outDims; tensor constructors copy it).
func (cs *callState) outputShape(spec *ioSpec, i int) tensor.Shape {
	if spec.known {
		return spec.dims
	}
	o := &cs.outs[i]
	return cs.outDims[o.off : o.off+o.rank : o.off+o.rank]
}

// outputsOf turns the output TF_Tensors into carton tensors in out: a view
// of the caller's memory when one aliases an input, a copy for strings and
// for small tensors (all carved from one Go block, spare when
// backend.ReuseBlock allows, which it returns), else a tensor over
// TensorFlow's memory that deletes the TF_Tensor on Release. The first pass
// sorts the outputs and sizes the block, the second hands them over.
func (s *session) outputsOf(cs *callState, out map[string]tensor.Tensor, spare []byte) ([]byte, error) {
	lib := s.lib
	size := 0
	cs.outDims = cs.outDims[:0]
	for i := range s.sig.outputs {
		n, err := s.sortOutput(cs, i)
		if err != nil {
			for _, v := range cs.outVals {
				if v != 0 {
					cs.Call(lib.fn.deleteTensor, v)
				}
			}
			return nil, fmt.Errorf("output %q: %w", s.sig.outputs[i].key, err)
		}
		size += n
	}
	block := backend.ReuseBlock(spare, size, cs.inputs)
	rest := block
	for i := range s.sig.outputs {
		t, err := s.handOver(cs, i, &rest)
		if err != nil {
			backend.ReleaseStored(out, s.sig.outputKeys[:i])
			for _, v := range cs.outVals[i+1:] {
				cs.Call(lib.fn.deleteTensor, v)
			}
			return nil, fmt.Errorf("output %q: %w", s.sig.outputs[i].key, err)
		}
		out[s.sig.outputs[i].key] = t
	}
	backend.KeepOnly(out, s.sig.outputKeys)
	return block, nil
}

// sortOutput reads output i's shape and data and decides how it is handed
// over; it returns the bytes it needs in the block.
func (s *session) sortOutput(cs *callState, i int) (int, error) {
	lib := s.lib
	spec, v, o := &s.sig.outputs[i], cs.outVals[i], &cs.outs[i]
	if v == 0 {
		return 0, fmt.Errorf("%w: TensorFlow returned no tensor", ErrTensorFlow)
	}
	if !spec.known {
		rank := len(spec.dims)
		if spec.dims == nil {
			rank = int(int32(cs.Call(lib.fn.numDims, v)))
		}
		if rank < 0 {
			return 0, fmt.Errorf("%w: TensorFlow returned a tensor of rank %d", ErrTensorFlow, rank)
		}
		o.off, o.rank = len(cs.outDims), rank
		for j := range rank {
			d := int64(-1)
			if spec.dims != nil {
				d = spec.dims[j]
			}
			if d < 0 {
				d = int64(cs.Call(lib.fn.dim, v, uintptr(j)))
			}
			cs.outDims = append(cs.outDims, d)
		}
	}
	shape := cs.outputShape(spec, i)
	n, err := shape.NumElements()
	if err != nil {
		return 0, err
	}
	o.data = cs.Call(lib.fn.tensorData, v)
	if spec.dtype == tensor.String {
		o.nbytes = n // the element count, for strings
	} else {
		o.nbytes = n * spec.dtype.Size()
	}
	// A copied output's TF_Tensor goes at once.
	if o.kind = backend.KindOf(cs.inputs, spec.dtype, o.data, o.nbytes); o.kind != backend.OutputCopied {
		return 0, nil
	}
	return tensor.BlockSize(spec.dtype, shape)
}

// handOver makes output i's tensor as sortOutput decided, carving copies
// from block; on error the TF_Tensor is deleted.
func (s *session) handOver(cs *callState, i int, block *[]byte) (tensor.Tensor, error) {
	lib := s.lib
	spec, v, o := &s.sig.outputs[i], cs.outVals[i], &cs.outs[i]
	shape := cs.outputShape(spec, i)
	if o.kind == backend.OutputForeign {
		t, err := tensor.ForeignHandle(spec.dtype, shape, dlopen.Pointer(o.data), o.nbytes, lib.release, v)
		if err != nil {
			cs.Call(lib.fn.deleteTensor, v)
		}
		return t, err
	}
	defer cs.Call(lib.fn.deleteTensor, v)
	switch o.kind {
	case backend.OutputStrings:
		strs, err := decodeTStrings(o.data, o.nbytes)
		if err != nil {
			return tensor.Tensor{}, err
		}
		return tensor.FromStrings(shape, strs) // copies the shape
	case backend.OutputAlias:
		// A view of the caller's Go memory stays valid after the call.
		t, ok := backend.AliasOfInput(cs.inputs, spec.dtype, shape, o.data, o.nbytes)
		if !ok {
			return tensor.Tensor{}, fmt.Errorf("%w: %s %v does not fit the input it aliases", ErrTensorFlow, spec.dtype, shape)
		}
		return t, nil
	}
	t, rest, err := tensor.Carve(*block, spec.dtype, shape) // copies the shape
	if err != nil {
		return tensor.Tensor{}, err
	}
	*block = rest
	if o.nbytes > 0 {
		copy(unsafe.Slice((*byte)(t.Pointer()), o.nbytes), unsafe.Slice((*byte)(dlopen.Pointer(o.data)), o.nbytes))
	}
	return t, nil
}

// Close closes and deletes the session and its graph. Outputs already
// returned stay valid: each holds its own TF_Tensor.
func (s *session) Close() error {
	var err error
	s.closed.Do(func() {
		var c dlopen.Caller
		st := s.lib.newStatus()
		defer s.lib.deleteStatus(st)
		c.Call(s.lib.fn.closeSession, s.handle, uintptr(st))
		err = s.lib.err(&c, st)
		c.Call(s.lib.fn.deleteSession, s.handle, uintptr(st))
		if e := s.lib.err(&c, st); err == nil {
			err = e
		}
		c.Call(s.lib.fn.deleteGraph, s.graph)
		s.pin.Unpin()
	})
	return err
}
