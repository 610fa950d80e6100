# The two commands that matter: `make run` and `make test`.
GO      ?= go
PORT    ?= 3000
BIN     := bin/chatserver

.PHONY: run build test setup vet unit fmt lint conformance-server clean

run:
	$(GO) run ./cmd/chatserver

build:
	$(GO) build -o $(BIN) ./cmd/chatserver

# setup installs everything the real-client tests need: npm packages
# (socket.io-client 2.x/4.x, playwright-core) and Debian's chromium.
setup:
	bash gateway/interop/setup.sh

vet:
	$(GO) vet ./...

test: setup vet
	$(GO) test -race -count=1 -timeout 40m ./...

fmt:
	gofmt -w $$(git ls-files '*.go')

lint: vet
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

# Starts the engine the way the official socket.io-protocol and
# engine.io-protocol test suites expect it (see README, Conformance).
conformance-server:
	$(GO) run ./cmd/conformance

clean:
	rm -rf bin
