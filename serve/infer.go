package serve

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"slices"
	"strconv"
	"time"
	"unsafe"

	"github.com/carton-run/carton/format"
	"github.com/carton-run/carton/tensor"
)

type inferRequest struct {
	ID         string          `json:"id,omitempty"`
	Parameters map[string]any  `json:"parameters,omitempty"`
	Inputs     []requestInput  `json:"inputs"`
	Outputs    []requestOutput `json:"outputs,omitempty"`
}

type requestInput struct {
	Name       string          `json:"name"`
	Shape      []int64         `json:"shape"`
	Datatype   string          `json:"datatype"`
	Parameters map[string]any  `json:"parameters,omitempty"`
	Data       json.RawMessage `json:"data,omitempty"`
}

type requestOutput struct {
	Name       string         `json:"name"`
	Parameters map[string]any `json:"parameters,omitempty"`
}

type inferResponse struct {
	ModelName    string           `json:"model_name"`
	ModelVersion string           `json:"model_version,omitempty"`
	ID           string           `json:"id,omitempty"`
	Outputs      []responseOutput `json:"outputs"`
}

type responseOutput struct {
	Name       string          `json:"name"`
	Datatype   string          `json:"datatype"`
	Shape      []int64         `json:"shape"`
	Parameters map[string]any  `json:"parameters,omitempty"`
	Data       json.RawMessage `json:"data,omitempty"`
}

func (s *Server) infer(w http.ResponseWriter, r *http.Request, m *served) {
	if m.model() == nil {
		writeError(w, http.StatusServiceUnavailable, fmt.Errorf("model %s failed to load: %v", m.Name, m.LoadErr))
		return
	}
	done := s.track(m, "rest")
	done(s.serveInfer(w, r, m))
}

// serveInfer answers one infer request and returns the status it wrote.
func (s *Server) serveInfer(w http.ResponseWriter, r *http.Request, m *served) int {
	headerLen, _ := strconv.Atoi(r.Header.Get(headerLength))
	body, pooled, err := readBody(w, r, s.opts.MaxRequestBytes, headerLen)
	defer putBuffer(pooled) // once the response is written: nothing reads the body then
	if err != nil {
		return s.fail(w, r, m, fmt.Errorf("reading the request: %w", err))
	}
	req, inputs, err := parseInfer(body, r.Header.Get(headerLength))
	if err != nil {
		return s.fail(w, r, m, err)
	}
	ctx := r.Context()
	if us, ok := number(req.Parameters["timeout"]); ok && us > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, time.Duration(us)*time.Microsecond)
		defer cancel()
	}
	out, err := s.run(ctx, m, inputs)
	if err != nil {
		return s.fail(w, r, m, err)
	}
	defer m.model().ReleaseOutputs(out) // after the response is written from them
	if err := writeInfer(w, req, m, out); err != nil {
		return s.fail(w, r, m, err)
	}
	return http.StatusOK
}

// fail writes err with its status, logs it when it is the server's
// fault, and returns the status.
func (s *Server) fail(w http.ResponseWriter, r *http.Request, m *served, err error) int {
	status := statusOf(err)
	if ctxErr := r.Context().Err(); ctxErr == nil && status >= 500 {
		s.opts.Logger.Error("infer failed", "model", m.Name, "version", m.Version, "error", err)
	}
	writeError(w, status, err)
	return status
}

// parseInfer reads an infer request: JSON, or a JSON header of
// headerLen bytes followed by binary tensor data.
func parseInfer(body []byte, headerLen string) (*inferRequest, map[string]tensor.Tensor, error) {
	header, bin := body, []byte(nil)
	if headerLen != "" {
		n, err := strconv.Atoi(headerLen)
		if err != nil || n < 0 || n > len(body) {
			return nil, nil, fmt.Errorf("%w: %s %q does not fit a body of %d bytes", ErrBadRequest, headerLength, headerLen, len(body))
		}
		header, bin = body[:n], body[n:]
	}
	var req inferRequest
	dec := json.NewDecoder(bytes.NewReader(header))
	if err := dec.Decode(&req); err != nil {
		return nil, nil, fmt.Errorf("%w: the request is not JSON of the protocol: %v", ErrBadRequest, err)
	}
	if len(req.Inputs) == 0 {
		return nil, nil, fmt.Errorf("%w: the request has no inputs", ErrBadRequest)
	}
	inputs := make(map[string]tensor.Tensor, len(req.Inputs))
	for _, in := range req.Inputs {
		if _, dup := inputs[in.Name]; dup {
			return nil, nil, fmt.Errorf("%w: input %q is given twice", ErrBadRequest, in.Name)
		}
		t, rest, err := parseInput(in, bin)
		if err != nil {
			return nil, nil, fmt.Errorf("input %q: %w", in.Name, err)
		}
		bin = rest
		inputs[in.Name] = t
	}
	if len(bin) > 0 {
		return nil, nil, fmt.Errorf("%w: %d bytes of binary data no input claims", ErrBadRequest, len(bin))
	}
	seen := map[string]bool{}
	for _, o := range req.Outputs {
		if seen[o.Name] {
			return nil, nil, fmt.Errorf("%w: output %q is asked for twice", ErrBadRequest, o.Name)
		}
		seen[o.Name] = true
	}
	return &req, inputs, nil
}

