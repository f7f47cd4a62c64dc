package main

import (
	"bytes"
	"crypto/rand"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/carton-run/carton/tensor"
)

// pack never writes over a file it reads: the model (named directly,
// through a symlink or a hard link, or inside a model directory), a misc
// file, or a self-test tensor. Each is refused before anything is
// written, and the file keeps its bytes.
func TestPackNeverReplacesAnInput(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("CARTON_CACHE_DIR", filepath.Join(dir, "cache"))
	model := filepath.Join(dir, "w.bin")
	weights := []byte("the user's only copy of the weights")
	require.NoError(t, os.WriteFile(model, weights, 0o644))
	require.NoError(t, os.Symlink(model, filepath.Join(dir, "link.bin")))
	require.NoError(t, os.Link(model, filepath.Join(dir, "hard.bin")))
	modelDir := filepath.Join(dir, "m")
	require.NoError(t, os.Mkdir(modelDir, 0o755))
	inDir := filepath.Join(modelDir, "weights.bin")
	require.NoError(t, os.WriteFile(inDir, weights, 0o644))
	x, err := tensor.From(tensor.Shape{1}, []float32{1})
	require.NoError(t, err)
	xnpy := writeNpy(t, dir, "x.npy", x)
	xbytes, err := os.ReadFile(xnpy)
	require.NoError(t, err)

	noop := []string{"--runner", "noop", "--framework-version", "*"}
	for name, args := range map[string][]string{
		"the model":           {model, "-o", model},
		"through a symlink":   {model, "-o", filepath.Join(dir, "link.bin")},
		"through a hard link": {model, "-o", filepath.Join(dir, "hard.bin")},
		"in the model dir":    {modelDir, "-o", inDir},
		"a misc file":         {model, "--misc", xnpy, "-o", xnpy},
		"a self-test tensor":  {model, "--self-test", "x=" + xnpy, "-o", xnpy},
	} {
		t.Run(name, func(t *testing.T) {
			code, _, stderr := cli(t, append(append([]string{"pack"}, args...), noop...)...)
			assert.Equal(t, 1, code)
			assert.Contains(t, stderr, "would replace an input file")
			for _, f := range []string{model, inDir} {
				got, err := os.ReadFile(f)
				require.NoError(t, err)
				assert.Equal(t, weights, got, "%s keeps its bytes", f)
			}
			got, err := os.ReadFile(xnpy)
			require.NoError(t, err)
			assert.Equal(t, xbytes, got)
		})
	}
	// Packing a directory twice into itself still works: the earlier
	// carton is left out, not taken for the model.
	out := filepath.Join(modelDir, "m.carton")
	for range 2 {
		code, _, stderr := cli(t, append([]string{"pack", modelDir, "-o", out}, noop...)...)
		require.Equal(t, 0, code, stderr)
	}
}

// Neither pack nor infer reads a FIFO or a device: each would block or
// never end.
func TestCommandsRefuseNonRegularFiles(t *testing.T) {
	dir, path := packEcho(t)
	fifo := filepath.Join(dir, "fifo")
	require.NoError(t, syscall.Mkfifo(fifo, 0o644))
	for name, args := range map[string][]string{
		"pack /dev/zero":      {"pack", "/dev/zero", "-o", filepath.Join(dir, "z.carton")},
		"pack a FIFO":         {"pack", fifo, "-o", filepath.Join(dir, "f.carton"), "--runner", "noop"},
		"infer a FIFO":        {"infer", path, "--input", "x=" + fifo},
		"infer /dev/zero":     {"infer", path, "--input", "x=/dev/zero"},
		"bench a FIFO":        {"bench", path, "--input", "x=" + fifo, "-n", "1"},
		"self-test of a FIFO": {"pack", filepath.Join(dir, "m.bin"), "--runner", "noop", "--self-test", "x=" + fifo, "-o", filepath.Join(dir, "s.carton")},
	} {
		t.Run(name, func(t *testing.T) {
			done := make(chan struct{})
			var code int
			var stderr string
			go func() { code, _, stderr = cli(t, args...); close(done) }()
			select {
			case <-done:
			case <-time.After(20 * time.Second):
				t.Fatal("still running after 20 s: the command blocked on the file")
			}
			assert.NotEqual(t, 0, code)
			assert.Contains(t, stderr, "not a regular file")
		})
	}
}

func TestInputGivenTwiceIsRefused(t *testing.T) {
	dir, path := packEcho(t)
	x, err := tensor.From(tensor.Shape{1}, []float32{1})
	require.NoError(t, err)
	a, b := writeNpy(t, dir, "a.npy", x), writeNpy(t, dir, "b.npy", x)
	for _, args := range [][]string{
		{"infer", path, "--input", "x=" + a, "--input", "x=" + b},
		{"bench", path, "--input", "x=" + a, "--input", "x=" + b, "-n", "1"},
		{"pack", filepath.Join(dir, "m.bin"), "--runner", "noop", "--self-test", "x=" + a + ",x=" + b, "-o", filepath.Join(dir, "d.carton")},
	} {
		code, _, stderr := cli(t, args...)
		assert.Equal(t, 2, code, "%v", args)
		assert.Contains(t, stderr, "twice", "%v", args)
	}
}

