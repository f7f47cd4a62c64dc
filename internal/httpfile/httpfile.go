package httpfile

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

var (
	// ErrChanged: the file on the server changed between two reads.
	ErrChanged = errors.New("remote file changed while it was being read")
	// ErrStalled: the server sent nothing for Options.StallTimeout.
	ErrStalled = errors.New("remote file: no data received")
)

// Options tune Open. The zero value is ready to use.
type Options struct {
	Client       *http.Client  // nil: http.DefaultClient
	StallTimeout time.Duration // a read receiving nothing this long fails; default 60s
	TailBytes    int64         // read at Open; default 1 MiB
	TempDir      string        // for a server that ignores ranges; default os.TempDir()
	MaxBytes     int64         // a larger file is refused (ErrTooLarge); 0: no limit
}

// ErrTooLarge: the file is larger than Options.MaxBytes.
var ErrTooLarge = errors.New("remote file too large")

const (
	defaultStall = 60 * time.Second
	defaultTail  = 1 << 20
	maxStreams   = 4         // open responses kept for reads to continue
	maxSkip      = 256 << 10 // a read this far past a stream skips ahead in it
	minWindow    = 64 << 10  // what a range request asks for at least,
	maxWindow    = 64 << 20  // and at most, doubling as reads go on in order
)

// File is a remote file read through range requests.
type File struct {
	url     string
	shown   string // url, redacted
	client  *http.Client
	stall   time.Duration
	size    int64
	etag    string // a strong ETag, for If-Match
	lastMod string
	tail    []byte // the file's last bytes, from tailOff
	tailOff int64
	local   *os.File // the whole file, when the server ignores ranges

	interrupts atomic.Int64 // Interrupt calls, so that a read it failed is not retried

	mu         sync.Mutex
	base       context.Context // every range request's; Interrupt cancels it and starts another
	cancelBase context.CancelFunc
	idle       []*stream // streams no read is using, least recently used first
	lastEnd    int64     // where the last stream read to its end stopped,
	lastWindow int64     // and how much it asked for: a read going on from there asks for twice that
	closed     bool
}

// Open reads the end of the file at url and returns a File for the rest.
// A 404 or 410 answer wraps fs.ErrNotExist.
func Open(ctx context.Context, rawURL string, opts Options) (*File, error) {
	f := &File{url: rawURL, shown: Redact(rawURL), client: opts.Client, stall: opts.StallTimeout, lastEnd: -1}
	f.base, f.cancelBase = context.WithCancel(context.Background())
	if err := f.open(ctx, opts); err != nil {
		f.cancelBase()
		return nil, err
	}
	return f, nil
}

