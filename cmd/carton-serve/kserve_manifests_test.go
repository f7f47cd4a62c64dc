package main

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/mem"
	"google.golang.org/protobuf/encoding/protowire"
)

const (
	servingRuntimeYAML   = "../../deploy/kserve/servingruntime.yaml"
	inferenceServiceYAML = "../../deploy/kserve/inferenceservice.yaml"
)

// manifestFacts is what testdata/kserve_manifests.py reads out of the
// manifests once they pass KServe's API types.
type manifestFacts struct {
	Name         string   `json:"name"` // the InferenceService's
	Args         []string `json:"args"` // the runtime container's
	Port         int      `json:"port"`
	Readiness    string   `json:"readiness"`
	Liveness     string   `json:"liveness"`
	Metrics      string   `json:"metrics"`
	RunAsNonRoot bool     `json:"runAsNonRoot"`
}

// checkManifests runs the checker on a ServingRuntime and an
// InferenceService; out is its JSON, or its complaint.
func checkManifests(t *testing.T, py, runtime, isvc string) (out string, err error) {
	t.Helper()
	b, err := exec.Command(py, "testdata/kserve_manifests.py", runtime, isvc).CombinedOutput()
	return string(b), err
}

// readManifests checks deploy/kserve's manifests with the checker and
// returns the Python that ran it and what it read out.
func readManifests(t *testing.T) (py string, facts manifestFacts) {
	t.Helper()
	py = testPython(t, "CARTON_TEST_KSERVE_PYTHON", "kserve")
	out, err := checkManifests(t, py, servingRuntimeYAML, inferenceServiceYAML)
	require.NoError(t, err, out)
	require.NoError(t, json.Unmarshal([]byte(out), &facts), out)
	return py, facts
}

// deploy/kserve's manifests hold to KServe's API types (the kserve
// package's models: no field they lack, values of their kinds, required
// fields present) and to each other, and the checker refuses manifests
// that do not.
func TestKServeManifestsMatchKServeTypes(t *testing.T) {
	py, facts := readManifests(t)
	assert.True(t, facts.RunAsNonRoot, "the runtime's container runs as non-root")

	for _, c := range []struct {
		file, old, new, want string
	}{
		{inferenceServiceYAML, "scaleTarget: 4", "scaleTargets: 4", "has no field 'scaleTargets'"},
		{inferenceServiceYAML, "minReplicas: 1", "minReplicas: one", "'one' is not of type int"},
		{inferenceServiceYAML, "runtime: carton", "runtime: triton", "asks for runtime 'triton'"},
		{inferenceServiceYAML, "protocolVersion: v2", "protocolVersion: v1", "protocol 'v1' is not among"},
		{servingRuntimeYAML, "- name: kserve-container\n", "- image_: x\n", "has no field 'image_'"},
		{servingRuntimeYAML, "- name: kserve-container\n      image:", "- image:", "containers[0] (V1Container)"},
		{servingRuntimeYAML, "          port: 8080\n        periodSeconds", "          port: 9090\n        periodSeconds", "readinessProbe probes port 9090"},
		{servingRuntimeYAML, "    - name: carton\n", "    - name: carton-v1\n", "is not among the runtime's"},
	} {
		b, err := os.ReadFile(c.file)
		require.NoError(t, err)
		require.Contains(t, string(b), c.old, "the mutation's anchor")
		dir := t.TempDir()
		files := map[string]string{servingRuntimeYAML: filepath.Join(dir, "rt.yaml"), inferenceServiceYAML: filepath.Join(dir, "isvc.yaml")}
		for orig, copyTo := range files {
			data, err := os.ReadFile(orig)
			require.NoError(t, err)
			if orig == c.file {
				data = []byte(strings.Replace(string(data), c.old, c.new, 1))
			}
			require.NoError(t, os.WriteFile(copyTo, data, 0o644))
		}
		out, err := checkManifests(t, py, files[servingRuntimeYAML], files[inferenceServiceYAML])
		assert.Error(t, err, "%s: %q -> %q accepted", c.file, c.old, c.new)
		assert.Contains(t, out, c.want, "%q -> %q", c.old, c.new)
	}
}

