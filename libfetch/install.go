package libfetch

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/gofrs/flock"

	"github.com/carton-run/carton/internal/semver"
)

// offer is one way to download a framework version: a release table entry
// or an index wheel.
type offer struct {
	version  string
	url      string
	sha256   string // "" when unknown
	kind     string // zip or tgz
	mapName  mapFunc
	verified string // who vouches for sha256: "release table", "package index"
	index    *Index // the package index a wheel comes from; nil for the release table
	// complete, when set, finishes an extracted install (root) from the
	// downloaded archive: a torch wheel's build-version and missing libraries.
	complete func(ctx context.Context, archive, root string) error
}

// offers lists what can be downloaded for fw on platform, table entries
// first, newest version first within each, and why the package index
// offered nothing, if it did not (wheelErr).
func offers(ctx context.Context, fw Framework, platform string, o FetchOptions) (out []offer, wheelErr, err error) {
	rels, err := releasesFor(fw, platform)
	if err != nil {
		return nil, nil, err
	}
	for _, r := range rels {
		u, err := mirrored(r.URL)
		if err != nil {
			return nil, nil, err
		}
		of := offer{version: r.Version, url: u, sha256: r.SHA256, kind: archiveKind(r.URL), mapName: stripMap(r.Strip)}
		if r.SHA256 != "" {
			of.verified = "release table"
		}
		out = append(out, of)
	}
	wheels, werr := indexWheels(ctx, fw, platform, o)
	for _, w := range wheels {
		of := offer{version: w.version, url: w.url, sha256: w.sha256, kind: "zip", mapName: wheelMap(fw), index: o.index}
		if w.sha256 != "" {
			of.verified = "package index"
		}
		if fw == LibTorch {
			of.complete = func(ctx context.Context, archive, root string) error {
				return completeTorchWheel(ctx, archive, root, platform, o)
			}
		}
		out = append(out, of)
	}
	if len(out) == 0 && werr != nil {
		return nil, werr, werr
	}
	return out, werr, nil
}

// Fetch makes fw at exactly version available for this platform: it
// returns the cached runtime if there is one, else downloads, verifies and
// installs it into the cache. The returned candidate's Source is "cache"
// or "download".
//
// Two processes fetching the same runtime are serialised by a file lock;
// the second finds the first's result. Nothing partial is ever visible in
// the cache: the archive streams into a temporary directory (its sha256
// checked on the way), is extracted there, and the result renamed into
// place.
func Fetch(ctx context.Context, fw Framework, version string, o FetchOptions) (Candidate, error) {
	return fetch(ctx, fw, version, Platform(), o)
}

func fetch(ctx context.Context, fw Framework, version, platform string, o FetchOptions) (Candidate, error) {
	if err := checkVersion(version); err != nil {
		return Candidate{}, err
	}
	cache, err := CacheDir()
	if err != nil {
		return Candidate{}, err
	}
	dir := RuntimeDir(cache, fw, version, platform)
	if c, ok := cachedCandidate(fw, dir); ok {
		return c, nil
	}
	if o.Offline {
		return Candidate{}, fmt.Errorf("%w: %s %s for %s is not installed (CARTON_OFFLINE=1); run `carton fetch %s %s` where the network is allowed, or copy a cache entry to %s",
			ErrOffline, fw, version, platform, fw, version, dir)
	}
	parent := filepath.Dir(dir)
	if err := os.MkdirAll(parent, 0o755); err != nil {
		return Candidate{}, err
	}
	lock := flock.New(filepath.Join(parent, "."+version+".lock"))
	locked, err := lock.TryLockContext(ctx, 100*time.Millisecond)
	if err != nil || !locked {
		return Candidate{}, fmt.Errorf("waiting for another process fetching %s %s: %w", fw, version, errors.Join(err, ctx.Err()))
	}
	defer lock.Unlock()
	if c, ok := cachedCandidate(fw, dir); ok { // another process finished it meanwhile
		return c, nil
	}
	removeStale(parent, version)
	o = o.withIndex(ctx)
	all, wheelErr, err := offers(ctx, fw, platform, o)
	if err != nil {
		return Candidate{}, err
	}
	// A verifiable download first: a wheel with the index's digest before
	// a release table entry without one.
	sort.SliceStable(all, func(i, j int) bool { return all[i].verified != "" && all[j].verified == "" })
	var errs []error
	for _, of := range all {
		if of.version != version {
			continue
		}
		in, err := install(ctx, fw, platform, dir, of, o)
		if err == nil {
			return Candidate{Framework: fw, Version: in.Version, Source: "download", Path: entryPath(fw, dir), Origin: in.Origin()}, nil
		}
		errs = append(errs, err)
		if ctx.Err() != nil {
			break
		}
	}
	if len(errs) == 0 {
		return Candidate{}, fmt.Errorf("%w: %s %s for %s: not in the release table%s", ErrNoRelease, fw, version, platform, indexNote(fw, o))
	}
	if _, ok := wheelProjects[fw]; ok && o.index == nil {
		errs = append(errs, fmt.Errorf("a package index (CARTON_PYPI_INDEX, or pip's index-url; or a Python with pip, which knows its default) would offer %s wheels verified by the index's sha256", fw))
	} else if wheelErr != nil {
		errs = append(errs, fmt.Errorf("the package index %s: %w", o.index, wheelErr))
	}
	return Candidate{}, errors.Join(errs...)
}

