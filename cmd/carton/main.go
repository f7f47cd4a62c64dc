package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
)

type command struct {
	name    string
	summary string
	run     func(ctx context.Context, args []string, stdout, stderr io.Writer) error
}

var commands = []command{
	{"pack", "wrap a model file or directory into a .carton", runPack},
	{"info", "show a carton's metadata", runInfo},
	{"verify", "check every file of a carton against its MANIFEST, downloading those behind LINKS", runVerify},
	{"infer", "run a carton on .npy inputs", runInfer},
	{"selftest", "run a carton's self-tests", runSelfTest},
	{"shrink", "move large files behind URLs (LINKS), keeping the carton's identity", runShrink},
	{"bench", "measure a carton's latency, throughput, allocations and memory", runBench},
	{"fetch", "download a framework runtime into the cache (for offline use)", runFetch},
	{"runtimes", "list the runtimes found, and where from; `runtimes rm` removes a cached one", runRuntimes},
	{"cache", "list the models extracted into the cache; `cache rm` and `cache prune` remove them", runCache},
}

func main() {
	os.Exit(runWithSignals(os.Args[1:]))
}

// runWithSignals runs a command whose context SIGINT and SIGTERM end:
// what it was writing (a carton, a download) is removed, not left
// half-written.
func runWithSignals(args []string) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return run(ctx, args, os.Stdout, os.Stderr)
}

// errSilent marks an error already reported (exit 1 without a message).
var errSilent = errors.New("")

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 2 && args[0] == "help" { // "carton help pack" is "carton pack --help"
		args = []string{args[1], "--help"}
	}
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		usage(stderr)
		if len(args) == 0 {
			return 2
		}
		return 0
	}
	for _, c := range commands {
		if c.name != args[0] {
			continue
		}
		err := c.run(ctx, args[1:], stdout, stderr)
		switch {
		case err == nil:
			return 0
		case errors.Is(err, flag.ErrHelp):
			return 0
		case errors.Is(err, errUsage):
			fmt.Fprintf(stderr, "carton %s: %v\nRun 'carton %s --help' for usage.\n", c.name, err, c.name)
			return 2
		case errors.Is(err, errSilent):
			return 1
		}
		fmt.Fprintf(stderr, "carton %s: %v\n", c.name, err)
		return 1
	}
	fmt.Fprintf(stderr, "carton: unknown command %q\n", args[0])
	usage(stderr)
	return 2
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "Usage: carton COMMAND [ARGS]\n\nCommands:")
	for _, c := range commands {
		fmt.Fprintf(w, "  %-9s %s\n", c.name, c.summary)
	}
	fmt.Fprintln(w, "\nRun 'carton COMMAND --help' for a command's flags.")
}

var errUsage = errors.New("usage")

func usageErr(format string, args ...any) error {
	return fmt.Errorf("%w: %s", errUsage, fmt.Sprintf(format, args...))
}

// parseInterleaved parses flags that may come before or after positional
// arguments, as in "carton pack model.pt --runner torchscript".
func parseInterleaved(fs *flag.FlagSet, args []string) ([]string, error) {
	var positional []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, err
			}
			return nil, usageErr("%v", err)
		}
		args = fs.Args()
		if len(args) == 0 {
			return positional, nil
		}
		if args[0] == "--" {
			return append(positional, args[1:]...), nil
		}
		positional = append(positional, args[0])
		args = args[1:]
	}
}

// parseOneCarton parses flags around exactly one positional CARTON path.
func parseOneCarton(fs *flag.FlagSet, args []string) (string, error) {
	pos, err := parseInterleaved(fs, args)
	if err != nil {
		return "", err
	}
	if len(pos) != 1 {
		return "", usageErr("want exactly one CARTON, got %d arguments", len(pos))
	}
	return pos[0], nil
}

func newFlagSet(name, synopsis string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: carton %s %s\n\nFlags:\n", name, synopsis)
		fs.PrintDefaults()
	}
	return fs
}

// multiFlag collects a repeatable flag.
type multiFlag []string

func (m *multiFlag) String() string     { return strings.Join(*m, ", ") }
func (m *multiFlag) Set(v string) error { *m = append(*m, v); return nil }

// parseNoArgs parses flags for a command that takes no positional arguments.
func parseNoArgs(fs *flag.FlagSet, args []string) error {
	pos, err := parseInterleaved(fs, args)
	if err == nil && len(pos) > 0 {
		err = usageErr("unexpected argument %q", pos[0])
	}
	return err
}

// writeJSON prints v as indented JSON, as every --json does.
func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}
