package oci

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"maps"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// model is a small model folder with every kind of file, nested folders,
// an empty file, two files with the same content and a link to a file.
var model = map[string]string{
	"README.md":                        "# tiny\n",
	"LICENSE":                          "Apache-2.0\n",
	"config.json":                      `{"hidden_size": 8}`,
	"generation_config.json":           `{"hidden_size": 8}`,
	"model-00001-of-00002.safetensors": strings.Repeat("w1", 5000),
	"model-00002-of-00002.safetensors": strings.Repeat("w2", 7000),
	"model.safetensors.index.json":     `{"weight_map": {}}`,
	"tokenizer/tokenizer.json":         `{"vocab": []}`,
	"tokenizer/merges.txt":             "a b\n",
	"src/modeling.py":                  "print('hi')\n",
	"data/eval.jsonl":                  "{}\n{}\n",
	"empty.bin":                        "",
	"deep/a/b/c/d/weights.bin":         "deep",
	"name with spaces & ünïcode.gguf":  "gguf",
}

func writeModelTree(t *testing.T) string {
	t.Helper()
	dir := writeTree(t, model)
	if err := os.Symlink("config.json", filepath.Join(dir, "link.json")); err != nil {
		t.Fatal(err)
	}
	return dir
}

func modelWithLink() map[string]string {
	want := map[string]string{"link.json": model["config.json"]}
	for k, v := range model {
		want[k] = v
	}
	return want
}

func TestRoundTrip(t *testing.T) {
	ctx := context.Background()
	src := writeModelTree(t)
	for _, target := range []string{"registry", "layout"} {
		t.Run(target, func(t *testing.T) {
			var ref Ref
			if target == "registry" {
				ref = newTestRegistry(t).ref("acme/tiny", "v1")
			} else {
				ref = Ref{Layout: filepath.Join(t.TempDir(), "layout"), Tag: "v1"}
			}
			var mu sync.Mutex
			events := map[Phase]int{}
			opts := PushOptions{Options: testOptions(), Version: "1", Framework: "pytorch"}
			opts.Progress = func(p Progress) {
				mu.Lock()
				events[p.Phase]++
				mu.Unlock()
			}
			res, err := Push(ctx, src, ref, opts)
			if err != nil {
				t.Fatal(err)
			}
			if len(res.Files) != len(model)+1 {
				t.Errorf("Push stored %d files, want %d", len(res.Files), len(model)+1)
			}
			if events[PhaseHash] == 0 || events[PhaseDone] == 0 || events[PhaseSkip] == 0 {
				t.Errorf("Push progress events = %v, want hash, done and skip (duplicate content)", events)
			}
			dir := filepath.Join(t.TempDir(), "pulled")
			art, err := Pull(ctx, res.Ref, dir, PullOptions{Options: testOptions()})
			if err != nil {
				t.Fatal(err)
			}
			got, want := readTree(t, dir), modelWithLink()
			if !maps.Equal(got, want) {
				t.Errorf("pulled tree = %q, want %q", got, want)
			}
			if art.Descriptor.Digest != res.Descriptor.Digest {
				t.Errorf("Pull digest = %s, want %s", art.Descriptor.Digest, res.Descriptor.Digest)
			}

			ins, err := Inspect(ctx, ref, testOptions())
			if err != nil {
				t.Fatal(err)
			}
			checks := []struct{ what, got, want string }{
				{"config name", ins.Config.Descriptor.Name, "tiny"},
				{"config version", ins.Config.Descriptor.Version, "1"},
				{"config format", ins.Config.Config.Format, ""}, // safetensors, bin and gguf
				{"modelfs type", ins.Config.ModelFS.Type, "layers"},
				{"framework", ins.Manifest.Annotations[AnnotationFramework], "pytorch"},
				{"digest", ins.Ref.Digest, res.Descriptor.Digest.String()},
				{"first file", ins.Files[0].Path, "LICENSE"},
				{"first kind", ins.Files[0].Kind, KindDoc},
			}
			if target == "layout" {
				checks[0].want = "" // oci:PATH names no repository
			}
			for _, c := range checks {
				if c.got != c.want {
					t.Errorf("Inspect %s = %q, want %q", c.what, c.got, c.want)
				}
			}
			var total int64
			for _, v := range modelWithLink() {
				total += int64(len(v))
			}
			if ins.Size != total || len(ins.Config.ModelFS.DiffIDs) != len(ins.Files) {
				t.Errorf("Inspect size = %d with %d diffIds, want %d with %d", ins.Size, len(ins.Config.ModelFS.DiffIDs), total, len(ins.Files))
			}
			tags, err := List(ctx, ref, testOptions())
			if err != nil || len(tags) != 1 || tags[0].Name != "v1" || tags[0].Digest != res.Descriptor.Digest {
				t.Errorf("List = %v, %v, want [v1 %s]", tags, err, res.Descriptor.Digest)
			}
		})
	}
}

