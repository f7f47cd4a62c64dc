package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/carton-run/carton"
	"github.com/carton-run/carton/backend"
	"github.com/carton-run/carton/format"
	"github.com/carton-run/carton/internal/semver"
	"github.com/carton-run/carton/tensor"
)

// benchResult is what `carton bench --json` prints.
type benchResult struct {
	Carton        string  `json:"carton"`
	Framework     string  `json:"framework"`
	Version       string  `json:"version"`
	Source        string  `json:"source"`
	API           string  `json:"api"` // Infer, or InferInto with --reuse-outputs
	Concurrency   int     `json:"concurrency"`
	GOMAXPROCS    int     `json:"gomaxprocs"`
	Calls         int     `json:"calls"`
	Seconds       float64 `json:"seconds"`
	Throughput    float64 `json:"throughput_per_s"`
	P50           float64 `json:"p50_us"`
	P90           float64 `json:"p90_us"`
	P99           float64 `json:"p99_us"`
	Max           float64 `json:"max_us"`
	AllocsPerCall float64 `json:"allocs_per_call"`
	BytesPerCall  float64 `json:"bytes_per_call"`
	PeakRSSKiB    int64   `json:"peak_rss_kib"`
	LoadMillis    float64 `json:"load_ms"`
}

func runBench(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("bench", "CARTON [--input NAME=FILE.npy ... | --random] [flags]", stderr)
	var inputs, dims multiFlag
	fs.Var(&inputs, "input", "input tensor NAME=FILE.npy, repeatable")
	random := fs.Bool("random", false, "make random inputs that follow the declared specs")
	fs.Var(&dims, "dim", "size of a shape symbol for --random, NAME=N, repeatable (default 1)")
	duration := fs.Duration("duration", 10*time.Second, "how long to measure (ignored with -n)")
	n := fs.Int("n", 0, "number of calls to measure (overrides --duration)")
	warmup := fs.Int("warmup", 10, "calls before measuring")
	concurrency := fs.Int("concurrency", 1, "goroutines calling Infer at once")
	asJSON := fs.Bool("json", false, "print JSON")
	gomaxprocs := fs.Int("gomaxprocs", 0, "set GOMAXPROCS for the measurement (0: Go's default); see README on concurrency")
	reuse := fs.Bool("reuse-outputs", false, "call InferInto with one output map per goroutine instead of Infer")
	compare := fs.Bool("compare", false, "run on every local runtime version that satisfies the carton's requirement, each in its own process")
	var lf loadFlags
	lf.register(fs)
	path, err := parseOneCarton(fs, args)
	if err != nil {
		return err
	}
	if (*random) == (len(inputs) > 0) {
		return usageErr("give --input files or --random")
	}
	if *concurrency < 1 || *warmup < 0 || *n < 0 || *gomaxprocs < 0 {
		return usageErr("--concurrency must be >= 1, --warmup, -n and --gomaxprocs >= 0")
	}
	if *gomaxprocs > 0 {
		runtime.GOMAXPROCS(*gomaxprocs)
	}
	if *compare {
		if lf.runtimePath != "" {
			return usageErr("--compare runs every local runtime; --runtime names one")
		}
		return benchCompare(ctx, path, args, lf.pin, stdout, *asJSON)
	}
	in, err := benchInputs(ctx, path, inputs, dims, *random)
	if err != nil {
		return err
	}
	start := time.Now()
	m, err := lf.load(ctx, path)
	if err != nil {
		return err
	}
	defer m.Close()
	loadTime := time.Since(start)
	res, err := measure(ctx, func() func(context.Context) error { return caller(m, in, *reuse) }, *concurrency, *warmup, *n, *duration)
	if err != nil {
		return err
	}
	res.Carton, res.LoadMillis, res.GOMAXPROCS = path, float64(loadTime.Microseconds())/1000, runtime.GOMAXPROCS(0)
	res.API = "Infer"
	if *reuse {
		res.API = "InferInto"
	}
	if rt := m.Info().Runtime; rt != nil {
		res.Framework, res.Version, res.Source = rt.Framework, rt.Version, rt.Source
	}
	if *asJSON {
		return json.NewEncoder(stdout).Encode(res)
	}
	printBench(stdout, []benchResult{res})
	return nil
}

