package main

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/BurntSushi/toml"

	"github.com/carton-run/carton"
	"github.com/carton-run/carton/internal/cliopt"
)

// modelSpec is a model to load, and how: the per-model settings come from
// the config file (--config) and the per-model flags.
type modelSpec struct {
	Name             string         `toml:"name"`
	Version          string         `toml:"version"`
	Path             string         `toml:"path"`
	Device           string         `toml:"device"`
	Runtime          string         `toml:"runtime"`
	FrameworkVersion string         `toml:"framework_version"`
	RunnerOpts       map[string]any `toml:"runner_opts"`
	Concurrency      int            `toml:"concurrency"`
	Queue            int            `toml:"queue"`
}

// options are the Load options the spec asks for.
func (sp modelSpec) options() []carton.Option {
	var opts []carton.Option
	if sp.Device != "" {
		opts = append(opts, carton.WithDevice(sp.Device))
	}
	if sp.Runtime != "" {
		opts = append(opts, carton.WithRuntimePath(sp.Runtime))
	}
	if sp.FrameworkVersion != "" {
		opts = append(opts, carton.WithFrameworkVersion(sp.FrameworkVersion))
	}
	keys := make([]string, 0, len(sp.RunnerOpts))
	for k := range sp.RunnerOpts {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		opts = append(opts, carton.WithRunnerOpt(k, sp.RunnerOpts[k]))
	}
	return opts
}

// maxConfigBytes bounds the config file: it lists models, nothing large.
const maxConfigBytes = 1 << 20

// readConfig reads a config file's [[model]] tables; relative paths in it
// are taken from the file's directory. Unknown keys are errors, so that a
// misspelt setting is not silently ignored.
func readConfig(path string) ([]modelSpec, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("--config: %w", err)
	}
	defer f.Close()
	var buf bytes.Buffer
	if n, err := buf.ReadFrom(io.LimitReader(f, maxConfigBytes+1)); err != nil {
		return nil, fmt.Errorf("--config %s: %w", path, err)
	} else if n > maxConfigBytes {
		return nil, fmt.Errorf("--config %s: larger than %d bytes", path, maxConfigBytes)
	}
	var cfg struct {
		Model []modelSpec `toml:"model"`
	}
	md, err := toml.Decode(buf.String(), &cfg)
	if err != nil {
		return nil, fmt.Errorf("--config %s: %w", path, err)
	}
	if und := md.Undecoded(); len(und) > 0 {
		keys := make([]string, len(und))
		for i, k := range und {
			keys[i] = k.String()
		}
		return nil, fmt.Errorf("--config %s: unknown keys %s (known: model.name, version, path, device, runtime, framework_version, runner_opts, concurrency, queue)", path, strings.Join(keys, ", "))
	}
	dir := filepath.Dir(path)
	for i, m := range cfg.Model {
		if m.Name == "" || m.Path == "" {
			return nil, fmt.Errorf("--config %s: model %d needs a name and a path", path, i+1)
		}
		if !strings.Contains(m.Path, "://") && !filepath.IsAbs(m.Path) {
			cfg.Model[i].Path = filepath.Join(dir, m.Path)
		}
		if m.Runtime != "" && !filepath.IsAbs(m.Runtime) {
			cfg.Model[i].Runtime = filepath.Join(dir, m.Runtime)
		}
	}
	return cfg.Model, nil
}

// perModel is a repeatable flag whose values apply to every model, or to
// one when written NAME<sep>VALUE with NAME a model's name: --device
// cuda:0, --device resnet=cuda:1.
type perModel struct {
	sep    string
	values []string
}

func (p *perModel) String() string     { return strings.Join(p.values, ",") }
func (p *perModel) Set(v string) error { p.values = append(p.values, v); return nil }

// apply calls set for each value, with the models it is for: the one
// named, else all of them. Later values win.
func (p *perModel) apply(specs []modelSpec, set func(*modelSpec, string) error) error {
	for _, v := range p.values {
		name, rest, ok := strings.Cut(v, p.sep)
		named := false
		for i := range specs {
			if ok && specs[i].Name == name {
				named = true
				if err := set(&specs[i], rest); err != nil {
					return err
				}
			}
		}
		if named {
			continue
		}
		for i := range specs {
			if err := set(&specs[i], v); err != nil {
				return err
			}
		}
	}
	return nil
}

