package carton

import (
	"context"
	"fmt"
	"strings"

	"github.com/carton-run/carton/format"
	"github.com/carton-run/carton/tensor"
)

// SelfTestResult is the outcome of one [[self_test]].
type SelfTestResult struct {
	Index    int
	Name     string
	Passed   bool
	Failures []string // one line per output that did not match
	Err      error    // the test could not run (bad reference, Infer error)
}

// SelfTest runs every [[self_test]] of the carton and compares outputs named
// in expected_out allclose-style (tol; integers, bools and strings exactly).
// A test without expected_out passes when Infer succeeds. The error is
// non-nil only when the carton's tensor data cannot be read.
func (m *Model) SelfTest(ctx context.Context, tol tensor.Tolerance) ([]SelfTestResult, error) {
	td, err := m.TensorData()
	if err != nil {
		return nil, err
	}
	var results []SelfTestResult
	for i, st := range m.info.Config.SelfTests {
		r := SelfTestResult{Index: i, Name: st.Name}
		r.Err = m.runSelfTest(ctx, td, st, tol, &r)
		r.Passed = r.Err == nil && len(r.Failures) == 0
		results = append(results, r)
	}
	return results, nil
}

func (m *Model) runSelfTest(ctx context.Context, td *format.TensorData, st format.SelfTest, tol tensor.Tolerance, r *SelfTestResult) error {
	inputs, err := resolveRefs(td, st.Inputs)
	if err != nil {
		return err
	}
	want, err := resolveRefs(td, st.ExpectedOut)
	if err != nil {
		return err
	}
	out, err := m.Infer(ctx, inputs)
	if err != nil {
		return err
	}
	defer func() {
		for _, t := range out {
			t.Release()
		}
	}()
	for _, name := range format.SortedKeys(want) {
		got, ok := out[name]
		if !ok {
			r.Failures = append(r.Failures, fmt.Sprintf("%s: missing from the model's outputs", name))
			continue
		}
		if mm := tensor.Compare(got, want[name], tol); mm != nil {
			r.Failures = append(r.Failures, fmt.Sprintf("%s: %s", name, mm.Reason))
		}
	}
	return nil
}

func resolveRefs(td *format.TensorData, refs map[string]string) (map[string]tensor.Tensor, error) {
	out := make(map[string]tensor.Tensor, len(refs))
	for name, ref := range refs {
		key := strings.TrimPrefix(ref, format.TensorDataRef)
		t, ok := td.Tensors[key]
		if !ok {
			if _, nested := td.Nested[key]; nested {
				return nil, fmt.Errorf("%w: %s = %s is a nested tensor, which Infer cannot take", ErrSelfTest, name, ref)
			}
			return nil, fmt.Errorf("%w: %s = %s is not in tensor_data/index.toml", ErrSelfTest, name, ref)
		}
		out[name] = t
	}
	return out, nil
}
