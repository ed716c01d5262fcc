package oci

import (
	"bytes"
	"context"
	"errors"
	"io"
	"maps"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

func TestCheckPath(t *testing.T) {
	tests := []struct {
		path string
		want string // "" for no error
	}{
		{"model.safetensors", ""},
		{"a/b/c.json", ""},
		{".hidden/x", ""},
		{"a..b", ""},
		{"", "empty"},
		{"../x", "escapes"},
		{"a/../../x", "escapes"},
		{"a/..", "escapes"},
		{"..", "escapes"},
		{"/etc/x", "absolute"},
		{"a\\..\\..\\x", "backslash"},
		{"a\x00b", "NUL"},
		{"./a", "not clean"},
		{"a//b", "not clean"},
		{"a/", "not clean"},
		{".", "not clean"},
		{"a/./b", "not clean"},
		{"\xff", "UTF-8"},
	}
	for _, tt := range tests {
		err := checkPath(tt.path)
		if tt.want == "" && err != nil || tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)) {
			t.Errorf("checkPath(%q) = %v, want %q", tt.path, err, tt.want)
		}
	}
}

func TestCheckEntries(t *testing.T) {
	tests := []struct {
		paths []string
		want  string
	}{
		{[]string{"a", "b/c", "b/d"}, ""},
		{[]string{"a", "a"}, "appears twice"},
		{[]string{"a", "a/b"}, "lies below file"},
		{[]string{"x/y/z", "x/y"}, "lies below file"},
		{[]string{"ok", "../x"}, "escapes"},
	}
	for _, tt := range tests {
		var files []File
		for _, p := range tt.paths {
			files = append(files, File{Path: p})
		}
		err := checkEntries(files)
		if tt.want == "" && err != nil || tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)) {
			t.Errorf("checkEntries(%q) = %v, want %q", tt.paths, err, tt.want)
		}
	}
}

func TestMatchGlob(t *testing.T) {
	tests := []struct {
		pattern, name string
		want          bool
	}{
		{"*.json", "config.json", true},
		{"*.json", "sub/config.json", false},
		{"sub/*", "sub/a", true},
		{"**/*.json", "config.json", true},
		{"**/*.json", "a/b/config.json", true},
		{"a/**", "a/b/c", true},
		{"a/**", "b/c", false},
		{"a/**/z", "a/z", true},
		{"a/**/z", "a/b/c/z", true},
		{"a/**/z", "a/b/c/y", false},
		{"model-0000[12]*", "model-00001-of-2", true},
	}
	for _, tt := range tests {
		got, err := matchGlob(tt.pattern, tt.name)
		if err != nil || got != tt.want {
			t.Errorf("matchGlob(%q, %q) = %t, %v, want %t", tt.pattern, tt.name, got, err, tt.want)
		}
	}
	if _, err := matchGlob("[", "x"); err == nil {
		t.Errorf("matchGlob(%q, %q) error = nil, want bad pattern", "[", "x")
	}
}

// craft stores in a layout an artifact whose entries carry the given
// paths, whatever they are, and returns its reference.
func craft(t *testing.T, paths ...string) Ref {
	t.Helper()
	ctx := context.Background()
	ref := Ref{Layout: filepath.Join(t.TempDir(), "layout"), Tag: "crafted"}
	s := newLayoutStore(ref.Layout)
	var files []File
	for i, p := range paths {
		content := []byte(strings.Repeat("x", i+1))
		h, n, _ := v1.SHA256(bytes.NewReader(content))
		f := File{Path: p, MediaType: MediaTypeWeight, Digest: h, Size: n}
		open := func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(content)), nil }
		if err := s.PutBlob(ctx, v1.Descriptor{Digest: h, Size: n}, open); err != nil {
			t.Fatal(err)
		}
		files = append(files, f)
	}
	config, manifest, err := modelManifest(files, &PushOptions{Name: "crafted"}, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	p := &pusher{store: s}
	desc, err := p.putManifest(ctx, config, manifest)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Tag(ctx, ref.Tag, desc); err != nil {
		t.Fatal(err)
	}
	return ref
}

