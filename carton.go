package carton

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"sync"

	"github.com/carton-run/carton/backend"
	"github.com/carton-run/carton/format"
	"github.com/carton-run/carton/internal/schedtick"
	"github.com/carton-run/carton/libfetch"
	"github.com/carton-run/carton/tensor"
)

// Info is a carton's metadata: carton.toml's fields (under their own names
// in JSON) plus the manifest hash, and, for a loaded model, the runtime
// that runs it.
type Info struct {
	*format.Config
	ManifestSHA256 string `json:"manifest_sha256"`
	// Path is where the carton was read from.
	Path string `json:"-"`
	// Runtime is the chosen framework runtime; nil from ModelInfo.
	Runtime *backend.Runtime `json:"runtime,omitempty"`
	// Linked lists the files the carton leaves out of its zip, with the
	// URLs LINKS gives for them (Shrink makes such cartons).
	Linked map[string][]string `json:"linked,omitempty"`
}

// infoOf is the Info of an opened carton read from path.
func infoOf(c *format.Carton, path string) Info {
	return Info{Config: c.Config, ManifestSHA256: c.ManifestSHA256, Path: path, Linked: c.LinkedFiles()}
}

// Model is a loaded carton, ready for Infer. See the package documentation
// for its lifetime and concurrency contract.
type Model struct {
	info    Info
	src     opened // the carton, and its URL when read over the network
	session backend.Session
	blocks  backend.BlockSession // the session, when it carves outputs from a block it can be given
	inputs  *inputChecker
	spare   mapPool // output maps given back by ReleaseOutputs, for Infer to refill
	lent    mapPool // output maps Infer refilled, until given back (spare.go)

	mu      sync.RWMutex // Infer holds it shared, Close exclusive
	closed  bool
	dropped runtime.Cleanup     // closes the model if it is dropped without Close
	tick    schedtick.Refresher // keeps loops of long native calls schedulable (RATIONALE.md)

	tensorsOnce sync.Once
	tensors     *format.TensorData
	tensorsErr  error
}

// ModelInfo reads a carton's metadata without verifying its files or
// loading a runner. path may be an http(s) URL, as for Load (offline, what
// a Load of it kept in the cache answers); of opts, only WithFetchOptions,
// WithLimits and WithCacheDir apply.
func ModelInfo(ctx context.Context, path string, opts ...Option) (*Info, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	o, err := buildOptionsFor(opts, needs{downloads: isURL(path)})
	if err != nil {
		return nil, err
	}
	op, err := openCarton(ctx, path, o, true)
	if err != nil {
		return nil, err
	}
	defer op.close()
	info := infoOf(op.carton, op.carton.Path)
	return &info, nil
}

// Load opens a packed (.carton) or unpacked carton, verifies every file
// against its MANIFEST, selects a runner and runtime and loads the model.
//
// path may also be an http(s) URL of a .carton: it is read through range
// requests, so only what the model needs crosses the network (model/'s
// files, each checked as it is extracted into the cache; the carton's
// other files when read, checked then), and a model already extracted
// loads after reading the carton's directory and metadata alone. Load
// keeps that metadata in the cache, so that offline (CARTON_OFFLINE=1,
// FetchOptions.Offline) a URL loaded before loads from the cache without a
// request; one never loaded is ErrOffline. The Model reads the URL until
// Close.
// Model files only behind LINKS are downloaded into the cache and checked
// as they are written, once: a later Load of the same carton uses that
// copy, offline too. Linked files outside model/ are checked when read.
func Load(ctx context.Context, path string, opts ...Option) (*Model, error) {
	return load(ctx, path, false, opts)
}

// LoadUnpacked is Load for a directory laid out like a carton; it fails if
// path is not a directory.
func LoadUnpacked(ctx context.Context, dir string, opts ...Option) (*Model, error) {
	return load(ctx, dir, true, opts)
}

