package oci

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

func TestMediaTypeFor(t *testing.T) {
	tests := []struct {
		path, want string
	}{
		{"model.safetensors", MediaTypeWeight},
		{"model-00001-of-00002.safetensors", MediaTypeWeight},
		{"sub/pytorch_model.bin", MediaTypeWeight},
		{"ggml-q4.GGUF", MediaTypeWeight},
		{"noextension", MediaTypeWeight},
		{"config.json", MediaTypeWeightConfig},
		{"model.safetensors.index.json", MediaTypeWeightConfig},
		{"tokenizer.model", MediaTypeWeightConfig},
		{"merges.txt", MediaTypeWeightConfig},
		{"vocab.txt", MediaTypeWeightConfig},
		{"hparams.yaml", MediaTypeWeightConfig},
		{"cl100k.tiktoken", MediaTypeWeightConfig},
		{"README.md", MediaTypeDoc},
		{"LICENSE", MediaTypeDoc},
		{"license.txt", MediaTypeDoc},
		{"docs/figure.png", MediaTypeDoc},
		{"notes.txt", MediaTypeDoc},
		{"requirements.txt", MediaTypeCode},
		{"src/modeling.py", MediaTypeCode},
		{"run.sh", MediaTypeCode},
		{"Dockerfile", MediaTypeCode},
		{"data/train.parquet", MediaTypeDataset},
		{"eval.jsonl", MediaTypeDataset},
		{"labels.CSV", MediaTypeDataset},
	}
	for _, tt := range tests {
		if got := MediaTypeFor(tt.path); got != tt.want {
			t.Errorf("MediaTypeFor(%q) = %s, want %s", tt.path, got, tt.want)
		}
	}
}

func TestGuessFormat(t *testing.T) {
	file := func(p string) File { return File{Path: p, MediaType: MediaTypeFor(p)} }
	tests := []struct {
		files []string
		want  string
	}{
		{[]string{"a.safetensors", "b.safetensors", "config.json"}, "safetensors"},
		{[]string{"m.gguf", "README.md"}, "gguf"},
		{[]string{"a.safetensors", "b.bin"}, ""},
		{[]string{"weights"}, ""},
		{[]string{"config.json"}, ""},
	}
	for _, tt := range tests {
		var files []File
		for _, p := range tt.files {
			files = append(files, file(p))
		}
		if got := guessFormat(files); got != tt.want {
			t.Errorf("guessFormat(%v) = %q, want %q", tt.files, got, tt.want)
		}
	}
}

// TestManifestShape checks the manifest and config against the ModelPack
// layout, field by field.
func TestManifestShape(t *testing.T) {
	h := func(c byte) v1.Hash { return v1.Hash{Algorithm: "sha256", Hex: strings.Repeat(string(c), 64)} }
	files := []File{
		{Path: "config.json", MediaType: MediaTypeWeightConfig, Digest: h('a'), Size: 10},
		{Path: "model.safetensors", MediaType: MediaTypeWeight, Digest: h('b'), Size: 20},
	}
	opts := &PushOptions{Name: "m", Version: "1.0", Framework: "pytorch", Annotations: map[string]string{"x": "y"}}
	config, manifest, err := modelManifest(files, opts, time.Unix(1700000000, 0).UTC())
	if err != nil {
		t.Fatal(err)
	}
	wantConfig := `{"descriptor":{"createdAt":"2023-11-14T22:13:20Z","name":"m","version":"1.0"},"config":{"format":"safetensors"},"modelfs":{"type":"layers","diffIds":["sha256:` + strings.Repeat("a", 64) + `","sha256:` + strings.Repeat("b", 64) + `"]}}`
	if string(config) != wantConfig {
		t.Errorf("config = %s, want %s", config, wantConfig)
	}
	var m v1.Manifest
	if err := json.Unmarshal(manifest, &m); err != nil {
		t.Fatal(err)
	}
	checks := []struct {
		what, got, want string
	}{
		{"mediaType", string(m.MediaType), "application/vnd.oci.image.manifest.v1+json"},
		{"artifactType", m.ArtifactType, ArtifactType},
		{"config.mediaType", string(m.Config.MediaType), MediaTypeConfig},
		{"layers[0].mediaType", string(m.Layers[0].MediaType), MediaTypeWeightConfig},
		{"layers[0] filepath", m.Layers[0].Annotations[AnnotationFilepath], "config.json"},
		{"layers[1] filepath", m.Layers[1].Annotations[AnnotationFilepath], "model.safetensors"},
		{"created", m.Annotations[AnnotationCreated], "2023-11-14T22:13:20Z"},
		{"framework", m.Annotations[AnnotationFramework], "pytorch"},
		{"x", m.Annotations["x"], "y"},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("manifest %s = %q, want %q", c.what, c.got, c.want)
		}
	}
	if _, err := parseModel(manifest); err != nil {
		t.Errorf("parseModel(manifest) = %v, want nil", err)
	}
	// No time, no created annotation: the bytes depend on the files alone.
	_, m1, _ := modelManifest(files, &PushOptions{Name: "m"}, time.Time{})
	_, m2, _ := modelManifest(files, &PushOptions{Name: "m"}, time.Time{})
	if string(m1) != string(m2) || strings.Contains(string(m1), "created") {
		t.Errorf("modelManifest without time = %s and %s, want equal and without created", m1, m2)
	}
}

