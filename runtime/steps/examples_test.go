package steps

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// TestFraudExampleData runs the fraud example's generator, when python3 is
// on PATH, and validates its output against the example's dataset spec.
func TestFraudExampleData(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the Python generator")
	}
	py, err := exec.LookPath("python3")
	if err != nil {
		if os.Getenv("CAIRN_REQUIRE_PYTHON") == "1" {
			t.Fatal("python3 is not on PATH and CAIRN_REQUIRE_PYTHON=1")
		}
		t.Skip("python3 is not on PATH")
	}
	out := t.TempDir()
	cmd := exec.Command(py, filepath.Join("..", "..", "examples", "fraud", "src", "generate.py"), "--rows", "20000", "--seed", "7", "--out", out)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("generate.py: %v\n%s", err, b)
	}
	spec := fraudSpec("file://"+filepath.ToSlash(out), 20000)
	snap, failures := validate(t, spec, "")
	for _, f := range failures {
		t.Error(f)
	}
	if snap.Files != 4 || snap.Rows != 20000 {
		t.Errorf("files %d rows %d, want 4 and 20000", snap.Files, snap.Rows)
	}
	if len(snap.ExtraColumns) != 0 {
		t.Errorf("undeclared columns %v", snap.ExtraColumns)
	}
	// The same arguments give the same bytes: the digest is that of the
	// example's data everywhere.
	out2 := t.TempDir()
	cmd = exec.Command(py, filepath.Join("..", "..", "examples", "fraud", "src", "generate.py"), "--rows", "20000", "--seed", "7", "--out", out2)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("generate.py: %v\n%s", err, b)
	}
	if snap2, _ := validate(t, spec, out2); snap2.Digest != snap.Digest {
		t.Errorf("generated twice: digests %s and %s", snap.Digest, snap2.Digest)
	}
	t.Logf("fraud example data: %s", snap.Digest)
}