// LoadReader is Load for a packed carton of size bytes read through r,
// such as one embedded in the program:
//
//	//go:embed model.carton
//	var modelCarton []byte
//
//	m, err := carton.LoadReader(ctx, bytes.NewReader(modelCarton), int64(len(modelCarton)))
//
// Every file is verified as Load verifies it. A lone model/model.onnx or
// model/model.pt of up to backend.MemoryLoadMaxBytes loads straight from
// r; anything else is extracted into the cache (WithCacheDir), as Load
// does. The Model reads r until it is closed (TensorData reads
// tensor_data/ on first use), so r must stay readable until Close, which
// does not close it. Info().Path is empty.
func LoadReader(ctx context.Context, r io.ReaderAt, size int64, opts ...Option) (*Model, error) {
	o, err := buildOptions(opts)
	if err != nil {
		return nil, err
	}
	c, err := format.OpenReader(r, size, "", o.openOptions(ctx))
	if err != nil {
		return nil, err
	}
	return loadOrClose(ctx, opened{carton: c}, o)
}

func load(ctx context.Context, path string, wantDir bool, opts []Option) (*Model, error) {
	o, err := buildOptions(opts)
	if err != nil {
		return nil, err
	}
	if wantDir {
		st, err := os.Stat(path)
		if err != nil {
			return nil, err
		}
		if !st.IsDir() {
			return nil, fmt.Errorf("%w: LoadUnpacked: %s is not a directory (use Load for .carton files)", ErrMalformed, path)
		}
	}
	op, err := openCarton(ctx, path, o, true)
	if err != nil {
		return nil, err
	}
	m, err := loadOrClose(ctx, op, o)
	if err == nil && op.remote != nil {
		// For Loads offline; without it they fail as they would anyway.
		_ = keepMetadata(o.cacheDir, path, op.carton)
	}
	return m, err
}

// loadOrClose loads the opened carton, closing it on failure.
func loadOrClose(ctx context.Context, op opened, o loadOptions) (*Model, error) {
	m, err := loadOpened(ctx, op, o)
	if err != nil {
		op.close()
		return nil, err
	}
	return m, nil
}

// labelled prefixes err with the carton's path, when it has one.
func labelled(path string, err error) error {
	if path == "" {
		return err
	}
	return fmt.Errorf("%s: %w", path, err)
}

func loadOpened(ctx context.Context, op opened, o loadOptions) (*Model, error) {
	c := op.carton
	cfg, path := c.Config, c.Path
	defer op.interruptOn(ctx)()
	sel, err := selectOrFetch(ctx, cfg, o)
	if err != nil {
		return nil, labelled(path, err)
	}
	runnerOpts := maps.Clone(cfg.Runner.Opts)
	if runnerOpts == nil {
		runnerOpts = map[string]any{}
	}
	maps.Copy(runnerOpts, o.runnerOpts)
	modelDir, verified, err := prepareModel(ctx, op, o, sel.Runner, runnerOpts)
	if err != nil {
		return nil, err
	}
	session, err := sel.Runner.Load(ctx, backend.LoadRequest{Carton: c, ModelDir: modelDir, Runtime: sel.Runtime, Opts: runnerOpts, Device: o.device})
	if verified != nil {
		if verr := <-verified; verr != nil {
			if err == nil {
				session.Close()
			}
			return nil, verr
		}
	}
	if err != nil {
		return nil, labelled(path, fmt.Errorf("runner %s (%s %s from %s): %w", sel.Runner.Name(), sel.Runtime.Framework, sel.Runtime.Version, sel.Runtime.Source, err))
	}
	if r, ok := session.(backend.SpecReporter); ok {
		in, out := r.ModelSpecs()
		if err := backend.CheckDeclared(cfg.Inputs, cfg.Outputs, in, out); err != nil {
			session.Close()
			return nil, labelled(path, err)
		}
	}
	rt := sel.Runtime
	info := infoOf(c, path)
	info.Runtime = &rt
	m := &Model{
		info:    info,
		src:     op,
		session: session,
		inputs:  newInputChecker(cfg.Inputs),
	}
	m.blocks, _ = session.(backend.BlockSession)
	// A model dropped without Close is closed once unreachable: its
	// native memory is freed, and its session's pinned memory unpinned
	// (a runtime.Pinner collected while pinning is a fatal error).
	m.dropped = runtime.AddCleanup(m, func(r resources) { r.close() }, m.resources())
	return m, nil
}

