package libfetch

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"strings"
)

// The wheel source: a Python package index speaking the JSON simple API
// (PEP 691), whose base URL comes from configuration only. Wheels carry the
// runtime's shared libraries; libfetch extracts those and nothing else.

// wheelProjects are the index projects that carry each framework's C API.
// For torch, the libraries its wheel's libtorch links but does not carry
// (the CUDA runtime of a CUDA build) come from the wheels its metadata
// requires (torchdeps.go).
var wheelProjects = map[Framework][]string{
	ONNXRuntime: {"onnxruntime"},
	LibTorch:    {"torch"},
	TensorFlow:  {"tensorflow-cpu", "tensorflow"},
}

// pipConfigFiles lists pip's configuration files, most specific first.
func pipConfigFiles() []string {
	var files []string
	if f := os.Getenv("PIP_CONFIG_FILE"); f != "" {
		files = append(files, f)
	}
	if v := os.Getenv("VIRTUAL_ENV"); v != "" {
		files = append(files, filepath.Join(v, "pip.conf"))
	}
	if d, err := os.UserConfigDir(); err == nil {
		files = append(files, filepath.Join(d, "pip", "pip.conf"))
	}
	if h, err := os.UserHomeDir(); err == nil {
		files = append(files, filepath.Join(h, ".pip", "pip.conf"))
	}
	return append(files, "/etc/xdg/pip/pip.conf", "/etc/pip.conf")
}