func indexNote(fw Framework, o FetchOptions) string {
	if _, ok := wheelProjects[fw]; !ok {
		return ""
	}
	if o.index == nil {
		return " and no package index could be had (" + o.indexErr.Error() + ")"
	}
	return " nor on the package index " + o.index.String()
}

func cachedCandidate(fw Framework, dir string) (Candidate, bool) {
	v, err := ReadBuildVersion(dir)
	if err != nil {
		return Candidate{}, false
	}
	p := entryPath(fw, dir)
	return Candidate{Framework: fw, Version: v, Source: "cache", Path: p}, p != ""
}

// removeStale deletes temporary directories left by an install of version
// that died (the caller holds the lock, so none is in progress).
func removeStale(parent, version string) {
	m, _ := filepath.Glob(filepath.Join(parent, ".tmp-"+version+"-*"))
	for _, d := range m {
		os.RemoveAll(d)
	}
}

// install downloads one offer into a temporary directory and renames the
// extracted runtime to dir.
func install(ctx context.Context, fw Framework, platform, dir string, of offer, o FetchOptions) (Installed, error) {
	want := of.sha256
	verified := of.verified
	if o.SHA256 != "" {
		if want != "" && want != o.SHA256 {
			return Installed{}, fmt.Errorf("%w: the digest you supplied (%s) differs from the %s's (%s) for %s", ErrDigest, o.SHA256, of.verified, want, of.url)
		}
		want, verified = o.SHA256, "caller"
	}
	if want == "" && !o.AllowUnverified {
		return Installed{}, fmt.Errorf("%w: %s %s (%s) has no known sha256; supply it with CARTON_RUNTIME_SHA256 or `carton fetch --sha256`, add a verified entry to $CARTON_RELEASE_TABLE, or accept it unverified with CARTON_ALLOW_UNVERIFIED=1 / --allow-unverified",
			ErrUnverified, fw, of.version, of.url)
	}
	var suffix [6]byte
	rand.Read(suffix[:])
	tmp := filepath.Join(filepath.Dir(dir), ".tmp-"+of.version+"-"+hex.EncodeToString(suffix[:]))
	if err := os.MkdirAll(tmp, 0o755); err != nil {
		return Installed{}, err
	}
	defer os.RemoveAll(tmp)
	archive := filepath.Join(tmp, "archive")
	f, err := os.Create(archive)
	if err != nil {
		return Installed{}, err
	}
	got, _, err := download(ctx, of.url, f, want, o)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return Installed{}, err
	}
	root := filepath.Join(tmp, "root")
	if err := extract(archive, of.kind, root, of.mapName, 4*o.maxBytes()); err != nil {
		return Installed{}, fmt.Errorf("%s: %w", of.url, err)
	}
	if p := entryPath(fw, root); p == "" || !hasLibraries(root) {
		return Installed{}, fmt.Errorf("%w: %s holds no %s libraries where expected", ErrArchive, of.url, fw)
	}
	if of.complete != nil {
		if err := of.complete(ctx, archive, root); err != nil {
			return Installed{}, fmt.Errorf("%s: %w", of.url, err)
		}
	}
	version := of.version
	if v, err := ReadBuildVersion(root); err == nil && v != "" {
		version = v // libtorch archives say e.g. 2.1.0+cpu
	} else if err := os.WriteFile(filepath.Join(root, "build-version"), []byte(version+"\n"), 0o644); err != nil {
		return Installed{}, err
	}
	in := Installed{Framework: fw, Version: version, Platform: platform, From: of.url, SHA256: got,
		Fetched: time.Now().UTC().Truncate(time.Second), Verified: want != ""}
	in.VerifiedBy = verified
	if of.index != nil {
		in.Index = &Index{URL: of.index.URL, Source: of.index.Source}
	}
	meta, _ := json.MarshalIndent(in, "", "  ")
	if err := os.WriteFile(filepath.Join(root, metaFile), append(meta, '\n'), 0o644); err != nil {
		return Installed{}, err
	}
	if err := os.Rename(root, dir); err != nil {
		return Installed{}, err
	}
	in.Dir = dir
	return in, nil
}

