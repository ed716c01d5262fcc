package compiler_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"cairn.dev/cairn/compiler"
)

// TestPosBaseAppliesToEveryPosition checks that a conflict between two
// files names both with the folder prefix the CLI passes.
func TestPosBaseAppliesToEveryPosition(t *testing.T) {
	dir := t.TempDir()
	write := func(name, data string) {
		if err := os.MkdirAll(filepath.Dir(filepath.Join(dir, name)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name), []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("cue.mod/module.cue", "module: \"example.com/x@v0\"\nlanguage: version: \"v0.17.0\"\n")
	write("a.cue", "package x\n\nproject: name: \"one\"\n")
	write("b.cue", "package x\n\nproject: name: \"two\"\n")
	_, err := compiler.Compile(compiler.Options{Dir: dir, PosBase: "specs"})
	if err == nil {
		t.Fatal("Compile of conflicting names succeeded")
	}
	msg := err.Error()
	if !strings.Contains(msg, "specs/a.cue:3:16") || !strings.Contains(msg, "also set at specs/b.cue:3:16") {
		t.Errorf("Compile error = %q, want both positions under specs/", msg)
	}
}