// caller returns one goroutine's call: Infer, or InferInto with a map of
// its own; each call's outputs are released, as a caller done with them
// (Infer's through ReleaseOutputs, which lets the next call reuse the map).
func caller(m *carton.Model, in map[string]tensor.Tensor, reuse bool) func(context.Context) error {
	if reuse {
		out := map[string]tensor.Tensor{}
		return func(ctx context.Context) error {
			err := m.InferInto(ctx, in, out)
			for _, t := range out {
				t.Release()
			}
			return err
		}
	}
	return func(ctx context.Context) error {
		out, err := m.Infer(ctx, in)
		m.ReleaseOutputs(out)
		return err
	}
}

// peakRSSKiB is the process's maximum resident set size.
func peakRSSKiB() int64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	if runtime.GOOS == "darwin" {
		return int64(ru.Maxrss) / 1024 // bytes there
	}
	return int64(ru.Maxrss)
}

// benchInputs reads .npy inputs or makes random ones from the specs.
func benchInputs(ctx context.Context, path string, files, dims multiFlag, random bool) (map[string]tensor.Tensor, error) {
	in := map[string]tensor.Tensor{}
	if !random {
		in, _, err := readInputFiles(files)
		if err != nil {
			return nil, err
		}
		info, err := carton.ModelInfo(ctx, path)
		if err != nil {
			return nil, err
		}
		return in, narrowToDeclared(in, info.Inputs)
	}
	sizes := map[string]int64{}
	for _, kv := range dims {
		name, v, ok := strings.Cut(kv, "=")
		size, err := strconv.ParseInt(v, 10, 64)
		if !ok || err != nil || size < 0 {
			return nil, usageErr("--dim %q: want NAME=N", kv)
		}
		sizes[name] = size
	}
	info, err := carton.ModelInfo(ctx, path)
	if err != nil {
		return nil, err
	}
	if len(info.Inputs) == 0 {
		return nil, fmt.Errorf("%w: the carton declares no inputs, so --random cannot shape them; use --input", carton.ErrInvalidInput)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for _, spec := range info.Inputs {
		shape, err := concreteShape(spec, sizes)
		if err != nil {
			return nil, err
		}
		t, err := randomTensor(rng, spec.DType, shape)
		if err != nil {
			return nil, err
		}
		in[spec.Name] = t
	}
	return in, nil
}

func concreteShape(spec format.TensorSpec, sizes map[string]int64) (tensor.Shape, error) {
	switch spec.Shape.Kind {
	case format.ShapeAny:
		return tensor.Shape{1}, nil
	case format.ShapeSymbol:
		return nil, fmt.Errorf("%w: input %q has the whole-shape symbol %q; --random cannot invent a rank, use --input", carton.ErrInvalidInput, spec.Name, spec.Shape.Symbol)
	}
	shape := make(tensor.Shape, len(spec.Shape.Dims))
	for i, d := range spec.Shape.Dims {
		switch d.Kind {
		case format.DimFixed:
			shape[i] = d.Size
		case format.DimSymbol:
			shape[i] = 1
			if v, ok := sizes[d.Symbol]; ok {
				shape[i] = v
			}
		default:
			shape[i] = 1
		}
	}
	return shape, nil
}

func randomTensor(rng *rand.Rand, dt tensor.DType, shape tensor.Shape) (tensor.Tensor, error) {
	if dt == tensor.String {
		n, err := shape.NumElements()
		if err != nil {
			return tensor.Tensor{}, err
		}
		words := make([]string, n)
		for i := range words {
			words[i] = strconv.FormatUint(rng.Uint64(), 36)
		}
		return tensor.FromStrings(shape, words)
	}
	t, err := tensor.New(dt, shape)
	if err != nil {
		return tensor.Tensor{}, err
	}
	b := t.Bytes()
	switch dt {
	case tensor.Float32:
		v := tensor.MustView[float32](t)
		for i := range v {
			v[i] = rng.Float32()*2 - 1
		}
	case tensor.Float64:
		v := tensor.MustView[float64](t)
		for i := range v {
			v[i] = rng.Float64()*2 - 1
		}
	case tensor.Bool:
		v := tensor.MustView[bool](t)
		for i := range v {
			v[i] = rng.IntN(2) == 1
		}
	case tensor.Float16:
		v := tensor.MustView[tensor.F16](t)
		for i := range v {
			v[i] = tensor.NewF16(rng.Float32()*2 - 1)
		}
	case tensor.BFloat16:
		v := tensor.MustView[tensor.BF16](t)
		for i := range v {
			v[i] = tensor.NewBF16(rng.Float32()*2 - 1)
		}
	default: // integers: small non-negative values, valid as indices too
		size := dt.Size()
		for i := 0; i < len(b); i += size {
			b[i] = byte(rng.IntN(8))
		}
	}
	return t, nil
}

// benchCompare re-runs this command once per runtime version that matches
// the carton's requirement and pin (--framework-version), each in its own
// process (some frameworks cannot load two versions in one).
func benchCompare(ctx context.Context, path string, args []string, pin string, stdout io.Writer, asJSON bool) error {
	pinned, err := semver.ParsePin(pin)
	if err != nil {
		return usageErr("--framework-version: %v", err)
	}
	info, err := carton.ModelInfo(ctx, path)
	if err != nil {
		return err
	}
	r, ok := backend.Lookup(info.Runner.RunnerName)
	if !ok {
		return fmt.Errorf("%w %q (available: %s)", carton.ErrUnknownRunner, info.Runner.RunnerName, strings.Join(backend.Names(), ", "))
	}
	req, err := semver.ParseReq(info.Runner.RequiredFrameworkVersion)
	if err != nil {
		return err
	}
	rts, err := r.Runtimes(ctx, backend.Hints{})
	if err != nil {
		return err
	}
	self, err := os.Executable()
	if err != nil {
		return err
	}
	var results []benchResult
	seen := map[string]bool{}
	for _, rt := range rts {
		v, err := semver.Parse(rt.Version)
		if err != nil || !req.Matches(v) || !pinned.Matches(v) || seen[rt.Version] {
			continue
		}
		seen[rt.Version] = true
		childArgs := []string{"bench"}
		for _, a := range args {
			if a != "--compare" && a != "-compare" && a != "--json" && a != "-json" {
				childArgs = append(childArgs, a)
			}
		}
		childArgs = append(childArgs, "--json", "--framework-version", rt.Version) // the last one counts
		out, err := exec.CommandContext(ctx, self, childArgs...).Output()
		if err != nil {
			return fmt.Errorf("bench on %s %s: %w", rt.Framework, rt.Version, childError(err))
		}
		var res benchResult
		if err := json.Unmarshal(out, &res); err != nil {
			return fmt.Errorf("bench on %s %s: %v", rt.Framework, rt.Version, err)
		}
		results = append(results, res)
	}
	if len(results) == 0 {
		what := req.String()
		if pin != "" {
			what += " and " + pin
		}
		return fmt.Errorf("%w: no local %s runtime satisfies %s", carton.ErrNoRuntime, r.Framework(), what)
	}
	if asJSON {
		return json.NewEncoder(stdout).Encode(results)
	}
	printBench(stdout, results)
	return nil
}

func childError(err error) error {
	if ee, ok := err.(*exec.ExitError); ok && len(ee.Stderr) > 0 {
		return fmt.Errorf("%v: %s", err, strings.TrimSpace(string(ee.Stderr)))
	}
	return err
}

func printBench(w io.Writer, results []benchResult) {
	fmt.Fprintf(w, "%-24s %6s %9s %9s %9s %9s %11s %8s %9s %9s\n", "runtime", "conc", "p50 µs", "p90 µs", "p99 µs", "max µs", "calls/s", "allocs", "B/call", "RSS MiB")
	for _, r := range results {
		fmt.Fprintf(w, "%-24s %6d %9.1f %9.1f %9.1f %9.1f %11.0f %8.1f %9.0f %9.1f\n",
			r.Framework+" "+r.Version, r.Concurrency, r.P50, r.P90, r.P99, r.Max, r.Throughput, r.AllocsPerCall, r.BytesPerCall, float64(r.PeakRSSKiB)/1024)
	}
}
