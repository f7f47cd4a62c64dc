package format

import (
	"bytes"
	"fmt"
	"slices"
	"sort"
	"strings"
	"unicode/utf8"

	"github.com/BurntSushi/toml"

	"github.com/carton-run/carton/tensor"
)

// TensorData is the tensor_data/ directory: named tensors for self-tests and
// examples. A nested entry is a list of (non-nested) tensors.
type TensorData struct {
	Tensors map[string]tensor.Tensor
	Nested  map[string][]tensor.Tensor
}

type rawIndex struct {
	Tensor []rawIndexEntry `toml:"tensor"`
}

type rawIndexEntry struct {
	Name  string   `toml:"name"`
	DType string   `toml:"dtype"`
	Shape []int64  `toml:"shape"`
	File  string   `toml:"file,omitempty"`
	Inner []string `toml:"inner"`
}

type rawStrings struct {
	Data []string `toml:"data"`
}

// parseIndex parses tensor_data/index.toml.
func parseIndex(data []byte) ([]rawIndexEntry, error) {
	if err := checkTOML("tensor_data/index.toml", data, DefaultLimits); err != nil {
		return nil, err
	}
	var idx rawIndex
	if _, err := toml.NewDecoder(bytes.NewReader(data)).Decode(&idx); err != nil {
		return nil, malformed("tensor_data/index.toml", "%v", err)
	}
	seen := map[string]bool{}
	for i, e := range idx.Tensor {
		if e.Name == "" {
			return nil, malformed("tensor_data/index.toml", "tensor %d has no name", i)
		}
		if seen[e.Name] {
			return nil, malformed("tensor_data/index.toml", "tensor %q is listed twice", e.Name)
		}
		seen[e.Name] = true
		if e.DType == "nested" {
			continue
		}
		if _, err := tensor.ParseDType(e.DType); err != nil {
			return nil, malformed("tensor_data/index.toml", "tensor %q: %v", e.Name, err)
		}
		if e.File == "" || strings.Contains(e.File, "/") || checkEntryName(e.File) != nil {
			return nil, malformed("tensor_data/index.toml", "tensor %q: file %q is not a plain file name", e.Name, e.File)
		}
		if len(e.Inner) != 0 {
			return nil, malformed("tensor_data/index.toml", "tensor %q: only nested tensors have inner", e.Name)
		}
	}
	return idx.Tensor, nil
}

// ReadTensorData reads tensor_data/ through read (which must check MANIFEST).
// A carton without tensor_data/index.toml has no tensors.
func ReadTensorData(read func(name string) ([]byte, error), has func(name string) bool) (*TensorData, error) {
	td := &TensorData{Tensors: map[string]tensor.Tensor{}, Nested: map[string][]tensor.Tensor{}}
	if !has("tensor_data/index.toml") {
		return td, nil
	}
	idxBytes, err := read("tensor_data/index.toml")
	if err != nil {
		return nil, err
	}
	entries, err := parseIndex(idxBytes)
	if err != nil {
		return nil, err
	}
	byName := map[string]rawIndexEntry{}
	for _, e := range entries {
		byName[e.Name] = e
	}
	for _, e := range entries {
		if e.DType == "nested" {
			continue
		}
		t, err := readTensor(read, e)
		if err != nil {
			return nil, err
		}
		td.Tensors[e.Name] = t
	}
	for _, e := range entries {
		if e.DType != "nested" {
			continue
		}
		for _, inner := range e.Inner {
			ie, ok := byName[inner]
			if !ok || ie.DType == "nested" {
				return nil, malformed("tensor_data/index.toml", "nested tensor %q: inner %q is not a plain tensor in the index", e.Name, inner)
			}
			td.Nested[e.Name] = append(td.Nested[e.Name], td.Tensors[inner])
		}
	}
	return td, nil
}

// stringDataLimits bound a string tensor's TOML file: data rather than
// metadata, so larger, but nested no deeper.
var stringDataLimits = Limits{
	MaxMetadataBytes:  maxTensorFileBytes,
	MaxNesting:        DefaultLimits.MaxNesting,
	MaxMetadataValues: 1 << 24,
}