func TestSourceDateEpoch(t *testing.T) {
	tests := []struct {
		env  string
		want time.Time
		err  bool
	}{
		{"", time.Time{}, false},
		{"0", time.Unix(0, 0).UTC(), false},
		{"1700000000", time.Unix(1700000000, 0).UTC(), false},
		{"yesterday", time.Time{}, true},
	}
	for _, tt := range tests {
		t.Setenv("SOURCE_DATE_EPOCH", tt.env)
		got, err := sourceDateEpoch()
		if (err != nil) != tt.err || !got.Equal(tt.want) {
			t.Errorf("sourceDateEpoch() with SOURCE_DATE_EPOCH=%q = %v, %v, want %v (error %t)", tt.env, got, err, tt.want, tt.err)
		}
	}
}

// TestManifestGolden pins the manifest's bytes: a change here changes the
// digest of every model pushed, so it must be deliberate.
func TestManifestGolden(t *testing.T) {
	h := func(c byte) v1.Hash { return v1.Hash{Algorithm: "sha256", Hex: strings.Repeat(string(c), 64)} }
	files := []File{
		{Path: "README.md", MediaType: MediaTypeDoc, Digest: h('c'), Size: 3},
		{Path: "model.safetensors", MediaType: MediaTypeWeight, Digest: h('d'), Size: 7},
	}
	_, manifest, err := modelManifest(files, &PushOptions{Name: "m", Version: "1"}, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	want := `{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","artifactType":"application/vnd.cncf.model.manifest.v1+json",` +
		`"config":{"mediaType":"application/vnd.cncf.model.config.v1+json","digest":"sha256:aa662ec9408dafe5c587a347426927fc2ed8021d5d615592446a1c790929cce4","size":263},` +
		`"layers":[{"mediaType":"application/vnd.cncf.model.doc.v1.raw","digest":"sha256:` + strings.Repeat("c", 64) + `","size":3,"annotations":{"org.cncf.model.filepath":"README.md","org.opencontainers.image.title":"README.md"}},` +
		`{"mediaType":"application/vnd.cncf.model.weight.v1.raw","digest":"sha256:` + strings.Repeat("d", 64) + `","size":7,"annotations":{"org.cncf.model.filepath":"model.safetensors","org.opencontainers.image.title":"model.safetensors"}}]}`
	if string(manifest) != want {
		t.Errorf("manifest = %s, want %s", manifest, want)
	}
	h2, _, _ := v1.SHA256(strings.NewReader(string(manifest)))
	if got, want := h2.String(), "sha256:755209f411f680c588217c1284fa058b3dbe8701a10f1902fd4f583a658e3f4e"; got != want {
		t.Errorf("manifest digest = %s, want %s", got, want)
	}
}
