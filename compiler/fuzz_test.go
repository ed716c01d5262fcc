package compiler_test

import (
	"errors"
	"flag"
	"hash/fnv"
	"maps"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"cairn.dev/cairn/compiler"
	"cairn.dev/cairn/compiler/diag"
)

const fuzzModule = "module: \"example.com/f@v0\"\nlanguage: version: \"v0.17.0\"\n"

// smallSpec is a small project that uses most of the schema: a dataset, a
// feature step, GPU training, an evaluation with a gate, serving with
// drift and a schedule. The fuzzer's seeds are it and variants of it:
// small inputs keep each execution, and the minimizing of each input that
// finds new code, cheap.
const smallSpec = `package p

project: {
	name: "p", namespace: "p-ml", modelRegistry: "r.example.com/p", storage: root: "s3://b/c"
	policy: requireDigests: false
}
project: pipelines: m: {
	data: d: {uri: "s3://b/d", format: "csv", columns: x: type: "float", checks: ranges: x: min: 0}
	features: f: {image: "i:1", command: ["f", "{{x}}"], inputs: ["d"], outputs: ["o"]}
	train: {image: "i:1", command: ["t", "$(CAIRN_INPUT_O)"], inputs: ["o"], compute: {cpu: "1", memory: "1Gi", gpusPerNode: 1, maxRuntime: "1h"}}
	evaluate: {image: "i:1", command: ["e"], inputs: ["o"], gates: auc: ">= 0.9"}
	model: format: "custom"
	serve: {modelFormat: "sk", drift: {cron: "15 * * * *", features: ["x"], threshold: 0.2, source: "s3://b/l"}}
	schedule: cron: "0 3 * * 1"
}
`

// fuzzSeeds returns the seeds: smallSpec and its variants, each a mistake
// the compiler must report with a position (or a feature it must lower),
// then examples/fraud/fraud.cue and its variants when large is set.
func fuzzSeeds(tb testing.TB, large bool) []string {
	seeds := []string{smallSpec, "package p\n"}
	for _, m := range []struct{ old, new string }{
		{"gpusPerNode: 1,", `kind: "mpi", nodes: 4, gpusPerNode: 8,`},
		{`inputs: ["o"], compute`, `inputs: ["oo"], compute`},
		{`">= 0.9"`, `"about 0.9"`},
		{`"0 3 * * 1"`, `"0 3 * * 8"`},
		{`maxRuntime: "1h"`, `maxRuntime: "1 hour", spot: "yes"`},
		{`inputs: ["d"], outputs`, `inputs: ["o"], outputs`},
		{`format: "csv"`, `format: "excel"`},
		{`requireDigests: false`, `requireDigests: true`},
		{`pipelines: m: {`, `pipelines: "fraud-detection-for-card-payments-x": {`},
		{"package p\n", "package p\n\nx: {"},
	} {
		if !strings.Contains(smallSpec, m.old) {
			tb.Fatalf("smallSpec lacks %q", m.old)
		}
		seeds = append(seeds, strings.Replace(smallSpec, m.old, m.new, 1))
	}
	if !large {
		return seeds
	}
	data, err := os.ReadFile(filepath.Join("..", "examples", "fraud", "fraud.cue"))
	if err != nil {
		tb.Fatal(err)
	}
	fraud := string(data)
	seeds = append(seeds, fraud)
	for _, m := range []struct{ old, new string }{
		{"gpusPerNode: 1\n", "kind: \"mpi\"\n\t\t\tnodes: 4\n\t\t\tgpusPerNode: 8\n"},
		{`inputs: ["features"]`, `inputs: ["feature"]`},
		{`">= 0.94"`, `"about 0.94"`},
		{`"0 3 * * 1"`, `"0 3 * * 8"`},
		{`spot:        true`, `spot: "yes"`},
		{`maxRuntime:  "4h"`, `maxRuntime: "4 hours"`},
		{`"build-features": {`, `"build-features": { inputs: ["features"],`},
		{`format:   "csv"`, `format: "excel"`},
		{`requireDigests: true`, `requireDigests: false`},
		{`project: pipelines: fraud: {`, `project: pipelines: "fraud-detection-for-card-payments-x": {`},
		{"package fraud", "package fraud\n\nx: {"}, // syntax error
	} {
		if !strings.Contains(fraud, m.old) {
			tb.Fatalf("examples/fraud/fraud.cue lacks %q", m.old)
		}
		seeds = append(seeds, strings.Replace(fraud, m.old, m.new, 1))
	}
	return seeds
}

