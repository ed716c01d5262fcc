package compiler_test

import (
	"bytes"
	"io/fs"
	"os"
	"path/filepath"
	"testing"

	"cairn.dev/cairn/compiler"
	"cairn.dev/cairn/compiler/emit"
)

// TestExamples compiles every example twice and compares the output with
// its committed rendered folder, byte for byte. CAIRN_UPDATE=1 rewrites it.
func TestExamples(t *testing.T) {
	dirs, err := filepath.Glob("../examples/*/cue.mod")
	if err != nil || len(dirs) < 3 {
		t.Fatalf("examples: found %d, want at least 3 (%v)", len(dirs), err)
	}
	for _, d := range dirs {
		dir := filepath.Dir(d)
		t.Run(filepath.Base(dir), func(t *testing.T) {
			res, err := compiler.Compile(compiler.Options{Dir: dir})
			if err != nil {
				t.Fatalf("Compile(%s): %v", dir, err)
			}
			again, err := compiler.Compile(compiler.Options{Dir: dir})
			if err != nil {
				t.Fatalf("Compile(%s) again: %v", dir, err)
			}
			rendered := filepath.Join(dir, "rendered")
			if os.Getenv("CAIRN_UPDATE") == "1" {
				if err := emit.Write(rendered, res.Files); err != nil {
					t.Fatal(err)
				}
			}
			got := readTree(t, rendered)
			for name, data := range res.Files {
				if !bytes.Equal(again.Files[name], data) {
					t.Errorf("%s differs between two compiles", name)
				}
				want, ok := got[name]
				if !ok {
					t.Errorf("%s/%s is missing; run make golden", rendered, name)
					continue
				}
				if !bytes.Equal(want, data) {
					t.Errorf("%s/%s is stale; run make golden", rendered, name)
				}
			}
			for name := range got {
				if _, ok := res.Files[name]; !ok {
					t.Errorf("%s/%s is no longer produced; run make golden", rendered, name)
				}
			}
		})
	}
}

func readTree(t *testing.T, root string) map[string][]byte {
	t.Helper()
	files := map[string][]byte{}
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		files[filepath.ToSlash(rel)] = data
		return nil
	})
	if err != nil {
		t.Fatalf("reading %s: %v", root, err)
	}
	return files
}
