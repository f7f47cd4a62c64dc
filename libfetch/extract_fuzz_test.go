package libfetch

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// FuzzExtract feeds arbitrary bytes as zip and tgz archives: extraction may
// fail, but never panics and never creates anything outside its directory.
func FuzzExtract(f *testing.F) {
	f.Add(Zip(f, []Member{{Name: "rt/lib/a.so", Data: []byte("x")}, {Name: "rt/lib/b.so", Link: "a.so"}}), true)
	f.Add(Tgz(f, []Member{{Name: "rt/lib/a.so", Data: []byte("x")}, {Name: "rt/../../escape", Data: []byte("x")}}), false)
	f.Add(Tgz(f, []Member{{Name: "rt/lib/l", Link: "../../../etc"}}), true)
	f.Add([]byte("PK\x03\x04 not really"), false)
	f.Fuzz(func(t *testing.T, data []byte, strip bool) {
		root := t.TempDir()
		dir := filepath.Join(root, "in")
		archive := filepath.Join(root, "archive")
		if err := os.WriteFile(archive, data, 0o644); err != nil {
			t.Fatal(err)
		}
		kind := "tgz"
		if bytes.HasPrefix(data, []byte("PK")) {
			kind = "zip"
		}
		prefix := ""
		if strip {
			prefix = "rt"
		}
		_ = extract(archive, kind, dir, stripMap(prefix), 1<<20)
		entries, err := os.ReadDir(root)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range entries {
			if e.Name() != "in" && e.Name() != "archive" {
				t.Fatalf("extraction created %s outside its directory", e.Name())
			}
		}
		filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
			if err != nil || d.Type()&os.ModeSymlink == 0 {
				return nil
			}
			target, _ := os.Readlink(p)
			resolved := filepath.Join(filepath.Dir(p), target)
			if rel, err := filepath.Rel(dir, resolved); err != nil || strings.HasPrefix(rel, "..") || filepath.IsAbs(target) {
				t.Fatalf("symlink %s -> %s leaves the directory", p, target)
			}
			return nil
		})
	})
}
