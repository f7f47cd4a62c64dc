# carton: `make demo` runs the main job end to end, `make test` runs every test.
# Both start with `make setup`, which is idempotent and installs what they need.

SHELL      := /bin/bash
GO         ?= go
BIN        := bin
BUILD      := build
FUZZTIME   ?= 5m
export CGO_ENABLED ?= 0

# ONNX Runtime releases the tests run on: the npm tarball, a Python
# package in a venv (found as "an installed Python onnxruntime") and an
# older wheel's library (the low end of the range the runner supports).
ORT_NPM_VERSION := 1.30.0
ORT_PY_VERSION  := 1.32.0
ORT_OLD_VERSION := 1.20.1
PYTHON          ?= python3
ABS_BUILD        = $(abspath $(BUILD))
ORT_OLD_LIB      = $(ABS_BUILD)/ort-$(ORT_OLD_VERSION)/libonnxruntime.so.$(ORT_OLD_VERSION)

# libtorch: Debian's 1.13 (apt) and the 2.x inside the PyPI torch wheel,
# unpacked into carton's runtime cache layout. The wheel's libtorch_cpu links
# the CUDA runtime and CUPTI, which come from their own small wheels. The
# wheels stay in build/wheels/cuda: libfetch's wheel-source test serves them.
TORCH_VERSION        := 2.15.0
CUDA_TOOLKIT_VERSION := 13.2.2
CACHE                 = $(ABS_BUILD)/cache
GOPLATFORM           := $(shell $(GO) env GOOS)-$(shell $(GO) env GOARCH)
TORCH_DIR             = $(CACHE)/runtimes/libtorch/$(GOPLATFORM)/$(TORCH_VERSION)

# TensorFlow: the C API inside the PyPI tensorflow-cpu wheel, installed into
# the same venv (found as "an installed Python tensorflow"); that Python also
# builds the TensorFlow test models.
TF_VERSION := 2.21.0

# Upstream Carton's Python package, in a venv of its own: the interop test
# has it read the cartons carton packs (its runners come from the network,
# so it only reads metadata and tensor_data here).
UPSTREAM_CARTON_VERSION := 0.0.1.dev20231020

# What tests and the demo need to find the runtimes make setup installed.
RUNTIME_ENV = CARTON_NODE_MODULES=$(ABS_BUILD)/node_modules \
	CARTON_PYTHON=$(ABS_BUILD)/venv/bin/python:/usr/bin/python3 \
	CARTON_CACHE_DIR=$(CACHE) \
	CARTON_TEST_ORT_LIBS=$(ORT_OLD_LIB) \
	CARTON_TEST_ORT_WHEEL=$(firstword $(wildcard $(ABS_BUILD)/wheels/onnxruntime-$(ORT_OLD_VERSION)-*.whl)) \
	CARTON_TEST_TORCH_WHEELS=$(ABS_BUILD)/wheels/cuda \
	CARTON_TEST_UPSTREAM_PYTHON=$(ABS_BUILD)/upstream-venv/bin/python \
	CARTON_TEST_TRITON_PYTHON=$(ABS_BUILD)/venv/bin/python \
	CARTON_TEST_KSERVE_PYTHON=$(ABS_BUILD)/kserve-venv/bin/python \
	CARTON_TEST_LIBCARTON=$(ABS_BUILD)/lib/$(LIBCARTON) \
	CARTON_TEST_WASM_DIR=$(ABS_BUILD)/wasm \
	CARTON_TEST_ARTIFACTS=$(ABS_BUILD)/test-artifacts \
	CARTON_TEST_PY_WHEELS=$(ABS_BUILD)/wheels/python \
	CARTON_TEST_SKLEARN_PYTHON=$(ABS_BUILD)/sklearn-venv/bin/python

.PHONY: arm64-check bench-serve leakcheck leakcheck-python libcarton wheel test-python bench-python wasm setup-web setup-python-runner proto soak setup setup-onnx setup-serve setup-tensorflow setup-torch setup-upstream torch-apt shims build demo test vet fuzz bench dist dist-check clean

setup: setup-onnx setup-torch setup-tensorflow setup-upstream setup-serve setup-web setup-python-runner
	$(GO) mod download

