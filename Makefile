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

# The main job on the embedded defaults: build cairn, make a demo signing
# key in .cairn if there is none, compile every example, run the fraud
# pipeline end to end (ingest, validate, features, train, evaluate, gate,
# pack, sign, attest into .cairn/oci, deploy), verify the model, print its
# digest and lineage, and trace it through the audit index.
DEMO_PASSWORD ?= cairn-demo
demo: build
	@mkdir -p .cairn
	@test -f .cairn/cosign.key || CAIRN_PASSWORD=$(DEMO_PASSWORD) $(BIN) key generate --prefix .cairn/cosign
	@for e in $(EXAMPLES); do \
		$(BIN) compile examples/$$e -o .cairn/demo/$$e || exit 1; \
	done
	@echo "compiled: $(CURDIR)/.cairn/demo/{$$(echo $(EXAMPLES) | tr ' ' ,)}"
	CAIRN_PASSWORD=$(DEMO_PASSWORD) $(BIN) run examples/fraud --pipeline fraud --secret cairn-signing-key=.cairn
	$(BIN) verify fraud:latest --key .cairn/cosign.pub --lineage \
		--require https://slsa.dev/provenance/v1 --require https://cairn.dev/evaluation/v1
	$(BIN) audit index -q --key .cairn/cosign.pub
	$(BIN) audit trace fraud:latest

# Compile against bare CUE, output checks against argo lint (when the argo
# CLI is on PATH), model push and pull against this machine's sha256 rate.
bench:
	$(GO) test ./compiler ./compiler/verify ./attest/sign ./runtime/steps -run '^$$' -bench . -benchmem -benchtime 3x
	CAIRN_BENCH_BIG=1 $(GO) test ./attest/oci -run '^$$' -bench . -benchmem -benchtime 3x -timeout 60m
	$(GO) test ./attest/audit -run '^$$' -bench . -benchtime 1x -timeout 30m

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
