package libfetch

import (
	"context"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/carton-run/carton/internal/semver"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// fetchEnv points the cache, the mirror and the release table at a fresh
// test world serving the real ONNX Runtime archive; it returns the server.
func fetchEnv(t *testing.T, sha string) (*Server, string, []byte) {
	t.Helper()
	version, urlPath, tgz := ORTArchive(t)
	srv := NewServer(t)
	srv.Put(urlPath, tgz, "application/gzip")
	t.Setenv("CARTON_CACHE_DIR", t.TempDir())
	t.Setenv("CARTON_DOWNLOAD_MIRROR", srv.URL)
	t.Setenv("CARTON_PYPI_INDEX", "")
	t.Setenv("PIP_INDEX_URL", "")
	t.Setenv("PIP_CONFIG_FILE", os.DevNull)
	t.Setenv("PIP_NO_INDEX", "1") // not pip's default index either
	if sha == "good" {
		sha = SHA256(tgz)
	}
	WriteTable(t, ONNXRuntime, version, urlPath, sha, "onnxruntime-linux-x64-"+version)
	return srv, version, tgz
}

// assertCacheClean checks that the cache holds no runtime and no
// temporary directory of one.
func assertCacheClean(t *testing.T) {
	t.Helper()
	cache, err := CacheDir()
	require.NoError(t, err)
	list, err := ListInstalled(cache, "", "")
	require.NoError(t, err)
	assert.Empty(t, list, "the cache must hold no runtime")
	var leftovers []string
	filepath.WalkDir(filepath.Join(cache, "runtimes"), func(p string, d os.DirEntry, err error) error {
		if err == nil && d.IsDir() && (strings.HasPrefix(d.Name(), ".tmp-") || strings.HasPrefix(d.Name(), ".rm-")) {
			leftovers = append(leftovers, p)
		}
		return nil
	})
	assert.Empty(t, leftovers, "no temporary directory may remain")
}

func TestFetchVerifiedArchive(t *testing.T) {
	srv, version, _ := fetchEnv(t, "good")
	c, err := Fetch(context.Background(), ONNXRuntime, version, FetchOptions{})
	require.NoError(t, err)
	assert.Equal(t, "download", c.Source)
	assert.Equal(t, version, c.Version)
	assert.Equal(t, "libonnxruntime.so."+version, filepath.Base(c.Path))
	link, err := os.Readlink(filepath.Join(filepath.Dir(c.Path), "libonnxruntime.so.1"))
	require.NoError(t, err)
	assert.Equal(t, "libonnxruntime.so."+version, link, "symlinks inside the archive are kept")

	cache, _ := CacheDir()
	list, err := ListInstalled(cache, ONNXRuntime, Platform())
	require.NoError(t, err)
	require.Len(t, list, 1)
	assert.True(t, list[0].Verified)
	assert.Contains(t, list[0].From, srv.URL)

	// The cache serves the second call: no second download.
	hits := srv.Hits.Load()
	c, err = Fetch(context.Background(), ONNXRuntime, version, FetchOptions{})
	require.NoError(t, err)
	assert.Equal(t, "cache", c.Source)
	assert.Equal(t, hits, srv.Hits.Load())
	found, err := Find(context.Background(), Request{Framework: ONNXRuntime}, cacheSource{})
	require.NoError(t, err)
	require.Len(t, found, 1)
	assert.Equal(t, c.Path, found[0].Path)

	require.NoError(t, Remove(ONNXRuntime, version))
	assertCacheClean(t)
	require.ErrorIs(t, Remove(ONNXRuntime, version), ErrNotFound)
}

func TestFetchUnverifiedNeedsConsent(t *testing.T) {
	_, version, tgz := fetchEnv(t, "")
	_, err := Fetch(context.Background(), ONNXRuntime, version, FetchOptions{})
	require.ErrorIs(t, err, ErrUnverified)
	assert.Contains(t, err.Error(), "CARTON_RUNTIME_SHA256")
	assert.Contains(t, err.Error(), "CARTON_ALLOW_UNVERIFIED=1")
	assertCacheClean(t)

	// A digest the caller vouches for makes it verified; a wrong one fails.
	_, err = Fetch(context.Background(), ONNXRuntime, version, FetchOptions{SHA256: strings.Repeat("0", 64)})
	require.ErrorIs(t, err, ErrDigest)
	assertCacheClean(t)
	c, err := Fetch(context.Background(), ONNXRuntime, version, FetchOptions{SHA256: SHA256(tgz)})
	require.NoError(t, err)
	assert.Equal(t, "download", c.Source)
	require.NoError(t, Remove(ONNXRuntime, version))

	c, err = Fetch(context.Background(), ONNXRuntime, version, FetchOptions{AllowUnverified: true})
	require.NoError(t, err)
	cache, _ := CacheDir()
	list, _ := ListInstalled(cache, ONNXRuntime, "")
	require.Len(t, list, 1)
	assert.False(t, list[0].Verified, "recorded as unverified")
}

func TestFetchFaults(t *testing.T) {
	ctx := context.Background()
	cases := []struct {
		name  string
		sha   string
		fault func(w http.ResponseWriter, r *http.Request, body []byte) bool
		opts  FetchOptions
		want  error
		text  string
	}{
		{name: "wrong digest", sha: strings.Repeat("a", 64), want: ErrDigest, text: "sha256"},
		{name: "404", fault: func(w http.ResponseWriter, r *http.Request, _ []byte) bool {
			http.NotFound(w, r)
			return true
		}, want: ErrDownload, text: "404"},
		{name: "500", fault: func(w http.ResponseWriter, r *http.Request, _ []byte) bool {
			http.Error(w, "boom", http.StatusInternalServerError)
			return true
		}, want: ErrDownload, text: "500"},
		{name: "truncated", fault: func(w http.ResponseWriter, r *http.Request, body []byte) bool {
			w.Header().Set("Content-Length", strconv.Itoa(len(body)))
			w.Write(body[:len(body)/2])
			return true // the handler returns: the connection ends early
		}, want: ErrDownload, text: "after"},
		{name: "stalled", opts: FetchOptions{StallTimeout: 300 * time.Millisecond}, fault: func(w http.ResponseWriter, r *http.Request, body []byte) bool {
			w.Header().Set("Content-Length", strconv.Itoa(len(body)))
			w.Write(body[:1<<16])
			w.(http.Flusher).Flush()
			select {
			case <-r.Context().Done():
			case <-time.After(10 * time.Second):
			}
			return true
		}, want: ErrDownload, text: "no data for 300ms"},
		{name: "redirect to plain http elsewhere", fault: func(w http.ResponseWriter, r *http.Request, _ []byte) bool {
			http.Redirect(w, r, "http://mirror.invalid/x.tgz", http.StatusFound)
			return true
		}, want: ErrDownload, text: "refused redirect"},
		{name: "over the size cap", opts: FetchOptions{MaxBytes: 1 << 20}, want: ErrDownload, text: "cap"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			sha := c.sha
			if sha == "" {
				sha = "good"
			}
			srv, version, _ := fetchEnv(t, sha)
			srv.SetFault(c.fault)
			_, err := Fetch(ctx, ONNXRuntime, version, c.opts)
			require.ErrorIs(t, err, c.want)
			assert.Contains(t, err.Error(), c.text)
			assertCacheClean(t)
		})
	}
}

