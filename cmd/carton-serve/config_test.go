package main

import (
	"flag"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func writeConfig(t *testing.T, text string) string {
	path := filepath.Join(t.TempDir(), "models.toml")
	require.NoError(t, os.WriteFile(path, []byte(text), 0o644))
	return path
}

// The config file's models, then --model's, take the per-model flags:
// NAME-prefixed values for one model, others for all, later ones winning.
func TestModelSpecsAndPerModelFlags(t *testing.T) {
	cfg := writeConfig(t, `
[[model]]
name = "a"
path = "a.carton"
version = "3"
device = "cuda:1"
runtime = "lib"
framework_version = "^1.20"
concurrency = 2
queue = 5
[model.runner_opts]
intra_op_threads = 1
`)
	fl := flag.NewFlagSet("t", flag.ContinueOnError)
	var mf modelFlags
	mf.register(fl)
	require.NoError(t, fl.Parse([]string{"--opt", "a:graph_optimization_level=all", "--opt", "load_from=bytes",
		"--device", "b=cuda:0", "--model-queue", "b=9", "--runtime", "/opt/ort=1/lib"}))
	specs, err := modelSpecs(cfg, []string{"b=https://host/b.carton"}, "")
	require.NoError(t, err)
	require.NoError(t, mf.apply(specs))
	dir := filepath.Dir(cfg)
	assert.Equal(t, []modelSpec{
		{Name: "a", Version: "3", Path: filepath.Join(dir, "a.carton"), Device: "cuda:1", Runtime: "/opt/ort=1/lib",
			FrameworkVersion: "^1.20", Concurrency: 2, Queue: 5,
			RunnerOpts: map[string]any{"intra_op_threads": int64(1), "graph_optimization_level": "all", "load_from": "bytes"}},
		{Name: "b", Path: "https://host/b.carton", Device: "cuda:0", Runtime: "/opt/ort=1/lib", Queue: 9,
			RunnerOpts: map[string]any{"load_from": "bytes"}},
	}, specs)
	assert.Len(t, specs[0].options(), 6)
}

func TestConfigAndFlagErrors(t *testing.T) {
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	for args, want := range map[string]string{
		"":                                "no model",
		"--model x":                       "want NAME=PATH",
		"--model-repository /nonexistent": "holds no",
		"--config /nonexistent.toml":      "no such file",
		"--config " + writeConfig(t, "[[model]]\nname = \"a\"\npath = \"a\"\ndevise = \"cpu\"\n"): "unknown keys model.devise",
		"--config " + writeConfig(t, "[[model]]\nname = \"a\"\n"):                                 "needs a name and a path",
		"--config " + writeConfig(t, "[[model]\n"):                                                "--config",
		"--config " + writeConfig(t, strings.Repeat("#", maxConfigBytes+1)):                       "larger than",
		"--model a=x --model-concurrency a=-1":                                                    "--model-concurrency",
		"--model a=x --model-queue lots":                                                          "--model-queue",
		"--model a=x --opt a:=1":                                                                  "want [NAME:]KEY=VALUE",
	} {
		err := run(strings.Fields(args), log)
		require.Error(t, err, args)
		assert.Contains(t, err.Error(), want, args)
	}
}

// Per-model runner options and device reach Load: the same carton serves
// under one model's options and is not ready under another's that its
// runner refuses, set in the config file or on the command line.
func TestPerModelOptionsReachLoad(t *testing.T) {
	m := pack(t, "../../testdata/onnx/matmul_add.onnx")
	cfg := writeConfig(t, `
[[model]]
name = "tuned"
path = "`+m+`"
concurrency = 1
[model.runner_opts]
intra_op_threads = 1
graph_optimization_level = "all"

[[model]]
name = "badopt"
path = "`+m+`"
[model.runner_opts]
graph_optimization_level = "turbo"

[[model]]
name = "gpu"
path = "`+m+`"
device = "cuda:0"
`)
	addr, _ := start(t, "", "--config", cfg, "--model", "flagged="+m, "--model", "plain="+m,
		"--opt", "flagged:load_from=nowhere", "--opt", "tuned:inter_op_threads=1")
	for model, want := range map[string]int{"tuned": 200, "badopt": 503, "gpu": 503, "flagged": 503, "plain": 200} {
		resp, err := http.Get("http://" + addr + "/v2/models/" + model + "/ready")
		require.NoError(t, err)
		resp.Body.Close()
		assert.Equal(t, want, resp.StatusCode, model)
	}
}