// prepareModel makes the model's files ready for the runner: it returns
// the directory to load from ("" when the runner reads the zip itself),
// and, when the runner may start on a cached copy before the zip is
// checked, the channel that check reports on.
func prepareModel(ctx context.Context, op opened, o loadOptions, runner backend.Runner, runnerOpts map[string]any) (string, chan error, error) {
	c := op.carton
	cacheRoot := filepath.Join(o.cacheDir, modelsDir)
	cached, zipVerified, cacheErr := c.CheckExtracted(cacheRoot)
	isCached := cacheErr == nil
	modelFiles := c.Files("model/")
	ml, memory := runner.(backend.MemoryLoader)
	switch {
	case op.remote != nil:
		// A carton by URL is always extracted, each file checked as it is
		// written: a later Load (offline too) reads the model from there.
		if isCached {
			markLoaded(cached)
		}
		dir, err := c.ExtractModel(ctx, cacheRoot)
		return dir, nil, err
	case op.kept:
		var damaged *format.DamagedError
		if errors.As(cacheErr, &damaged) {
			return "", nil, labelled(c.Path, fmt.Errorf("%w: %w; a Load online extracts it again", ErrOffline, cacheErr))
		}
		if !isCached {
			return "", nil, labelled(c.Path, fmt.Errorf("%w: the model is no longer in the cache (removed since a Load online extracted it)", ErrOffline))
		}
		markLoaded(cached)
		return cached, nil, nil
	case memory && c.Packed && ml.LoadsFromMemory(modelFiles, totalSize(c, modelFiles), runnerOpts):
		// The runner reads model/ from the zip itself; a lone model file
		// it reads through ReadFile, which checks it.
		var skip []string
		if len(modelFiles) == 1 {
			skip = modelFiles
		}
		return "", nil, c.VerifyStored(ctx, skip...)
	case isCached && zipVerified:
		// The copy is as it was written (CheckExtracted), and this very
		// file, unchanged, was verified against the same MANIFEST before.
		markLoaded(cached)
		return cached, nil, nil
	case isCached:
		// The runner reads a copy verified when it was extracted, so the
		// zip's own check need not come first: both take time in
		// proportion to the model, and on two cores they overlap.
		markLoaded(cached)
		verified := make(chan error, 1)
		go func() {
			err := c.VerifyStored(ctx)
			if err == nil {
				_ = c.MarkVerified(cacheRoot)
			}
			verified <- err
		}()
		return cached, verified, nil
	}
	dir, err := c.Materialize(ctx, cacheRoot)
	return dir, nil, err
}

func (m *Model) resources() resources { return resources{session: m.session, src: m.src} }

// totalSize is the size of files in c, math.MaxInt64 when one is not in
// the zip (reachable only through LINKS).
func totalSize(c *format.Carton, files []string) int64 {
	var total int64
	for _, f := range files {
		n, ok := c.FileSize(f)
		if !ok {
			return math.MaxInt64
		}
		total += n
	}
	return total
}

// resources is what a Model closes, apart from the Model itself, which
// must become unreachable for the cleanup of a dropped one to run.
type resources struct {
	session backend.Session
	src     opened
}

func (r resources) close() error {
	err := r.session.Close()
	return errors.Join(err, r.src.close())
}

// selectOrFetch picks the runner and runtime; when no installed runtime
// satisfies the carton and the user named none, it downloads the newest
// that does (libfetch) and selects again.
func selectOrFetch(ctx context.Context, cfg *format.Config, o loadOptions) (backend.Selection, error) {
	hints := backend.Hints{RuntimePath: o.runtimePath}
	sel, err := backend.Select(ctx, cfg.Runner.RunnerName, cfg.Runner.RequiredFrameworkVersion, cfg.RequiredPlatforms, hints, o.pin)
	var none *backend.NoRuntimeError
	if err == nil || !errors.As(err, &none) || none.Framework == "" {
		return sel, err
	}
	for _, c := range none.Found {
		if c.Source == "option" || c.Source == "env" {
			return sel, err // the user named a runtime: never replace it behind their back
		}
	}
	fetched, ferr := libfetch.FetchMatching(ctx, libfetch.Framework(none.Framework), cfg.Runner.RequiredFrameworkVersion, o.pin, *o.fetch)
	if ferr != nil {
		return sel, fmt.Errorf("%w; downloading one: %w\n%s", err, ferr, libfetch.Searched(libfetch.Framework(none.Framework)))
	}
	sel, err = backend.Select(ctx, cfg.Runner.RunnerName, cfg.Runner.RequiredFrameworkVersion, cfg.RequiredPlatforms, hints, fetched.Version)
	if err == nil && sel.Runtime.Path == fetched.Path {
		sel.Runtime.Source = fetched.Source // "download" when this Load fetched it
		sel.Runtime.Origin = fetched.Origin
	}
	return sel, err
}

