package python

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/carton-run/carton/backend"
	"github.com/carton-run/carton/dlopen"
	"github.com/carton-run/carton/libfetch"
	"github.com/carton-run/carton/tensor"
)

func init() { backend.Register(Runner{}) }

// Runner is the python runner: upstream Carton's Python models, run by an
// embedded CPython.
type Runner struct{}

func (Runner) Name() string      { return "python" }
func (Runner) Framework() string { return "python" }

// Runtimes lists the Pythons with a shared libpython (discover.go).
func (Runner) Runtimes(ctx context.Context, hints backend.Hints) ([]backend.Runtime, error) {
	_, rts, err := installs(ctx, hints)
	return rts, err
}

// options are the runner options: upstream's entrypoint_package and
// entrypoint_fn, and model.* passed to the entrypoint without the prefix.
type options struct {
	pkg, fn string
	kwargs  map[string]any
}

func parseOptions(opts map[string]any) (options, error) {
	o := options{kwargs: map[string]any{}}
	for k, v := range opts {
		switch {
		case k == "entrypoint_package" || k == "entrypoint_fn":
			s, ok := v.(string)
			if !ok || s == "" {
				return o, fmt.Errorf("%w: %s = %v: want a non-empty string", backend.ErrInvalidOption, k, v)
			}
			if k == "entrypoint_package" {
				o.pkg = s
			} else {
				o.fn = s
			}
		case strings.HasPrefix(k, "model."):
			o.kwargs[strings.TrimPrefix(k, "model.")] = v
		default:
			return o, fmt.Errorf("%w: unknown option %q (known: entrypoint_package, entrypoint_fn, model.*)", backend.ErrInvalidOption, k)
		}
	}
	if o.pkg == "" || o.fn == "" {
		return o, fmt.Errorf("%w: the python runner needs entrypoint_package and entrypoint_fn (the module in model/ and the function that returns the model)", backend.ErrInvalidOption)
	}
	return o, nil
}

var packageSeq atomic.Int64

// Load imports the model's entrypoint package in the process's Python
// and calls its entrypoint function.
func (Runner) Load(ctx context.Context, req backend.LoadRequest) (backend.Session, error) {
	if req.Device != "" && req.Device != "cpu" {
		return nil, fmt.Errorf("%w: device %q: the python runner leaves devices to the model's code; load it on cpu", backend.ErrInvalidOption, req.Device)
	}
	o, err := parseOptions(req.Opts)
	if err != nil {
		return nil, err
	}
	if req.ModelDir == "" {
		return nil, fmt.Errorf("%w: the python runner needs the model's files extracted", backend.ErrModel)
	}
	ins, _, err := installs(ctx, backend.Hints{RuntimePath: req.Runtime.Path})
	if err != nil || len(ins) == 0 {
		return nil, fmt.Errorf("%w: %s: %v", backend.ErrNoRuntime, req.Runtime.Path, err)
	}
	in := ins[0]
	paths, err := lockedWheels(ctx, req.ModelDir, in)
	if err != nil {
		return nil, err
	}
	it, err := interpreter(in.Lib, in.Executable)
	if err != nil {
		return nil, err
	}
	// The model directory becomes a package of a name of its own, so that
	// two models' modules never meet in sys.modules.
	root, err := os.MkdirTemp("", "carton-python-")
	if err != nil {
		return nil, fmt.Errorf("%w: %w", backend.ErrModel, err)
	}
	pkg := fmt.Sprintf("_carton_model_%d", packageSeq.Add(1))
	abs, err := filepath.Abs(req.ModelDir)
	if err == nil {
		err = os.Symlink(abs, filepath.Join(root, pkg))
	}
	if err != nil {
		os.RemoveAll(root)
		return nil, fmt.Errorf("%w: %w", backend.ErrModel, err)
	}
	kwargs, _ := json.Marshal(o.kwargs)
	pathsJSON, _ := json.Marshal(paths)
	pycache := "" // no cache, no bytecode written
	if cache, err := libfetch.CacheDir(); err == nil {
		pycache = filepath.Join(cache, "python", "pycache")
	}
	out, err := it.call("load", root, pkg+"."+o.pkg, o.fn, string(kwargs), string(pathsJSON), pycache)
	token := 0 // the model made, if any
	if err == nil {
		var res struct {
			Token int          `json:"token"`
			Error *pythonError `json:"error"`
		}
		if err = json.Unmarshal([]byte(out), &res); err == nil {
			if res.Error != nil {
				err = fmt.Errorf("%w: importing %s and calling %s(): %w", backend.ErrModel, o.pkg, o.fn, res.Error)
			} else {
				s := &session{it: it, token: res.Token, root: root}
				if err = s.bindMethod(); err == nil {
					return s, nil
				}
				token = res.Token
			}
		}
	}
	_, _ = it.call("unload", token, root)
	os.RemoveAll(root)
	return nil, err
}

// pythonError is an exception Python raised, with its traceback.
type pythonError struct {
	Type      string `json:"type"`
	Message   string `json:"message"`
	Traceback string `json:"traceback"`
}

func (e *pythonError) Error() string {
	return fmt.Sprintf("%s: %s\n%s", e.Type, e.Message, strings.TrimRight(e.Traceback, "\n"))
}
func (e *pythonError) Unwrap() error { return ErrPython }

type session struct {
	it     *interp
	token  int
	method uintptr // the model's bound infer_with_tensors (a reference)
	root   string
	closed sync.Once
}

