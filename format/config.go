package format

import (
	"bytes"
	"fmt"
	"sort"
	"strings"

	"github.com/BurntSushi/toml"

	"github.com/carton-run/carton/internal/semver"
	"github.com/carton-run/carton/tensor"
)

// SpecVersion is the only carton.toml spec_version this package reads and writes.
const SpecVersion = 1

// Config is carton.toml. JSON field names are carton.toml's own.
type Config struct {
	SpecVersion       int          `json:"spec_version"`
	ModelName         string       `json:"model_name,omitempty"`
	ShortDescription  string       `json:"short_description,omitempty"`
	ModelDescription  string       `json:"model_description,omitempty"`
	License           string       `json:"license,omitempty"`
	Repository        string       `json:"repository,omitempty"`
	Homepage          string       `json:"homepage,omitempty"`
	RequiredPlatforms []string     `json:"required_platforms"`
	Inputs            []TensorSpec `json:"input"`
	Outputs           []TensorSpec `json:"output"`
	SelfTests         []SelfTest   `json:"self_test"`
	Examples          []Example    `json:"example"`
	Runner            Runner       `json:"runner"`
}

// TensorSpec declares one input or output.
type TensorSpec struct {
	Name         string       `json:"name"`
	DType        tensor.DType `json:"dtype"`
	Shape        ShapeSpec    `json:"shape"`
	Description  string       `json:"description,omitempty"`
	InternalName string       `json:"internal_name,omitempty"`
}

// String is the spec as carton pack's --input and --output take it:
// NAME:DTYPE:SHAPE.
func (s TensorSpec) String() string {
	return s.Name + ":" + s.DType.String() + ":" + s.Shape.String()
}

// SelfTest names tensors (as "@tensor_data/NAME") to run and, optionally, to expect.
type SelfTest struct {
	Name        string            `json:"name,omitempty"`
	Description string            `json:"description,omitempty"`
	Inputs      map[string]string `json:"inputs"`
	ExpectedOut map[string]string `json:"expected_out,omitempty"`
}

// Example names sample inputs and outputs ("@tensor_data/..." or "@misc/...").
type Example struct {
	Name        string            `json:"name,omitempty"`
	Description string            `json:"description,omitempty"`
	Inputs      map[string]string `json:"inputs"`
	SampleOut   map[string]string `json:"sample_out,omitempty"`
}

// Runner is the [runner] table.
type Runner struct {
	RunnerName               string `json:"runner_name"`
	RequiredFrameworkVersion string `json:"required_framework_version"`
	RunnerCompatVersion      int    `json:"runner_compat_version"`
	// Opts values are int64, float64, string or bool.
	Opts map[string]any `json:"opts,omitempty"`
}

// Reference prefixes used by self-tests and examples.
const (
	TensorDataRef = "@tensor_data/"
	MiscRef       = "@misc/"
)

// raw mirrors the TOML document; pointer fields tell "absent" from zero.
type rawConfig struct {
	SpecVersion       *int64          `toml:"spec_version"`
	ModelName         string          `toml:"model_name,omitempty"`
	ShortDescription  string          `toml:"short_description,omitempty"`
	ModelDescription  string          `toml:"model_description,omitempty"`
	License           string          `toml:"license,omitempty"`
	Repository        string          `toml:"repository,omitempty"`
	Homepage          string          `toml:"homepage,omitempty"`
	RequiredPlatforms []string        `toml:"required_platforms"`
	Input             []rawTensorSpec `toml:"input,omitempty"`
	Output            []rawTensorSpec `toml:"output,omitempty"`
	SelfTest          []rawSelfTest   `toml:"self_test,omitempty"`
	Example           []rawExample    `toml:"example,omitempty"`
	Runner            *rawRunner      `toml:"runner"`
}

type rawTensorSpec struct {
	Name         string `toml:"name"`
	DType        string `toml:"dtype"`
	Shape        any    `toml:"shape"`
	Description  string `toml:"description,omitempty"`
	InternalName string `toml:"internal_name,omitempty"`
}

type rawSelfTest struct {
	Name        string            `toml:"name,omitempty"`
	Description string            `toml:"description,omitempty"`
	Inputs      map[string]string `toml:"inputs"`
	ExpectedOut map[string]string `toml:"expected_out,omitempty"`
}

type rawExample struct {
	Name        string            `toml:"name,omitempty"`
	Description string            `toml:"description,omitempty"`
	Inputs      map[string]string `toml:"inputs"`
	SampleOut   map[string]string `toml:"sample_out"` // upstream requires it, empty or not
}