// TestDeterministicDigest pushes the same files, from two folders with
// different modes and times, to two registries and a layout.
func TestDeterministicDigest(t *testing.T) {
	ctx := context.Background()
	src1 := writeModelTree(t)
	src2 := writeModelTree(t)
	old := time.Date(2001, 2, 3, 4, 5, 6, 0, time.UTC)
	filepath.Walk(src2, func(p string, fi os.FileInfo, err error) error {
		if err == nil && fi.Mode().IsRegular() {
			os.Chmod(p, 0o600)
			os.Chtimes(p, old, old)
		}
		return nil
	})
	digests := func() []string {
		opts := PushOptions{Options: testOptions(), Name: "tiny", Version: "1"}
		var out []string
		for i, src := range []string{src1, src2} {
			reg := newTestRegistry(t)
			for _, ref := range []Ref{
				reg.ref("a/tiny", "v1"),
				reg.ref("b/other", "v2"),
				{Layout: filepath.Join(t.TempDir(), fmt.Sprint("layout", i)), Tag: "v1"},
			} {
				res, err := Push(ctx, src, ref, opts)
				if err != nil {
					t.Fatal(err)
				}
				out = append(out, res.Descriptor.Digest.String())
			}
		}
		return out
	}
	plain := digests()
	for i, d := range plain {
		if d != plain[0] {
			t.Errorf("push %d digest = %s, want %s like push 0", i, d, plain[0])
		}
	}
	t.Setenv("SOURCE_DATE_EPOCH", "1700000000")
	dated := digests()
	for i, d := range dated {
		if d != dated[0] {
			t.Errorf("push %d with SOURCE_DATE_EPOCH digest = %s, want %s like push 0", i, d, dated[0])
		}
	}
	if dated[0] == plain[0] {
		t.Errorf("digest with SOURCE_DATE_EPOCH = %s, want it to differ from %s", dated[0], plain[0])
	}
	reg := newTestRegistry(t)
	res, err := Push(ctx, src1, reg.ref("m", "v1"), PushOptions{Options: testOptions()})
	if err != nil {
		t.Fatal(err)
	}
	art, err := Inspect(ctx, res.Ref, testOptions())
	if err != nil {
		t.Fatal(err)
	}
	if got := art.Manifest.Annotations[AnnotationCreated]; got != "2023-11-14T22:13:20Z" {
		t.Errorf("created annotation = %q, want 2023-11-14T22:13:20Z", got)
	}
	if got := art.Config.Descriptor.CreatedAt; got != "2023-11-14T22:13:20Z" {
		t.Errorf("config createdAt = %q, want 2023-11-14T22:13:20Z", got)
	}
}

