package oci

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// streaming returns push options that stream files of unknown digest:
// an empty digest cache, with no racy window so that files written by
// the test are remembered at once.
func streaming(t *testing.T) PushOptions {
	t.Helper()
	old := racyWindow
	racyWindow = 0
	t.Cleanup(func() { racyWindow = old })
	return PushOptions{Options: testOptions(), DigestCache: t.TempDir()}
}

func TestDigestCache(t *testing.T) {
	c := newDigestCache(t.TempDir())
	name := filepath.Join(t.TempDir(), "w.bin")
	if err := os.WriteFile(name, []byte("weights"), 0o644); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(name)
	if err != nil {
		t.Fatal(err)
	}
	st := stampOf(fi)
	h := mustHash(t, "weights")

	c.put(name, st, h) // just written: racy, not remembered
	if _, ok := c.get(name, st); ok {
		t.Error("get after put of a racy stamp = hit, want a miss")
	}
	old := racyWindow
	racyWindow = 0
	defer func() { racyWindow = old }()
	c.put(name, st, h)
	if got, ok := c.get(name, st); !ok || got != h {
		t.Errorf("get = %v, %v; want %v, true", got, ok, h)
	}
	changed := st
	changed.mtime++
	if _, ok := c.get(name, changed); ok {
		t.Error("get with another modification time = hit, want a miss")
	}
	if _, ok := c.get(name+"2", st); ok {
		t.Error("get of another path = hit, want a miss")
	}
	var none *digestCache
	none.put(name, st, h)
	if _, ok := none.get(name, st); ok {
		t.Error("nil cache get = hit")
	}
}

// TestStreamingPush checks that a push streaming new files gives the
// same artifact as one hashing them first, reads each once, and that a
// second push of the same files reads none of them again.
func TestStreamingPush(t *testing.T) {
	ctx := context.Background()
	src := writeModel(t, 4, 8<<20, 21)
	for _, target := range []string{"registry", "layout"} {
		t.Run(target, func(t *testing.T) {
			var ref, ref2 Ref
			if target == "registry" {
				reg := newTestRegistry(t)
				ref, ref2 = reg.ref("a/m", "v1"), newTestRegistry(t).ref("a/m", "v1")
			} else {
				ref = Ref{Layout: filepath.Join(t.TempDir(), "l1"), Tag: "v1"}
				ref2 = Ref{Layout: filepath.Join(t.TempDir(), "l2"), Tag: "v1"}
			}
			hashed, err := Push(ctx, src, ref, PushOptions{Options: testOptions()})
			if err != nil {
				t.Fatal(err)
			}
			opts := streaming(t)
			var mu sync.Mutex
			phases := map[Phase]int64{}
			opts.Progress = func(p Progress) {
				mu.Lock()
				defer mu.Unlock()
				if p.Path != "" && (p.Phase == PhaseHash || p.Phase == PhaseSkip || p.Phase == PhaseDone) && p.Bytes == p.Size {
					phases[p.Phase]++
				}
			}
			streamed, err := Push(ctx, src, ref2, opts)
			if err != nil {
				t.Fatal(err)
			}
			if streamed.Descriptor.Digest != hashed.Descriptor.Digest {
				t.Errorf("streamed push digest = %s, want %s as when hashing first", streamed.Descriptor.Digest, hashed.Descriptor.Digest)
			}
			if phases[PhaseHash] != 0 || phases[PhaseDone] != 4 {
				t.Errorf("streamed push: %d files hashed first, %d sent; want 0 and 4", phases[PhaseHash], phases[PhaseDone])
			}
			dir := filepath.Join(t.TempDir(), "out")
			if _, err := Pull(ctx, ref2, dir, PullOptions{Options: testOptions()}); err != nil {
				t.Fatalf("pulling the streamed push: %v", err)
			}

			clear(phases)
			again, err := Push(ctx, src, ref2, opts)
			if err != nil {
				t.Fatal(err)
			}
			if phases[PhaseHash] != 0 || phases[PhaseSkip] != 4 || again.Uploaded != 0 || again.Skipped < 8<<20 {
				t.Errorf("second push: %d hashed, %d skipped, Uploaded %d, Skipped %d bytes; want 0, 4, 0 and the files' %d and the config (digests from the cache)", phases[PhaseHash], phases[PhaseSkip], again.Uploaded, again.Skipped, 8<<20)
			}
		})
	}
}