// iniValue reads key from [section] of an ini file ("" when absent).
func iniValue(file, section, key string) string {
	f, err := os.Open(file)
	if err != nil {
		return ""
	}
	defer f.Close()
	in := false
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if strings.HasPrefix(line, "[") && strings.HasSuffix(line, "]") {
			in = strings.TrimSpace(line[1:len(line)-1]) == section
			continue
		}
		if k, v, ok := strings.Cut(line, "="); in && ok && strings.TrimSpace(k) == key {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

// wheelFile is one file of a project in the JSON simple API.
type wheelFile struct {
	Filename string            `json:"filename"`
	URL      string            `json:"url"`
	Hashes   map[string]string `json:"hashes"`
	Yanked   any               `json:"yanked"`
}

type projectPage struct {
	Files    []wheelFile `json:"files"`
	Versions []string    `json:"versions"`
}

// wheelCandidate is a wheel for this platform with its index digest.
type wheelCandidate struct {
	project, version, url, sha256 string
}

// torchLibs are the CPU libraries of a torch wheel (libtorch_cuda and the
// Python bindings are left out), with the runtime libraries it bundles.
var torchLibs = regexp.MustCompile(`^(libc10\.so|libtorch_cpu\.so|libtorch\.so|libtorch_global_deps\.so|libgomp[^/]*|libgfortran[^/]*|libc10\.dylib|libtorch_cpu\.dylib|libtorch\.dylib|libomp\.dylib)$`)

var wheelName = regexp.MustCompile(`^([A-Za-z0-9_.]+)-([^-]+)(?:-\d[^-]*)?-([^-]+)-([^-]+)-([^-]+)\.whl$`)

// wheelPlatform reports whether a wheel platform tag runs on platform.
func wheelPlatform(tag, platform string) bool {
	for _, t := range strings.Split(tag, ".") {
		if t == "any" {
			return true
		}
		switch platform {
		case "linux/amd64":
			if strings.HasPrefix(t, "manylinux") && strings.HasSuffix(t, "_x86_64") || t == "linux_x86_64" {
				return true
			}
		case "linux/arm64":
			if strings.HasPrefix(t, "manylinux") && strings.HasSuffix(t, "_aarch64") || t == "linux_aarch64" {
				return true
			}
		case "darwin/arm64":
			if strings.HasPrefix(t, "macosx_") && (strings.HasSuffix(t, "_arm64") || strings.HasSuffix(t, "_universal2")) {
				return true
			}
		case "darwin/amd64":
			if strings.HasPrefix(t, "macosx_") && (strings.HasSuffix(t, "_x86_64") || strings.HasSuffix(t, "_universal2")) {
				return true
			}
		}
	}
	return false
}

// indexWheels lists the wheels of fw's projects for platform, from the
// configured index; versions are the wheels' own (e.g. "1.20.1").
func indexWheels(ctx context.Context, fw Framework, platform string, o FetchOptions) ([]wheelCandidate, error) {
	projects, ok := wheelProjects[fw]
	if !ok {
		return nil, nil
	}
	o = o.withIndex(ctx)
	if o.index == nil {
		return nil, fmt.Errorf("%w: %w", ErrNoRelease, o.indexErr)
	}
	index := o.index.URL
	var out []wheelCandidate
	var errs []string
	for _, project := range projects {
		ws, err := projectWheels(ctx, index, project, platform, o)
		if err != nil {
			errs = append(errs, err.Error())
			continue
		}
		out = append(out, ws...)
	}
	if len(out) == 0 && len(errs) > 0 {
		return nil, fmt.Errorf("%w: %s", ErrNoRelease, strings.Join(errs, "; "))
	}
	return out, nil
}

// projectWheels lists one project's wheels that run on platform.
func projectWheels(ctx context.Context, index, project, platform string, o FetchOptions) ([]wheelCandidate, error) {
	page, pageURL, err := fetchProject(ctx, index, project, o)
	if err != nil {
		return nil, err
	}
	var out []wheelCandidate
	for _, f := range page.Files {
		m := wheelName.FindStringSubmatch(f.Filename)
		if m == nil || !wheelPlatform(m[5], platform) || isYanked(f.Yanked) {
			continue
		}
		u, err := pageURL.Parse(f.URL)
		if err != nil {
			continue
		}
		out = append(out, wheelCandidate{project: project, version: m[2], url: u.String(), sha256: strings.ToLower(f.Hashes["sha256"])})
	}
	return out, nil
}

func isYanked(y any) bool {
	switch v := y.(type) {
	case bool:
		return v
	case string:
		return true
	}
	return false
}

// fetchProject GETs <index>/<project>/ as JSON.
func fetchProject(ctx context.Context, index, project string, o FetchOptions) (*projectPage, *url.URL, error) {
	base, err := url.Parse(strings.TrimSuffix(index, "/") + "/")
	if err != nil {
		return nil, nil, fmt.Errorf("index %q: %v", index, err)
	}
	pageURL := base.JoinPath(normalizeProject(project)) // JoinPath drops the trailing slash
	pageURL.Path += "/"
	if err := checkURL(pageURL.String()); err != nil {
		return nil, nil, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, pageURL.String(), nil)
	if err != nil {
		return nil, nil, err
	}
	req.Header.Set("Accept", "application/vnd.pypi.simple.v1+json")
	client, err := httpClient(o)
	if err != nil {
		return nil, nil, err
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %v", pageURL, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusNotFound {
		return &projectPage{}, pageURL, nil
	}
	if resp.StatusCode != http.StatusOK {
		return nil, nil, fmt.Errorf("%s: %s", pageURL, resp.Status)
	}
	if ct := resp.Header.Get("Content-Type"); !strings.Contains(ct, "json") {
		return nil, nil, fmt.Errorf("%s: the index answered %q, not the JSON simple API (PEP 691)", pageURL, ct)
	}
	var page projectPage
	if err := json.NewDecoder(io.LimitReader(resp.Body, 64<<20)).Decode(&page); err != nil {
		return nil, nil, fmt.Errorf("%s: %v", pageURL, err)
	}
	return &page, resp.Request.URL, nil
}

var projectSeparators = regexp.MustCompile(`[-_.]+`)

func normalizeProject(name string) string {
	return strings.ToLower(projectSeparators.ReplaceAllString(name, "-"))
}

// wheelMap picks the runtime's libraries out of a wheel into lib/.
func wheelMap(fw Framework) mapFunc {
	return func(name string) (string, bool) {
		base := path.Base(name)
		switch fw {
		case ONNXRuntime:
			if path.Dir(name) == "onnxruntime/capi" && strings.HasPrefix(base, "libonnxruntime") &&
				(strings.Contains(base, ".so") || strings.HasSuffix(base, ".dylib")) {
				return "lib/" + base, true
			}
		case TensorFlow:
			if path.Dir(name) == "tensorflow" && (strings.HasPrefix(base, "libtensorflow_cc") || strings.HasPrefix(base, "libtensorflow_framework")) {
				return "lib/" + base, true
			}
		case LibTorch:
			if rest, ok := strings.CutPrefix(name, "torch/include/"); ok {
				return "include/" + rest, true
			}
			if path.Dir(name) == "torch/lib" && torchLibs.MatchString(base) {
				return "lib/" + base, true
			}
		}
		return "", false
	}
}