// TestLayoutThenCopy pushes to a layout, copies to a registry and back to
// another layout, and pulls the copy.
func TestLayoutThenCopy(t *testing.T) {
	ctx := context.Background()
	src := writeModelTree(t)
	layoutRef := Ref{Layout: filepath.Join(t.TempDir(), "layout"), Tag: "v1"}
	res, err := Push(ctx, src, layoutRef, PushOptions{Name: "tiny"})
	if err != nil {
		t.Fatal(err)
	}
	reg := newTestRegistry(t)
	dst := reg.ref("acme/tiny", "")
	desc, err := Copy(ctx, layoutRef, dst, testOptions())
	if err != nil {
		t.Fatal(err)
	}
	if desc.Digest != res.Descriptor.Digest {
		t.Errorf("Copy digest = %s, want %s", desc.Digest, res.Descriptor.Digest)
	}
	// The tag follows the source's when the destination names none.
	tags, err := List(ctx, dst, testOptions())
	if err != nil || len(tags) != 1 || tags[0].Name != "v1" || tags[0].Digest != desc.Digest {
		t.Errorf("List after Copy = %v, %v, want [v1 %s]", tags, err, desc.Digest)
	}
	// A second copy sends nothing.
	reg.resetCounts()
	if _, err := Copy(ctx, layoutRef, dst, testOptions()); err != nil {
		t.Fatal(err)
	}
	if got := reg.received.Load(); got != 0 {
		t.Errorf("second Copy sent %d bytes, want 0", got)
	}
	back := Ref{Layout: filepath.Join(t.TempDir(), "back"), Tag: "copied"}
	if _, err := Copy(ctx, reg.ref("acme/tiny", "v1"), back, testOptions()); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "pulled")
	if _, err := Pull(ctx, back, dir, PullOptions{}); err != nil {
		t.Fatal(err)
	}
	if got, want := readTree(t, dir), modelWithLink(); !maps.Equal(got, want) {
		t.Errorf("pulled copy = %q, want %q", got, want)
	}
}

