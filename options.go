package carton

import (
	"context"
	"fmt"
	"math"
	"reflect"
	"strconv"
	"strings"

	"github.com/carton-run/carton/format"
	"github.com/carton-run/carton/libfetch"
)

// Option configures Load. Options are immutable values; Load validates them.
type Option func(*loadOptions)

type loadOptions struct {
	cacheDir    string
	runnerOpts  map[string]any
	runtimePath string
	pin         string
	device      string
	limits      format.Limits
	fetch       *libfetch.FetchOptions // nil: libfetch.OptionsFromEnv()
}

// WithCacheDir sets where packed cartons are extracted (default: the
// CARTON_CACHE_DIR environment variable, else the user cache dir + "/carton").
func WithCacheDir(dir string) Option { return func(o *loadOptions) { o.cacheDir = dir } }

// WithRunnerOpt overrides one [runner.opts] value. value must be an integer
// of any Go integer type (int64 for runners), a float, a string or a bool.
func WithRunnerOpt(key string, value any) Option {
	return func(o *loadOptions) {
		if o.runnerOpts == nil {
			o.runnerOpts = map[string]any{}
		}
		o.runnerOpts[key] = value
	}
}

// WithRuntimePath names the framework library or directory to use, ahead of
// any discovery.
func WithRuntimePath(path string) Option { return func(o *loadOptions) { o.runtimePath = path } }

// WithFrameworkVersion narrows the runtimes Load may choose: an exact
// version ("2.15.0") pins one, a shorter one ("1.13") any of its patch
// releases, a requirement with an operator
// ("^2", ">=1.13, <2") must hold beside the carton's own. Either way the
// carton's requirement still applies, and the newest runtime that
// matches both is chosen (or downloaded).
func WithFrameworkVersion(version string) Option { return func(o *loadOptions) { o.pin = version } }

// WithDevice selects "cpu" (default) or "cuda:N" for runners that support it.
func WithDevice(device string) Option { return func(o *loadOptions) { o.device = device } }

// WithFetchOptions says how Load may download a runtime when none installed
// satisfies the carton (digest, unverified opt-in, offline, caps, progress).
// Offline also stops Load fetching the files a carton's LINKS point to
// (ErrOffline).
// Without it, libfetch.OptionsFromEnv applies (CARTON_OFFLINE=1 and friends).
func WithFetchOptions(f libfetch.FetchOptions) Option {
	return func(o *loadOptions) { o.fetch = &f }
}

// WithLimits overrides the archive safety limits (zero fields keep defaults).
func WithLimits(l format.Limits) Option { return func(o *loadOptions) { o.limits = l } }

// openOptions are the format options Load opens a carton with: the
// limits, and no download of linked files when downloads are forbidden.
func (o loadOptions) openOptions(ctx context.Context) format.OpenOptions {
	return format.OpenOptions{Limits: o.limits, Fetcher: format.Fetcher{Offline: o.fetch.Offline}, Context: ctx}
}

func buildOptions(opts []Option) (loadOptions, error) {
	return buildOptionsFor(opts, needs{cache: true, downloads: true})
}

// needs says what of the environment a call uses: ModelInfo and Verify do
// without the cache (a missing default cache dir leaves it empty), and
// ModelInfo of a file without download settings (those of the
// environment are then not read, so a malformed one does not fail it).
type needs struct{ cache, downloads bool }

func buildOptionsFor(opts []Option, n needs) (loadOptions, error) {
	o := loadOptions{device: "cpu"}
	for _, opt := range opts {
		opt(&o)
	}
	for k, v := range o.runnerOpts {
		norm, ok := normalizeOpt(v)
		if !ok {
			return o, fmt.Errorf("%w: runner option %s: %v (%T) is not an integer, float, string or bool", ErrInvalidOption, k, v, v)
		}
		o.runnerOpts[k] = norm
	}
	if !validDevice(o.device) {
		return o, fmt.Errorf("%w: device %q (want cpu or cuda:N)", ErrInvalidOption, o.device)
	}
	if o.fetch == nil && !n.downloads {
		o.fetch = &libfetch.FetchOptions{}
	}
	if o.fetch == nil {
		f, err := libfetch.OptionsFromEnv()
		if err != nil {
			return o, fmt.Errorf("%w: %w", ErrInvalidOption, err)
		}
		o.fetch = &f
	}
	if o.cacheDir == "" {
		dir, err := DefaultCacheDir()
		if err != nil && n.cache {
			return o, err
		}
		o.cacheDir = dir
	}
	return o, nil
}

// DefaultCacheDir is $CARTON_CACHE_DIR, else <user cache dir>/carton.
func DefaultCacheDir() (string, error) { return libfetch.CacheDir() }

// normalizeOpt converts a runner option value to the types carton.toml
// decodes to (int64, float64, string, bool), as runners expect.
func normalizeOpt(v any) (any, bool) {
	switch rv := reflect.ValueOf(v); rv.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return rv.Int(), true
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return int64(rv.Uint()), rv.Uint() <= math.MaxInt64
	case reflect.Float32, reflect.Float64:
		return rv.Float(), true
	case reflect.String:
		return rv.String(), true
	case reflect.Bool:
		return rv.Bool(), true
	}
	return nil, false
}

// validDevice accepts "cpu" and "cuda:N".
func validDevice(d string) bool {
	if d == "cpu" {
		return true
	}
	n, ok := strings.CutPrefix(d, "cuda:")
	if !ok || n == "" || (len(n) > 1 && n[0] == '0') {
		return false
	}
	_, err := strconv.ParseUint(n, 10, 31)
	return err == nil
}
