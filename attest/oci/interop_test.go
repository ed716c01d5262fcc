package oci

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"cairn.dev/cairn/attest/registrytest"
)

// tool returns the path of a CLI another OCI project ships, skipping the
// test without it unless CAIRN_REQUIRE_REGISTRY=1 (as in CI, which
// installs it).
func tool(t *testing.T, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		if os.Getenv(registrytest.RequireEnv) == "1" {
			t.Fatalf("%s is not on PATH and %s=1", name, registrytest.RequireEnv)
		}
		t.Skipf("%s is not on PATH", name)
	}
	return p
}

// TestInteropWithCraneAndOras pushes a model to a real registry and reads
// it back with go-containerregistry's crane and with oras: the manifest
// is a ModelPack manifest and oras pull writes every file where it
// belongs.
func TestInteropWithCraneAndOras(t *testing.T) {
	crane, oras := tool(t, "crane"), tool(t, "oras")
	srv := registrytest.Start(t)
	dir := t.TempDir()
	files := map[string]string{
		"model.safetensors":   "weights",
		"config.json":         `{"layers": 2}`,
		"README.md":           "# model",
		"tokenizer/vocab.txt": "a\nb\n",
	}
	for name, data := range files {
		p := filepath.Join(dir, filepath.FromSlash(name))
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	ref, err := ParseRef(srv.Host+"/ml/interop:v1", t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	res, err := Push(context.Background(), dir, ref, PushOptions{Options: Options{Insecure: true}})
	if err != nil {
		t.Fatal(err)
	}

	out, err := exec.Command(crane, "manifest", "--insecure", srv.Host+"/ml/interop:v1").Output()
	if err != nil {
		t.Fatalf("crane manifest: %v", err)
	}
	var m struct {
		ArtifactType string                     `json:"artifactType"`
		Config       struct{ MediaType string } `json:"config"`
		Layers       []struct {
			Annotations map[string]string `json:"annotations"`
		} `json:"layers"`
	}
	if err := json.Unmarshal(out, &m); err != nil {
		t.Fatalf("crane manifest printed %s: %v", out, err)
	}
	if m.ArtifactType != ArtifactType || m.Config.MediaType != MediaTypeConfig || len(m.Layers) != len(files) {
		t.Errorf("crane manifest = %s, want a ModelPack manifest of %d layers", out, len(files))
	}
	digest, err := exec.Command(crane, "digest", "--insecure", srv.Host+"/ml/interop:v1").Output()
	if err != nil || string(bytes.TrimSpace(digest)) != res.Descriptor.Digest.String() {
		t.Errorf("crane digest = %s, %v; want %s", digest, err, res.Descriptor.Digest)
	}

	pulled := t.TempDir()
	cmd := exec.Command(oras, "pull", "--plain-http", "-o", pulled, srv.Host+"/ml/interop:v1")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("oras pull: %v\n%s", err, out)
	}
	for name, want := range files {
		got, err := os.ReadFile(filepath.Join(pulled, filepath.FromSlash(name)))
		if err != nil || string(got) != want {
			t.Errorf("oras pull wrote %s = %q, %v; want %q", name, got, err, want)
		}
	}
}
