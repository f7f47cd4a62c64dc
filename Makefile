# carton: `make demo` runs the main job end to end, `make test` runs every test.
# Both start with `make setup`, which is idempotent and installs what they need.

SHELL      := /bin/bash
GO         ?= go
BIN        := bin
BUILD      := build
FUZZTIME   ?= 5m
export CGO_ENABLED ?= 0

.PHONY: setup build demo test vet fuzz clean

setup:
	$(GO) mod download

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
	CGO_ENABLED=1 $(GO) test -race -count=1 ./...

fuzz: setup
	for f in FuzzParseConfig FuzzParseManifest FuzzParseIndex FuzzZipReader; do \
		$(GO) test -run '^$$' -fuzz "^$$f\$$" -fuzztime $(FUZZTIME) ./format/ || exit 1; \
	done

clean:
	rm -rf $(BIN) $(BUILD)
