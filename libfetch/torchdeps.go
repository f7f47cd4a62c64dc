package libfetch

import (
	"archive/zip"
	"context"
	"debug/elf"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"runtime"
	"sort"
	"strings"

	"github.com/carton-run/carton/internal/semver"
)

// A torch wheel's libtorch links libraries the wheel does not carry: a CUDA
// build's libtorch_cpu needs the CUDA runtime and CUPTI even on CPU, which
// pip installs from the nvidia-* wheels its metadata requires. This file
// does the same for the libraries alone: find what the extracted libraries
// link but neither they nor the system provide, find the required wheel
// that provides each, and extract its libraries beside them.

// libProviders maps a library name prefix to a word in the name of the
// wheel project that ships it.
var libProviders = []struct{ prefix, project string }{
	{"libcudart", "cuda-runtime"}, {"libcupti", "cuda-cupti"}, {"libnvperf", "cuda-cupti"},
	{"libcheckpoint", "cuda-cupti"}, {"libpcsamplingutil", "cuda-cupti"},
	{"libcublas", "cublas"}, {"libcufft", "cufft"}, {"libcurand", "curand"}, {"libcusolver", "cusolver"},
	{"libcusparseLt", "cusparselt"}, {"libcusparse", "cusparse"}, {"libcudnn", "cudnn"}, {"libnccl", "nccl"},
	{"libnvrtc", "nvrtc"}, {"libnvJitLink", "nvjitlink"}, {"libnvToolsExt", "nvtx"}, {"libcufile", "cufile"},
	{"libnvshmem", "nvshmem"},
}

func providerWord(lib string) string {
	best := ""
	word := ""
	for _, p := range libProviders {
		if strings.HasPrefix(lib, p.prefix) && len(p.prefix) > len(best) {
			best, word = p.prefix, p.project
		}
	}
	return word
}

var (
	torchVersionPy = regexp.MustCompile(`__version__\s*=\s*'([^']+)'`)
	sharedLibrary  = regexp.MustCompile(`\.so(\.[0-9]+)*$`)
)

// completeTorchWheel finishes a libtorch extracted from a torch wheel into
// root: build-version from torch/version.py, and the missing libraries.
func completeTorchWheel(ctx context.Context, wheel, root, platform string, o FetchOptions) error {
	zr, err := zip.OpenReader(wheel)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrArchive, err)
	}
	defer zr.Close()
	version, meta := "", ""
	for _, f := range zr.File {
		switch {
		case f.Name == "torch/version.py":
			b, err := readZipFile(f)
			if err != nil {
				return err
			}
			if m := torchVersionPy.FindSubmatch(b); m != nil {
				version = string(m[1])
			}
		case strings.HasSuffix(f.Name, ".dist-info/METADATA") && strings.Count(f.Name, "/") == 1:
			b, err := readZipFile(f)
			if err != nil {
				return err
			}
			meta = string(b)
		}
	}
	if version == "" {
		return fmt.Errorf("%w: %s has no torch/version.py", ErrArchive, wheel)
	}
	if err := os.WriteFile(filepath.Join(root, "build-version"), []byte(version+"\n"), 0o644); err != nil {
		return err
	}
	lib := filepath.Join(root, "lib")
	missing, err := missingLibraries(lib, torchRoots)
	if err != nil || len(missing) == 0 {
		return err
	}
	o = o.withIndex(ctx)
	if o.index == nil {
		return fmt.Errorf("the CUDA libraries torch links come from its index: %w", o.indexErr)
	}
	index := o.index.URL
	reqs := requirements(meta, platform, nil)
	// Metapackages (cuda-toolkit[cudart,...]) name the real wheels in
	// their own metadata, per extra.
	for _, r := range reqs {
		if len(r.extras) == 0 {
			continue
		}
		w, err := pickWheel(ctx, index, r, platform, o)
		if err != nil {
			continue
		}
		sub, err := wheelMetadata(ctx, w, o)
		if err != nil {
			return err
		}
		reqs = append(reqs, requirements(sub, platform, r.extras)...)
	}
	byProject := map[string][]string{}
	var unknown []string
	for _, m := range missing {
		word := providerWord(m)
		var found *requirement
		for i := range reqs {
			if word != "" && strings.Contains(reqs[i].project, word) && len(reqs[i].extras) == 0 {
				found = &reqs[i]
				break
			}
		}
		if found == nil {
			unknown = append(unknown, m)
			continue
		}
		byProject[found.project] = append(byProject[found.project], m)
	}
	if len(unknown) > 0 {
		return fmt.Errorf("%w: libtorch %s links %s, which neither the torch wheel, the wheels it requires, nor this system provide", ErrArchive, version, strings.Join(unknown, ", "))
	}
	for _, r := range reqs {
		if _, ok := byProject[r.project]; !ok || len(r.extras) > 0 {
			continue
		}
		delete(byProject, r.project)
		w, err := pickWheel(ctx, index, r, platform, o)
		if err != nil {
			return err
		}
		if err := fetchWheelLibs(ctx, w, lib, o); err != nil {
			return err
		}
	}
	if still, err := missingLibraries(lib, torchRoots); err != nil || len(still) > 0 {
		return fmt.Errorf("%w: libtorch %s still lacks %s after fetching the wheels it requires", ErrArchive, version, strings.Join(still, ", "))
	}
	return nil
}