func hasLibraries(root string) bool {
	m, _ := filepath.Glob(filepath.Join(root, "lib", "*"))
	return len(m) > 0
}

// Available lists the versions of fw downloadable for this platform,
// newest first.
func Available(ctx context.Context, fw Framework, o FetchOptions) ([]string, error) {
	all, _, err := available(ctx, fw, o.withIndex(ctx))
	return all, err
}

// available is Available, and of those the versions some offer's digest
// vouches for.
func available(ctx context.Context, fw Framework, o FetchOptions) (all, verifiable []string, err error) {
	offered, _, err := offers(ctx, fw, Platform(), o)
	if err != nil {
		return nil, nil, err
	}
	byVersion := map[string]bool{} // version -> verifiable
	var vs []semver.Version
	for _, of := range offered {
		v, err := semver.Parse(of.version)
		if err != nil {
			continue
		}
		key := v.String()
		if _, seen := byVersion[key]; !seen {
			vs = append(vs, v)
		}
		byVersion[key] = byVersion[key] || of.verified != ""
	}
	sort.Slice(vs, func(i, j int) bool { return vs[i].Compare(vs[j]) > 0 })
	for _, v := range vs {
		all = append(all, v.String())
		if byVersion[v.String()] {
			verifiable = append(verifiable, v.String())
		}
	}
	return all, verifiable, nil
}

// FetchMatching fetches the newest downloadable version of fw that
// satisfies requirement (a Cargo-style requirement) and, when pin is set,
// matches it too (an exact version, or a further requirement).
func FetchMatching(ctx context.Context, fw Framework, requirement, pin string, o FetchOptions) (Candidate, error) {
	if o.Offline {
		what := requirement
		if pin != "" {
			what += " pinned to " + pin
		}
		return Candidate{}, fmt.Errorf("%w: no installed %s satisfies %s, and CARTON_OFFLINE=1 forbids downloading one; run `carton fetch %s VERSION` where the network is allowed",
			ErrOffline, fw, what, fw)
	}
	req, err := semver.ParseReq(requirement)
	if err != nil {
		return Candidate{}, err
	}
	pinned, err := semver.ParsePin(pin)
	if err != nil {
		return Candidate{}, err
	}
	o = o.withIndex(ctx)
	versions, verifiable, err := available(ctx, fw, o)
	if err != nil {
		return Candidate{}, err
	}
	// The newest version a digest vouches for, unless the caller accepts
	// unverified archives or brings a digest: an unverified archive is
	// refused anyway, and an older verifiable wheel serves.
	if !o.AllowUnverified && o.SHA256 == "" {
		for _, v := range verifiable {
			sv, _ := semver.Parse(v)
			if req.Matches(sv) && pinned.Matches(sv) {
				return Fetch(ctx, fw, v, o)
			}
		}
	}
	for _, v := range versions {
		sv, _ := semver.Parse(v)
		if req.Matches(sv) && pinned.Matches(sv) {
			return Fetch(ctx, fw, v, o)
		}
	}
	what := requirement
	if pin != "" {
		what += " and " + pin
	}
	return Candidate{}, fmt.Errorf("%w: no downloadable %s for %s satisfies %s (offered: %s)", ErrNoRelease, fw, Platform(), what, strings.Join(versions, ", "))
}

// Remove deletes fw version (this platform) from the cache.
func Remove(fw Framework, version string) error {
	if err := checkVersion(version); err != nil {
		return err
	}
	cache, err := CacheDir()
	if err != nil {
		return err
	}
	dir := RuntimeDir(cache, fw, version, Platform())
	if _, err := os.Stat(dir); err != nil {
		return fmt.Errorf("%w: %s %s is not in the cache (%s)", ErrNotFound, fw, version, dir)
	}
	// Rename first so no reader ever sees a half-deleted entry.
	var suffix [6]byte
	rand.Read(suffix[:])
	trash := filepath.Join(filepath.Dir(dir), ".rm-"+version+"-"+hex.EncodeToString(suffix[:]))
	if err := os.Rename(dir, trash); err != nil {
		return err
	}
	return os.RemoveAll(trash)
}

// ParseFramework accepts framework names and runner names.
func ParseFramework(s string) (Framework, error) {
	switch strings.ToLower(s) {
	case "onnxruntime", "onnx", "ort":
		return ONNXRuntime, nil
	case "libtorch", "torchscript", "torch":
		return LibTorch, nil
	case "tensorflow", "tf":
		return TensorFlow, nil
	}
	return "", fmt.Errorf("unknown framework %q (want onnxruntime/onnx, libtorch/torchscript or tensorflow)", s)
}