func TestFetchRefusesEscapingArchives(t *testing.T) {
	for name, members := range map[string][]Member{
		"dot-dot member":    {{Name: "rt/lib/libonnxruntime.so.9.9.9", Data: []byte("x")}, {Name: "rt/../../evil", Data: []byte("x")}},
		"absolute member":   {{Name: "/etc/evil", Data: []byte("x")}},
		"escaping symlink":  {{Name: "rt/lib/libonnxruntime.so.9.9.9", Link: "../../../../etc/passwd"}},
		"absolute symlink":  {{Name: "rt/lib/libonnxruntime.so.9.9.9", Link: "/etc/passwd"}},
		"no library inside": {{Name: "rt/README", Data: []byte("x")}},
	} {
		t.Run(name, func(t *testing.T) {
			srv := NewServer(t)
			tgz := Tgz(t, members)
			srv.Put("/evil/rt.tgz", tgz, "")
			t.Setenv("CARTON_CACHE_DIR", t.TempDir())
			t.Setenv("CARTON_DOWNLOAD_MIRROR", srv.URL)
			t.Setenv("CARTON_PYPI_INDEX", "")
			t.Setenv("PIP_NO_INDEX", "1")
			WriteTable(t, ONNXRuntime, "9.9.9", "/evil/rt.tgz", SHA256(tgz), "rt")
			_, err := Fetch(context.Background(), ONNXRuntime, "9.9.9", FetchOptions{})
			require.ErrorIs(t, err, ErrArchive)
			assertCacheClean(t)
			_, statErr := os.Lstat(filepath.Join(filepath.Dir(os.Getenv("CARTON_CACHE_DIR")), "evil"))
			assert.True(t, os.IsNotExist(statErr))
		})
	}
}