func readTensor(read func(string) ([]byte, error), e rawIndexEntry) (tensor.Tensor, error) {
	dt, _ := tensor.ParseDType(e.DType) // checked by parseIndex
	name := "tensor_data/" + e.File
	b, err := read(name)
	if err != nil {
		return tensor.Tensor{}, err
	}
	shape := tensor.Shape(e.Shape)
	if dt == tensor.String {
		if err := checkTOML(name, b, stringDataLimits); err != nil {
			return tensor.Tensor{}, err
		}
		var rs rawStrings
		if _, err := toml.NewDecoder(bytes.NewReader(b)).Decode(&rs); err != nil {
			return tensor.Tensor{}, malformed(name, "%v", err)
		}
		t, err := tensor.FromStrings(shape, rs.Data)
		if err != nil {
			return tensor.Tensor{}, &FileError{Path: name, Err: fmt.Errorf("%w: %v", ErrMalformed, err)}
		}
		return t, nil
	}
	// Copy into aligned memory: tensors read here go to frameworks that may
	// want alignment, and b may be any slice.
	n, err := shape.NumElements()
	if err != nil {
		return tensor.Tensor{}, &FileError{Path: name, Err: fmt.Errorf("%w: %v", ErrMalformed, err)}
	}
	if n > len(b) || n*dt.Size() != len(b) {
		return tensor.Tensor{}, malformed(name, "%d bytes do not hold shape %v of %s", len(b), shape, dt)
	}
	t, err := tensor.New(dt, shape)
	if err != nil {
		return tensor.Tensor{}, &FileError{Path: name, Err: fmt.Errorf("%w: %v", ErrMalformed, err)}
	}
	copy(t.Bytes(), b)
	return t, nil
}

// EncodeTensorData renders tensors as tensor_data/ files (path -> bytes),
// named tensor_N in sorted name order so the output is reproducible. It
// always includes index.toml, as upstream's reader requires.
func EncodeTensorData(tensors map[string]tensor.Tensor) (map[string][]byte, error) {
	names := make([]string, 0, len(tensors))
	for n := range tensors {
		names = append(names, n)
	}
	sort.Strings(names)
	files := map[string][]byte{}
	idx := rawIndex{Tensor: []rawIndexEntry{}}
	for i, name := range names {
		t := tensors[name]
		if !t.Valid() {
			return nil, fmt.Errorf("%w: tensor %q is invalid", ErrMalformed, name)
		}
		e := rawIndexEntry{Name: name, DType: t.DType().String(), Shape: append([]int64{}, t.Shape()...), Inner: []string{}}
		if t.DType() == tensor.String {
			e.File = fmt.Sprintf("tensor_%d.toml", i)
			s, _ := t.Strings()
			if i := slices.IndexFunc(s, func(e string) bool { return !utf8.ValidString(e) }); i >= 0 {
				return nil, fmt.Errorf("%w: string tensor %q: element %d is not valid UTF-8, and tensor_data/ keeps strings in TOML, which holds only UTF-8",
					tensor.ErrInvalid, name, i)
			}
			var buf bytes.Buffer
			if err := toml.NewEncoder(&buf).Encode(rawStrings{Data: append([]string{}, s...)}); err != nil {
				return nil, err
			}
			files["tensor_data/"+e.File] = buf.Bytes()
		} else {
			e.File = fmt.Sprintf("tensor_%d.bin", i)
			files["tensor_data/"+e.File] = append([]byte{}, t.Bytes()...)
		}
		idx.Tensor = append(idx.Tensor, e)
	}
	var buf bytes.Buffer
	if len(idx.Tensor) == 0 {
		buf.WriteString("tensor = []\n")
	} else if err := toml.NewEncoder(&buf).Encode(idx); err != nil {
		return nil, err
	}
	files["tensor_data/index.toml"] = buf.Bytes()
	return files, nil
}
