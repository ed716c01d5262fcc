package compiler_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"cairn.dev/cairn/compiler"
	"cairn.dev/cairn/compiler/diag"
)

const fuzzModule = "module: \"example.com/f@v0\"\nlanguage: version: \"v0.17.0\"\n"

// FuzzCompile compiles arbitrary specs: Compile must not panic, and a spec
// it refuses must be refused with a diag.List whose every diagnostic names
// a file and a line. The one diagnostic about the module as a whole, "no
// project found", names the folder without a line.
//
//	go test ./compiler -run '^$' -fuzz FuzzCompile -fuzztime 60s
func FuzzCompile(f *testing.F) {
	data, err := os.ReadFile(filepath.Join("..", "examples", "fraud", "fraud.cue"))
	if err != nil {
		f.Fatal(err)
	}
	seed := string(data)
	f.Add(seed)
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
		if !strings.Contains(seed, m.old) {
			f.Fatalf("examples/fraud/fraud.cue lacks %q", m.old)
		}
		f.Add(strings.Replace(seed, m.old, m.new, 1))
	}
	f.Add("package p\n")

	f.Fuzz(func(t *testing.T, spec string) {
		dir := t.TempDir()
		if err := os.MkdirAll(filepath.Join(dir, "cue.mod"), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "cue.mod", "module.cue"), []byte(fuzzModule), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "spec.cue"), []byte(spec), 0o644); err != nil {
			t.Fatal(err)
		}
		_, err := compiler.Compile(compiler.Options{Dir: dir})
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
	})
}
