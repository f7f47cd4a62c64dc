package libfetch

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/schollz/progressbar/v3"
)

// FetchOptions say how a runtime may be downloaded. The zero value is the
// safe default; OptionsFromEnv fills it from the environment.
type FetchOptions struct {
	// SHA256 is a digest the caller vouches for: the archive must match it,
	// and with it an entry the release table does not verify is accepted.
	SHA256 string
	// AllowUnverified accepts an archive without any known digest.
	AllowUnverified bool
	// Offline forbids network access: a runtime not already installed is
	// an ErrOffline error naming it.
	Offline bool
	// MaxBytes caps one download (default 4 GiB) and, times four, what its
	// extraction may write.
	MaxBytes int64
	// StallTimeout aborts a transfer that receives nothing for this long
	// (default 60s).
	StallTimeout time.Duration
	// Progress, when set, shows a progress bar there (the CLI passes stderr
	// when it is a terminal).
	Progress io.Writer

	// index is the package index a fetch resolved once (PackageIndex),
	// whose trust settings its requests use; nil before, or when none
	// could be had (indexErr says why).
	index    *Index
	indexErr error
}

// withIndex resolves the package index once for a fetch.
func (o FetchOptions) withIndex(ctx context.Context) FetchOptions {
	if o.index != nil || o.indexErr != nil {
		return o
	}
	idx, err := PackageIndex(ctx)
	if err != nil {
		o.indexErr = err
		return o
	}
	o.index = &idx
	return o
}

const (
	defaultMaxBytes     = 4 << 30
	defaultStallTimeout = 60 * time.Second
)

// OptionsFromEnv reads CARTON_RUNTIME_SHA256, CARTON_ALLOW_UNVERIFIED=1,
// CARTON_OFFLINE=1, CARTON_DOWNLOAD_MAX_BYTES and
// CARTON_DOWNLOAD_STALL_TIMEOUT (a Go duration).
func OptionsFromEnv() (FetchOptions, error) {
	o := FetchOptions{
		SHA256:          strings.ToLower(strings.TrimSpace(os.Getenv("CARTON_RUNTIME_SHA256"))),
		AllowUnverified: os.Getenv("CARTON_ALLOW_UNVERIFIED") == "1",
		Offline:         os.Getenv("CARTON_OFFLINE") == "1",
	}
	if o.SHA256 != "" && !sha256Hex.MatchString(o.SHA256) {
		return o, fmt.Errorf("$CARTON_RUNTIME_SHA256 %q: want 64 hex digits", o.SHA256)
	}
	if v := os.Getenv("CARTON_DOWNLOAD_MAX_BYTES"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n <= 0 {
			return o, fmt.Errorf("$CARTON_DOWNLOAD_MAX_BYTES %q: want a positive byte count", v)
		}
		o.MaxBytes = n
	}
	if v := os.Getenv("CARTON_DOWNLOAD_STALL_TIMEOUT"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			return o, fmt.Errorf("$CARTON_DOWNLOAD_STALL_TIMEOUT %q: want a duration like 30s", v)
		}
		o.StallTimeout = d
	}
	return o, nil
}

func (o FetchOptions) maxBytes() int64 {
	if o.MaxBytes > 0 {
		return o.MaxBytes
	}
	return defaultMaxBytes
}

func (o FetchOptions) stallTimeout() time.Duration {
	if o.StallTimeout > 0 {
		return o.StallTimeout
	}
	return defaultStallTimeout
}

// checkURL allows https anywhere and plain http to loopback hosts only.
func checkURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return fmt.Errorf("url %q: %w", raw, err)
	}
	switch {
	case u.Scheme == "https" && u.Host != "":
		return nil
	case u.Scheme == "http" && isLoopback(u.Hostname()):
		return nil
	}
	return fmt.Errorf("url %q: only https (or http to a loopback address) is allowed", raw)
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// httpClient honours the proxy environment variables (or the package
// index's proxy, as pip's), trusts the index's CA bundle besides the
// system's, follows at most ten redirects and refuses any that leave
// https (or loopback http).
func httpClient(o FetchOptions) (*http.Client, error) {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.Proxy = http.ProxyFromEnvironment
	tr.ResponseHeaderTimeout = o.stallTimeout()
	if o.index != nil {
		if err := o.index.transport(tr); err != nil {
			return nil, err
		}
	}
	return &http.Client{
		Transport: tr,
		CheckRedirect: func(req *http.Request, via []*http.Request) error {
			if len(via) >= 10 {
				return errors.New("more than 10 redirects")
			}
			if err := checkURL(req.URL.String()); err != nil {
				return fmt.Errorf("refused redirect: %w", err)
			}
			return nil
		},
	}, nil
}

