package tensorflow

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	pb "github.com/wamuir/graft/tensorflow/core/protobuf/for_core_protos_go_proto"
	"google.golang.org/protobuf/proto"

	"github.com/carton-run/carton/backend"
	"github.com/carton-run/carton/format"
	"github.com/carton-run/carton/tensor"
)

// DefaultSignature and DefaultTags are what TensorFlow Serving and
// tf.saved_model.save use; [runner.opts] signature and tags override them.
const DefaultSignature = "serving_default"

var DefaultTags = []string{"serve"}

// ioSpec is one input or output of a signature.
type ioSpec struct {
	key   string // the signature key: the carton's tensor name
	op    string // graph operation
	index int    // output index of op
	dtype tensor.DType
	// tfType is dtype's TF_DataType, for TF_NewTensor on each call.
	tfType int32
	dims   []int64 // -1 for an unknown dim; nil when the rank is unknown
	names  []string
	// known: every dim (and the rank) is fixed, so outputs need no shape query.
	known bool
}

// signature is a resolved SignatureDef, keys sorted.
type signature struct {
	name            string
	inputs, outputs []ioSpec
	outputKeys      []string // the outputs' keys, in order
}

// savedModelDir finds the SavedModel under a carton's model directory:
// model/saved_model/ or model/ itself.
func savedModelDir(modelDir string) (string, error) {
	for _, d := range []string{filepath.Join(modelDir, "saved_model"), modelDir} {
		for _, f := range []string{"saved_model.pb", "saved_model.pbtxt"} {
			if _, err := os.Stat(filepath.Join(d, f)); err == nil {
				return d, nil
			}
		}
	}
	return "", fmt.Errorf("%w: no SavedModel (saved_model.pb) in model/saved_model/ or model/", backend.ErrModel)
}

// readSavedModel parses dir/saved_model.pb with the pure-Go protos.
func readSavedModel(dir string) (*pb.SavedModel, error) {
	b, err := os.ReadFile(filepath.Join(dir, "saved_model.pb"))
	if err != nil {
		if _, e := os.Stat(filepath.Join(dir, "saved_model.pbtxt")); e == nil {
			return nil, fmt.Errorf("%w: %s holds saved_model.pbtxt; reading specs from the text form is not supported, declare them with --input/--output", backend.ErrModel, dir)
		}
		return nil, fmt.Errorf("%w: %w", backend.ErrModel, err)
	}
	var sm pb.SavedModel
	if err := proto.Unmarshal(b, &sm); err != nil {
		return nil, fmt.Errorf("%w: %s/saved_model.pb: %w", backend.ErrModel, dir, err)
	}
	return &sm, nil
}

// metaGraph picks the MetaGraphDef whose tag set equals tags, as
// TensorFlow's loader does.
func metaGraph(sm *pb.SavedModel, tags []string) (*pb.MetaGraphDef, error) {
	want := slices.Sorted(slices.Values(tags))
	var have []string
	for _, mg := range sm.GetMetaGraphs() {
		got := slices.Sorted(slices.Values(mg.GetMetaInfoDef().GetTags()))
		if slices.Equal(got, want) {
			return mg, nil
		}
		have = append(have, "["+strings.Join(got, ",")+"]")
	}
	return nil, fmt.Errorf("%w: no meta graph tagged [%s] (the SavedModel has %s); set [runner.opts] tags", backend.ErrModel, strings.Join(want, ","), strings.Join(have, " "))
}

// resolveSignature maps a SignatureDef's keys to graph tensors.
func resolveSignature(mg *pb.MetaGraphDef, name string) (*signature, error) {
	defs := mg.GetSignatureDef()
	def, ok := defs[name]
	if !ok {
		var names []string
		for n := range defs {
			if !strings.HasPrefix(n, "__") { // __saved_model_init_op and friends
				names = append(names, n)
			}
		}
		slices.Sort(names)
		return nil, fmt.Errorf("%w: no signature %q (the SavedModel has %s); set [runner.opts] signature", backend.ErrModel, name, strings.Join(names, ", "))
	}
	sig := &signature{name: name}
	var err error
	if sig.inputs, err = ioSpecs(name, "input", def.GetInputs()); err != nil {
		return nil, err
	}
	if sig.outputs, err = ioSpecs(name, "output", def.GetOutputs()); err != nil {
		return nil, err
	}
	for _, o := range sig.outputs {
		sig.outputKeys = append(sig.outputKeys, o.key)
	}
	return sig, nil
}

func ioSpecs(sigName, what string, infos map[string]*pb.TensorInfo) ([]ioSpec, error) {
	keys := slices.Sorted(func(yield func(string) bool) {
		for k := range infos {
			if !yield(k) {
				return
			}
		}
	})
	out := make([]ioSpec, 0, len(keys))
	for _, k := range keys {
		info := infos[k]
		fail := func(format string, args ...any) error {
			return fmt.Errorf("%w: signature %q %s %q: %s", backend.ErrModel, sigName, what, k, fmt.Sprintf(format, args...))
		}
		if info.GetName() == "" {
			return nil, fail("sparse and composite tensors are not supported")
		}
		op, index, err := splitTensorName(info.GetName())
		if err != nil {
			return nil, fail("%v", err)
		}
		dt, err := dtypeFromProto(info.GetDtype())
		if err != nil {
			return nil, fail("%v", err)
		}
		spec := ioSpec{key: k, op: op, index: index, dtype: dt, tfType: int32(info.GetDtype())}
		if sh := info.GetTensorShape(); sh != nil && !sh.GetUnknownRank() {
			spec.known = true
			spec.dims = make([]int64, len(sh.GetDim()))
			spec.names = make([]string, len(sh.GetDim()))
			for i, d := range sh.GetDim() {
				spec.dims[i], spec.names[i] = d.GetSize(), d.GetName()
				if d.GetSize() < 0 {
					spec.known = false
				}
			}
		}
		out = append(out, spec)
	}
	return out, nil
}

// splitTensorName splits "op:1" (or "op", output 0).
func splitTensorName(n string) (string, int, error) {
	op, idx, found := strings.Cut(n, ":")
	if !found {
		return n, 0, nil
	}
	i, err := strconv.Atoi(idx)
	if err != nil || i < 0 || op == "" {
		return "", 0, fmt.Errorf("malformed tensor name %q", n)
	}
	return op, i, nil
}

// toSpecs turns a signature's inputs or outputs into carton specs.
func toSpecs(ios []ioSpec) []format.TensorSpec {
	out := make([]format.TensorSpec, len(ios))
	for i, io := range ios {
		shape := format.AnyShape // unknown rank
		if io.dims != nil {
			shape = backend.DeclaredShape(io.dims, io.names)
		}
		out[i] = format.TensorSpec{Name: io.key, DType: io.dtype, Shape: shape}
	}
	return out
}

// ModelSpecs are the signature's inputs and outputs, output shapes as the
// graph computes them (backend.SpecReporter).
func (s *session) ModelSpecs() (inputs, outputs []format.TensorSpec) {
	return toSpecs(s.sig.inputs), toSpecs(s.sig.outputs)
}