type rawRunner struct {
	RunnerName               string         `toml:"runner_name"`
	RequiredFrameworkVersion string         `toml:"required_framework_version"`
	RunnerCompatVersion      *int64         `toml:"runner_compat_version"`
	Opts                     map[string]any `toml:"opts,omitempty"`
}

// ParseConfig parses and validates carton.toml. Unknown keys are ignored.
// A document over DefaultLimits' metadata bounds is refused with ErrLimit
// before it is parsed.
func ParseConfig(data []byte) (*Config, error) {
	return parseConfig(data, DefaultLimits)
}

func parseConfig(data []byte, lim Limits) (*Config, error) {
	if err := checkTOML("carton.toml", data, lim); err != nil {
		return nil, err
	}
	var raw rawConfig
	if _, err := toml.NewDecoder(bytes.NewReader(data)).Decode(&raw); err != nil {
		return nil, fmt.Errorf("%w: carton.toml: %v", ErrMalformed, err)
	}
	cfg, err := raw.toConfig()
	if err != nil {
		return nil, fmt.Errorf("carton.toml: %w", err)
	}
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("carton.toml: %w", err)
	}
	return cfg, nil
}

func (raw *rawConfig) toConfig() (*Config, error) {
	if raw.SpecVersion == nil {
		return nil, fmt.Errorf("%w: spec_version is required", ErrMalformed)
	}
	if raw.Runner == nil {
		return nil, fmt.Errorf("%w: the [runner] table is required", ErrMalformed)
	}
	if raw.Runner.RunnerCompatVersion == nil {
		return nil, fmt.Errorf("%w: runner.runner_compat_version is required", ErrMalformed)
	}
	cfg := &Config{
		SpecVersion:       int(*raw.SpecVersion),
		ModelName:         raw.ModelName,
		ShortDescription:  raw.ShortDescription,
		ModelDescription:  raw.ModelDescription,
		License:           raw.License,
		Repository:        raw.Repository,
		Homepage:          raw.Homepage,
		RequiredPlatforms: raw.RequiredPlatforms,
		Runner: Runner{
			RunnerName:               raw.Runner.RunnerName,
			RequiredFrameworkVersion: raw.Runner.RequiredFrameworkVersion,
			RunnerCompatVersion:      int(*raw.Runner.RunnerCompatVersion),
			Opts:                     raw.Runner.Opts,
		},
	}
	var err error
	if cfg.Inputs, err = specsFromTOML("input", raw.Input); err != nil {
		return nil, err
	}
	if cfg.Outputs, err = specsFromTOML("output", raw.Output); err != nil {
		return nil, err
	}
	for _, s := range raw.SelfTest {
		cfg.SelfTests = append(cfg.SelfTests, SelfTest(s))
	}
	for _, e := range raw.Example {
		cfg.Examples = append(cfg.Examples, Example(e))
	}
	return cfg, nil
}

func specsFromTOML(kind string, raws []rawTensorSpec) ([]TensorSpec, error) {
	var out []TensorSpec
	for i, r := range raws {
		dt, err := tensor.ParseDType(r.DType)
		if err != nil {
			return nil, fmt.Errorf("%w: %s %d (%q): %v", ErrMalformed, kind, i, r.Name, err)
		}
		shape, err := shapeFromTOML(r.Shape)
		if err != nil {
			return nil, fmt.Errorf("%s %d (%q): %w", kind, i, r.Name, err)
		}
		out = append(out, TensorSpec{Name: r.Name, DType: dt, Shape: shape, Description: r.Description, InternalName: r.InternalName})
	}
	return out, nil
}