setup-torch: torch-apt $(TORCH_DIR)/build-version shims

# Debian's libtorch and torch (for /usr/bin/python3, which makes the test models).
# The python runner's tests: the numpy wheel upstream's test carton locks,
# served to the runner by a loopback package index; scikit-learn.
NUMPY_LOCKED := numpy-1.25.0-cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64.whl
SKLEARN_VERSION := 1.9.1
setup-python-runner: $(BUILD)/wheels/python/$(NUMPY_LOCKED) $(BUILD)/sklearn-venv/.sklearn-$(SKLEARN_VERSION)

# scikit-learn in a plain venv: the sklearn test compares the python
# runner's outputs with the same model run there.
$(BUILD)/sklearn-venv/.sklearn-$(SKLEARN_VERSION):
	test -x $(BUILD)/sklearn-venv/bin/python || $(PYTHON) -m venv $(BUILD)/sklearn-venv
	$(BUILD)/sklearn-venv/bin/pip install --quiet --disable-pip-version-check scikit-learn==$(SKLEARN_VERSION)
	touch $@

$(BUILD)/wheels/python/$(NUMPY_LOCKED): $(BUILD)/venv/.onnxruntime-$(ORT_PY_VERSION)
	$(BUILD)/venv/bin/pip download --quiet --disable-pip-version-check numpy==1.25.0 --only-binary=:all: --no-deps \
		--python-version 3.11 --platform manylinux2014_x86_64 -d $(BUILD)/wheels/python

# Chromium (and valgrind, for make leakcheck) from apt: the browser test
# drives web/ headless.
setup-web:
	@if ! dpkg -s chromium valgrind >/dev/null 2>&1; then \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
			chromium valgrind; \
	fi

torch-apt:
	@if ! dpkg -s libtorch-dev python3-torch >/dev/null 2>&1; then \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
			libtorch-dev python3-torch; \
	fi

$(TORCH_DIR)/build-version:
	@mkdir -p $(BUILD)/wheels/cuda $(dir $(TORCH_DIR))
	$(PYTHON) -m pip download --quiet --disable-pip-version-check --no-deps --only-binary=:all: \
		torch==$(TORCH_VERSION) -d $(BUILD)/wheels
	$(PYTHON) -m pip download --quiet --disable-pip-version-check --only-binary=:all: \
		"cuda-toolkit[cudart,cupti]==$(CUDA_TOOLKIT_VERSION)" -d $(BUILD)/wheels/cuda
	rm -rf $(TORCH_DIR) $(TORCH_DIR).partial
	$(PYTHON) csrc/extract_torch_wheel.py $(BUILD)/wheels/torch-$(TORCH_VERSION)-*.whl $(TORCH_DIR) $(BUILD)/wheels/cuda/nvidia_*.whl
	mv $(BUILD)/wheels/torch-$(TORCH_VERSION)-*.whl $(BUILD)/wheels/cuda/

# One shim (and C++ benchmark) per libtorch found; rebuilt when csrc/ changes.
shims:
	SHIM_DIR=$(CACHE)/shims/libtorch CACHE=$(CACHE) BENCH=1 csrc/build_shims.sh

setup-onnx: $(BUILD)/node_modules/onnxruntime-node/package.json \
	$(BUILD)/venv/.onnxruntime-$(ORT_PY_VERSION) $(ORT_OLD_LIB)

# npm pack fetches the tarball through npm's own registry configuration;
# only this platform's library and package.json are unpacked.
$(BUILD)/node_modules/onnxruntime-node/package.json:
	@mkdir -p $(BUILD)/npm $(BUILD)/node_modules/onnxruntime-node
	cd $(BUILD)/npm && npm pack --silent onnxruntime-node@$(ORT_NPM_VERSION)
	tar -xzf $(BUILD)/npm/onnxruntime-node-$(ORT_NPM_VERSION).tgz -C $(BUILD)/node_modules/onnxruntime-node \
		--strip-components=1 package/package.json package/bin/napi-v6/linux/x64/libonnxruntime.so.1
	rm -f $(BUILD)/npm/onnxruntime-node-$(ORT_NPM_VERSION).tgz