func TestOffline(t *testing.T) {
	_, version, _ := fetchEnv(t, "good")
	t.Setenv("CARTON_OFFLINE", "1")
	o, err := OptionsFromEnv()
	require.NoError(t, err)
	_, err = Fetch(context.Background(), ONNXRuntime, version, o)
	require.ErrorIs(t, err, ErrOffline)
	assert.Contains(t, err.Error(), "onnxruntime "+version)
	_, err = FetchMatching(context.Background(), ONNXRuntime, "^1", "", o)
	require.ErrorIs(t, err, ErrOffline)
	assert.Contains(t, err.Error(), "onnxruntime")
	assertCacheClean(t)
}

func TestFetchMatchingPicksNewest(t *testing.T) {
	_, version, _ := fetchEnv(t, "good")
	c, err := FetchMatching(context.Background(), ONNXRuntime, "="+version, "", FetchOptions{})
	require.NoError(t, err)
	assert.Equal(t, version, c.Version)
	_, err = FetchMatching(context.Background(), ONNXRuntime, ">=99", "", FetchOptions{})
	require.ErrorIs(t, err, ErrNoRelease)
	assert.Contains(t, err.Error(), version, "the error lists what is offered")

	// The pin narrows the requirement: a version, or a requirement of its own.
	c, err = FetchMatching(context.Background(), ONNXRuntime, "*", "<="+version, FetchOptions{})
	require.NoError(t, err)
	assert.Equal(t, version, c.Version)
	_, err = FetchMatching(context.Background(), ONNXRuntime, "="+version, ">"+version, FetchOptions{})
	require.ErrorIs(t, err, ErrNoRelease)
	assert.Contains(t, err.Error(), "satisfies ="+version+" and >"+version)
	_, err = FetchMatching(context.Background(), ONNXRuntime, "*", "latest", FetchOptions{})
	require.ErrorIs(t, err, semver.ErrInvalid)
}

// childEnv marks a re-executed test binary that fetches and exits.
const childEnv = "CARTON_TEST_FETCH_CHILD"

func TestFetchChild(t *testing.T) {
	version := os.Getenv(childEnv)
	if version == "" {
		t.Skip("runs as a child of TestTwoProcesses and TestKillMidDownload")
	}
	c, err := Fetch(context.Background(), ONNXRuntime, version, FetchOptions{StallTimeout: time.Minute})
	require.NoError(t, err)
	t.Logf("fetched %s from %s", c.Path, c.Source)
}

func child(t *testing.T, version string) *exec.Cmd {
	cmd := exec.Command(os.Args[0], "-test.run", "^TestFetchChild$", "-test.v", "-test.count=1")
	cmd.Env = append(os.Environ(), childEnv+"="+version)
	return cmd
}

func TestTwoProcessesFetchOnce(t *testing.T) {
	srv, version, _ := fetchEnv(t, "good")
	srv.SetThrottle(20 * time.Millisecond) // long enough for both to overlap
	a, b := child(t, version), child(t, version)
	var outA, outB strings.Builder
	a.Stdout, a.Stderr, b.Stdout, b.Stderr = &outA, &outA, &outB, &outB
	require.NoError(t, a.Start())
	require.NoError(t, b.Start())
	errA, errB := a.Wait(), b.Wait()
	require.NoError(t, errA, outA.String())
	require.NoError(t, errB, outB.String())
	assert.Equal(t, int64(1), srv.Hits.Load(), "one download; the other process waited on the lock and used it")
	assert.True(t, strings.Contains(outA.String()+outB.String(), "from cache"), "one child found the other's result")
	cache, _ := CacheDir()
	list, _ := ListInstalled(cache, ONNXRuntime, "")
	assert.Len(t, list, 1)
}

func TestKillMidDownload(t *testing.T) {
	srv, version, _ := fetchEnv(t, "good")
	started := make(chan struct{}, 1)
	srv.SetFault(func(w http.ResponseWriter, r *http.Request, body []byte) bool {
		w.Header().Set("Content-Length", strconv.Itoa(len(body)))
		w.Write(body[:len(body)/2])
		w.(http.Flusher).Flush()
		started <- struct{}{}
		<-r.Context().Done() // hang until the client goes away
		return true
	})
	cmd := child(t, version)
	require.NoError(t, cmd.Start())
	select {
	case <-started:
	case <-time.After(30 * time.Second):
		cmd.Process.Kill()
		t.Fatal("the child never started downloading")
	}
	time.Sleep(200 * time.Millisecond) // let it write some of the body
	require.NoError(t, cmd.Process.Signal(syscall.SIGKILL))
	_ = cmd.Wait()

	cache, _ := CacheDir()
	list, _ := ListInstalled(cache, ONNXRuntime, "")
	assert.Empty(t, list, "a killed download never shows up as a runtime")
	found, _ := Find(context.Background(), Request{Framework: ONNXRuntime}, cacheSource{})
	assert.Empty(t, found)

	// The next fetch takes the lock the dead process held, clears its
	// temporary directory and installs the runtime.
	srv.SetFault(nil)
	c, err := Fetch(context.Background(), ONNXRuntime, version, FetchOptions{})
	require.NoError(t, err)
	assert.Equal(t, "download", c.Source)
	require.NoError(t, Remove(ONNXRuntime, version))
	assertCacheClean(t)
}

