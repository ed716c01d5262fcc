package schemadoc_test

import (
	"bytes"
	"os"
	"testing"

	"cairn.dev/cairn/compiler/schemadoc"
	"cairn.dev/cairn/schemas"
)

// TestSpecDocIsCurrent fails when docs/spec.md no longer matches the
// schemas; CAIRN_UPDATE=1 rewrites it.
func TestSpecDocIsCurrent(t *testing.T) {
	const file = "../../docs/spec.md"
	md, err := schemadoc.Markdown(schemas.FS)
	if err != nil {
		t.Fatal(err)
	}
	if os.Getenv("CAIRN_UPDATE") == "1" {
		if err := os.WriteFile(file, md, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	got, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, md) {
		t.Errorf("%s is stale: run make golden (or cairn schema doc > docs/spec.md)", file)
	}
}