// TestPullRefusesEscapes crafts artifacts whose entries would write
// outside the target or over each other. Raw layers are plain files and
// cannot be symbolic links, so no entry can create a link that a later
// entry would follow; Pull also writes only into a new folder of its own,
// through an os.Root, so a link cannot be there beforehand either (see
// TestPullTarget for targets that hold links).
func TestPullRefusesEscapes(t *testing.T) {
	tests := []struct {
		name  string
		paths []string
		want  string
	}{
		{"parent", []string{"ok.json", "../x"}, "escapes"},
		{"absolute", []string{"/etc/x"}, "absolute"},
		{"inner parent", []string{"a/../../x"}, "escapes"},
		{"parent inside", []string{"a/../b"}, "escapes"},
		{"duplicate", []string{"a", "a"}, "appears twice"},
		{"file then folder", []string{"a", "a/b"}, "lies below file"},
		{"backslash", []string{`..\x`}, "backslash"},
		{"no annotation", []string{""}, "empty file path"},
		{"dot", []string{"./a"}, "not clean"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ref := craft(t, tt.paths...)
			parent := t.TempDir()
			dir := filepath.Join(parent, "model")
			_, err := Pull(context.Background(), ref, dir, PullOptions{})
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Pull(%q) error = %v, want one containing %q", tt.paths, err, tt.want)
			}
			if left := listFolder(t, parent); len(left) != 0 {
				t.Errorf("Pull(%q) left %q, want nothing", tt.paths, left)
			}
			if _, err := os.Stat(filepath.Join(parent, "x")); err == nil {
				t.Errorf("Pull(%q) wrote outside the target", tt.paths)
			}
		})
	}
}

// TestPullTarget covers the folder Pull writes to: it must not exist or
// be empty, and a link in the way is never followed.
func TestPullTarget(t *testing.T) {
	ref := craft(t, "w/x", "y")
	ctx := context.Background()

	outside := t.TempDir()
	parent := t.TempDir()
	// A target holding a link to a folder outside: refused, untouched.
	withLink := filepath.Join(parent, "with-link")
	if err := os.Mkdir(withLink, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(outside, filepath.Join(withLink, "w")); err != nil {
		t.Fatal(err)
	}
	if _, err := Pull(ctx, ref, withLink, PullOptions{}); err == nil || !strings.Contains(err.Error(), "not empty") {
		t.Errorf("Pull into a folder holding a link = %v, want not empty", err)
	}
	// A target that is itself a link: refused.
	link := filepath.Join(parent, "link")
	if err := os.Symlink(outside, link); err != nil {
		t.Fatal(err)
	}
	if _, err := Pull(ctx, ref, link, PullOptions{}); err == nil || !strings.Contains(err.Error(), "not a folder") {
		t.Errorf("Pull into a link = %v, want not a folder", err)
	}
	if left := listFolder(t, outside); len(left) != 0 {
		t.Errorf("Pull wrote %q through a link, want nothing", left)
	}
	// An empty folder: replaced.
	empty := filepath.Join(parent, "empty")
	if err := os.Mkdir(empty, 0o755); err != nil {
		t.Fatal(err)
	}
	if _, err := Pull(ctx, ref, empty, PullOptions{}); err != nil {
		t.Fatalf("Pull into an empty folder: %v", err)
	}
	got := readTree(t, empty)
	want := map[string]string{"w/x": "x", "y": "xx"}
	if !maps.Equal(got, want) {
		t.Errorf("Pull into an empty folder wrote %q, want %q", got, want)
	}
	fi, err := os.Stat(empty)
	if err != nil || fi.Mode().Perm() != 0o755 {
		t.Errorf("pulled folder mode = %v, %v, want 0755", fi.Mode().Perm(), err)
	}
	// Nothing else is left next to the targets.
	entries := listFolder(t, parent)
	for _, e := range entries {
		if strings.Contains(e, ".pull-") {
			t.Errorf("Pull left %s", e)
		}
	}
}

func TestPullInclude(t *testing.T) {
	reg := newTestRegistry(t)
	ctx := context.Background()
	tree := map[string]string{
		"config.json":              "{}",
		"model-1.safetensors":      "w1",
		"model-2.safetensors":      "w2",
		"tokenizer/tokenizer.json": "{}", // same content as config.json
		"tokenizer/merges.txt":     "m",
		"README.md":                "# m",
	}
	ref := reg.ref("m", "v1")
	if _, err := Push(ctx, writeTree(t, tree), ref, PushOptions{Options: testOptions()}); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		include []string
		want    []string
	}{
		{[]string{"*.json"}, []string{"config.json"}},
		{[]string{"tokenizer/*"}, []string{"tokenizer/merges.txt", "tokenizer/tokenizer.json"}},
		{[]string{"**/*.json"}, []string{"config.json", "tokenizer/tokenizer.json"}},
		{[]string{"*.safetensors", "README.md"}, []string{"README.md", "model-1.safetensors", "model-2.safetensors"}},
	}
	for _, tt := range tests {
		dir := filepath.Join(t.TempDir(), "out")
		opts := PullOptions{Options: testOptions(), Include: tt.include}
		if _, err := Pull(ctx, ref, dir, opts); err != nil {
			t.Errorf("Pull(Include %q): %v", tt.include, err)
			continue
		}
		got := readTree(t, dir)
		var paths []string
		for p, content := range got {
			paths = append(paths, p)
			if content != tree[p] {
				t.Errorf("Pull(Include %q) wrote %s = %q, want %q", tt.include, p, content, tree[p])
			}
		}
		slices.Sort(paths)
		if !slices.Equal(paths, tt.want) {
			t.Errorf("Pull(Include %q) wrote %q, want %q", tt.include, paths, tt.want)
		}
	}
	dir := filepath.Join(t.TempDir(), "out")
	_, err := Pull(ctx, ref, dir, PullOptions{Options: testOptions(), Include: []string{"*.onnx"}})
	if err == nil || !strings.Contains(err.Error(), "matches no file") {
		t.Errorf("Pull(Include *.onnx) = %v, want matches no file", err)
	}
}

