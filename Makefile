# Cairn: compile CUE pipeline specs into Argo Workflows and MPIJobs.
GO      ?= go
BIN     := bin/cairn
EXAMPLES := $(patsubst examples/%/cue.mod/,%,$(wildcard examples/*/cue.mod/))

.PHONY: build test demo bench golden fuzz docs lint clean

build:
	$(GO) build -o $(BIN) ./cmd/cairn

# The tests, including the stale-output checks of the examples and the spec
# reference.
test:
	$(GO) vet ./...
	$(GO) test ./...

# Compile every example on the embedded defaults and say where the output went.
demo: build
	@for e in $(EXAMPLES); do \
		$(BIN) compile examples/$$e -o .cairn/demo/$$e || exit 1; \
	done
	@echo "demo output: $(CURDIR)/.cairn/demo/{$$(echo $(EXAMPLES) | tr ' ' ,)}"

# Compile against bare CUE, output checks against argo lint (when the argo
# CLI is on PATH), model push and pull against this machine's sha256 rate.
bench:
	$(GO) test ./compiler ./compiler/verify ./attest/sign ./runtime/steps -run '^$$' -bench . -benchmem -benchtime 3x
	CAIRN_BENCH_BIG=1 $(GO) test ./attest/oci -run '^$$' -bench . -benchmem -benchtime 3x -timeout 60m

# Rewrite the golden files: compiler txtar cases, the examples' rendered
# output and docs/spec.md.
golden:
	CAIRN_UPDATE=1 $(GO) test ./compiler/... ./cmd/... ./attest/lineage -run 'Golden|Examples|SpecDoc'

fuzz:
	$(GO) test ./compiler -run '^$$' -fuzz FuzzCompile -fuzztime 60s

# The plain cue CLI vets the schemas.
lint:
	$(GO) tool cue vet ./schemas

clean:
	rm -rf bin .cairn/demo