// Info returns the model's metadata and the runtime running it. The
// returned value shares the model's Config: treat it as read-only.
func (m *Model) Info() Info { return m.info }

// Infer runs the model on inputs keyed by input name. Inputs are checked
// against the declared specs first; outputs are keyed by output name.
//
// The map is the caller's. A caller done with the outputs can give it back
// with ReleaseOutputs, which releases them and lets a later Infer refill
// the map instead of allocating one.
func (m *Model) Infer(ctx context.Context, inputs map[string]tensor.Tensor) (map[string]tensor.Tensor, error) {
	outputs := make(map[string]tensor.Tensor, len(m.info.Outputs))
	if err := m.inferLending(ctx, inputs, outputs); err != nil {
		return nil, err
	}
	return outputs, nil
}

// inferLending runs the model into outputs over a block of memory an
// earlier call's outputs occupied, when ReleaseOutputs gave one back, and
// lends outputs out with the block its outputs now occupy, for
// ReleaseOutputs to take back.
func (m *Model) inferLending(ctx context.Context, inputs, outputs map[string]tensor.Tensor) error {
	e := m.spare.take()
	var spare []byte
	if e != nil {
		spare = e.block
	}
	block, err := m.infer(ctx, inputs, outputs, spare)
	if err != nil {
		clear(outputs)
		if e != nil {
			m.spare.put(e) // no output of the failed call reached the caller: its block stays reusable
		}
		return err
	}
	// Only a call that had an entry lends its map out with one: a first
	// call spares itself the allocation, and its map comes back without a
	// block (ReleaseOutputs makes it an entry).
	if e != nil {
		e.block = nil
		if cap(block) <= spareKeepMaxBytes {
			e.block = block
		}
		e.lend(outputs)
		m.lent.put(e)
	}
	return nil
}

// InferInto is Infer storing the outputs in a map the caller passes: on
// return it holds this call's outputs and nothing else. What it held
// before is dropped without being released (entries under an output's
// name are overwritten, others deleted). A caller that passes the same
// map call after call saves the map Infer allocates each time: two of its
// three allocations, and the cache misses of fresh memory that cost more
// than the allocations themselves (docs/benchmarks-history.md). The map must not be
// used by another goroutine during the call. On error it is left empty.
func (m *Model) InferInto(ctx context.Context, inputs, outputs map[string]tensor.Tensor) error {
	if outputs == nil {
		return fmt.Errorf("%w: InferInto needs a non-nil output map", ErrInvalidInput)
	}
	// The outputs the map holds now were not given back: the caller may
	// still hold them, so the block they occupy must not be reused.
	m.lent.takeMap(mapPointer(outputs))
	return m.inferLending(ctx, inputs, outputs)
}

// infer runs the session on inputs into outputs, offering it spare as the
// block for its outputs, and returns the block they occupy.
func (m *Model) infer(ctx context.Context, inputs, outputs map[string]tensor.Tensor, spare []byte) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if err := m.inputs.check(inputs); err != nil {
		return nil, err
	}
	m.tick.Enter()
	defer m.tick.Exit()
	m.mu.RLock()
	defer m.mu.RUnlock()
	if m.closed {
		return nil, ErrClosed
	}
	if m.blocks != nil {
		return m.blocks.InferBlock(ctx, inputs, outputs, spare)
	}
	return nil, m.session.Infer(ctx, inputs, outputs)
}

// Close releases the runner session and the carton file. It waits for Infer
// calls in progress; later calls return ErrClosed. Close is idempotent.
func (m *Model) Close() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return nil
	}
	m.closed = true
	m.dropped.Stop()
	m.spare.drop()
	m.lent.drop()
	return m.resources().close()
}

// TensorData returns the carton's tensor_data/ (self-test and example
// tensors), read and verified on first use.
func (m *Model) TensorData() (*format.TensorData, error) {
	m.tensorsOnce.Do(func() {
		m.tensors, m.tensorsErr = m.src.carton.TensorData()
		if m.tensorsErr != nil && m.src.kept {
			m.tensorsErr = fmt.Errorf("%w: a carton by URL loaded offline keeps only its metadata and model, not tensor_data: %w", ErrOffline, m.tensorsErr)
		}
	})
	return m.tensors, m.tensorsErr
}
