package format

import (
	"errors"
	"flag"
	"time"

	"fmt"
	"github.com/carton-run/carton/internal/racebuild"
	"runtime"
	"strings"
	"testing"
)

// hostileMetadata are documents built to make a TOML decoder slow or
// large: each either parses or is refused, within the metadata budget.
func hostileMetadata() map[string][]byte {
	nest := func(open, close string, depth int) string {
		return strings.Repeat(open, depth) + strings.Repeat(close, depth)
	}
	fill := func(unit string, size int) []byte {
		var b strings.Builder
		for i := 0; b.Len()+len(unit)+16 < size; i++ {
			fmt.Fprintf(&b, unit, i)
		}
		return []byte(b.String())
	}
	// limited repeats unit (holding per values) to just under the value limit.
	limited := func(unit string, per int) []byte {
		var b strings.Builder
		for i := 0; (i+1)*per < DefaultLimits.MaxMetadataValues; i++ {
			fmt.Fprintf(&b, unit, i)
		}
		return []byte(b.String())
	}
	deepTable := "x%d = " + strings.Repeat("{a=", 31) + "1" + strings.Repeat("}", 31) + "\n"
	deepArray := "x%d = " + nest("[", "]", 31) + "\n"
	deepKey := "x%d" + strings.Repeat(".a", 31) + " = 1\n"
	return map[string][]byte{
		"inline tables 64 KB, 16000 deep":         []byte("x = " + strings.Repeat("{a=", 16000) + "1" + strings.Repeat("}", 16000)),
		"arrays 1M deep":                          []byte("x = " + nest("[", "]", 1<<20)),
		"dotted key 500000 deep":                  []byte("x" + strings.Repeat(".a", 500000) + " = 1"),
		"table header 500000 deep":                []byte("[x" + strings.Repeat(".a", 500000) + "]\n"),
		"inline tables at the depth limit, 1 MiB": fill(deepTable, 1<<20),
		"arrays at the depth limit, 1 MiB":        fill(deepArray, 1<<20),
		"dotted keys at the depth limit, 1 MiB":   fill(deepKey, 1<<20),
		"keys, 1 MiB":                             fill("k%d = 1\n", 1<<20),
		"array elements, 1 MiB":                   []byte("x = [" + strings.Repeat("1,", 1<<19) + "]"),
		"tables, 1 MiB":                           fill("[[input]]\nname = \"x%d\"\n", 1<<20),
		"strings, 1 MiB":                          []byte("x = \"" + strings.Repeat("a", 1<<20-8) + "\""),
		"over the size limit":                     []byte(strings.Repeat("# comment\n", 1<<18)),
		"keys at the value limit":                 limited("k%d = 1\n", 1),
		"inline tables at both limits":            limited(deepTable, 63),
		"arrays at both limits":                   limited(deepArray, 32),
		"dotted keys at both limits":              limited(deepKey, 32),
		"tables at the value limit":               limited("[[input]]\nname = \"x%d\"\n", 1),
	}
}

// metadataParsers are the parsers of a carton's TOML metadata files.
var metadataParsers = map[string]func([]byte) error{
	"carton.toml": func(b []byte) error { _, err := ParseConfig(b); return err },
	"LINKS":       func(b []byte) error { _, err := ParseLinks(b); return err },
	"index.toml":  func(b []byte) error { _, err := parseIndex(b); return err },
}

// metadataBudgetBytes is what accepting or refusing one metadata file
// may allocate, all parsers together.
const metadataBudgetBytes = 64 << 20

// metadataBudgetTime is what it may take, checked while fuzzing.
const metadataBudgetTime = 100 * time.Millisecond

func fuzzing() bool {
	f := flag.Lookup("test.fuzz")
	return f != nil && f.Value.String() != ""
}