// TestStreamingRepush changes one file of eight: the rerun sends it and
// reads only it (the others' digests come from the cache).
func TestStreamingRepush(t *testing.T) {
	ctx := context.Background()
	const n, size = 8, 32 << 20
	src := writeModel(t, n, size, 3)
	reg := newTestRegistry(t)
	ref := reg.ref("m", "v1")
	opts := streaming(t)
	if _, err := Push(ctx, src, ref, opts); err != nil {
		t.Fatal(err)
	}
	writeRandomFile(t, filepath.Join(src, "shard-03.safetensors"), size/n, 998)
	reg.resetCounts()
	res, err := Push(ctx, src, ref, opts)
	if err != nil {
		t.Fatal(err)
	}
	if got := reg.received.Load(); got > size/n+4096 || res.Skipped != size-size/n {
		t.Errorf("re-push sent %d bytes and skipped %d; want %d (one file, plus the config) and %d", got, res.Skipped, size/n, size-size/n)
	}
}

// TestStreamingFileChanged grows a file while it is streamed: the push
// fails and the store keeps no blob for it.
func TestStreamingFileChanged(t *testing.T) {
	ctx := context.Background()
	for _, target := range []string{"registry", "layout"} {
		t.Run(target, func(t *testing.T) {
			src := writeModel(t, 1, 4<<20, 4)
			var ref Ref
			if target == "registry" {
				ref = newTestRegistry(t).ref("m", "v1")
			} else {
				ref = Ref{Layout: filepath.Join(t.TempDir(), "l"), Tag: "v1"}
			}
			opts := streaming(t)
			var once sync.Once
			opts.Progress = func(p Progress) {
				if p.Phase == PhaseUpload && p.Bytes > 0 {
					once.Do(func() {
						f, err := os.OpenFile(filepath.Join(src, "shard-00.safetensors"), os.O_APPEND|os.O_WRONLY, 0)
						if err == nil {
							f.Write([]byte("more"))
							f.Close()
						}
					})
				}
			}
			if _, err := Push(ctx, src, ref, opts); err == nil {
				t.Fatal("Push of a file growing while sent succeeded, want an error")
			}
			if tags, err := List(ctx, ref, testOptions()); err == nil && len(tags) > 0 {
				t.Errorf("failed Push tagged %v, want no tag", tags)
			}
		})
	}
}

func mustHash(t *testing.T, s string) v1.Hash {
	t.Helper()
	h, _, err := v1.SHA256(strings.NewReader(s))
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// TestLayoutIndexCache: index.json is read again whenever it is replaced,
// and a caller changing what index returned leaves the cache intact.
func TestLayoutIndexCache(t *testing.T) {
	ctx := context.Background()
	old := racyWindow
	racyWindow = 0
	defer func() { racyWindow = old }()
	src := writeModel(t, 1, 1<<10, 9)
	ref := Ref{Layout: filepath.Join(t.TempDir(), "l"), Tag: "v1"}
	res, err := Push(ctx, src, ref, PushOptions{Options: testOptions()})
	if err != nil {
		t.Fatal(err)
	}
	s := newLayoutStore(ref.Layout)
	for i, tag := range []string{"v2", "v3", "v4"} {
		if _, err := s.Tags(ctx); err != nil { // cached now
			t.Fatal(err)
		}
		if err := s.Tag(ctx, tag, res.Descriptor); err != nil {
			t.Fatal(err)
		}
		tags, err := s.Tags(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(tags) != i+2 || tags[len(tags)-1].Name != tag {
			t.Fatalf("Tags after tagging %s = %v, want %d tags ending with it", tag, tags, i+2)
		}
	}
	idx, err := s.index()
	if err != nil {
		t.Fatal(err)
	}
	idx.Manifests = idx.Manifests[:0]
	if tags, _ := s.Tags(ctx); len(tags) != 4 {
		t.Errorf("Tags after a caller emptied its copy = %v, want the 4 tags", tags)
	}
}
