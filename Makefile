# mxout — build, run and test. `make help` lists the targets.
GO      ?= go
BIN     ?= bin/mxout
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
COMMIT  ?= $(shell git rev-parse --short HEAD 2>/dev/null || echo unknown)
DATE    ?= $(shell date -u +%Y-%m-%dT%H:%M:%SZ)
LDFLAGS := -X main.version=$(VERSION) -X main.commit=$(COMMIT) -X main.buildDate=$(DATE)
# Fuzz time per target: short in `make test`, longer with `make fuzz`.
FUZZTIME ?= 2000x

.PHONY: help build run test unit fuzz-short fuzz lint check clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed 's/:.*## /\t/'

build: ## build bin/mxout
	$(GO) build -ldflags '$(LDFLAGS)' -o $(BIN) ./cmd/mxout

run: build ## run the relay on the embedded defaults (127.0.0.1:2525, ./mxout-data)
	./$(BIN) serve $(if $(CONFIG),--config $(CONFIG))

test: lint unit fuzz-short ## everything CI runs: vet, gofmt, race tests, short fuzzing

unit: ## go test with the race detector, shuffled
	$(GO) test -race -shuffle=on -count=1 -timeout 20m ./...

fuzz-short: ## run every fuzz target briefly (FUZZTIME executions each)
	@./scripts/fuzz.sh $(FUZZTIME)

fuzz: ## run every fuzz target for 2 minutes each
	@./scripts/fuzz.sh 2m

lint: ## go vet, gofmt, and staticcheck when installed
	$(GO) vet ./...
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	@if command -v staticcheck >/dev/null; then staticcheck ./...; else echo "staticcheck not installed; skipped (go install honnef.co/go/tools/cmd/staticcheck@v0.8.2)"; fi

check: lint unit ## vet + gofmt + staticcheck + race tests

clean: ## remove build output
	rm -rf bin