// download streams url into dst, hashing as it goes, and returns the
// sha256 (hex) and the byte count. When want is set a mismatch is ErrDigest.
func download(ctx context.Context, rawURL string, dst io.Writer, want string, o FetchOptions) (string, int64, error) {
	if err := checkURL(rawURL); err != nil {
		return "", 0, fmt.Errorf("%w: %v", ErrDownload, err)
	}
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, rawURL, nil)
	if err != nil {
		return "", 0, fmt.Errorf("%w: %v", ErrDownload, err)
	}
	req.Header.Set("User-Agent", "carton-libfetch")
	stall := o.stallTimeout()
	client, err := httpClient(o)
	if err != nil {
		return "", 0, fmt.Errorf("%w: %v", ErrDownload, err)
	}
	resp, err := client.Do(req)
	if err != nil {
		return "", 0, fmt.Errorf("%w: GET %s: %v", ErrDownload, rawURL, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return "", 0, fmt.Errorf("%w: GET %s: %s", ErrDownload, rawURL, resp.Status)
	}
	limit := o.maxBytes()
	if resp.ContentLength > limit {
		return "", 0, fmt.Errorf("%w: GET %s: %d bytes is over the %d-byte cap (CARTON_DOWNLOAD_MAX_BYTES)", ErrDownload, rawURL, resp.ContentLength, limit)
	}
	// A watchdog cancels the request when no bytes arrive for stall.
	errStalled := fmt.Errorf("no data for %v", stall)
	watchdog := time.AfterFunc(stall, func() { cancel(errStalled) })
	defer watchdog.Stop()
	h := sha256.New()
	var w io.Writer = io.MultiWriter(dst, h)
	if o.Progress != nil {
		bar := progressbar.NewOptions64(resp.ContentLength,
			progressbar.OptionSetWriter(o.Progress), progressbar.OptionShowBytes(true),
			progressbar.OptionSetDescription(shortName(rawURL)), progressbar.OptionThrottle(100*time.Millisecond),
			progressbar.OptionOnCompletion(func() { fmt.Fprintln(o.Progress) }))
		defer bar.Close()
		w = io.MultiWriter(w, bar)
	}
	var n int64
	buf := make([]byte, 256<<10)
	for {
		k, rerr := resp.Body.Read(buf)
		if k > 0 {
			watchdog.Reset(stall)
			n += int64(k)
			if n > limit {
				return "", n, fmt.Errorf("%w: GET %s: over the %d-byte cap (CARTON_DOWNLOAD_MAX_BYTES)", ErrDownload, rawURL, limit)
			}
			if _, werr := w.Write(buf[:k]); werr != nil {
				return "", n, werr
			}
		}
		if rerr == io.EOF {
			break
		}
		if rerr != nil {
			if cause := context.Cause(ctx); cause != nil {
				rerr = cause
			}
			return "", n, fmt.Errorf("%w: GET %s: after %d bytes: %v", ErrDownload, rawURL, n, rerr)
		}
	}
	if resp.ContentLength >= 0 && n != resp.ContentLength {
		return "", n, fmt.Errorf("%w: GET %s: truncated: %d of %d bytes", ErrDownload, rawURL, n, resp.ContentLength)
	}
	got := hex.EncodeToString(h.Sum(nil))
	if want != "" && got != want {
		return got, n, fmt.Errorf("%w: GET %s: sha256 %s, want %s", ErrDigest, rawURL, got, want)
	}
	return got, n, nil
}

func shortName(rawURL string) string {
	if u, err := url.Parse(rawURL); err == nil {
		if i := strings.LastIndex(u.Path, "/"); i >= 0 {
			return u.Path[i+1:]
		}
	}
	return rawURL
}