// parseInput makes one input's tensor, from its JSON data or from the
// start of bin (binary_data_size bytes), and returns the rest of bin.
func parseInput(in requestInput, bin []byte) (tensor.Tensor, []byte, error) {
	dt, err := DTypeOf(in.Datatype)
	if err != nil {
		return tensor.Tensor{}, nil, err
	}
	shape := tensor.Shape(in.Shape)
	if _, err := shape.NumElements(); err != nil {
		return tensor.Tensor{}, nil, fmt.Errorf("%w: %v", ErrBadRequest, err)
	}
	if size, ok := in.Parameters["binary_data_size"]; ok {
		n, ok := number(size)
		if !ok || n < 0 || n > int64(len(bin)) {
			return tensor.Tensor{}, nil, fmt.Errorf("%w: binary_data_size %v, with %d bytes of binary data left", ErrBadRequest, size, len(bin))
		}
		if len(in.Data) > 0 {
			return tensor.Tensor{}, nil, fmt.Errorf("%w: both data and binary_data_size", ErrBadRequest)
		}
		t, err := fromBinary(dt, shape, bin[:n:n])
		return t, bin[n:], err
	}
	if len(in.Data) == 0 {
		return tensor.Tensor{}, nil, fmt.Errorf("%w: no data (and no binary_data_size)", ErrBadRequest)
	}
	t, err := decodeJSON(dt, shape, in.Data)
	if err != nil {
		return tensor.Tensor{}, nil, fmt.Errorf("%w: %v", ErrBadRequest, err)
	}
	return t, bin, nil
}

// number reads a JSON number parameter as an integer.
func number(v any) (int64, bool) {
	f, ok := v.(float64)
	if !ok || f != math.Trunc(f) || math.Abs(f) > 1<<53 {
		return 0, false
	}
	return int64(f), true
}

// writeInfer writes the outputs asked for (all, by name, when none is):
// JSON data, or binary data written straight from each output's memory.
func writeInfer(w http.ResponseWriter, req *inferRequest, m *served, out map[string]tensor.Tensor) error {
	asked := req.Outputs
	if len(asked) == 0 {
		for _, name := range format.SortedKeys(out) {
			asked = append(asked, requestOutput{Name: name})
		}
	}
	allBinary, _ := req.Parameters["binary_data_output"].(bool)
	resp := inferResponse{ModelName: m.Name, ModelVersion: m.Version, ID: req.ID}
	var binaries []tensor.Tensor
	binLen := 0
	for _, o := range asked {
		t, ok := out[o.Name]
		if !ok {
			return fmt.Errorf("%w: the model has no output %q (it has %v)", ErrBadRequest, o.Name, format.SortedKeys(out))
		}
		ro := responseOutput{Name: o.Name, Datatype: Datatype(t.DType()), Shape: slices.Clone(t.Shape())}
		binary := allBinary
		if b, ok := o.Parameters["binary_data"].(bool); ok {
			binary = b
		}
		if binary {
			n := binarySize(t)
			ro.Parameters = map[string]any{"binary_data_size": n}
			binaries = append(binaries, t)
			binLen += n
		} else {
			data, err := encodeJSON(t)
			if err != nil {
				return fmt.Errorf("output %q: %w", o.Name, err)
			}
			ro.Data = data
		}
		resp.Outputs = append(resp.Outputs, ro)
	}
	header, err := json.Marshal(resp)
	if err != nil {
		return err
	}
	if len(binaries) == 0 {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Content-Length", strconv.Itoa(len(header)))
		_, err = w.Write(header)
		return err
	}
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Header().Set(headerLength, strconv.Itoa(len(header)))
	w.Header().Set("Content-Length", strconv.Itoa(len(header)+binLen))
	if _, err := w.Write(header); err != nil {
		return nil // the client went away: nothing more to say
	}
	var scratch []byte
	for _, t := range binaries {
		if t.DType() == tensor.String {
			scratch = appendBinary(scratch[:0], t)
			if _, err := w.Write(scratch); err != nil {
				return nil
			}
			continue
		}
		if _, err := w.Write(t.Bytes()); err != nil {
			return nil
		}
	}
	return nil
}

// run infers with m once a slot of its queue is free.
func (s *Server) run(ctx context.Context, m *served, inputs map[string]tensor.Tensor) (map[string]tensor.Tensor, error) {
	release, waited, err := m.admission.acquire(ctx)
	m.queued.Observe(waited.Seconds())
	if err != nil {
		return nil, err
	}
	defer release()
	return m.model().Infer(ctx, inputs)
}

// readBody reads the request body once into a buffer of its declared
// length (io.ReadAll would grow one by doubling: a dozen copies of a
// 1 MiB tensor), at most limit bytes, placed so that the binary data
// after a JSON header of headerLen bytes starts 64-byte aligned: the
// input tensors are then views of it, not copies. A large buffer comes
// from the pool (getBuffer): the caller gives pooled back with putBuffer
// once nothing reads the body.
func readBody(w http.ResponseWriter, r *http.Request, limit int64, headerLen int) (body []byte, pooled *[]byte, err error) {
	rd := http.MaxBytesReader(w, r.Body, limit)
	n := r.ContentLength
	if n <= 0 || n > limit {
		body, err = io.ReadAll(rd)
		return body, nil, err
	}
	buf, pooled := getBuffer(int(n) + alignment)
	pad := 0
	if headerLen > 0 && int64(headerLen) < n {
		pad = int(-(uintptr(unsafe.Pointer(&buf[0])) + uintptr(headerLen)) & (alignment - 1))
	}
	buf = buf[pad : int64(pad)+n : int64(pad)+n]
	if _, err := io.ReadFull(rd, buf); err != nil {
		return nil, pooled, err
	}
	return buf, pooled, nil
}

// alignment is what binary input data is aligned to (tensor.Alignment's
// worth, and every dtype's).
const alignment = 64
