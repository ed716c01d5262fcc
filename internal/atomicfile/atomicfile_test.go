package atomicfile

import (
	"os"
	"path/filepath"
	"testing"
)

func TestWrite(t *testing.T) {
	dir := t.TempDir()
	name := filepath.Join(dir, "key")
	for _, c := range []struct {
		data string
		perm os.FileMode
	}{{"first", 0o600}, {"second, longer", 0o644}} {
		if err := Write(name, []byte(c.data), c.perm); err != nil {
			t.Fatal(err)
		}
		got, err := os.ReadFile(name)
		if err != nil || string(got) != c.data {
			t.Errorf("after Write(%q): read %q, %v", c.data, got, err)
		}
		if fi, _ := os.Stat(name); fi.Mode().Perm() != c.perm {
			t.Errorf("mode = %v, want %v", fi.Mode().Perm(), c.perm)
		}
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 1 {
		t.Errorf("folder holds %d entries, want the file alone (no temporary left)", len(entries))
	}
	if err := Write(filepath.Join(dir, "missing", "x"), nil, 0o644); err == nil {
		t.Error("Write into a missing folder succeeded, want an error")
	}
}