$(BUILD)/venv/.onnxruntime-$(ORT_PY_VERSION):
	$(PYTHON) -m venv $(BUILD)/venv
	$(BUILD)/venv/bin/pip install --quiet --disable-pip-version-check onnxruntime==$(ORT_PY_VERSION)
	touch $@

setup-tensorflow: $(BUILD)/venv/.tensorflow-$(TF_VERSION)

# Triton's Python clients (HTTP and gRPC) and KServe's (its own venv: it
# pins its own numpy and protobuf), which carton-serve's tests drive it
# with; KServe's ModelServer is also what make bench-serve compares with.
TRITONCLIENT_VERSION := 2.73.0
KSERVE_VERSION       := 0.21.0
setup-serve: $(BUILD)/venv/.tritonclient-http-grpc-$(TRITONCLIENT_VERSION) $(BUILD)/kserve-venv/.kserve-$(KSERVE_VERSION)

$(BUILD)/venv/.tritonclient-http-grpc-$(TRITONCLIENT_VERSION): $(BUILD)/venv/.onnxruntime-$(ORT_PY_VERSION)
	$(BUILD)/venv/bin/pip install --quiet --disable-pip-version-check "tritonclient[http,grpc]==$(TRITONCLIENT_VERSION)"
	touch $@

$(BUILD)/kserve-venv/.kserve-$(KSERVE_VERSION):
	test -x $(BUILD)/kserve-venv/bin/python || $(PYTHON) -m venv $(BUILD)/kserve-venv
	$(BUILD)/kserve-venv/bin/pip install --quiet --disable-pip-version-check kserve==$(KSERVE_VERSION) onnxruntime==$(ORT_PY_VERSION)
	touch $@

setup-upstream: $(BUILD)/upstream-venv/.cartonml-$(UPSTREAM_CARTON_VERSION)

$(BUILD)/upstream-venv/.cartonml-$(UPSTREAM_CARTON_VERSION):
	$(PYTHON) -m venv $(BUILD)/upstream-venv
	$(BUILD)/upstream-venv/bin/pip install --quiet --disable-pip-version-check numpy cartonml-nightly==$(UPSTREAM_CARTON_VERSION)
	touch $@

# pip uses its configured index (PIP_INDEX_URL, pip.conf).
$(BUILD)/venv/.tensorflow-$(TF_VERSION): $(BUILD)/venv/.onnxruntime-$(ORT_PY_VERSION)
	$(BUILD)/venv/bin/pip install --quiet --disable-pip-version-check tensorflow-cpu==$(TF_VERSION)
	touch $@

# pip download uses pip's configured index; the library is what the runner
# tests use, and the wheel itself what libfetch's wheel-source test serves.
$(ORT_OLD_LIB):
	@mkdir -p $(BUILD)/wheels
	$(PYTHON) -m pip download --quiet --disable-pip-version-check --no-deps --only-binary=:all: \
		onnxruntime==$(ORT_OLD_VERSION) -d $(BUILD)/wheels
	$(PYTHON) -c 'import sys, zipfile, glob, os; \
		w = zipfile.ZipFile(glob.glob(sys.argv[1])[0]); \
		n = "onnxruntime/capi/libonnxruntime.so." + sys.argv[2]; \
		os.makedirs(sys.argv[3], exist_ok=True); \
		open(os.path.join(sys.argv[3], os.path.basename(n)), "wb").write(w.read(n))' \
		"$(BUILD)/wheels/onnxruntime-$(ORT_OLD_VERSION)-*.whl" $(ORT_OLD_VERSION) $(dir $(ORT_OLD_LIB))

build: setup
	$(GO) build -o $(BIN)/carton ./cmd/carton

