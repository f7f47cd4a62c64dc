package libfetch

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"regexp"
	"strings"
)

// Index is the package index wheels come from, with the trust settings
// pip uses for it.
type Index struct {
	URL string `json:"url"`
	// Source says where URL came from: "CARTON_PYPI_INDEX",
	// "PIP_INDEX_URL", a pip configuration file, or "pip's default
	// (INTERPRETER -m pip)" when nothing names one and pip was asked.
	Source string `json:"source"`
	// Cert is a CA bundle (PEM) trusted besides the system's, as pip's
	// cert option; Proxy a proxy URL, as pip's proxy option ("" for the
	// environment's HTTPS_PROXY).
	Cert  string `json:"cert,omitempty"`
	Proxy string `json:"proxy,omitempty"`
}

func (i Index) String() string {
	if i.URL == "" {
		return "no package index"
	}
	return i.URL + " (" + i.Source + ")"
}

// ErrNoIndex: no package index is configured and no pip could say which
// it would use.
var ErrNoIndex = errors.New("no package index")

// IndexURL is the package index configured for carton or pip:
// $CARTON_PYPI_INDEX, else pip's $PIP_INDEX_URL, else index-url in pip's
// configuration files; "" when none is. PackageIndex also asks pip for
// its default.
func IndexURL() string {
	i, _ := configuredIndex()
	return i.URL
}

// configuredIndex reads the index and trust settings from the environment
// and pip's configuration files, without running anything.
func configuredIndex() (Index, bool) {
	var i Index
	switch {
	case os.Getenv("CARTON_PYPI_INDEX") != "":
		i = Index{URL: os.Getenv("CARTON_PYPI_INDEX"), Source: "CARTON_PYPI_INDEX"}
	case os.Getenv("PIP_INDEX_URL") != "":
		i = Index{URL: os.Getenv("PIP_INDEX_URL"), Source: "PIP_INDEX_URL"}
	default:
		for _, f := range pipConfigFiles() {
			if u := iniValue(f, "global", "index-url"); u != "" {
				i = Index{URL: u, Source: "index-url in " + f}
				break
			}
		}
	}
	i.Cert, i.Proxy = pipSetting("PIP_CERT", "cert"), pipSetting("PIP_PROXY", "proxy")
	return i, i.URL != ""
}

// pipSetting is pip's env variable, else the key in pip's config files.
func pipSetting(env, key string) string {
	if v := os.Getenv(env); v != "" {
		return v
	}
	for _, f := range pipConfigFiles() {
		if v := iniValue(f, "global", key); v != "" {
			return v
		}
	}
	return ""
}

// pipOptions prints pip's effective download options, as pip itself
// works them out from its environment variables, configuration files and
// defaults: the index a bare `pip download` would use.
const pipOptions = `
import json
from pip._internal.commands import create_command
opts, _ = create_command("download").parse_args([])
print(json.dumps({"index_url": opts.index_url, "cert": opts.cert or "", "proxy": opts.proxy or ""}))
`

// pipHelpDefault finds the default in `pip download --help`'s text for
// --index-url, for a pip whose internals pipOptions cannot reach.
var pipHelpDefault = regexp.MustCompile(`(?s)--index-url.*?\(default\s+(\S+?)\)`)

// pipIndexes remembers each interpreter's answer (probes).
var pipIndexes probes[Index]

// PackageIndex is the index wheels come from: the one configured
// (configuredIndex), else the one pip on this machine would use, its
// default included, asked of the first interpreter in Pythons() whose
// pip answers. ErrNoIndex when neither can be had.
//
// pip's no-index setting (PIP_NO_INDEX=1, no-index in pip.conf) turns the
// index off for carton too, unless CARTON_PYPI_INDEX names one.
func PackageIndex(ctx context.Context) (Index, error) {
	if os.Getenv("CARTON_PYPI_INDEX") == "" && isTrue(pipSetting("PIP_NO_INDEX", "no-index")) {
		return Index{}, fmt.Errorf("%w: pip's no-index is set (PIP_NO_INDEX or pip.conf)", ErrNoIndex)
	}
	if i, ok := configuredIndex(); ok {
		return i, nil
	}
	var errs []error
	for _, py := range Pythons() {
		if _, err := exec.LookPath(py); err != nil {
			continue
		}
		i, err := pipIndexes.get(ctx, py, func(ctx context.Context) (Index, error) { return askPip(ctx, py) })
		if ctx.Err() != nil {
			return Index{}, ctx.Err()
		}
		if err == nil {
			return i, nil
		}
		errs = append(errs, err)
	}
	return Index{}, fmt.Errorf("%w: none is configured (CARTON_PYPI_INDEX, PIP_INDEX_URL, pip's index-url) and no pip could be asked for its default: %w", ErrNoIndex, errors.Join(errs...))
}

// askPip asks py's pip for the index and trust settings it would use.
func askPip(ctx context.Context, py string) (Index, error) {
	src := "pip's default (" + py + " -m pip)"
	out, err := exec.CommandContext(ctx, py, "-c", pipOptions).Output()
	if err == nil {
		var o map[string]string
		if json.Unmarshal(out, &o) == nil && o["index_url"] != "" {
			return Index{URL: o["index_url"], Source: src, Cert: o["cert"], Proxy: o["proxy"]}, nil
		}
	}
	help, herr := exec.CommandContext(ctx, py, "-m", "pip", "download", "--help").Output()
	if herr != nil {
		return Index{}, fmt.Errorf("%s -m pip: %w", py, errors.Join(err, herr))
	}
	m := pipHelpDefault.FindSubmatch(help)
	if m == nil {
		return Index{}, fmt.Errorf("%s -m pip download --help names no default index", py)
	}
	i, _ := configuredIndex() // no URL, but the trust settings
	return Index{URL: string(m[1]), Source: src, Cert: i.Cert, Proxy: i.Proxy}, nil
}

// transport applies the index's trust settings to tr: its CA bundle
// trusted besides the system's, its proxy.
func (i Index) transport(tr *http.Transport) error {
	if i.Cert != "" {
		pem, err := os.ReadFile(i.Cert)
		if err != nil {
			return fmt.Errorf("the package index's CA bundle (pip's cert): %w", err)
		}
		pool, err := x509.SystemCertPool()
		if err != nil || pool == nil {
			pool = x509.NewCertPool()
		}
		if !pool.AppendCertsFromPEM(pem) {
			return fmt.Errorf("the package index's CA bundle %s holds no PEM certificate", i.Cert)
		}
		if tr.TLSClientConfig == nil {
			tr.TLSClientConfig = &tls.Config{}
		}
		tr.TLSClientConfig.RootCAs = pool
	}
	if i.Proxy != "" {
		p := i.Proxy
		if !strings.Contains(p, "://") {
			p = "http://" + p // pip's proxy may be host:port
		}
		u, err := url.Parse(p)
		if err != nil {
			return fmt.Errorf("the package index's proxy (pip's proxy) %q: %w", i.Proxy, err)
		}
		tr.Proxy = http.ProxyURL(u)
	}
	return nil
}

// isTrue reads a pip boolean setting.
func isTrue(v string) bool {
	switch strings.ToLower(strings.TrimSpace(v)) {
	case "1", "true", "yes", "on":
		return true
	}
	return false
}