// TestInterruptedPush breaks every upload after the second blob, so the
// push fails after retrying; a rerun sends only the blobs still missing.
func TestInterruptedPush(t *testing.T) {
	ctx := context.Background()
	const n, size = 6, 6 << 20
	src := writeModel(t, n, size, 1)
	// Hashing first, the rerun asks the registry; streaming, the files
	// sent before the break are in the digest cache.
	for _, mode := range []string{"hash first", "streaming"} {
		t.Run(mode, func(t *testing.T) {
			reg := newTestRegistry(t)
			ref := reg.ref("m", "v1")
			opts := PushOptions{Options: testOptions()}
			if mode == "streaming" {
				opts = streaming(t)
			}
			opts.Concurrency = 1
			reg.setFault(func(w http.ResponseWriter, req *http.Request) bool {
				if isUpload(req) && req.Method == http.MethodPatch && reg.completed.Load() >= 2 {
					breakAfter(w, req, 256<<10)
					return true
				}
				return false
			})
			if _, err := Push(ctx, src, ref, opts); err == nil {
				t.Fatal("Push through a broken network succeeded, want an error")
			}
			stored := reg.completed.Load()
			if stored != 2 {
				t.Fatalf("blobs stored before the break = %d, want 2", stored)
			}
			if got := reg.attempts.Load(); got < 2+3 {
				t.Errorf("upload attempts = %d, want at least 5 (the failing blob tried 3 times)", got)
			}
			if tags, err := List(ctx, ref, testOptions()); err == nil && len(tags) > 0 {
				t.Errorf("failed Push tagged %v, want no tag", tags)
			}

			reg.setFault(nil)
			reg.resetCounts()
			res, err := Push(ctx, src, ref, opts)
			if err != nil {
				t.Fatal(err)
			}
			missing := int64(n-stored) * size / n
			if got := reg.received.Load(); got > missing+4096 || got < missing {
				t.Errorf("rerun sent %d bytes, want the %d of the missing blobs (plus the config)", got, missing)
			}
			if res.Skipped != stored*size/n {
				t.Errorf("rerun Skipped = %d, want %d", res.Skipped, stored*size/n)
			}
			dir := filepath.Join(t.TempDir(), "out")
			if _, err := Pull(ctx, ref, dir, PullOptions{Options: testOptions()}); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// TestTransientFailuresRetried drops the first attempt of every blob
// upload (the config's included); retries complete the push.
func TestTransientFailuresRetried(t *testing.T) {
	ctx := context.Background()
	src := writeModel(t, 3, 3<<20, 7)
	reg := newTestRegistry(t)
	var broken sync.Map // first bytes of the blobs broken once
	reg.setFault(func(w http.ResponseWriter, req *http.Request) bool {
		if req.Method != http.MethodPatch || !isUpload(req) {
			return false
		}
		prefix := make([]byte, 64)
		n, _ := io.ReadFull(req.Body, prefix)
		req.Body = io.NopCloser(io.MultiReader(bytes.NewReader(prefix[:n]), req.Body))
		if _, seen := broken.LoadOrStore(string(prefix[:n]), true); seen {
			return false
		}
		breakAfter(w, req, 64<<10)
		return true
	})
	res, err := Push(ctx, src, reg.ref("m", "v1"), PushOptions{Options: testOptions()})
	if err != nil {
		t.Fatalf("Push with transient failures: %v", err)
	}
	if got := reg.attempts.Load(); got != 2*4 {
		t.Errorf("upload sessions = %d, want 8 (3 files and the config, twice each)", got)
	}
	art, err := Inspect(ctx, res.Ref, testOptions())
	if err != nil {
		t.Fatal(err)
	}
	if want := 3<<20 + art.Manifest.Config.Size; res.Uploaded != want {
		t.Errorf("Uploaded = %d, want %d", res.Uploaded, want)
	}
}

// TestRepushSendsChangedFiles changes one file of eight and pushes
// again: at most 15% of the bytes are sent.
func TestRepushSendsChangedFiles(t *testing.T) {
	ctx := context.Background()
	const n, size = 8, 64 << 20
	src := writeModel(t, n, size, 100)
	reg := newTestRegistry(t)
	ref := reg.ref("m", "v1")
	first, err := Push(ctx, src, ref, PushOptions{Options: testOptions()})
	if err != nil {
		t.Fatal(err)
	}
	writeRandomFile(t, filepath.Join(src, "shard-03.safetensors"), size/n, 999)
	reg.resetCounts()
	second, err := Push(ctx, src, ref, PushOptions{Options: testOptions()})
	if err != nil {
		t.Fatal(err)
	}
	sent := reg.received.Load()
	pct := 100 * float64(sent) / float64(size)
	t.Logf("re-push after changing 1 of %d files: sent %d of %d bytes (%.2f%%)", n, sent, size, pct)
	if pct > 15 {
		t.Errorf("re-push sent %.2f%% of the bytes, want at most 15%%", pct)
	}
	if second.Uploaded+second.Skipped < size || second.Descriptor.Digest == first.Descriptor.Digest {
		t.Errorf("re-push Uploaded+Skipped = %d, digest %s; want >= %d and a new digest", second.Uploaded+second.Skipped, second.Descriptor.Digest, size)
	}
}

func TestPushRefuses(t *testing.T) {
	ctx := context.Background()
	layout := func() Ref { return Ref{Layout: filepath.Join(t.TempDir(), "l"), Tag: "v1"} }
	fifoDir := t.TempDir()
	if err := syscall.Mkfifo(filepath.Join(fifoDir, "pipe"), 0o644); err != nil {
		t.Fatal(err)
	}
	dirLink := writeTree(t, map[string]string{"a/x": "x"})
	if err := os.Symlink("a", filepath.Join(dirLink, "b")); err != nil {
		t.Fatal(err)
	}
	foreign := writeTree(t, map[string]string{"mine.txt": "not a layout"})
	tests := []struct {
		name string
		dir  string
		ref  Ref
		want string
	}{
		{"digest", writeTree(t, map[string]string{"a": "a"}), Ref{Layout: "x", Digest: "sha256:" + strings.Repeat("0", 64)}, "not a digest"},
		{"empty folder", t.TempDir(), layout(), "no files"},
		{"missing folder", filepath.Join(t.TempDir(), "nope"), layout(), "no such file"},
		{"fifo", fifoDir, layout(), "not a regular file"},
		{"link to a folder", dirLink, layout(), "not a regular file"},
		{"foreign layout folder", writeTree(t, map[string]string{"a": "a"}), Ref{Layout: foreign, Tag: "v1"}, "not empty"},
	}
	for _, tt := range tests {
		_, err := Push(ctx, tt.dir, tt.ref, PushOptions{})
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("Push(%s) = %v, want an error containing %q", tt.name, err, tt.want)
		}
	}
	if got := listFolder(t, foreign); len(got) != 1 {
		t.Errorf("Push into a foreign folder left %q, want only mine.txt", got)
	}
}

// TestPushFileChangedAfterHashing changes a file between its hashing and
// its upload: the store refuses the blob.
func TestPushFileChangedAfterHashing(t *testing.T) {
	ctx := context.Background()
	src := writeTree(t, map[string]string{"a.bin": "original"})
	for _, target := range []string{"registry", "layout"} {
		var ref Ref
		if target == "registry" {
			ref = newTestRegistry(t).ref("m", "v1")
		} else {
			ref = Ref{Layout: filepath.Join(t.TempDir(), "l"), Tag: "v1"}
		}
		var once sync.Once
		opts := PushOptions{Options: testOptions()}
		opts.Progress = func(p Progress) {
			if p.Phase == PhaseHash && p.Bytes == p.Size && p.Size > 0 {
				once.Do(func() { os.WriteFile(filepath.Join(src, "a.bin"), []byte("modified"), 0o644) })
			}
		}
		if _, err := Push(ctx, src, ref, opts); err == nil {
			t.Errorf("Push to %s of a file changed after hashing succeeded, want an error", target)
		}
		os.WriteFile(filepath.Join(src, "a.bin"), []byte("original"), 0o644)
	}
}

func TestDefaultLayout(t *testing.T) {
	ctx := context.Background()
	root := t.TempDir()
	src := writeTree(t, map[string]string{"m.gguf": "weights"})
	for _, s := range []string{"llama:v1", "llama:v2", "team/bert:v1"} {
		ref, err := ParseRef(s, root)
		if err != nil {
			t.Fatal(err)
		}
		res, err := Push(ctx, src, ref, PushOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if got := res.Ref.String(); !strings.HasPrefix(got, s+"@sha256:") {
			t.Errorf("Push(%s) ref = %s, want %s@sha256:...", s, got, s)
		}
	}
	if _, err := os.Stat(filepath.Join(root, ".cairn", "oci", "llama", "index.json")); err != nil {
		t.Errorf("default layout index: %v", err)
	}
	refs, err := LocalModels(root)
	var names []string
	for _, r := range refs {
		names = append(names, r.Repository)
	}
	if err != nil || strings.Join(names, " ") != "llama team/bert" {
		t.Errorf("LocalModels = %q, %v, want [llama team/bert]", names, err)
	}
	ref, _ := ParseRef("llama", root)
	tags, err := List(ctx, ref, Options{})
	if err != nil || len(tags) != 2 || tags[0].Name != "v1" || tags[1].Name != "v2" {
		t.Errorf("List(llama) = %v, %v, want v1 and v2", tags, err)
	}
	art, err := Inspect(ctx, Ref{Repository: "llama", Layout: ref.Layout, Tag: "v2"}, Options{})
	if err != nil || art.Config.Descriptor.Name != "llama" || art.Config.Config.Format != "gguf" {
		t.Errorf("Inspect(llama:v2) = %+v, %v, want name llama, format gguf", art, err)
	}
	if refs, err := LocalModels(t.TempDir()); err != nil || len(refs) != 0 {
		t.Errorf("LocalModels(empty root) = %v, %v, want none", refs, err)
	}
}

// TestPushBoundedMemory pushes and pulls a 1 GiB file through the
// in-process registry while sampling the heap: it stays flat.
func TestPushBoundedMemory(t *testing.T) {
	ctx := context.Background()
	const size = 1 << 30
	src := t.TempDir()
	writeRandomFile(t, filepath.Join(src, "model.safetensors"), size, 42)
	reg := newTestRegistry(t)

	peak, stop := sampleHeap()
	start := time.Now()
	res, err := Push(ctx, src, reg.ref("big", "v1"), PushOptions{Options: testOptions()})
	if err != nil {
		t.Fatal(err)
	}
	pushed := time.Since(start)
	start = time.Now()
	dir := filepath.Join(t.TempDir(), "out")
	if _, err := Pull(ctx, res.Ref, dir, PullOptions{Options: testOptions()}); err != nil {
		t.Fatal(err)
	}
	pulled := time.Since(start)
	stop()
	mib := float64(peak.Load()) / (1 << 20)
	t.Logf("1 GiB: push %v (%.0f MB/s), pull %v (%.0f MB/s), peak HeapInuse %.1f MiB",
		pushed.Round(time.Millisecond), size/1e6/pushed.Seconds(), pulled.Round(time.Millisecond), size/1e6/pulled.Seconds(), mib)
	if mib >= 150 {
		t.Errorf("peak HeapInuse = %.1f MiB, want < 150 MiB", mib)
	}
	fi, err := os.Stat(filepath.Join(dir, "model.safetensors"))
	if err != nil || fi.Size() != size {
		t.Errorf("pulled file: %v, %v, want %d bytes", fi, err, size)
	}
}