// bindMethod takes the model's infer_with_tensors, which Infer calls.
func (s *session) bindMethod() error {
	it := s.it
	c := calls.Get().(*pyCall)
	defer calls.Put(c)
	it.enter(c)
	defer it.leave(c)
	tok := c.Call(it.fn.longFromLongLong, uintptr(s.token))
	if tok == 0 {
		return s.raised(c)
	}
	s.method = it.invoke(c, it.bridge["method"], tok)
	c.Call(it.fn.decRef, tok)
	if s.method == 0 {
		return s.raised(c)
	}
	return nil
}

// spec is a tensor as the bridge reads and writes it.
type spec struct {
	Name    string   `json:"name"`
	DType   string   `json:"dtype"`
	Shape   []int64  `json:"shape"`
	Addr    uintptr  `json:"addr,omitempty"`
	NBytes  int      `json:"nbytes,omitempty"`
	Strings []string `json:"strings,omitempty"`
}

// Infer hands Python arrays over the inputs' memory (read during the
// call: a model that keeps an input array after returning must copy it)
// and takes the outputs' memory as it is, until the tensors are released.
// A model that returns an iterator gives its last step.
func (s *session) Infer(ctx context.Context, inputs, outputs map[string]tensor.Tensor) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	r, err := s.run(inputs, false)
	if err != nil {
		return err
	}
	if r.json != "" {
		_, err = s.outputs(r.json, outputs)
	} else {
		err = r.tensors(outputs)
	}
	if err == nil {
		err = detach(inputs, outputs)
	}
	return err
}

// InferStream starts the model on inputs; a model that returns a dict
// makes a stream of one step.
func (s *session) InferStream(ctx context.Context, inputs map[string]tensor.Tensor) (backend.Stream, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	r, err := s.run(inputs, true)
	if err != nil {
		return nil, err
	}
	var res struct {
		Stream int `json:"stream"`
	}
	if err := json.Unmarshal([]byte(r.json), &res); err == nil && res.Stream != 0 {
		return &stream{s: s, token: res.Stream, inputs: inputs}, nil
	}
	return &stream{s: s, first: r.json, inputs: inputs}, nil
}

// stream is a model's iterator in Python, or one step already taken.
type stream struct {
	s      *session
	token  int                      // the bridge's stream; 0 for a single step
	inputs map[string]tensor.Tensor // kept alive: Python's arrays are over them
	first  string                   // the single step's answer
	done   bool
}

func (st *stream) Next(ctx context.Context, outputs map[string]tensor.Tensor) (bool, error) {
	if st.done {
		return false, nil
	}
	if st.token == 0 {
		st.done = true
		_, err := st.s.outputs(st.first, outputs)
		if err == nil {
			err = detach(st.inputs, outputs)
		}
		return err == nil, err
	}
	out, err := st.s.it.call("next_step", st.token)
	if err != nil {
		return false, err
	}
	more, err := st.s.outputs(out, outputs)
	if err == nil {
		err = detach(st.inputs, outputs)
	}
	if !more || err != nil {
		st.done = true
	}
	return more && err == nil, err
}

func (st *stream) Close() error {
	if st.token == 0 {
		return nil
	}
	out, err := st.s.it.call("close_stream", st.token)
	st.token, st.done = 0, true
	runtime.KeepAlive(st.inputs)
	st.inputs = nil
	if err == nil && out != "" {
		var res struct {
			Error *pythonError `json:"error"`
		}
		if json.Unmarshal([]byte(out), &res) == nil && res.Error != nil {
			err = fmt.Errorf("%w: closing the model's iterator: %w", backend.ErrFramework, res.Error)
		}
	}
	return err
}

// outputs reads the bridge's answer into outputs: false for a stream's
// end.
func (s *session) outputs(out string, outputs map[string]tensor.Tensor) (bool, error) {
	var res struct {
		Outputs []spec       `json:"outputs"`
		Kept    int          `json:"kept"`
		Done    bool         `json:"done"`
		Error   *pythonError `json:"error"`
	}
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		return false, fmt.Errorf("%w: %w", ErrPython, err)
	}
	if res.Error != nil {
		return false, fmt.Errorf("%w: %w", backend.ErrFramework, res.Error)
	}
	if res.Done {
		return false, nil
	}
	var owner *pyRefs // the arrays the bridge keeps for token res.Kept
	if res.Kept != 0 {
		owner = &pyRefs{it: s.it, token: res.Kept}
		owner.watch()
	}
	for _, o := range res.Outputs {
		var t tensor.Tensor
		var err error
		if o.DType == "string" {
			if t, err = tensor.FromStrings(o.Shape, o.Strings); err == nil {
				outputs[o.Name] = t
			}
		} else {
			var dt tensor.DType
			if dt, err = tensor.ParseDType(o.DType); err == nil {
				t, err = tensor.ForeignShared(dt, o.Shape, dlopen.Pointer(o.Addr), o.NBytes, owner) // numpy's memory
			}
			if err == nil {
				owner.adopt(outputs, o.Name, t)
			}
		}
		if err != nil {
			abandon(outputs, owner)
			return false, fmt.Errorf("%w: output %q: %w", ErrPython, o.Name, err)
		}
	}
	return true, nil
}

func (s *session) Close() error {
	var err error
	s.closed.Do(func() {
		c := calls.Get().(*pyCall)
		defer calls.Put(c)
		s.it.enter(c)
		c.Call(s.it.fn.decRef, s.method)
		_, err = s.it.callHeld(c, "unload", s.token, s.root)
		s.it.leave(c)
		os.RemoveAll(s.root)
	})
	return err
}