func TestMirrorAndURLPolicy(t *testing.T) {
	t.Setenv("CARTON_DOWNLOAD_MIRROR", "http://127.0.0.1:9/vendors/")
	got, err := mirrored("https://download.example/libtorch/cpu/libtorch-2.1.0%2Bcpu.zip?x=1")
	require.NoError(t, err)
	assert.Equal(t, "http://127.0.0.1:9/vendors/libtorch/cpu/libtorch-2.1.0%2Bcpu.zip?x=1", got)
	t.Setenv("CARTON_DOWNLOAD_MIRROR", "not a url")
	_, err = mirrored("https://a.example/x")
	require.Error(t, err)

	assert.NoError(t, checkURL("https://a.example/x.tgz"))
	assert.NoError(t, checkURL("http://127.0.0.1:8080/x.tgz"))
	assert.NoError(t, checkURL("http://[::1]/x.tgz"))
	assert.Error(t, checkURL("http://a.example/x.tgz"))
	assert.Error(t, checkURL("ftp://a.example/x.tgz"))
}

func TestEmbeddedReleaseTable(t *testing.T) {
	t.Setenv("CARTON_RELEASE_TABLE", "")
	rels, err := Releases()
	require.NoError(t, err)
	require.NotEmpty(t, rels)
	fws := map[Framework]bool{}
	for _, r := range rels {
		fws[r.Framework] = true
		assert.NotEmpty(t, archiveKind(r.URL), r.URL)
	}
	assert.True(t, fws[ONNXRuntime] && fws[LibTorch] && fws[TensorFlow])

	bad := filepath.Join(t.TempDir(), "bad.toml")
	require.NoError(t, os.WriteFile(bad, []byte("[[release]]\nframework = \"onnxruntime\"\nversion = \"1.0.0\"\nplatform = \"linux/amd64\"\nurl = \"http://vendor.example/x.tgz\"\n"), 0o644))
	t.Setenv("CARTON_RELEASE_TABLE", bad)
	_, err = Releases()
	require.Error(t, err, "plain http to a non-loopback host is refused in the table too")
}

// A progress writer gets a bar; without one nothing is written anywhere.
func TestProgressBar(t *testing.T) {
	_, version, _ := fetchEnv(t, "good")
	var bar strings.Builder
	_, err := Fetch(context.Background(), ONNXRuntime, version, FetchOptions{Progress: &bar})
	require.NoError(t, err)
	assert.Contains(t, bar.String(), "onnxruntime-linux-x64-"+version+".tgz")
	assert.Contains(t, bar.String(), "100%")
}

// A version names one directory in the cache: one that would reach
// outside it is refused before anything is created, looked up or removed.
func TestVersionCannotLeaveTheCache(t *testing.T) {
	fetchEnv(t, "good")
	cache, err := CacheDir()
	require.NoError(t, err)
	victim := filepath.Join(cache, "runtimes", "keep") // what "rm onnx ../../keep" would have reached
	require.NoError(t, os.MkdirAll(victim, 0o755))
	for _, v := range []string{"", ".", "..", "../../keep", "1.0.0/../../../keep", `1.0.0\x`, ".hidden", "1.0.0+a/b"} {
		_, err := Fetch(context.Background(), ONNXRuntime, v, FetchOptions{})
		require.ErrorIs(t, err, ErrInvalidVersion, "%q", v)
		require.ErrorIs(t, Remove(ONNXRuntime, v), ErrInvalidVersion, "%q", v)
	}
	assert.DirExists(t, victim)
	entries, err := os.ReadDir(filepath.Join(cache, "runtimes"))
	require.NoError(t, err)
	require.Len(t, entries, 1, "nothing created beside it")
	for _, v := range []string{"1.20.1", "2.15.0+cu132", "1.0.0-rc.1", "2_1"} {
		assert.NoError(t, checkVersion(v), v)
	}
}
