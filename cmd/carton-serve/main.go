package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"math"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"time"

	"google.golang.org/grpc"

	"github.com/carton-run/carton"
	_ "github.com/carton-run/carton/backend/libtorch"
	_ "github.com/carton-run/carton/backend/onnx"
	_ "github.com/carton-run/carton/backend/python"
	_ "github.com/carton-run/carton/backend/tensorflow"
	"github.com/carton-run/carton/serve"
)

// moreProcsForNativeCalls doubles GOMAXPROCS unless the user set it: each
// Infer spends its time in one long native call, and when every P is in
// such a call the Go scheduler hands Ps off and wakes spinning threads that
// take CPU from the model (docs/benchmarks-history.md, "Throughput at concurrency 2").
func moreProcsForNativeCalls() {
	if _, set := os.LookupEnv("GOMAXPROCS"); !set {
		runtime.GOMAXPROCS(2 * runtime.GOMAXPROCS(0))
	}
}

type multiFlag []string

func (m *multiFlag) String() string     { return strings.Join(*m, ",") }
func (m *multiFlag) Set(v string) error { *m = append(*m, v); return nil }

func main() {
	moreProcsForNativeCalls()
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	if err := run(os.Args[1:], log); err != nil {
		log.Error("carton-serve", "error", err)
		os.Exit(1)
	}
}

func run(args []string, log *slog.Logger) error {
	fl := flag.NewFlagSet("carton-serve", flag.ContinueOnError)
	var models multiFlag
	var perModel modelFlags
	config := fl.String("config", "", "a TOML file of [[model]] tables: name, path, version, device, runtime, framework_version, concurrency, queue, [model.runner_opts]")
	fl.Var(&models, "model", "a model to serve, NAME=PATH (a carton file, an unpacked carton, a directory holding one .carton, or a URL); repeatable")
	repo := fl.String("model-repository", "", "serve every NAME.carton in DIR, and NAME/VERSION/*.carton as versions")
	addr := fl.String("addr", "127.0.0.1:8000", "REST listen address")
	grpcAddr := fl.String("grpc-addr", "127.0.0.1:8001", `gRPC listen address ("" for none)`)
	maxBytes := fl.Int64("max-request-bytes", 64<<20, "the largest request body accepted (413 past it)")
	drain := fl.Duration("drain", 2*time.Second, "on SIGTERM, how long to keep answering new connections after readiness turns false")
	concurrency := fl.Int("concurrency", 0, "infer requests of one model run at once (0: GOMAXPROCS)")
	queue := fl.Int("queue", 256, "infer requests of one model that may wait for a slot; past that, 429 (RESOURCE_EXHAUSTED)")
	perModel.register(fl)
	if err := fl.Parse(args); err != nil {
		return err
	}
	specs, err := modelSpecs(*config, models, *repo)
	if err != nil {
		return err
	}
	if len(specs) == 0 {
		return errors.New("no model: give --model NAME=PATH, --model-repository DIR or --config FILE")
	}
	if err := perModel.apply(specs); err != nil {
		return err
	}
	// SIGTERM is what an orchestrator sends to stop a container.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	loaded := loadAll(ctx, specs, log)
	defer func() {
		for _, m := range loaded {
			if m.Model != nil {
				m.Model.Close()
			}
		}
	}()
	s, err := serve.New(loaded, serve.Options{MaxRequestBytes: *maxBytes, Logger: log, Concurrency: *concurrency, QueueSize: *queue})
	if err != nil {
		return err
	}
	l, err := net.Listen("tcp", *addr)
	if err != nil {
		return err
	}
	var g *grpc.Server
	if *grpcAddr != "" {
		gl, err := net.Listen("tcp", *grpcAddr)
		if err != nil {
			l.Close()
			return err
		}
		g = s.NewGRPCServer(grpc.MaxRecvMsgSize(int(*maxBytes)), grpc.MaxSendMsgSize(math.MaxInt32))
		go func() {
			if err := g.Serve(gl); err != nil {
				log.Error("gRPC", "error", err)
			}
		}()
		log.Info("serving gRPC", "addr", gl.Addr().String())
	}
	srv := &http.Server{
		Handler:           s,
		ReadHeaderTimeout: 10 * time.Second, // a slow client cannot hold a connection forever
		ReadTimeout:       5 * time.Minute,
		IdleTimeout:       2 * time.Minute,
	}
	log.Info("serving", "addr", l.Addr().String(), "models", len(loaded))
	stopped := make(chan error, 1)
	go func() {
		<-ctx.Done()
		// Readiness false: balancers stop sending, and each response closes
		// its connection, so that no client sends on a connection Shutdown
		// closes. (SetKeepAlivesEnabled(false) would close idle ones at
		// once, under clients already sending on them.)
		s.SetReady(false)
		log.Info("draining: not ready", "for", *drain)
		time.Sleep(*drain)
		grpcStopped := make(chan struct{})
		go func() { // every accepted RPC answered, beside the REST requests
			if g != nil {
				g.GracefulStop()
			}
			close(grpcStopped)
		}()
		err := srv.Shutdown(context.Background()) // every accepted request answered
		<-grpcStopped
		stopped <- err
	}()
	if err := srv.Serve(l); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	if err := <-stopped; err != nil {
		return err
	}
	log.Info("stopped")
	return nil
}

// cartonIn resolves a --model PATH that is a directory holding no
// carton.toml (a storage initializer's download, as KServe's /mnt/models)
// to the one .carton file in it; any other path is the carton itself.
func cartonIn(path string) (string, error) {
	st, err := os.Stat(path)
	if err != nil || !st.IsDir() {
		return path, nil // a file, a URL, or an error Load reports
	}
	if _, err := os.Stat(filepath.Join(path, "carton.toml")); err == nil {
		return path, nil // an unpacked carton
	}
	found, _ := filepath.Glob(filepath.Join(path, "*.carton"))
	if len(found) != 1 {
		return "", fmt.Errorf("%s holds no carton.toml and %d .carton files: want an unpacked carton or exactly one .carton", path, len(found))
	}
	return found[0], nil
}

// loadAll loads every model; one that fails is kept with its error.
func loadAll(ctx context.Context, specs []modelSpec, log *slog.Logger) []serve.Model {
	out := make([]serve.Model, 0, len(specs))
	for _, sp := range specs {
		path, err := cartonIn(sp.Path)
		var m *carton.Model
		if err == nil {
			m, err = carton.Load(ctx, path, sp.options()...)
		}
		served := serve.Model{Name: sp.Name, Version: sp.Version, Model: m, LoadErr: err, Concurrency: sp.Concurrency, QueueSize: sp.Queue}
		out = append(out, served)
		if err != nil {
			log.Error("model failed to load; it is not ready", "model", sp.Name, "version", sp.Version, "path", sp.Path, "error", err)
			continue
		}
		rt := m.Info().Runtime
		log.Info("model loaded", "model", sp.Name, "version", sp.Version, "path", sp.Path, "framework", rt.Framework, "runtime", rt.Version, "source", rt.Source, "device", sp.Device)
	}
	return out
}