func TestShortNpySaysWhatIsShort(t *testing.T) {
	dir, path := packEcho(t)
	x, err := tensor.From(tensor.Shape{10}, make([]float32, 10))
	require.NoError(t, err)
	p := writeNpy(t, dir, "x.npy", x)
	b, err := os.ReadFile(p)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(p, b[:len(b)-8], 0o644))
	code, _, stderr := cli(t, "infer", path, "--input", "x="+p)
	assert.Equal(t, 1, code)
	assert.Contains(t, stderr, "declares 40 bytes of data")
	assert.Contains(t, stderr, "only 32 follow")
	assert.NotContains(t, stderr, "index out of range")
}

// SIGTERM or SIGINT during a pack ends it and leaves no temporary file
// (nor a half-written carton) behind.
func TestInterruptedPackLeavesNothing(t *testing.T) {
	self, err := os.Executable()
	require.NoError(t, err)
	for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGINT} {
		t.Run(sig.String(), func(t *testing.T) {
			dir := t.TempDir()
			model := filepath.Join(dir, "model")
			require.NoError(t, os.Mkdir(model, 0o755))
			// A large model of random bytes takes seconds to pack.
			big := make([]byte, 1<<20)
			rand.Read(big)
			f, err := os.Create(filepath.Join(model, "weights.bin"))
			require.NoError(t, err)
			for range 512 {
				_, err = f.Write(big)
				require.NoError(t, err)
			}
			require.NoError(t, f.Close())
			out := filepath.Join(dir, "m.carton")
			cmd := exec.Command(self, "pack", model, "--runner", "noop", "--framework-version", "*", "-o", out)
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			require.NoError(t, cmd.Start())
			// Signal once the temporary carton is being written.
			for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
				if tmp, _ := filepath.Glob(filepath.Join(dir, ".m.carton.tmp-*")); len(tmp) > 0 {
					break
				}
			}
			require.NoError(t, cmd.Process.Signal(sig))
			err = cmd.Wait()
			require.Error(t, err, "the pack was stopped (%s)", stderr.String())
			list, _ := os.ReadDir(dir)
			for _, e := range list {
				assert.False(t, strings.Contains(e.Name(), "carton"), "left behind: %s", e.Name())
			}
		})
	}
}

// infer's outputs and shrink's carton never replace what the command
// reads: an input .npy in the output directory, or the carton itself.
func TestOutputsNeverReplaceInputs(t *testing.T) {
	dir, path := packEcho(t)
	x, err := tensor.From(tensor.Shape{2}, []float32{1, 2})
	require.NoError(t, err)
	// The noop runner echoes its inputs: output x goes to DIR/x.npy.
	in := writeNpy(t, dir, "x.npy", x)
	before, err := os.ReadFile(in)
	require.NoError(t, err)
	code, _, stderr := cli(t, "infer", path, "--input", "x="+in, "--output-dir", dir)
	assert.Equal(t, 1, code)
	assert.Contains(t, stderr, "would replace an input file")
	after, err := os.ReadFile(in)
	require.NoError(t, err)
	assert.Equal(t, before, after)

	carton, err := os.ReadFile(path)
	require.NoError(t, err)
	code, _, stderr = cli(t, "shrink", path, "--link", "model/m.bin=https://127.0.0.1:1/m.bin", "-o", path)
	assert.Equal(t, 1, code)
	assert.Contains(t, stderr, "would replace an input file")
	got, err := os.ReadFile(path)
	require.NoError(t, err)
	assert.Equal(t, carton, got, "the carton keeps its bytes")
}

// carton cache verify re-hashes what infer extracted: a byte changed on
// disk (size and time kept, which a Load's check cannot see) makes it fail
// and remove the copy; verify of the carton checks that copy too.
func TestCacheVerifyCommand(t *testing.T) {
	dir, path := packEcho(t)
	x, _ := tensor.From(tensor.Shape{2}, []float32{1, 2})
	in := writeNpy(t, dir, "x.npy", x)
	code, _, stderr := cli(t, "infer", path, "--input", "x="+in, "--output-dir", filepath.Join(dir, "o"))
	require.Equal(t, 0, code, stderr)
	code, stdout, stderr := cli(t, "cache", "verify")
	require.Equal(t, 0, code, stderr)
	assert.Contains(t, stdout, "1 models checked, 0 damaged")
	code, stdout, _ = cli(t, "verify", path)
	require.Equal(t, 0, code)
	assert.Contains(t, stdout, "the cached copy's 1 files match too")

	models, _ := filepath.Glob(filepath.Join(dir, "cache", "models", "*", "model", "m.bin"))
	require.Len(t, models, 1)
	st, err := os.Stat(models[0])
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(models[0], []byte("M"), 0o644))
	require.NoError(t, os.Chtimes(models[0], st.ModTime(), st.ModTime()))
	code, stdout, _ = cli(t, "cache", "verify")
	assert.Equal(t, 1, code)
	assert.Contains(t, stdout, "damaged")
	assert.Contains(t, stdout, "1 models checked, 1 damaged")
	code, stdout, _ = cli(t, "cache", "verify", "--json")
	require.Equal(t, 0, code)
	assert.Equal(t, "[]\n", stdout, "the damaged copy was removed")
}
