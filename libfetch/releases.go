package libfetch

import (
	_ "embed"
	"fmt"
	"net/url"
	"os"
	"path"
	"regexp"
	"runtime"
	"strings"

	"github.com/BurntSushi/toml"

	"github.com/carton-run/carton/internal/semver"
)

//go:embed releases.toml
var embeddedReleases []byte

// Release is one vendor archive of a framework runtime.
type Release struct {
	Framework Framework `toml:"framework"`
	Version   string    `toml:"version"`
	Platform  string    `toml:"platform"` // GOOS/GOARCH
	URL       string    `toml:"url"`
	SHA256    string    `toml:"sha256"` // "" when not verified
	Strip     string    `toml:"strip"`  // leading directory removed on extraction
}

// Platform is this process's GOOS/GOARCH, the platform of runtimes it fetches.
func Platform() string { return runtime.GOOS + "/" + runtime.GOARCH }

// Releases returns the release table: the embedded one, with the entries of
// the TOML file named by $CARTON_RELEASE_TABLE taking precedence for the
// same framework, version and platform.
func Releases() ([]Release, error) {
	base, err := parseReleases(embeddedReleases, "the embedded release table")
	if err != nil {
		return nil, err
	}
	extraPath := os.Getenv("CARTON_RELEASE_TABLE")
	if extraPath == "" {
		return base, nil
	}
	b, err := os.ReadFile(extraPath)
	if err != nil {
		return nil, fmt.Errorf("$CARTON_RELEASE_TABLE: %w", err)
	}
	extra, err := parseReleases(b, extraPath)
	if err != nil {
		return nil, err
	}
	key := func(r Release) string { return string(r.Framework) + " " + r.Version + " " + r.Platform }
	seen := map[string]bool{}
	for _, r := range extra {
		seen[key(r)] = true
	}
	out := extra
	for _, r := range base {
		if !seen[key(r)] {
			out = append(out, r)
		}
	}
	return out, nil
}

var sha256Hex = regexp.MustCompile(`^[0-9a-f]{64}$`)

func parseReleases(b []byte, what string) ([]Release, error) {
	var table struct {
		Release []Release `toml:"release"`
	}
	if _, err := toml.Decode(string(b), &table); err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	for i, r := range table.Release {
		if err := r.validate(); err != nil {
			return nil, fmt.Errorf("%s: release %d: %w", what, i+1, err)
		}
	}
	return table.Release, nil
}

func (r Release) validate() error {
	switch r.Framework {
	case ONNXRuntime, LibTorch, TensorFlow:
	default:
		return fmt.Errorf("unknown framework %q", r.Framework)
	}
	if _, err := semver.Parse(r.Version); err != nil {
		return fmt.Errorf("version %q: %w", r.Version, err)
	}
	if goos, goarch, ok := strings.Cut(r.Platform, "/"); !ok || goos == "" || goarch == "" {
		return fmt.Errorf("platform %q: want GOOS/GOARCH", r.Platform)
	}
	if err := checkURL(r.URL); err != nil {
		return err
	}
	if archiveKind(r.URL) == "" {
		return fmt.Errorf("url %q: not a .zip, .whl, .tgz or .tar.gz archive", r.URL)
	}
	if r.SHA256 != "" && !sha256Hex.MatchString(r.SHA256) {
		return fmt.Errorf("sha256 %q: want 64 lowercase hex digits", r.SHA256)
	}
	if r.Strip != "" && (path.IsAbs(r.Strip) || path.Clean(r.Strip) != r.Strip || strings.HasPrefix(r.Strip, "..")) {
		return fmt.Errorf("strip %q: want a relative directory", r.Strip)
	}
	return nil
}

// archiveKind names the archive format from a URL's path.
func archiveKind(u string) string {
	p := u
	if pu, err := url.Parse(u); err == nil {
		p = pu.Path
	}
	switch {
	case strings.HasSuffix(p, ".zip"), strings.HasSuffix(p, ".whl"):
		return "zip"
	case strings.HasSuffix(p, ".tgz"), strings.HasSuffix(p, ".tar.gz"):
		return "tgz"
	}
	return ""
}

// mirrored rewrites a vendor URL onto $CARTON_DOWNLOAD_MIRROR: the mirror's
// base URL followed by the vendor URL's path (and query).
func mirrored(raw string) (string, error) {
	mirror := os.Getenv("CARTON_DOWNLOAD_MIRROR")
	if mirror == "" {
		return raw, nil
	}
	u, err := url.Parse(raw)
	if err != nil {
		return "", err
	}
	m, err := url.Parse(strings.TrimSuffix(mirror, "/"))
	if err != nil || m.Scheme == "" || m.Host == "" {
		return "", fmt.Errorf("$CARTON_DOWNLOAD_MIRROR %q: want a base URL like https://mirror.example/vendors", mirror)
	}
	m.RawPath = m.EscapedPath() + u.EscapedPath()
	m.Path = m.Path + u.Path
	m.RawQuery = u.RawQuery
	return m.String(), nil
}

// releasesFor returns the table entries for fw on this platform.
func releasesFor(fw Framework, platform string) ([]Release, error) {
	all, err := Releases()
	if err != nil {
		return nil, err
	}
	var out []Release
	for _, r := range all {
		if r.Framework == fw && r.Platform == platform {
			out = append(out, r)
		}
	}
	return out, nil
}
