package format

import (
	"bufio"
	"bytes"
	"compress/flate"
	"compress/gzip"
	"compress/zlib"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"

	"github.com/BurntSushi/toml"
	"github.com/klauspost/compress/zstd"
)

// Links is the LINKS file: where to fetch files that MANIFEST lists but the
// zip leaves out, keyed by their sha256.
type Links struct {
	Version int                 `toml:"version"`
	URLs    map[string][]string `toml:"urls"`
}

// ParseLinks reads LINKS. A document over DefaultLimits' metadata bounds
// is refused with ErrLimit before it is parsed.
func ParseLinks(data []byte) (*Links, error) {
	return parseLinks(data, DefaultLimits)
}

func parseLinks(data []byte, lim Limits) (*Links, error) {
	if err := checkTOML("LINKS", data, lim); err != nil {
		return nil, err
	}
	var l Links
	if _, err := toml.NewDecoder(bytes.NewReader(data)).Decode(&l); err != nil {
		return nil, malformed("LINKS", "%v", err)
	}
	if err := l.Validate(); err != nil {
		return nil, err
	}
	return &l, nil
}

// Validate checks what ParseLinks checks: version 1, sha256 hex keys, and
// at least one http(s) URL for each.
func (l *Links) Validate() error {
	if l.Version != 1 {
		return malformed("LINKS", "version %d is not supported (want 1)", l.Version)
	}
	for h, urls := range l.URLs {
		if !IsSHA256Hex(h) {
			return malformed("LINKS", "%q is not a sha256 hex digest", h)
		}
		if len(urls) == 0 {
			return malformed("LINKS", "no URL for %s", h)
		}
		for _, u := range urls {
			if !strings.HasPrefix(u, "https://") && !strings.HasPrefix(u, "http://") {
				return malformed("LINKS", "URL %q is not http(s)", u)
			}
		}
	}
	return nil
}

// Fetcher downloads linked files. The zero value uses http.DefaultClient.
type Fetcher struct {
	Client *http.Client
	// Offline refuses every download with ErrOffline (CARTON_OFFLINE=1).
	Offline bool
}

// Fetch tries urls in order and streams the first good answer into w while
// hashing it. w must be a temporary destination that the caller discards
// unless Fetch returns nil: a failed download may have written to it.
// When w is an *os.File, a *bytes.Buffer or io.Discard, a try that wrote
// bytes and failed (the wrong bytes, cut short) is undone and the next URL
// tried; any other writer ends the tries there.
func (f Fetcher) Fetch(ctx context.Context, urls []string, wantSHA256 string, maxBytes int64, w io.Writer) error {
	if f.Offline {
		return fmt.Errorf("%w: the file is only reachable through LINKS (%s)", ErrOffline, strings.Join(urls, ", "))
	}
	client := f.Client
	if client == nil {
		client = http.DefaultClient
	}
	var errs []error
	for _, u := range urls {
		err := fetchOne(ctx, client, u, wantSHA256, maxBytes, w)
		if err == nil {
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		errs = append(errs, fmt.Errorf("%s: %w", u, err))
		if errors.Is(err, errPartialWrite) && !restart(w) {
			break // w already holds bytes; the caller must start again
		}
	}
	return errors.Join(errs...)
}

var errPartialWrite = errors.New("download failed after writing")

// restart empties w after a failed try, so the next URL can be tried:
// a mirror serving the wrong bytes should not hide a good one.
func restart(w io.Writer) bool {
	switch w := w.(type) {
	case *os.File:
		if w.Truncate(0) != nil {
			return false
		}
		_, err := w.Seek(0, io.SeekStart)
		return err == nil
	case *bytes.Buffer:
		w.Reset()
		return true
	}
	return w == io.Discard
}

func fetchOne(ctx context.Context, client *http.Client, url, want string, maxBytes int64, w io.Writer) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	req.Header.Set("Accept-Encoding", "zstd, gzip, deflate")
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("HTTP %s", resp.Status)
	}
	body, err := decodeBody(resp.Header.Get("Content-Encoding"), resp.Body)
	if err != nil {
		return err
	}
	defer body.Close()
	h := sha256.New()
	n, err := io.Copy(io.MultiWriter(h, w), io.LimitReader(body, maxBytes+1))
	if err != nil {
		return fmt.Errorf("%w: %v", errPartialWrite, err)
	}
	if n > maxBytes {
		return fmt.Errorf("%w: %w: more than %d bytes", errPartialWrite, ErrLimit, maxBytes)
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != want {
		return fmt.Errorf("%w: %w: got sha256 %s, want %s", errPartialWrite, ErrChecksum, got, want)
	}
	return nil
}

func decodeBody(encoding string, r io.Reader) (io.ReadCloser, error) {
	switch strings.ToLower(strings.TrimSpace(encoding)) {
	case "", "identity":
		return io.NopCloser(r), nil
	case "gzip", "x-gzip":
		return gzip.NewReader(r)
	case "deflate":
		return newDeflateReader(r)
	case "zstd":
		d, err := zstd.NewReader(r, zstd.WithDecoderConcurrency(1))
		if err != nil {
			return nil, err
		}
		return d.IOReadCloser(), nil
	}
	return nil, fmt.Errorf("unsupported Content-Encoding %q", encoding)
}

// newDeflateReader reads HTTP's "deflate" coding, which RFC 9110 defines as
// zlib (RFC 1950) but which many servers send as bare deflate (RFC 1951):
// as browsers do, a valid zlib header picks zlib, anything else bare deflate.
func newDeflateReader(r io.Reader) (io.ReadCloser, error) {
	br := bufio.NewReader(r)
	if h, err := br.Peek(2); err == nil && h[0]&0x0f == 8 && h[0]>>4 <= 7 && (uint16(h[0])<<8|uint16(h[1]))%31 == 0 {
		return zlib.NewReader(br)
	}
	return flate.NewReader(br), nil
}