func readZipFile(f *zip.File) ([]byte, error) {
	r, err := f.Open()
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrArchive, err)
	}
	defer r.Close()
	return io.ReadAll(io.LimitReader(r, 16<<20))
}

// requirement is one Requires-Dist line that applies here.
type requirement struct {
	project string // normalized
	extras  []string
	spec    string // e.g. "==13.2.86.*"; "" for any
}

var requiresDist = regexp.MustCompile(`^Requires-Dist:\s*([A-Za-z0-9._-]+)\s*(?:\[([^\]]*)\])?\s*([^;]*?)\s*(?:;(.*))?$`)

// requirements parses METADATA's Requires-Dist lines whose markers hold on
// platform; with extras, only those that name one of them.
func requirements(meta, platform string, extras []string) []requirement {
	var out []requirement
	goos := strings.SplitN(platform, "/", 2)[0]
	for _, line := range strings.Split(meta, "\n") {
		m := requiresDist.FindStringSubmatch(strings.TrimSpace(line))
		if m == nil || !markerHolds(m[4], goos, extras) {
			continue
		}
		r := requirement{project: normalizeProject(m[1]), spec: strings.Trim(strings.TrimSpace(m[3]), "()")}
		for _, e := range strings.Split(m[2], ",") {
			if e = strings.TrimSpace(e); e != "" {
				r.extras = append(r.extras, e)
			}
		}
		out = append(out, r)
	}
	return out
}

var extraMarker = regexp.MustCompile(`extra\s*==\s*['"]([^'"]+)['"]`)

// markerHolds evaluates the parts of a PEP 508 marker that matter here:
// the extra (when extras are given, the marker must name one; when not, it
// must name none) and the operating system.
func markerHolds(marker, goos string, extras []string) bool {
	if m := extraMarker.FindStringSubmatch(marker); m != nil {
		found := false
		for _, e := range extras {
			found = found || e == m[1]
		}
		if !found {
			return false
		}
	} else if extras != nil {
		return false
	}
	mentionsOS := strings.Contains(marker, "platform_system") || strings.Contains(marker, "sys_platform")
	if !mentionsOS {
		return true
	}
	names := map[string][]string{"linux": {`"Linux"`, `'Linux'`, `'linux'`, `"linux"`}, "darwin": {`"Darwin"`, `'Darwin'`, `'darwin'`, `"darwin"`}}
	for _, n := range names[goos] {
		if strings.Contains(marker, n) {
			return true
		}
	}
	return false
}

// pickWheel chooses the newest wheel of r.project for platform that meets
// r.spec (== exact or ==X.* prefix; other specifiers take the newest).
func pickWheel(ctx context.Context, index string, r requirement, platform string, o FetchOptions) (wheelCandidate, error) {
	ws, err := projectWheels(ctx, index, r.project, platform, o)
	if err != nil {
		return wheelCandidate{}, err
	}
	var ok []wheelCandidate
	for _, w := range ws {
		if specMatches(r.spec, w.version) {
			ok = append(ok, w)
		}
	}
	if len(ok) == 0 {
		return wheelCandidate{}, fmt.Errorf("%w: no wheel of %s %s for %s on the index", ErrNoRelease, r.project, r.spec, platform)
	}
	sort.SliceStable(ok, func(i, j int) bool {
		a, errA := semver.Parse(ok[i].version)
		b, errB := semver.Parse(ok[j].version)
		if errA != nil || errB != nil {
			return ok[i].version > ok[j].version
		}
		return a.Compare(b) > 0
	})
	return ok[0], nil
}