# The main job end to end, on carton's defaults: pack a bundled model of
# each framework (ONNX, TorchScript, TensorFlow; specs read from the model)
# and run each with `carton infer`. Nothing is installed first: carton
# finds each runtime, or downloads it (from the package index pip would
# use, verified by its sha256) into its cache, ~/.cache/carton unless
# CARTON_CACHE_DIR says otherwise; a second run is instant from there.
DEMO = $(BUILD)/demo
demo:
	$(GO) build -o $(BIN)/carton ./cmd/carton
	@mkdir -p $(DEMO)
	$(BIN)/carton pack testdata/onnx/matmul_add.onnx --name matmul_add \
		--description 'y = x @ W + b, with a dynamic batch' --license MIT --opt intra_op_threads=1 \
		--self-test x=testdata/onnx/matmul_add.in.x.npy,out:y=testdata/onnx/matmul_add.out.y.npy -o $(DEMO)/matmul_add.carton
	$(BIN)/carton pack testdata/torch/dict_io.pt --name dict_io -o $(DEMO)/dict_io.carton
	$(BIN)/carton pack testdata/tensorflow/dense --name dense -o $(DEMO)/dense.carton
	$(BIN)/carton info $(DEMO)/matmul_add.carton
	$(BIN)/carton infer $(DEMO)/matmul_add.carton --input x=testdata/onnx/matmul_add.in.x.npy --output-dir $(DEMO)/out-onnx
	$(BIN)/carton infer $(DEMO)/dict_io.carton --input x=testdata/torch/dict_io.in.x.npy --output-dir $(DEMO)/out-torch
	TF_CPP_MIN_LOG_LEVEL=3 $(BIN)/carton infer $(DEMO)/dense.carton --input x=testdata/tensorflow/dense.in.x.npy --output-dir $(DEMO)/out-tensorflow
	$(BIN)/carton selftest $(DEMO)/matmul_add.carton
	$(BIN)/carton runtimes

vet: setup
	$(GO) vet ./...
	CGO_ENABLED=0 $(GO) build ./...

# dlopen's linux/arm64 call trampoline, run under qemu-user with Debian's
# arm64 libc (the tests call into it).
arm64-check:
	@if ! dpkg -s qemu-user libc6-arm64-cross >/dev/null 2>&1; then \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
			qemu-user libc6-arm64-cross; \
	fi
	@mkdir -p $(BUILD)
	GOARCH=arm64 CGO_ENABLED=0 $(GO) vet ./dlopen/
	GOARCH=arm64 CGO_ENABLED=0 $(GO) test -c -o $(BUILD)/dlopen-arm64.test ./dlopen/
	cd dlopen && qemu-aarch64 -L /usr/aarch64-linux-gnu $(ABS_BUILD)/dlopen-arm64.test -test.count=1

# Race detection needs cgo; everything else is tested as the static build.
test: vet dist-check arm64-check libcarton wasm
	$(RUNTIME_ENV) CGO_ENABLED=1 $(GO) test -race -count=1 ./...
	$(MAKE) test-python

# carton's metadata reader for browsers and Node (package wasm), with Go's
# loaders for it; web/ is the page that shows a carton's card with it.
wasm:
	@mkdir -p $(BUILD)/wasm
	GOOS=js GOARCH=wasm $(GO) build -trimpath -ldflags=-s -o $(BUILD)/wasm/carton.wasm ./wasm
	cp "$$($(GO) env GOROOT)/lib/wasm/wasm_exec.js" "$$($(GO) env GOROOT)/lib/wasm/wasm_exec_node.js" $(BUILD)/wasm/

# carton_go: the Python package over libcarton, as a platform wheel in dist/.
# carton_go._fast is compiled for the interpreter that builds the wheel,
# which needs numpy (its headers): the setup venv's where there is one.
WHEEL_PYTHON = $(firstword $(wildcard $(ABS_BUILD)/venv/bin/python) $(PYTHON))
wheel: libcarton
	$(WHEEL_PYTHON) python/build_wheel.py $(BUILD)/lib/$(LIBCARTON) dist

