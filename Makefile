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

# What tests and the demo need to find the runtimes make setup installed.
RUNTIME_ENV = CARTON_NODE_MODULES=$(ABS_BUILD)/node_modules \
	CARTON_PYTHON=$(ABS_BUILD)/venv/bin/python \
	CARTON_TEST_ORT_LIBS=$(ORT_OLD_LIB)

.PHONY: setup setup-onnx build demo test vet fuzz clean

setup: setup-onnx
	$(GO) mod download

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

# pip download uses pip's configured index; the wheel's library is all we keep.
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
	rm -f $(BUILD)/wheels/onnxruntime-$(ORT_OLD_VERSION)-*.whl

build: setup
	$(GO) build -o $(BIN)/carton ./cmd/carton

demo: build
	@mkdir -p $(BUILD)
	$(BIN)/carton pack testdata/echo/model --runner noop --framework-version '*' \
		--name echo --description 'Echoes its inputs (noop runner)' --license MIT \
		--input x:float32:batch,3 --output x:float32:batch,3 \
		--self-test x=testdata/echo/x.npy,out:x=testdata/echo/x.npy \
		-o $(BUILD)/echo.carton
	$(BIN)/carton info $(BUILD)/echo.carton
	$(BIN)/carton infer $(BUILD)/echo.carton --input x=testdata/echo/x.npy --output-dir $(BUILD)/out
	$(BIN)/carton selftest $(BUILD)/echo.carton

vet: setup
	$(GO) vet ./...
	CGO_ENABLED=0 $(GO) build ./...

# Race detection needs cgo; everything else is tested as the static build.
test: vet
	$(RUNTIME_ENV) CGO_ENABLED=1 $(GO) test -race -count=1 ./...

fuzz: setup
	for f in FuzzParseConfig FuzzParseManifest FuzzParseIndex FuzzZipReader; do \
		$(GO) test -run '^$$' -fuzz "^$$f\$$" -fuzztime $(FUZZTIME) ./format/ || exit 1; \
	done

clean:
	rm -rf $(BIN) $(BUILD)
