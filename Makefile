# The two commands that matter: `make run` and `make test`.
GO      ?= go
PORT    ?= 3000
BIN     := bin/chatserver

.PHONY: run build test setup vet unit fmt lint conformance-server clean bench bench-full

# The server is built as cmd/chatserver/deploy/Dockerfile builds it: pure Go, so a static
# binary without cgo, and -trimpath. The process tests build it the same
# way (cmd/chatserver/process_test.go), so all of them share one build.
SERVER_BUILD := CGO_ENABLED=0 $(GO)
SERVER_FLAGS := -trimpath

run:
	$(SERVER_BUILD) run $(SERVER_FLAGS) ./cmd/chatserver

build:
	$(SERVER_BUILD) build $(SERVER_FLAGS) -o $(BIN) ./cmd/chatserver

# setup installs everything the real-client tests need: npm packages
# (socket.io-client 2.x/4.x, playwright-core) and Debian's chromium.
setup:
	bash gateway/interop/setup.sh

vet:
	$(GO) vet ./...

# The allocation tests run once more without the race detector, under which
# a sync.Pool drops items at random (gateway/alloc_test.go).
test: setup vet
	$(GO) test -race -count=1 -timeout 40m ./...
	$(GO) test -count=1 -run Allocates ./gateway/

# unit runs the pure Go tests: no npm, apt, chromium or redis-server needed
# (nor root, nor cgo). The tests that need them skip under -short, which
# `make test` (and so CI) never passes: there everything runs.
unit: vet
	$(GO) test -short -count=1 -timeout 20m ./...

# Benchmarks against NestJS (socket.io 2) and Node socket.io 4.8, one load
# generator, server and load generator pinned to one core each; prints the
# comparison table and writes bench/out/<timestamp>/ (see bench/RESULTS.md).
# The runner installs the baselines' npm packages itself (bench/setup.sh).
bench: setup
	$(GO) run ./bench/runner -pprof

# Longer runs, NestJS in the big room, and 100k idle connections.
bench-full: setup
	$(GO) run ./bench/runner -full -pprof

fmt:
	gofmt -w $$(git ls-files '*.go')

# staticcheck is pinned and built from the Go module proxy, as go.mod's
# modules are: nothing to install by hand.
STATICCHECK ?= honnef.co/go/tools/cmd/staticcheck@v0.8.2

lint: vet
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) run $(STATICCHECK) ./...

# Starts the engine the way the official socket.io-protocol and
# engine.io-protocol test suites expect it (see README, Conformance).
conformance-server:
	$(GO) run ./cmd/conformance

clean:
	rm -rf bin
