package format

import (
	"archive/zip"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"io/fs"
	"os"
	"slices"
	"sort"
	"strings"

	"github.com/BurntSushi/toml"
	"github.com/klauspost/compress/zstd"
)

// Entry is one file to write into a carton. Exactly one of Data, File,
// Symlink and Linked is set.
type Entry struct {
	Name    string // slash-separated path inside the carton
	Data    []byte // contents in memory
	File    string // contents streamed from this path on disk
	Symlink string // a relative symlink target, resolved against Name's directory
	// Linked is the sha256 (hex) of a file left out of the zip: MANIFEST
	// lists it, and LINKS (Write's links) must give URLs to fetch it from.
	Linked string
}

// Write writes a carton to w: carton.toml from cfg, then entries, all sorted
// by name and zstd-compressed with zeroed timestamps, then MANIFEST and (if
// links is not nil) LINKS, Stored. It returns the manifest hash. The same
// config and entry contents always give the same bytes.
//
// A nil cfg takes carton.toml from entries as it is (it must parse), so a
// carton rewritten with its own carton.toml keeps its MANIFEST and so its
// identity.
func Write(w io.Writer, cfg *Config, entries []Entry, links *Links) (string, error) {
	all := slices.Clone(entries) // sorted below; the caller's order stays
	if cfg != nil {
		tomlBytes, err := cfg.Marshal()
		if err != nil {
			return "", err
		}
		all = append(all, Entry{Name: "carton.toml", Data: tomlBytes})
	} else if i := slices.IndexFunc(all, func(e Entry) bool { return e.Name == "carton.toml" }); i < 0 {
		return "", fmt.Errorf("%w: no carton.toml among the entries", ErrMalformed)
	} else if _, err := ParseConfig(all[i].Data); err != nil {
		return "", err
	}
	sort.Slice(all, func(i, j int) bool { return all[i].Name < all[j].Name })
	seen := map[string]bool{}
	t := &tree{files: map[string]int64{}, links: map[string]string{}}
	for _, e := range all {
		if err := checkEntryName(e.Name); err != nil {
			return "", err
		}
		if e.Name == "MANIFEST" || e.Name == "LINKS" || seen[e.Name] {
			return "", fmt.Errorf("%w: entry %q is reserved or duplicated", ErrMalformed, e.Name)
		}
		seen[e.Name] = true
		if e.Linked != "" {
			if !IsSHA256Hex(e.Linked) || links == nil || len(links.URLs[e.Linked]) == 0 {
				return "", &FileError{Path: e.Name, Err: fmt.Errorf("%w: a linked file needs a sha256 that LINKS gives URLs for", ErrMalformed)}
			}
			t.files[e.Name] = 0
		} else if e.Symlink != "" {
			target, err := resolveLink(e.Name, e.Symlink)
			if err != nil {
				return "", err
			}
			t.links[e.Name] = target
		} else {
			t.files[e.Name] = 0
		}
	}
	if err := checkLinks(t); err != nil {
		return "", err
	}

	zw := zip.NewWriter(w)
	zw.RegisterCompressor(zipMethodZstd, func(w io.Writer) (io.WriteCloser, error) {
		// One encoder goroutine keeps the output identical run to run.
		return zstd.NewWriter(w, zstd.WithEncoderConcurrency(1), zstd.WithEncoderLevel(zstd.SpeedDefault))
	})
	hashes := map[string]string{}
	for _, e := range all {
		if e.Linked != "" {
			hashes[e.Name] = e.Linked
			continue
		}
		h, err := writeEntry(zw, e)
		if err != nil {
			return "", &FileError{Path: e.Name, Err: err}
		}
		if e.Symlink == "" {
			hashes[e.Name] = h
		}
	}
	// A symlink's MANIFEST line carries the hash of what it resolves to; a
	// link to a directory has no line of its own.
	for link := range t.links {
		if resolved, err := t.resolve(link); err == nil {
			hashes[link] = hashes[resolved]
		}
	}
	m, err := NewManifest(hashes)
	if err != nil {
		return "", err
	}
	mb := m.Bytes()
	if err := writeStored(zw, "MANIFEST", mb); err != nil {
		return "", err
	}
	if links != nil {
		var buf strings.Builder
		if err := toml.NewEncoder(&buf).Encode(links); err != nil {
			return "", err
		}
		if err := writeStored(zw, "LINKS", []byte(buf.String())); err != nil {
			return "", err
		}
	}
	if err := zw.Close(); err != nil {
		return "", err
	}
	return SHA256(mb), nil
}

func writeEntry(zw *zip.Writer, e Entry) (string, error) {
	hdr := &zip.FileHeader{Name: e.Name, Method: zipMethodZstd}
	if e.Symlink != "" {
		hdr.SetMode(fs.ModeSymlink | 0o777)
		w, err := zw.CreateHeader(hdr)
		if err != nil {
			return "", err
		}
		_, err = io.WriteString(w, e.Symlink)
		return "", err
	}
	hdr.SetMode(0o644)
	w, err := zw.CreateHeader(hdr)
	if err != nil {
		return "", err
	}
	h := sha256.New()
	mw := io.MultiWriter(h, w)
	if e.File != "" {
		f, err := os.Open(e.File)
		if err != nil {
			return "", err
		}
		defer f.Close()
		if _, err := io.Copy(mw, f); err != nil {
			return "", err
		}
	} else if _, err := mw.Write(e.Data); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

func writeStored(zw *zip.Writer, name string, data []byte) error {
	hdr := &zip.FileHeader{Name: name, Method: zip.Store}
	hdr.SetMode(0o644)
	w, err := zw.CreateHeader(hdr)
	if err != nil {
		return err
	}
	_, err = w.Write(data)
	return err
}