# carton_go against ONNX Runtime's own Python API on the same
# libonnxruntime, one thread: the tiny model, then ResNet-18.
bench-python: wheel build
	@mkdir -p $(BUILD)/bench-python
	test -f $(BUILD)/bench-python/resnet18.onnx || /usr/bin/python3 bench/python/make_resnet18.py $(BUILD)/bench-python/resnet18.onnx
	$(BIN)/carton pack testdata/onnx/matmul_add.onnx -o $(BUILD)/bench-python/matmul_add.carton
	$(BIN)/carton pack $(BUILD)/bench-python/resnet18.onnx -o $(BUILD)/bench-python/resnet18.carton
	rm -rf $(BUILD)/bench-python/site && mkdir -p $(BUILD)/bench-python/site
	cd $(BUILD)/bench-python/site && $(WHEEL_PYTHON) -m zipfile -e $(abspath $(wildcard dist/carton_go-*.whl)) .
	PYTHONPATH=$(BUILD)/bench-python/site $(BUILD)/venv/bin/python bench/python/carton_go_vs_ort.py \
		testdata/onnx/matmul_add.onnx $(BUILD)/bench-python/matmul_add.carton testdata/onnx/matmul_add.in.x.npy 15
	PYTHONPATH=$(BUILD)/bench-python/site $(BUILD)/venv/bin/python bench/python/carton_go_vs_ort.py \
		$(BUILD)/bench-python/resnet18.onnx $(BUILD)/bench-python/resnet18.carton 1x3x224x224 9

# carton_go's tests on its C extension built with AddressSanitizer (the
# wheel's other files as they are): any invalid access aborts the run.
# CPython's own allocations are not leak-checked (it keeps many by
# design); the tests' RSS check stands in, with ASan's quarantine off.
leakcheck-python: test-python
	rm -rf $(BUILD)/asan-site && mkdir -p $(BUILD)/asan-site
	cd $(BUILD)/asan-site && $(WHEEL_PYTHON) -m zipfile -e $(abspath $(wildcard dist/carton_go-*.whl)) .
	$(WHEEL_PYTHON) python/build_wheel.py --fast-only $(BUILD)/asan-site/carton_go -fsanitize=address -fno-omit-frame-pointer -g -O1
	cd python/tests && $(RUNTIME_ENV) CARTON_BIN=$(abspath $(BIN))/carton PYTHONPATH=$(ABS_BUILD)/asan-site \
		LD_PRELOAD=$$(cc -print-file-name=libasan.so) ASAN_OPTIONS=detect_leaks=0:quarantine_size_mb=0:abort_on_error=1 \
		$(ABS_BUILD)/pyvenv/bin/python -m pytest -q -p no:cacheprovider -k fast .

# The wheel installed into a venv of its own (numpy and pytest from the
# package index), tested with pytest on the three runtimes.
test-python: wheel build
	test -x $(BUILD)/pyvenv/bin/python || $(PYTHON) -m venv $(BUILD)/pyvenv
	test -f $(BUILD)/pyvenv/.deps || { $(BUILD)/pyvenv/bin/pip install --quiet --disable-pip-version-check numpy pytest && touch $(BUILD)/pyvenv/.deps; }
	$(BUILD)/pyvenv/bin/pip install --quiet --disable-pip-version-check --force-reinstall --no-deps dist/carton_go-*.whl
	cd python/tests && $(RUNTIME_ENV) CARTON_BIN=$(abspath $(BIN))/carton $(abspath $(BUILD))/pyvenv/bin/python -m pytest -q -p no:cacheprovider .

# libcarton: the C ABI (include/carton.h), the one artifact built with cgo.
LIBCARTON := libcarton.$(if $(filter darwin,$(shell $(GO) env GOOS)),dylib,so)
libcarton:
	@mkdir -p $(BUILD)/lib
	CGO_ENABLED=1 $(GO) build -buildmode=c-shared -o $(BUILD)/lib/$(LIBCARTON) ./capi
	rm -f $(BUILD)/lib/libcarton.h # cgo's generated header: include/carton.h is the one to use