func allocatedBy(f func()) uint64 {
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	f()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

func TestHostileMetadataStaysWithinBudget(t *testing.T) {
	for name, doc := range hostileMetadata() {
		t.Run(name, func(t *testing.T) {
			for file, parse := range metadataParsers {
				var err error
				n := allocatedBy(func() { err = parse(doc) })
				if n > metadataBudgetBytes {
					t.Errorf("%s: parsing %d bytes allocated %d MiB, more than %d MiB", file, len(doc), n>>20, metadataBudgetBytes>>20)
				}
				if err != nil && !errors.Is(err, ErrLimit) && !errors.Is(err, ErrMalformed) {
					t.Errorf("%s: error %v is neither ErrLimit nor ErrMalformed", file, err)
				}
			}
		})
	}
}

func TestDeepMetadataIsErrLimitNamingFile(t *testing.T) {
	doc := []byte("spec_version = 1\nx = " + strings.Repeat("{a=", 100) + "1" + strings.Repeat("}", 100))
	_, err := ParseConfig(doc)
	var fe *FileError
	if !errors.Is(err, ErrLimit) || !errors.As(err, &fe) || fe.Path != "carton.toml" || !strings.Contains(err.Error(), "32") {
		t.Fatalf("err = %v, want ErrLimit naming carton.toml and the limit", err)
	}
}

func TestGuardAcceptsWhatTOMLAllows(t *testing.T) {
	docs := []string{
		// brackets, dots and '=' inside strings and comments do not count
		"a = \"[[[[{{{{...=\" # [[[[ {{{{ a.b.c.d\nb = '[[[['\nc = \"\"\"\n[[[[\n\"\"\"\nd = '''{{{{'''\n",
		"e = \"\\\"[[[\"\n",
		"[[input]]\nname = \"x\"\nshape = [1, 2, 3]\n[input.a.b]\nc = {d = [1, [2, [3]]], e.f = 1}\n",
		"f = 1.5e3\ng = [1.5, 2.5]\n",
		"h = \"\"\"a\"\"\"\"\ni = [[1], [2]]\n",
	}
	for _, d := range docs {
		if err := checkTOML("t.toml", []byte(d), DefaultLimits); err != nil {
			t.Errorf("%q: %v", d, err)
		}
	}
}

func TestGuardCountsNesting(t *testing.T) {
	lim := DefaultLimits
	lim.MaxNesting = 4
	for _, tc := range []struct {
		doc string
		ok  bool
	}{
		{"a.b.c.d.e = 1", true},
		{"a.b.c.d.e.f = 1", false},
		{"a = [[[[1]]]]", true},
		{"a = [[[[[1]]]]]", false},
		{"a.b = {c.d = 1}", true},
		{"a.b.c = {d.e.f = 1}", false},
		{"a = {b = {c = {d = 1}}}", true},
		{"[a.b.c]\nd = 1", true},
		{"[a.b.c]\nd.e = 1", true},
		{"[a.b.c]\nd.e.f = 1", false},
		{"[[a.b.c.d.e]]", false},
		{"a = [{b = [{c = 1}]}]", true},
		{"a = [{b = [{c = {d = 1}}]}]", false},
	} {
		err := checkTOML("t.toml", []byte(tc.doc), lim)
		if (err == nil) != tc.ok {
			t.Errorf("%q: err = %v, want ok=%v", tc.doc, err, tc.ok)
		}
	}
}

func BenchmarkHostileMetadata(b *testing.B) {
	for name, doc := range hostileMetadata() {
		b.Run(strings.ReplaceAll(name, " ", "_"), func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(doc)))
			for b.Loop() {
				metadataParsers["carton.toml"](doc)
			}
		})
	}
}

// fuzzMaxBytes keeps the fuzzer on documents it can mutate and minimize
// quickly; the hostile documents of up to 1 MiB are a test of their own.
const fuzzMaxBytes = 16 << 10

// FuzzMetadataCost checks that any document, accepted or refused, costs
// each metadata parser at most metadataBudgetBytes.
func FuzzMetadataCost(f *testing.F) {
	for _, doc := range hostileMetadata() {
		if len(doc) <= fuzzMaxBytes {
			f.Add(doc)
		}
	}
	f.Add([]byte(minimalTOML))
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) > fuzzMaxBytes {
			return // documents up to the size limit: TestHostileMetadataStaysWithinBudget
		}
		for file, parse := range metadataParsers {
			start := time.Now()
			if n := allocatedBy(func() { parse(data) }); n > metadataBudgetBytes {
				t.Fatalf("%s: %d bytes allocated %d MiB", file, len(data), n>>20)
			}
			// Timed only while fuzzing, without the race detector: a plain
			// test run of the seeds on a loaded machine must not flake.
			if d := time.Since(start); fuzzing() && !racebuild.Enabled && d > metadataBudgetTime {
				t.Fatalf("%s: %d bytes took %v", file, len(data), d)
			}
		}
	})
}