// Validate checks the rules a reader relies on: spec_version, a runner name,
// a parsable version requirement, known platforms, unique named specs, and
// self-test/example references of the right kind.
func (c *Config) Validate() error {
	if c.SpecVersion != SpecVersion {
		return fmt.Errorf("%w: spec_version %d is not supported (want %d)", ErrMalformed, c.SpecVersion, SpecVersion)
	}
	if c.Runner.RunnerName == "" {
		return fmt.Errorf("%w: runner.runner_name is empty", ErrMalformed)
	}
	if _, err := semver.ParseReq(c.Runner.RequiredFrameworkVersion); err != nil {
		return fmt.Errorf("%w: runner.required_framework_version: %v", ErrMalformed, err)
	}
	for _, p := range c.RequiredPlatforms {
		if !ValidTargetTriple(p) {
			return fmt.Errorf("%w: required_platforms: %q is not a target triple (like x86_64-unknown-linux-gnu)", ErrMalformed, p)
		}
	}
	for k, v := range c.Runner.Opts {
		switch v.(type) {
		case int64, float64, string, bool:
		default:
			return fmt.Errorf("%w: runner.opts.%s: %T is not an integer, float, string or bool", ErrMalformed, k, v)
		}
	}
	for _, group := range []struct {
		kind  string
		specs []TensorSpec
	}{{"input", c.Inputs}, {"output", c.Outputs}} {
		seen := map[string]bool{}
		for i, s := range group.specs {
			if s.Name == "" {
				return fmt.Errorf("%w: %s %d has no name", ErrMalformed, group.kind, i)
			}
			if seen[s.Name] {
				return fmt.Errorf("%w: %s %q is declared twice", ErrMalformed, group.kind, s.Name)
			}
			seen[s.Name] = true
			if !s.DType.Valid() {
				return fmt.Errorf("%w: %s %q has no dtype", ErrMalformed, group.kind, s.Name)
			}
		}
	}
	for i, st := range c.SelfTests {
		if len(st.Inputs) == 0 {
			return fmt.Errorf("%w: self_test %d has no inputs", ErrMalformed, i)
		}
		for _, refs := range []map[string]string{st.Inputs, st.ExpectedOut} {
			for name, ref := range refs {
				if !strings.HasPrefix(ref, TensorDataRef) || len(ref) == len(TensorDataRef) {
					return fmt.Errorf("%w: self_test %d: %s = %q must reference %sNAME", ErrMalformed, i, name, ref, TensorDataRef)
				}
			}
		}
	}
	for i, ex := range c.Examples {
		for _, refs := range []map[string]string{ex.Inputs, ex.SampleOut} {
			for name, ref := range refs {
				if !validRef(ref, TensorDataRef) && !validRef(ref, MiscRef) {
					return fmt.Errorf("%w: example %d: %s = %q must reference %sNAME or %sFILE", ErrMalformed, i, name, ref, TensorDataRef, MiscRef)
				}
			}
		}
	}
	return nil
}

func validRef(ref, prefix string) bool {
	return strings.HasPrefix(ref, prefix) && len(ref) > len(prefix)
}

// Marshal writes c as carton.toml. Output is deterministic: tables in a
// fixed order and map keys sorted.
func (c *Config) Marshal() ([]byte, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	compat := int64(c.Runner.RunnerCompatVersion)
	spec := int64(c.SpecVersion)
	raw := rawConfig{
		SpecVersion:       &spec,
		ModelName:         c.ModelName,
		ShortDescription:  c.ShortDescription,
		ModelDescription:  c.ModelDescription,
		License:           c.License,
		Repository:        c.Repository,
		Homepage:          c.Homepage,
		RequiredPlatforms: c.RequiredPlatforms,
		Runner: &rawRunner{
			RunnerName:               c.Runner.RunnerName,
			RequiredFrameworkVersion: c.Runner.RequiredFrameworkVersion,
			RunnerCompatVersion:      &compat,
			Opts:                     c.Runner.Opts,
		},
	}
	if raw.RequiredPlatforms == nil {
		raw.RequiredPlatforms = []string{}
	}
	for _, group := range []struct {
		dst   *[]rawTensorSpec
		specs []TensorSpec
	}{{&raw.Input, c.Inputs}, {&raw.Output, c.Outputs}} {
		for _, s := range group.specs {
			*group.dst = append(*group.dst, rawTensorSpec{Name: s.Name, DType: s.DType.String(), Shape: s.Shape.toTOML(), Description: s.Description, InternalName: s.InternalName})
		}
	}
	for _, s := range c.SelfTests {
		raw.SelfTest = append(raw.SelfTest, rawSelfTest(s))
	}
	for _, e := range c.Examples {
		re := rawExample(e)
		if re.SampleOut == nil {
			re.SampleOut = map[string]string{}
		}
		raw.Example = append(raw.Example, re)
	}
	var buf bytes.Buffer
	enc := toml.NewEncoder(&buf)
	enc.Indent = ""
	if err := enc.Encode(raw); err != nil {
		return nil, fmt.Errorf("%w: encoding carton.toml: %v", ErrMalformed, err)
	}
	// What we write must read back: a string that is not UTF-8 (TOML
	// allows nothing else) would give a carton no reader can open.
	if _, err := ParseConfig(buf.Bytes()); err != nil {
		return nil, fmt.Errorf("carton.toml would not read back: %w", err)
	}
	return buf.Bytes(), nil
}

// SortedKeys returns m's keys in byte order (for deterministic iteration).
func SortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