// carton-serve started as KServe starts the image deploy/Dockerfile
// builds under the ServingRuntime (the image's entrypoint, then the
// runtime's args, which replace the image's CMD; the model's name for
// {{.Name}}, the storage initializer's directory holding one .carton at
// /mnt/models, the image's environment; only the listen addresses moved
// to free loopback ports and the cache to the test's) answers the probes and the metrics scrape where
// the manifest points them, and serves the model under the
// InferenceService's name over REST and gRPC.
func TestServingRuntimeArgsServe(t *testing.T) {
	_, facts := readManifests(t)
	image := readDockerfile(t, "../../deploy/Dockerfile")
	assert.NotContains(t, []string{"", "root", "0"}, image.user, "the image runs as non-root")
	assert.Contains(t, image.expose, strconv.Itoa(facts.Port), "the image exposes the runtime's port")
	require.NotEmpty(t, image.entrypoint)
	assert.Equal(t, "/usr/local/bin/carton-serve", image.entrypoint[0])

	models := t.TempDir()
	require.NoError(t, os.Rename(pack(t, "../../testdata/onnx/matmul_add.onnx"), filepath.Join(models, "model.carton")))
	rest, grpcAddr := freeAddr(t), freeAddr(t)
	var args []string
	for _, a := range append(image.entrypoint[1:], facts.Args...) {
		a = strings.ReplaceAll(a, "{{.Name}}", facts.Name)
		a = strings.ReplaceAll(a, "/mnt/models", models)
		a = strings.ReplaceAll(a, "0.0.0.0:"+strconv.Itoa(facts.Port), rest)
		a = strings.ReplaceAll(a, "0.0.0.0:8081", grpcAddr)
		require.NotContains(t, a, "0.0.0.0", "a listen address the test does not know")
		args = append(args, a)
	}
	// The image's runtimes are in its /cache; here they are where the
	// test's environment keeps them.
	cache := os.Getenv("CARTON_CACHE_DIR")
	if cache == "" {
		cache = t.TempDir()
	}
	var env []string
	for _, kv := range image.env {
		if strings.HasPrefix(kv, "CARTON_CACHE_DIR=") {
			kv = "CARTON_CACHE_DIR=" + cache
		}
		env = append(env, kv)
	}
	assert.Contains(t, env, "CARTON_OFFLINE=1", "the image serves offline")
	launch(t, "http://"+rest+facts.Liveness, env, args...)

	get := func(path string) (int, string) {
		resp, err := http.Get("http://" + rest + path)
		require.NoError(t, err)
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		require.NoError(t, err)
		return resp.StatusCode, string(b)
	}
	require.Eventually(t, func() bool { code, _ := get(facts.Readiness); return code == http.StatusOK }, time.Minute, 50*time.Millisecond)
	code, _ := get("/v2/models/" + facts.Name + "/ready")
	assert.Equal(t, http.StatusOK, code, "the model is served under the InferenceService's name")
	resp, err := http.Post("http://"+rest+"/v2/models/"+facts.Name+"/infer", "application/json",
		strings.NewReader(`{"inputs":[{"name":"x","shape":[1,4],"datatype":"FP32","data":[1,2,3,4]}]}`))
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	code, metrics := get(facts.Metrics)
	assert.Equal(t, http.StatusOK, code)
	assert.Contains(t, metrics, `carton_serve_infer_requests_total{code="200",model="`+facts.Name+`"`)

	// gRPC: ModelReady for the InferenceService's name, the request and
	// response encoded by hand (the generated types are serve's own).
	conn, err := grpc.NewClient(grpcAddr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	require.NoError(t, err)
	defer conn.Close()
	req := protowire.AppendString(protowire.AppendTag(nil, 1, protowire.BytesType), facts.Name)
	var reply rawMessage
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	require.NoError(t, conn.Invoke(ctx, "/inference.GRPCInferenceService/ModelReady", rawMessage(req), &reply, grpc.ForceCodecV2(rawCodec{})))
	assert.Equal(t, []byte{0x08, 0x01}, []byte(reply), "ModelReadyResponse{ready: true}")
}

// rawMessage is a protobuf message already encoded; rawCodec sends it as
// it is.
type rawMessage []byte

type rawCodec struct{}

func (rawCodec) Name() string { return "proto" }

func (rawCodec) Marshal(v any) (mem.BufferSlice, error) {
	return mem.BufferSlice{mem.SliceBuffer(v.(rawMessage))}, nil
}

func (rawCodec) Unmarshal(data mem.BufferSlice, v any) error {
	*v.(*rawMessage) = data.Materialize()
	return nil
}

// dockerImage is what the final stage of a Dockerfile sets.
type dockerImage struct {
	entrypoint []string // exec form
	user       string
	expose     []string
	env        []string // NAME=VALUE
}

// readDockerfile reads the final stage of a Dockerfile: ENTRYPOINT in
// exec form, USER, EXPOSE and ENV NAME=VALUE ones (the forms deploy's uses).
func readDockerfile(t *testing.T, path string) dockerImage {
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	var img dockerImage
	for _, line := range strings.Split(string(b), "\n") {
		word, rest, _ := strings.Cut(strings.TrimSpace(line), " ")
		switch strings.ToUpper(word) {
		case "FROM":
			img = dockerImage{}
		case "ENTRYPOINT":
			require.NoError(t, json.Unmarshal([]byte(rest), &img.entrypoint), "ENTRYPOINT in exec form")
		case "USER":
			img.user = strings.TrimSpace(rest)
		case "EXPOSE":
			img.expose = append(img.expose, strings.Fields(rest)...)
		case "ENV":
			for _, kv := range strings.Fields(rest) {
				require.Contains(t, kv, "=", "ENV NAME=VALUE")
				img.env = append(img.env, kv)
			}
		}
	}
	return img
}