func specMatches(spec, version string) bool {
	for _, part := range strings.Split(spec, ",") {
		part = strings.TrimSpace(part)
		if v, isEq := strings.CutPrefix(part, "=="); isEq {
			v = strings.TrimSpace(v)
			if p, isPrefix := strings.CutSuffix(v, ".*"); isPrefix {
				if version != p && !strings.HasPrefix(version, p+".") {
					return false
				}
			} else if version != v {
				return false
			}
		}
	}
	return true
}

// downloadWheel fetches a wheel, verified by the index's digest, to a
// temporary file the caller removes.
func downloadWheel(ctx context.Context, w wheelCandidate, o FetchOptions) (string, error) {
	if w.sha256 == "" && !o.AllowUnverified {
		return "", fmt.Errorf("%w: %s has no sha256 on the index", ErrUnverified, w.url)
	}
	f, err := os.CreateTemp("", "carton-wheel-*.whl")
	if err != nil {
		return "", err
	}
	_, _, err = download(ctx, w.url, f, w.sha256, o)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(f.Name())
		return "", err
	}
	return f.Name(), nil
}

func wheelMetadata(ctx context.Context, w wheelCandidate, o FetchOptions) (string, error) {
	p, err := downloadWheel(ctx, w, o)
	if err != nil {
		return "", err
	}
	defer os.Remove(p)
	zr, err := zip.OpenReader(p)
	if err != nil {
		return "", fmt.Errorf("%w: %v", ErrArchive, err)
	}
	defer zr.Close()
	for _, f := range zr.File {
		if strings.HasSuffix(f.Name, ".dist-info/METADATA") {
			b, err := readZipFile(f)
			return string(b), err
		}
	}
	return "", fmt.Errorf("%w: %s has no METADATA", ErrArchive, w.url)
}

// fetchWheelLibs extracts a wheel's shared libraries (nvidia/**/lib/*.so*)
// into lib.
func fetchWheelLibs(ctx context.Context, w wheelCandidate, lib string, o FetchOptions) error {
	p, err := downloadWheel(ctx, w, o)
	if err != nil {
		return err
	}
	defer os.Remove(p)
	return extract(p, "zip", lib, func(name string) (string, bool) {
		if path.Base(path.Dir(name)) != "lib" || !sharedLibrary.MatchString(name) {
			return "", false
		}
		if _, err := os.Lstat(filepath.Join(lib, path.Base(name))); err == nil {
			return "", false // the torch wheel's own copy wins
		}
		return path.Base(name), true
	}, 4*o.maxBytes())
}

// torchRoots are the libraries carton loads from a libtorch: what they
// link, transitively, must be present.
var torchRoots = []string{"libc10.so", "libtorch_cpu.so"}

// missingLibraries lists the libraries that roots (files in dir) link,
// transitively through dir, that neither dir nor the system's library
// directories hold.
func missingLibraries(dir string, roots []string) ([]string, error) {
	if runtime.GOOS != "linux" {
		return nil, nil // Mach-O wheels carry what they link
	}
	var missing []string
	seen := map[string]bool{}
	queue := append([]string(nil), roots...)
	for len(queue) > 0 {
		name := queue[0]
		queue = queue[1:]
		if seen[name] {
			continue
		}
		seen[name] = true
		p := filepath.Join(dir, name)
		if _, err := os.Stat(p); err != nil {
			if !onSystem(name) {
				missing = append(missing, name)
			}
			continue
		}
		f, err := elf.Open(p)
		if err != nil {
			return nil, fmt.Errorf("%w: %s: %v", ErrArchive, name, err)
		}
		libs, _ := f.ImportedLibraries()
		f.Close()
		for _, l := range libs {
			if _, err := os.Stat(filepath.Join(dir, l)); err == nil || !onSystem(l) {
				queue = append(queue, l)
			}
		}
	}
	sort.Strings(missing)
	return missing, nil
}

func onSystem(lib string) bool {
	multiarch := map[string]string{"amd64": "x86_64-linux-gnu", "arm64": "aarch64-linux-gnu"}[runtime.GOARCH]
	dirs := []string{"/lib/" + multiarch, "/usr/lib/" + multiarch, "/lib64", "/usr/lib64", "/lib", "/usr/lib", "/usr/local/lib"}
	dirs = append(dirs, filepath.SplitList(os.Getenv("LD_LIBRARY_PATH"))...)
	for _, d := range dirs {
		if d == "" {
			continue
		}
		if _, err := os.Stat(filepath.Join(d, lib)); err == nil {
			return true
		}
	}
	return false
}