# The shim under valgrind: load, forward, free, close on Debian's libtorch;
# then libcarton's C test program on the ONNX demo model (the Go runtime's
# own threads suppressed: capi/testdata/go-runtime.supp).
LEAK_SHIM_DIR = $(CACHE)/shims/libtorch/1.13.0
leakcheck: setup libcarton build leakcheck-python
	g++ -O1 -g -std=c++17 -Iinclude csrc/leakcheck.cpp -o $(BUILD)/leakcheck -L$(LEAK_SHIM_DIR) -lcarton_torch \
		-ltorch_cpu -lc10 -Wl,-rpath,$(LEAK_SHIM_DIR)
	valgrind --leak-check=full --errors-for-leak-kinds=definite,indirect,possible --error-exitcode=0 \
		$(BUILD)/leakcheck testdata/torch/dict_io.pt 20 testdata/torch/scalars.pt 2>&1 | tee $(BUILD)/leakcheck.log | grep -E "lost:|reachable:|ERROR SUMMARY|done"
	! grep -E "(definitely|indirectly|possibly) lost: [1-9]" $(BUILD)/leakcheck.log
	cc -O1 -g -std=c11 -D_GNU_SOURCE -Iinclude capi/testdata/carton_test.c -o $(BUILD)/carton_test_c \
		-L$(BUILD)/lib -lcarton -pthread -lm -Wl,-rpath,$(ABS_BUILD)/lib
	$(BIN)/carton pack testdata/onnx/matmul_add.onnx --name matmul_add -o $(BUILD)/leak-matmul_add.carton
	$(RUNTIME_ENV) valgrind --leak-check=full --errors-for-leak-kinds=definite,indirect,possible --error-exitcode=0 \
		--suppressions=capi/testdata/go-runtime.supp $(BUILD)/carton_test_c $(BUILD)/leak-matmul_add.carton testdata/onnx/matmul_add \
		2>&1 | tee $(BUILD)/leakcheck-capi.log | grep -E "lost:|reachable:|ERROR SUMMARY|^done"
	grep -q "^done" $(BUILD)/leakcheck-capi.log
	! grep -E "(definitely|indirectly|possibly) lost: [1-9]" $(BUILD)/leakcheck-capi.log
	! grep -E "\((carton_test\.c|abi\.c|capi\.h|npy\.h):[0-9]+\)" $(BUILD)/leakcheck-capi.log # no error in the C side

# 1,000,000 Infer calls with the resident set size sampled (see docs/benchmarks-history.md).
soak: setup
	CARTON_SOAK_CALLS=1000000 CARTON_ONNXRUNTIME_LIB=$(ORT_BENCH_LIB) $(GO) test -run TestSoak -v -count=1 -timeout 30m ./backend/onnx/
	CARTON_SOAK_CALLS=1000000 CARTON_SOAK_CANCELLABLE=1 CARTON_ONNXRUNTIME_LIB=$(ORT_BENCH_LIB) $(GO) test -run TestSoak -v -count=1 -timeout 30m ./backend/onnx/

# CGO_ENABLED=0 binaries of the CLI and the example service per platform.
DIST_PLATFORMS := linux/amd64 linux/arm64 darwin/amd64 darwin/arm64
dist: setup
	@for p in $(DIST_PLATFORMS); do \
		echo "dist/$${p%/*}-$${p#*/}"; \
		GOOS=$${p%/*} GOARCH=$${p#*/} CGO_ENABLED=0 $(GO) build -trimpath -o dist/$${p%/*}-$${p#*/}/ ./cmd/carton ./cmd/carton-serve || exit 1; \
	done

# The linux/amd64 static binary, run against a real model on a real runtime.
dist-check: dist
	@mkdir -p $(BUILD)/dist-check
	$(RUNTIME_ENV) dist/linux-amd64/carton pack testdata/onnx/matmul_add.onnx --runner onnx --framework-version '>=1.20' \
		--self-test x=testdata/onnx/matmul_add.in.x.npy,out:y=testdata/onnx/matmul_add.out.y.npy -o $(BUILD)/dist-check/m.carton
	$(RUNTIME_ENV) dist/linux-amd64/carton selftest $(BUILD)/dist-check/m.carton
	$(RUNTIME_ENV) dist/linux-amd64/carton bench $(BUILD)/dist-check/m.carton --random --dim batch=8 -n 2000
	$(RUNTIME_ENV) $(GO) run ./internal/cmd/servecheck dist/linux-amd64/carton-serve $(BUILD)/dist-check/m.carton \
		in:x=testdata/onnx/matmul_add.in.x.npy out:y=testdata/onnx/matmul_add.out.y.npy

