package format

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Seeds live in testdata/fuzz/<Fuzz name>/ (committed); f.Add adds the
// upstream vectors too so a plain `go test` runs them all.

func addUpstreamTOML(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join(upstreamDir, "toml", "*.toml"))
	for _, p := range files {
		if b, err := os.ReadFile(p); err == nil {
			f.Add(b)
		}
	}
}

func FuzzParseConfig(f *testing.F) {
	addUpstreamTOML(f)
	f.Add([]byte(minimalTOML))
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg, err := ParseConfig(data)
		if err != nil {
			return
		}
		out, err := cfg.Marshal()
		if err != nil {
			t.Fatalf("a parsed config must marshal: %v", err)
		}
		if _, err := ParseConfig(out); err != nil {
			t.Fatalf("marshalled config must parse: %v\n%s", err, out)
		}
	})
}

func FuzzParseManifest(f *testing.F) {
	f.Add([]byte("carton.toml=873c406a08bb273c4c3a6cef2693ec45450018bdb3ea2ae2b96bcc9346f656ea\n"))
	f.Add([]byte("a=b=873c406a08bb273c4c3a6cef2693ec45450018bdb3ea2ae2b96bcc9346f656ea\nmodel/x=" + SHA256(nil) + "\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := ParseManifest(data)
		if err != nil {
			return
		}
		again, err := ParseManifest(m.Bytes())
		if err != nil {
			t.Fatalf("rendered manifest must parse: %v", err)
		}
		if !bytes.Equal(again.Bytes(), m.Bytes()) {
			t.Fatal("manifest rendering is not stable")
		}
	})
}

func FuzzParseIndex(f *testing.F) {
	f.Add([]byte("tensor = []\n"))
	f.Add([]byte("[[tensor]]\nname = 'a'\ndtype = 'float32'\nshape = [5]\nfile = 'tensor_0.bin'\ninner = []\n[[tensor]]\nname = 'n'\ndtype = 'nested'\nshape = []\ninner = ['a']\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		_, _ = parseIndex(data)
		files := map[string][]byte{"tensor_data/index.toml": data, "tensor_data/tensor_0.bin": make([]byte, 20), "tensor_data/tensor_0.toml": []byte("data = ['a']")}
		read := func(n string) ([]byte, error) { return files[n], nil }
		_, _ = ReadTensorData(read, func(string) bool { return true })
	})
}

func FuzzZipReader(f *testing.F) {
	if b, err := os.ReadFile(upstreamCarton); err == nil {
		f.Add(b)
	}
	var buf bytes.Buffer
	if _, err := Write(&buf, &Config{SpecVersion: 1, Runner: Runner{RunnerName: "noop", RequiredFrameworkVersion: "*", RunnerCompatVersion: 1}},
		[]Entry{{Name: "model/m", Data: []byte("weights")}, {Name: "model/l", Symlink: "m"}}, nil); err == nil {
		f.Add(buf.Bytes())
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		src, tr, err := openZipReader(bytes.NewReader(data), int64(len(data)), Limits{MaxFileBytes: 1 << 20, MaxTotalBytes: 4 << 20}.withDefaults(), nil)
		if err != nil {
			return
		}
		c := &Carton{Packed: true, src: src, tree: tr, limits: Limits{MaxFileBytes: 1 << 20}.withDefaults(), fetched: map[string][]byte{}}
		if err := c.readMetadata(); err != nil {
			return
		}
		c.Links = nil // never reach the network from a fuzzer
		_ = c.verifyAll(context.Background(), verifyPlan{fetchLinked: true})
		_, _ = c.TensorData()
	})
}

func FuzzParseShapeSpec(f *testing.F) {
	for _, s := range []string{"*", "batch", "", "[]", "batch,3,224,224", "[1, *, 'n']", "5", "[a,b]"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		spec, err := ParseShapeSpec(s)
		if err != nil {
			return
		}
		again, err := ParseShapeSpec(spec.String())
		if err != nil {
			t.Fatalf("%q parsed, its String %q does not: %v", s, spec, err)
		}
		if again.String() != spec.String() || again.Kind != spec.Kind || len(again.Dims) != len(spec.Dims) {
			t.Fatalf("%q parsed to %q, its String to %q", s, spec, again)
		}
		b, err := spec.MarshalJSON()
		if err != nil {
			t.Fatalf("%q: MarshalJSON: %v", spec, err)
		}
		var back ShapeSpec
		if err := back.UnmarshalJSON(b); err != nil || back.String() != spec.String() {
			t.Fatalf("%q: JSON %s reads back as %q (%v)", spec, b, back, err)
		}
	})
}

func FuzzParseLinks(f *testing.F) {
	f.Add([]byte("version = 1\n[urls]\n\"" + strings.Repeat("ab", 32) + "\" = [\"https://example.invalid/x\"]\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		l, err := ParseLinks(data)
		if err != nil {
			return
		}
		for h, urls := range l.URLs {
			if !IsSHA256Hex(h) || len(urls) == 0 {
				t.Fatalf("accepted %q with %d URLs", h, len(urls))
			}
		}
	})
}
