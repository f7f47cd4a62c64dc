package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"os/exec"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/carton-run/carton/internal/npy"
	"github.com/carton-run/carton/serve"
	"github.com/carton-run/carton/tensor"
)

func main() {
	if len(os.Args) < 4 {
		log.Fatal("usage: servecheck SERVE_BINARY CARTON in:NAME=FILE.npy... out:NAME=FILE.npy...")
	}
	if err := check(os.Args[1], os.Args[2], os.Args[3:]); err != nil {
		log.Fatalf("servecheck: %v", err)
	}
}

func check(binary, cartonPath string, specs []string) error {
	inputs, want, err := readSpecs(specs)
	if err != nil {
		return err
	}
	addr, err := freeAddr()
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, binary, "--model", "m="+cartonPath, "--addr", addr, "--drain", "100ms")
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Start(); err != nil {
		return err
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	defer func() {
		_ = cmd.Process.Kill() // after a failed check; a no-op once it exited
		<-exited
	}()
	base := "http://" + addr
	if err := waitReady(ctx, base+"/v2/health/ready"); err != nil {
		return err
	}
	body, err := json.Marshal(map[string]any{"inputs": inputs})
	if err != nil {
		return err
	}
	resp, err := http.Post(base+"/v2/models/m/infer", "application/json", bytes.NewReader(body))
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("POST /v2/models/m/infer: %s: %s", resp.Status, raw)
	}
	var got struct {
		Outputs []wireTensor `json:"outputs"`
	}
	if err := json.Unmarshal(raw, &got); err != nil {
		return fmt.Errorf("response: %w", err)
	}
	for name, w := range want {
		i := slices.IndexFunc(got.Outputs, func(o wireTensor) bool { return o.Name == name })
		if i < 0 {
			return fmt.Errorf("no output %q in %s", name, raw)
		}
		g := got.Outputs[i]
		t, err := g.tensor()
		if err != nil {
			return fmt.Errorf("output %q: %w", name, err)
		}
		if m := tensor.Compare(t, w, tensor.DefaultTolerance); m != nil {
			return fmt.Errorf("output %q: %v", name, m)
		}
		fmt.Printf("servecheck: %s matches %s %v\n", name, w.DType(), w.Shape())
	}
	// What an orchestrator sends to stop a container: the service must
	// drain and exit cleanly, not die.
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		return err
	}
	select {
	case err := <-exited:
		exited <- err // for the deferred wait
		if err != nil {
			return fmt.Errorf("carton-serve on SIGTERM: %v", err)
		}
	case <-time.After(15 * time.Second):
		return fmt.Errorf("carton-serve did not exit within 15s of SIGTERM")
	}
	fmt.Println("servecheck: SIGTERM: clean exit")
	return nil
}

// wireTensor is a tensor of the Open Inference Protocol's JSON; servecheck
// reads numeric ones.
type wireTensor struct {
	Name     string          `json:"name"`
	Datatype string          `json:"datatype"`
	Shape    []int64         `json:"shape"`
	Data     json.RawMessage `json:"data"`
}

func toWire(name string, t tensor.Tensor) (wireTensor, error) {
	vals, err := tensor.Float64s(t)
	if err != nil {
		return wireTensor{}, err
	}
	data, err := json.Marshal(vals)
	return wireTensor{Name: name, Datatype: serve.Datatype(t.DType()), Shape: t.Shape(), Data: data}, err
}

func (w wireTensor) tensor() (tensor.Tensor, error) {
	dt, err := serve.DTypeOf(w.Datatype)
	if err != nil {
		return tensor.Tensor{}, err
	}
	var vals []float64
	if err := json.Unmarshal(w.Data, &vals); err != nil {
		return tensor.Tensor{}, err
	}
	return tensor.FromFloat64s(dt, w.Shape, vals)
}

func readSpecs(specs []string) ([]wireTensor, map[string]tensor.Tensor, error) {
	var inputs []wireTensor
	want := map[string]tensor.Tensor{}
	for _, s := range specs {
		kind, rest, _ := strings.Cut(s, ":")
		name, file, ok := strings.Cut(rest, "=")
		if !ok || (kind != "in" && kind != "out") {
			return nil, nil, fmt.Errorf("%q is not in:NAME=FILE or out:NAME=FILE", s)
		}
		t, err := npy.ReadFile(file)
		if err != nil {
			return nil, nil, err
		}
		if kind == "out" {
			want[name] = t
			continue
		}
		wt, err := toWire(name, t)
		if err != nil {
			return nil, nil, fmt.Errorf("%s: %w", file, err)
		}
		inputs = append(inputs, wt)
	}
	if len(inputs) == 0 || len(want) == 0 {
		return nil, nil, errors.New("need at least one in: and one out: file")
	}
	return inputs, want, nil
}

// freeAddr returns a loopback address no one listens on right now.
func freeAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}

// waitReady polls url until it answers 200 or ctx ends.
func waitReady(ctx context.Context, url string) error {
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if resp, err := http.DefaultClient.Do(req); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("the service did not answer %s: %w", url, ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
}