# The Open Inference Protocol's gRPC code, from serve/internal/oippb/oip.proto.
PROTOC_GEN_GO_VERSION      := v1.36.12
PROTOC_GEN_GO_GRPC_VERSION := v1.6.2
proto:
	@command -v protoc >/dev/null || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq protobuf-compiler)
	$(GO) install google.golang.org/protobuf/cmd/protoc-gen-go@$(PROTOC_GEN_GO_VERSION)
	$(GO) install google.golang.org/grpc/cmd/protoc-gen-go-grpc@$(PROTOC_GEN_GO_GRPC_VERSION)
	PATH="$$($(GO) env GOPATH)/bin:$$PATH" protoc --proto_path=serve/internal/oippb \
		--go_out=serve/internal/oippb --go_opt=paths=source_relative \
		--go-grpc_out=serve/internal/oippb --go-grpc_opt=paths=source_relative oip.proto

fuzz: setup
	for f in FuzzMetadataCost FuzzParseConfig FuzzParseManifest FuzzParseIndex FuzzZipReader FuzzParseShapeSpec FuzzParseLinks; do \
		$(GO) test -run '^$$' -fuzz "^$$f\$$" -fuzztime $(FUZZTIME) ./format/ || exit 1; \
	done
	for f in FuzzParse FuzzParseReq; do \
		$(GO) test -run '^$$' -fuzz "^$$f\$$" -fuzztime $(FUZZTIME) ./internal/semver/ || exit 1; \
	done
	$(GO) test -run '^$$' -fuzz '^FuzzExtract$$' -fuzztime $(FUZZTIME) ./libfetch/
	$(GO) test -run '^$$' -fuzz '^FuzzRead$$' -fuzztime $(FUZZTIME) ./internal/npy/
	for f in FuzzInfer FuzzGRPCInferRequest; do \
		$(GO) test -run '^$$' -fuzz "^$$f\$$" -fuzztime $(FUZZTIME) ./serve/ || exit 1; \
	done
	$(RUNTIME_ENV) $(GO) test -run '^$$' -fuzz '^FuzzSignature$$' -fuzztime $(FUZZTIME) ./backend/tensorflow/