// TestPullCorruptBlob serves wrong bytes for one blob, from a registry
// and from a layout: the pull fails and leaves nothing.
func TestPullCorruptBlob(t *testing.T) {
	ctx := context.Background()
	tree := map[string]string{"a.safetensors": "good weights", "config.json": "{}"}
	src := writeTree(t, tree)
	bad := []byte("evil weights") // same length

	t.Run("registry", func(t *testing.T) {
		reg := newTestRegistry(t)
		res, err := Push(ctx, src, reg.ref("m", "v1"), PushOptions{Options: testOptions()})
		if err != nil {
			t.Fatal(err)
		}
		target := res.Files[0].Digest.String() // a.safetensors
		reg.setFault(func(w http.ResponseWriter, req *http.Request) bool {
			if req.Method != http.MethodGet || !strings.HasSuffix(req.URL.Path, "/blobs/"+target) {
				return false
			}
			w.Header().Set("Docker-Content-Digest", target)
			w.Write(bad)
			return true
		})
		parent := t.TempDir()
		_, err = Pull(ctx, reg.ref("m", "v1"), filepath.Join(parent, "model"), PullOptions{Options: testOptions()})
		if err == nil || !strings.Contains(err.Error(), "sha256") {
			t.Errorf("Pull of a corrupt blob = %v, want a digest error", err)
		}
		if left := listFolder(t, parent); len(left) != 0 {
			t.Errorf("Pull of a corrupt blob left %q, want nothing", left)
		}
	})
	t.Run("layout", func(t *testing.T) {
		ref := Ref{Layout: filepath.Join(t.TempDir(), "layout"), Tag: "v1"}
		res, err := Push(ctx, src, ref, PushOptions{})
		if err != nil {
			t.Fatal(err)
		}
		blob := newLayoutStore(ref.Layout).blobPath(res.Files[0].Digest)
		if err := os.WriteFile(blob, bad, 0o644); err != nil {
			t.Fatal(err)
		}
		parent := t.TempDir()
		_, err = Pull(ctx, ref, filepath.Join(parent, "model"), PullOptions{})
		if err == nil || !strings.Contains(err.Error(), "digest") {
			t.Errorf("Pull of a corrupt blob = %v, want a digest error", err)
		}
		if left := listFolder(t, parent); len(left) != 0 {
			t.Errorf("Pull of a corrupt blob left %q, want nothing", left)
		}
	})
}

func TestPullNotAModel(t *testing.T) {
	ctx := context.Background()
	ref := Ref{Layout: filepath.Join(t.TempDir(), "layout"), Tag: "img"}
	s := newLayoutStore(ref.Layout)
	raw := []byte(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a","size":2},"layers":[]}`)
	h, n, _ := v1.SHA256(bytes.NewReader(raw))
	desc := v1.Descriptor{MediaType: types.OCIManifestSchema1, Digest: h, Size: n}
	if err := s.PutManifest(ctx, desc, raw); err != nil {
		t.Fatal(err)
	}
	if err := s.Tag(ctx, "img", desc); err != nil {
		t.Fatal(err)
	}
	_, err := Pull(ctx, ref, filepath.Join(t.TempDir(), "m"), PullOptions{})
	if err == nil || !strings.Contains(err.Error(), "not a model artifact") {
		t.Errorf("Pull of an image = %v, want not a model artifact", err)
	}
	_, err = Inspect(ctx, Ref{Layout: ref.Layout, Tag: "missing"}, Options{})
	if !errors.Is(err, ErrNotFound) {
		t.Errorf("Inspect of a missing tag = %v, want ErrNotFound", err)
	}
	_, err = Inspect(ctx, Ref{Layout: filepath.Join(t.TempDir(), "none")}, Options{})
	if !errors.Is(err, ErrNotFound) {
		t.Errorf("Inspect of a missing layout = %v, want ErrNotFound", err)
	}
}