func (f *File) open(ctx context.Context, opts Options) error {
	if f.client == nil {
		f.client = http.DefaultClient
	}
	if f.stall <= 0 {
		f.stall = defaultStall
	}
	tail := opts.TailBytes
	if tail <= 0 {
		tail = defaultTail
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	req, err := f.request(ctx, fmt.Sprintf("bytes=-%d", tail))
	if err != nil {
		return err
	}
	resp, err := f.do(req, cancel)
	if err != nil {
		return fmt.Errorf("GET %s: %w", f.shown, err)
	}
	defer resp.Body.Close()
	body := newStallReader(resp.Body, f.stall, cancel)
	defer body.stop()
	switch resp.StatusCode {
	case http.StatusPartialContent:
		start, _, total, err := contentRange(resp.Header.Get("Content-Range"))
		if err != nil {
			return fmt.Errorf("GET %s: %w", f.shown, err)
		}
		if opts.MaxBytes > 0 && total > opts.MaxBytes {
			return fmt.Errorf("GET %s: %w: %d bytes (at most %d)", f.shown, ErrTooLarge, total, opts.MaxBytes)
		}
		if f.tail, err = io.ReadAll(io.LimitReader(body, tail+1)); err != nil {
			return body.explain(fmt.Errorf("GET %s: %w", f.shown, err))
		}
		if int64(len(f.tail)) > tail || start+int64(len(f.tail)) != total {
			return fmt.Errorf("GET %s: asked for the last %d bytes of %d, got %d from byte %d", f.shown, tail, total, len(f.tail), start)
		}
		f.size, f.tailOff = total, start
		if etag := resp.Header.Get("ETag"); etag != "" && !strings.HasPrefix(etag, "W/") {
			f.etag = etag
		}
		f.lastMod = resp.Header.Get("Last-Modified")
		return nil
	case http.StatusRequestedRangeNotSatisfiable: // an empty file
		return nil
	case http.StatusOK:
		return f.copyWhole(body, opts.TempDir, opts.MaxBytes)
	case http.StatusNotFound, http.StatusGone:
		return fmt.Errorf("GET %s: HTTP %s: %w", f.shown, resp.Status, fs.ErrNotExist)
	}
	return fmt.Errorf("GET %s: HTTP %s", f.shown, resp.Status)
}

// copyWhole keeps the whole answer of a server that ignores ranges.
func (f *File) copyWhole(body *stallReader, dir string, maxBytes int64) error {
	tmp, err := os.CreateTemp(dir, "carton-remote-*")
	if err != nil {
		return err
	}
	os.Remove(tmp.Name()) // unlinked: the open file is all there is, gone at Close
	var src io.Reader = body
	if maxBytes > 0 {
		src = io.LimitReader(body, maxBytes+1)
	}
	n, err := io.Copy(tmp, src)
	if err == nil && maxBytes > 0 && n > maxBytes {
		err = fmt.Errorf("%w: more than %d bytes", ErrTooLarge, maxBytes)
	}
	if err != nil {
		tmp.Close()
		return body.explain(fmt.Errorf("GET %s: %w", f.shown, err))
	}
	f.local, f.size = tmp, n
	return nil
}

// Size is the file's size in bytes.
func (f *File) Size() int64 { return f.size }

// URL is where the file is read from, as Redact shows it.
func (f *File) URL() string { return f.shown }

// Redact returns a URL fit for messages and logs: without a password or a
// query (where a pre-signed URL carries its signature).
func Redact(rawURL string) string {
	u, err := url.Parse(rawURL)
	if err != nil {
		return "(an unparsable URL)"
	}
	if u.RawQuery != "" || u.ForceQuery {
		u.RawQuery, u.ForceQuery = "REDACTED", false
	}
	return u.Redacted()
}

// ReadAt implements io.ReaderAt.
func (f *File) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, fmt.Errorf("httpfile: negative offset %d", off)
	}
	if off >= f.size {
		return 0, io.EOF
	}
	var eof error
	if rest := f.size - off; int64(len(p)) > rest {
		p, eof = p[:rest], io.EOF
	}
	if f.local != nil {
		n, err := f.local.ReadAt(p, off)
		if err == nil {
			err = eof
		}
		return n, err
	}
	if off >= f.tailOff {
		return copy(p, f.tail[off-f.tailOff:]), eof
	}
	// The part before the tail from the network, the rest from memory.
	total := len(p)
	remote := p[:min(int64(len(p)), f.tailOff-off)]
	copy(p[len(remote):], f.tail)
	p = remote
	gen := f.interrupts.Load()
	read, err := f.readRange(p, off)
	if err != nil && f.interrupts.Load() != gen {
		return 0, fmt.Errorf("%w: %w", errInterrupted, err)
	}
	if err != nil && !errors.Is(err, ErrChanged) && !errors.Is(err, ErrStalled) && !errors.Is(err, errClosed) {
		_, err = f.readRange(p[read:], off+int64(read)) // once more, on a new connection: one may have dropped
	}
	if err != nil {
		return 0, err
	}
	return total, eof
}

var (
	errClosed      = errors.New("httpfile: file closed")
	errInterrupted = errors.New("httpfile: read interrupted")
)

// Interrupt fails the reads in progress and closes the idle streams; the
// File stays usable.
func (f *File) Interrupt() {
	f.interrupts.Add(1)
	f.mu.Lock()
	defer f.mu.Unlock()
	f.cancelBase()
	f.base, f.cancelBase = context.WithCancel(context.Background())
	for _, s := range f.idle {
		s.close()
	}
	f.idle = nil
}

// Close releases the open responses and any temporary copy.
func (f *File) Close() error {
	f.Interrupt()
	f.mu.Lock()
	f.closed = true
	f.cancelBase()
	f.mu.Unlock()
	if f.local != nil {
		return f.local.Close()
	}
	return nil
}

func (f *File) request(ctx context.Context, rng string) (*http.Request, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, f.url, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Range", rng)
	// Byte offsets are offsets into the file, not into a compressed answer.
	req.Header.Set("Accept-Encoding", "identity")
	if f.etag != "" {
		req.Header.Set("If-Match", f.etag)
	} else if f.lastMod != "" {
		req.Header.Set("If-Unmodified-Since", f.lastMod)
	}
	return req, nil
}

// contentRange parses "bytes START-END/TOTAL".
func contentRange(v string) (start, end, total int64, err error) {
	spec, ok := strings.CutPrefix(v, "bytes ")
	rng, size, ok2 := strings.Cut(spec, "/")
	first, last, ok3 := strings.Cut(rng, "-")
	if ok && ok2 && size == "0" { // an empty file (Go's ServeContent says "bytes 0--1/0")
		return 0, -1, 0, nil
	}
	if ok && ok2 && ok3 {
		start, err1 := strconv.ParseInt(first, 10, 64)
		end, err2 := strconv.ParseInt(last, 10, 64)
		total, err3 := strconv.ParseInt(size, 10, 64)
		if err1 == nil && err2 == nil && err3 == nil && 0 <= start && start <= end && end < total {
			return start, end, total, nil
		}
	}
	return 0, 0, 0, fmt.Errorf("unusable Content-Range %q", v)
}
