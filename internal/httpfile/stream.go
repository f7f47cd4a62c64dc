package httpfile

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sync/atomic"
	"time"
)

// stream is a range response read in order: pos is the file offset of its
// next byte, end the offset after its last.
type stream struct {
	ctx    context.Context // its request's: Interrupt cancels it
	body   *stallReader
	closer io.Closer
	pos    int64
	end    int64
	window int64 // end minus where it started
}

func (s *stream) close() {
	s.body.cancel()
	s.body.stop()
	s.closer.Close()
}

// readRange fills p from off, through streams standing at or a little
// before off, or new ones; it returns how much it read.
func (f *File) readRange(p []byte, off int64) (int, error) {
	read := 0
	for read < len(p) {
		s, err := f.takeStream(off, int64(len(p)-read))
		if err != nil {
			return read, err
		}
		if gap := off - s.pos; gap > 0 {
			if _, err := io.CopyN(io.Discard, s.body, gap); err != nil {
				s.close()
				return read, s.body.explain(fmt.Errorf("GET %s: %w", f.shown, err))
			}
		}
		n := int(min(int64(len(p)-read), s.end-off))
		if _, err := io.ReadFull(s.body, p[read:read+n]); err != nil {
			s.close()
			return read, s.body.explain(fmt.Errorf("GET %s: %w", f.shown, err))
		}
		read, off, s.pos = read+n, off+int64(n), off+int64(n)
		f.putBack(s)
	}
	return read, nil
}

// takeStream returns, for this read's use alone, an idle stream that
// stands at most maxSkip before off and holds off, or a new one from off
// asking for at least need bytes.
func (f *File) takeStream(off, need int64) (*stream, error) {
	f.mu.Lock()
	if f.closed {
		f.mu.Unlock()
		return nil, errClosed
	}
	for i := len(f.idle) - 1; i >= 0; i-- {
		if s := f.idle[i]; s.pos <= off && off-s.pos <= maxSkip && off < s.end {
			f.idle = append(f.idle[:i], f.idle[i+1:]...)
			f.mu.Unlock()
			return s, nil
		}
	}
	window := int64(minWindow)
	if off == f.lastEnd { // reading on in order: ask for more each time
		window = min(2*f.lastWindow, maxWindow)
	}
	window = max(window, need)
	base := f.base
	f.mu.Unlock()
	return f.openStream(base, off, min(off+window, f.tailOff)) // the tail is in memory
}

func (f *File) openStream(base context.Context, off, end int64) (*stream, error) {
	ctx, cancel := context.WithCancel(base)
	req, err := f.request(ctx, fmt.Sprintf("bytes=%d-%d", off, end-1))
	if err != nil {
		cancel()
		return nil, err
	}
	resp, err := f.do(req, cancel)
	if err != nil {
		return nil, fmt.Errorf("GET %s (bytes %d-%d): %w", f.shown, off, end-1, err)
	}
	fail := func(err error) (*stream, error) {
		resp.Body.Close()
		cancel()
		return nil, fmt.Errorf("GET %s (bytes %d-%d): %w", f.shown, off, end-1, err)
	}
	switch resp.StatusCode {
	case http.StatusPartialContent:
	case http.StatusPreconditionFailed:
		return fail(ErrChanged)
	case http.StatusOK:
		return fail(fmt.Errorf("%w: the server stopped answering range requests", ErrChanged))
	default:
		return fail(fmt.Errorf("HTTP %s", resp.Status))
	}
	start, last, total, err := contentRange(resp.Header.Get("Content-Range"))
	if err != nil {
		return fail(err)
	}
	if total != f.size {
		return fail(fmt.Errorf("%w: %d bytes, was %d", ErrChanged, total, f.size))
	}
	if start != off || last >= end || last < off {
		return fail(fmt.Errorf("got bytes %d-%d", start, last))
	}
	return &stream{ctx: ctx, body: newStallReader(resp.Body, f.stall, cancel), closer: resp.Body, pos: off, end: last + 1, window: end - off}, nil
}

// do sends req, cancelling it when no answer comes within the stall
// timeout.
func (f *File) do(req *http.Request, cancel context.CancelFunc) (*http.Response, error) {
	var stalled atomic.Bool
	timer := time.AfterFunc(f.stall, func() { stalled.Store(true); cancel() })
	resp, err := f.client.Do(req)
	timer.Stop()
	if ue := (*url.Error)(nil); errors.As(err, &ue) {
		err = ue.Err // its message repeats the whole URL, query and all
	}
	if err != nil {
		cancel()
		if stalled.Load() {
			return nil, fmt.Errorf("%w for %v: %w", ErrStalled, f.stall, err)
		}
		return nil, err
	}
	return resp, nil
}

// putBack makes s available to later reads, or closes it when it is read
// to its end (remembering where, so that the next read asks for more) or
// was interrupted; beyond maxStreams the least recently used is closed.
func (f *File) putBack(s *stream) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if s.pos == s.end {
		f.lastEnd, f.lastWindow = s.end, s.window
		s.close()
		return
	}
	if f.closed || s.ctx.Err() != nil { // interrupted meanwhile
		s.close()
		return
	}
	f.idle = append(f.idle, s)
	if len(f.idle) > maxStreams {
		f.idle[0].close()
		f.idle = f.idle[1:]
	}
}

// stallReader cancels its request when a Read waits longer than d.
type stallReader struct {
	r       io.Reader
	d       time.Duration
	cancel  context.CancelFunc
	timer   *time.Timer // stopped between Reads
	stalled atomic.Bool
}

func newStallReader(r io.Reader, d time.Duration, cancel context.CancelFunc) *stallReader {
	s := &stallReader{r: r, d: d, cancel: cancel}
	s.timer = time.AfterFunc(d, func() { s.stalled.Store(true); cancel() })
	s.timer.Stop()
	return s
}

func (s *stallReader) Read(p []byte) (int, error) {
	s.timer.Reset(s.d)
	n, err := s.r.Read(p)
	s.timer.Stop()
	return n, err
}

func (s *stallReader) stop() { s.timer.Stop() }

// explain names a stall as such rather than as a cancelled request.
func (s *stallReader) explain(err error) error {
	if s.stalled.Load() {
		return fmt.Errorf("%w for %v: %w", ErrStalled, s.d, err)
	}
	return err
}
