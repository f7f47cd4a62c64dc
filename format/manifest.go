package format

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"sort"
	"strings"
)

// Manifest is the MANIFEST file: one sha256 per file of the carton.
type Manifest struct {
	entries map[string]string // path -> lowercase hex sha256
	paths   []string          // sorted
}

// NewManifest builds a manifest from path -> hex sha256.
func NewManifest(entries map[string]string) (*Manifest, error) {
	m := &Manifest{entries: map[string]string{}}
	for p, h := range entries {
		if err := m.add(p, h); err != nil {
			return nil, err
		}
	}
	sort.Strings(m.paths)
	return m, nil
}

func (m *Manifest) add(path, hash string) error {
	if err := checkEntryName(path); err != nil {
		return err
	}
	if path == "MANIFEST" || path == "LINKS" {
		return malformed("MANIFEST", "it must not list %s", path)
	}
	if !IsSHA256Hex(hash) {
		return malformed("MANIFEST", "%q is not a sha256 hex digest for %s", hash, path)
	}
	if _, dup := m.entries[path]; dup {
		return malformed("MANIFEST", "%s is listed twice", path)
	}
	m.entries[path] = hash
	m.paths = append(m.paths, path)
	return nil
}

// IsSHA256Hex reports whether s is a sha256 as MANIFEST and LINKS write
// it: 64 lowercase hex digits.
func IsSHA256Hex(s string) bool {
	if len(s) != 64 {
		return false
	}
	for _, c := range s {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}

// ParseManifest reads MANIFEST: "path=sha256hex" lines, split on the last
// '='. Lines may come in any order; a path may appear once.
//
// One over DefaultLimits' MaxManifestBytes or MaxEntries lines is refused
// with ErrLimit before it is parsed.
func ParseManifest(data []byte) (*Manifest, error) {
	return parseManifest(data, DefaultLimits)
}

func parseManifest(data []byte, lim Limits) (*Manifest, error) {
	if int64(len(data)) > lim.MaxManifestBytes {
		return nil, limitErr("MANIFEST", "%d bytes, more than the %d allowed", len(data), lim.MaxManifestBytes)
	}
	if n := bytes.Count(data, []byte{'\n'}); n > lim.MaxEntries {
		return nil, limitErr("MANIFEST", "%d lines, more than the %d entries allowed", n, lim.MaxEntries)
	}
	m := &Manifest{entries: map[string]string{}}
	text := string(data)
	if text != "" && !strings.HasSuffix(text, "\n") {
		text += "\n" // tolerate a missing trailing newline
	}
	for n, line := range strings.Split(strings.TrimSuffix(text, "\n"), "\n") {
		if text == "" {
			break
		}
		line = strings.TrimSuffix(line, "\r")
		i := strings.LastIndexByte(line, '=')
		if i <= 0 {
			return nil, malformed("MANIFEST", "line %d: want path=sha256, got %q", n+1, line)
		}
		if err := m.add(line[:i], line[i+1:]); err != nil {
			return nil, fmt.Errorf("line %d: %w", n+1, err)
		}
	}
	sort.Strings(m.paths)
	return m, nil
}

// Bytes renders MANIFEST as upstream writes it: byte-sorted lines, trailing newline.
func (m *Manifest) Bytes() []byte {
	var b bytes.Buffer
	for _, p := range m.paths {
		b.WriteString(p)
		b.WriteByte('=')
		b.WriteString(m.entries[p])
		b.WriteByte('\n')
	}
	return b.Bytes()
}

// Paths returns the listed paths, sorted. The caller must not modify it.
func (m *Manifest) Paths() []string { return m.paths }

// Hash returns the sha256 listed for path.
func (m *Manifest) Hash(path string) (string, bool) {
	h, ok := m.entries[path]
	return h, ok
}

// SHA256 hashes bytes as lowercase hex; the manifest hash is SHA256(MANIFEST bytes).
func SHA256(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}