// modelSpecs gathers the models of the config file, the --model flags and
// a model repository: DIR/NAME.carton, and DIR/NAME/VERSION/*.carton (one
// carton per version).
func modelSpecs(config string, flags []string, repo string) ([]modelSpec, error) {
	var out []modelSpec
	if config != "" {
		specs, err := readConfig(config)
		if err != nil {
			return nil, err
		}
		out = append(out, specs...)
	}
	for _, f := range flags {
		name, path, ok := strings.Cut(f, "=")
		if !ok || name == "" || path == "" {
			return nil, fmt.Errorf("--model %q: want NAME=PATH", f)
		}
		out = append(out, modelSpec{Name: name, Path: path})
	}
	if repo == "" {
		return out, nil
	}
	files, err := filepath.Glob(filepath.Join(repo, "*.carton"))
	if err != nil {
		return nil, err
	}
	for _, f := range files {
		out = append(out, modelSpec{Name: strings.TrimSuffix(filepath.Base(f), ".carton"), Path: f})
	}
	versioned, _ := filepath.Glob(filepath.Join(repo, "*", "*", "*.carton"))
	sort.Strings(versioned)
	for _, f := range versioned {
		version := filepath.Base(filepath.Dir(f))
		name := filepath.Base(filepath.Dir(filepath.Dir(f)))
		out = append(out, modelSpec{Name: name, Version: version, Path: f})
	}
	if len(files) == 0 && len(versioned) == 0 {
		return nil, fmt.Errorf("model repository %s holds no NAME.carton nor NAME/VERSION/*.carton: %w", repo, fs.ErrNotExist)
	}
	return out, nil
}

// modelFlags are the per-model settings of the command line.
type modelFlags struct {
	device, runtime, frameworkVersion, opt, concurrency, queue perModel
}

func (f *modelFlags) register(fl *flag.FlagSet) {
	f.device.sep, f.runtime.sep, f.frameworkVersion.sep, f.concurrency.sep, f.queue.sep = "=", "=", "=", "=", "="
	f.opt.sep = ":"
	fl.Var(&f.device, "device", "device to run on, cpu or cuda:N; NAME=DEVICE for one model; repeatable")
	fl.Var(&f.runtime, "runtime", "framework library or directory to use; NAME=PATH for one model; repeatable")
	fl.Var(&f.frameworkVersion, "framework-version", "use a runtime of this version or requirement; NAME=REQ for one model; repeatable")
	fl.Var(&f.opt, "opt", "override a runner option KEY=VALUE (integers, floats, true/false, else a string); NAME:KEY=VALUE for one model; repeatable")
	fl.Var(&f.concurrency, "model-concurrency", "infer requests of a model that run at once, NAME=N (default --concurrency); repeatable")
	fl.Var(&f.queue, "model-queue", "infer requests of a model that may wait, NAME=N (default --queue); repeatable")
}

// apply sets the flags' settings on specs; flags win over the config file.
func (f *modelFlags) apply(specs []modelSpec) error {
	str := func(field func(*modelSpec) *string) func(*modelSpec, string) error {
		return func(sp *modelSpec, v string) error { *field(sp) = v; return nil }
	}
	num := func(flag string, field func(*modelSpec) *int) func(*modelSpec, string) error {
		return func(sp *modelSpec, v string) error {
			n, err := strconv.Atoi(v)
			if err != nil || n < 0 {
				return fmt.Errorf("--%s %q: want NAME=N, N a count", flag, v)
			}
			*field(sp) = n
			return nil
		}
	}
	return errors.Join(
		f.device.apply(specs, str(func(sp *modelSpec) *string { return &sp.Device })),
		f.runtime.apply(specs, str(func(sp *modelSpec) *string { return &sp.Runtime })),
		f.frameworkVersion.apply(specs, str(func(sp *modelSpec) *string { return &sp.FrameworkVersion })),
		f.opt.apply(specs, func(sp *modelSpec, kv string) error {
			k, v, ok := strings.Cut(kv, "=")
			if !ok || k == "" {
				return fmt.Errorf("--opt %q: want [NAME:]KEY=VALUE", kv)
			}
			if sp.RunnerOpts == nil {
				sp.RunnerOpts = map[string]any{}
			}
			sp.RunnerOpts[k] = cliopt.Value(v)
			return nil
		}),
		f.concurrency.apply(specs, num("model-concurrency", func(sp *modelSpec) *int { return &sp.Concurrency })),
		f.queue.apply(specs, num("model-queue", func(sp *modelSpec) *int { return &sp.Queue })),
	)
}