# Overhead benchmarks, side by side in one run per comparison, summarised by
# benchstat (from the Go module proxy) into $(BUILD)/bench/*.txt.
BENCH_COUNT ?= 10
ORT_BENCH_LIB = $(ABS_BUILD)/node_modules/onnxruntime-node/bin/napi-v6/linux/x64/libonnxruntime.so.1
bench: setup
	@mkdir -p $(BUILD)/bench
	$(GO) install golang.org/x/perf/cmd/benchstat@v0.0.0-20260908200009-22c9c6c9d4da
	CARTON_ONNXRUNTIME_LIB=$(ORT_BENCH_LIB) $(GO) test -run '^$$' -bench 'Overhead$$|OverheadParallel|Load' -count $(BENCH_COUNT) ./backend/onnx/ \
		| tee $(BUILD)/bench/onnx-overhead.raw
	CARTON_ONNXRUNTIME_LIB=$(ORT_BENCH_LIB) $(GO) test -run '^$$' -bench 'OverheadPaired' -count $(BENCH_COUNT) ./backend/onnx/ \
		| tee $(BUILD)/bench/onnx-paired.raw
	cd bench && CARTON_ONNXRUNTIME_LIB=$(ORT_BENCH_LIB) CGO_ENABLED=1 $(GO) test -run '^$$' -bench ONNX -count $(BENCH_COUNT) . \
		| tee ../$(BUILD)/bench/onnx-peers.raw
	$(RUNTIME_ENV) $(GO) test -run '^$$' -bench 'Overhead$$|Load' -count $(BENCH_COUNT) ./backend/libtorch/ \
		| tee $(BUILD)/bench/torch-overhead.raw
	$(RUNTIME_ENV) $(GO) test -run '^$$' -bench 'OverheadPaired' -count $(BENCH_COUNT) ./backend/libtorch/ \
		| tee $(BUILD)/bench/torch-paired.raw
	$(RUNTIME_ENV) $(GO) test -run '^$$' -bench 'GoWorkAfterForward' -count $(BENCH_COUNT) ./backend/libtorch/ \
		| tee $(BUILD)/bench/torch-after-forward.raw
	$(RUNTIME_ENV) TF_CPP_MIN_LOG_LEVEL=1 $(GO) test -run '^$$' -bench 'Overhead$$|OverheadParallel|Load' -count $(BENCH_COUNT) ./backend/tensorflow/ \
		| tee $(BUILD)/bench/tf-overhead.raw
	$(RUNTIME_ENV) TF_CPP_MIN_LOG_LEVEL=1 $(GO) test -run '^$$' -bench 'OverheadPaired' -count $(BENCH_COUNT) ./backend/tensorflow/ \
		| tee $(BUILD)/bench/tf-paired.raw
	$(RUNTIME_ENV) $(GO) test -run '^$$' -bench 'InferOverhead|SklearnPipeline' -count $(BENCH_COUNT) ./backend/python/ \
		| tee $(BUILD)/bench/python-runner.raw
	$(RUNTIME_ENV) $(GO) test -run '^$$' -bench 'SklearnLoop' -benchtime 5x ./backend/python/ \
		| tee $(BUILD)/bench/python-loop.raw
	$(RUNTIME_ENV) $(GO) test -run '^$$' -bench 'SklearnAfterIdle' -benchtime 300x ./backend/python/ \
		| tee $(BUILD)/bench/python-after-idle.raw
	$(RUNTIME_ENV) $(GO) test -run '^$$' -bench 'EntryFromGo' -benchtime 16x ./backend/python/ \
		| tee $(BUILD)/bench/python-entry.raw
	$(GO) test -run '^$$' -bench Call -count $(BENCH_COUNT) ./dlopen/ | tee $(BUILD)/bench/dlopen.raw
	for f in onnx-paired torch-paired torch-after-forward tf-paired python-runner python-loop python-after-idle python-entry; do \
		"$$($(GO) env GOPATH)/bin/benchstat" $(BUILD)/bench/$$f.raw > $(BUILD)/bench/$$f.txt; done
	for f in onnx-overhead onnx-peers torch-overhead tf-overhead; do \
		"$$($(GO) env GOPATH)/bin/benchstat" -col /impl $(BUILD)/bench/$$f.raw > $(BUILD)/bench/$$f.txt; done
	"$$($(GO) env GOPATH)/bin/benchstat" $(BUILD)/bench/dlopen.raw > $(BUILD)/bench/dlopen.txt
	cat $(BUILD)/bench/*.txt

# carton-serve against KServe's Python ModelServer (ONNX Runtime's Python
# API, the same libonnxruntime 1.32), 64 connections each, alternated.
bench-serve: setup
	@mkdir -p $(BUILD)/bench-serve
	$(GO) build -o $(BUILD)/bench-serve/ ./cmd/carton ./cmd/carton-serve ./internal/cmd/oipload
	$(BUILD)/bench-serve/carton pack testdata/onnx/matmul_add.onnx --opt intra_op_threads=1 --opt inter_op_threads=1 -o $(BUILD)/bench-serve/m.carton
	echo '{"inputs":[{"name":"x","shape":[1,4],"datatype":"FP32","data":[1,2,3,4]}]}' > $(BUILD)/bench-serve/request.json
	$(BUILD)/kserve-venv/bin/python bench/oip/kserve_onnx.py testdata/onnx/matmul_add.onnx 18080 18081 & ks=$$!; \
	CARTON_ONNXRUNTIME_LIB=$$(ls $(ABS_BUILD)/venv/lib/python3*/site-packages/onnxruntime/capi/libonnxruntime.so.1.*) \
		$(BUILD)/bench-serve/carton-serve --model m=$(BUILD)/bench-serve/m.carton --addr 127.0.0.1:18090 --grpc-addr "" & cs=$$!; \
	sleep 10; for r in 1 2; do \
		echo kserve; $(BUILD)/bench-serve/oipload -addr 127.0.0.1:18080 -c 64 -d 10s -body $(BUILD)/bench-serve/request.json; \
		echo carton-serve; $(BUILD)/bench-serve/oipload -addr 127.0.0.1:18090 -c 64 -d 10s -body $(BUILD)/bench-serve/request.json; \
	done; kill $$ks $$cs

clean:
	rm -rf $(BIN) $(BUILD) dist