// compileSpec compiles spec as the one file of a module, in memory.
func compileSpec(spec string) (*compiler.Result, error) {
	return compiler.Compile(compiler.Options{Dir: "/fuzz", Files: map[string][]byte{
		"cue.mod/module.cue": []byte(fuzzModule),
		"spec.cue":           []byte(spec),
	}})
}

// checkCompile compiles spec: Compile must not panic, and a spec it
// refuses must be refused with a diag.List whose every diagnostic names a
// file and a line (the one diagnostic about the module as a whole, "no
// project found", names the folder without a line). With twice set it
// compiles spec again and wants the same files or the same error.
func checkCompile(t *testing.T, spec string, twice bool) {
	res, err := compileSpec(spec)
	if twice {
		res2, err2 := compileSpec(spec)
		switch {
		case (err == nil) != (err2 == nil) || err != nil && err.Error() != err2.Error():
			t.Fatalf("Compile twice: errors %v and %v\nspec.cue:\n%s", err, err2, spec)
		case err == nil && !maps.EqualFunc(res.Files, res2.Files, func(a, b []byte) bool { return string(a) == string(b) }):
			t.Fatalf("Compile twice: different files\nspec.cue:\n%s", spec)
		}
	}
	if err == nil {
		return
	}
	var l diag.List
	if !errors.As(err, &l) {
		t.Fatalf("Compile returned %T, not a diag.List: %v\nspec.cue:\n%s", err, err, spec)
	}
	if len(l) == 0 {
		t.Fatalf("Compile returned an empty diag.List\nspec.cue:\n%s", spec)
	}
	var bad []string
	for _, d := range l {
		if d.Pos.File != "" && d.Pos.Line > 0 {
			continue
		}
		if d.Pos.File != "" && strings.HasPrefix(d.Msg, "no project found") {
			continue
		}
		bad = append(bad, "  "+d.Error())
	}
	if len(bad) > 0 {
		t.Fatalf("Compile gave diagnostics without a file and line:\n%s\nall diagnostics:\n%v\nspec.cue:\n%s", strings.Join(bad, "\n"), err, spec)
	}
}

// fuzzMinimizeTime bounds the minimizing of each input that finds new
// code (and of a failing one) to 20 calls, unless -fuzzminimizetime says
// otherwise. Go's default, a minute per input, left both workers
// minimizing nearly all the time (removing bytes from a spec seldom keeps
// the new code covered), at about one execution a second.
const fuzzMinimizeTime = "20x"

// boundMinimizing sets -test.fuzzminimizetime to d when the command line
// does not set it.
func boundMinimizing(d string) {
	given := false
	flag.Visit(func(fl *flag.Flag) { given = given || fl.Name == "test.fuzzminimizetime" })
	if !given {
		flag.Set("test.fuzzminimizetime", d)
	}
}

// sampled reports whether spec is one of the inputs, about one in
// sixteen, on which FuzzCompile checks determinism too.
func sampled(spec string) bool {
	h := fnv.New32a()
	h.Write([]byte(spec))
	return h.Sum32()%16 == 0
}

// FuzzCompile compiles arbitrary specs (the user's file of a module held
// in memory) with the checks of checkCompile; every seed, and a sample of
// the other inputs, is compiled twice for determinism. The seeds are
// smallSpec's variants; examples/fraud/fraud.cue's are checked by
// TestCompileSeeds (as big seeds they would make each input that finds
// new code costly to minimize).
//
//	go test ./compiler -run '^$' -fuzz FuzzCompile -fuzztime 60s
func FuzzCompile(f *testing.F) {
	boundMinimizing(fuzzMinimizeTime)
	seeds := map[string]bool{}
	for _, s := range fuzzSeeds(f, false) {
		seeds[s] = true
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, spec string) {
		checkCompile(t, spec, seeds[spec] || sampled(spec))
	})
}

// TestCompileSeeds runs FuzzCompile's checks, determinism included, on
// every seed: smallSpec's variants and examples/fraud/fraud.cue's.
func TestCompileSeeds(t *testing.T) {
	compiled := 0
	for _, s := range fuzzSeeds(t, true) {
		checkCompile(t, s, true)
		if _, err := compileSpec(s); err == nil {
			compiled++
		}
	}
	if compiled < 3 {
		t.Errorf("%d seeds compile, want at least smallSpec, fraud.cue and a variant of each", compiled)
	}
}
