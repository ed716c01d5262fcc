package oci

import (
	"context"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"path/filepath"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"cairn.dev/cairn/attest/registrytest"
)

// countingProxy stands before a real registry and counts the blob bytes
// sent to it. The registry sees the proxy's host, so the upload locations
// it returns lead back through the proxy.
type countingProxy struct {
	host     string
	received atomic.Int64
}

func newCountingProxy(t testing.TB, target string) *countingProxy {
	t.Helper()
	p := &countingProxy{}
	rp := httputil.NewSingleHostReverseProxy(&url.URL{Scheme: "http", Host: target})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if isUpload(req) {
			req.Body = &countingBody{ReadCloser: req.Body, n: &p.received}
		}
		rp.ServeHTTP(w, req)
	}))
	t.Cleanup(srv.Close)
	p.host = strings.TrimPrefix(srv.URL, "http://")
	return p
}

type countingBody struct {
	io.ReadCloser
	n *atomic.Int64
}

func (b *countingBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	b.n.Add(int64(n))
	return n, err
}

// TestRealRegistry runs the push and pull guarantees against a real
// registry server (the CNCF distribution registry, Debian's
// docker-registry), skipped when it is not installed unless
// CAIRN_REQUIRE_REGISTRY=1.
func TestRealRegistry(t *testing.T) {
	srv := registrytest.Start(t)
	ctx := context.Background()
	ref := func(repo, tag string) Ref { return Ref{Registry: srv.Host, Repository: repo, Tag: tag} }

	t.Run("round trip", func(t *testing.T) {
		src := writeModelTree(t)
		opts := PushOptions{Options: testOptions(), Name: "tiny"}
		res, err := Push(ctx, src, ref("acme/tiny", "v1"), opts)
		if err != nil {
			t.Fatal(err)
		}
		local, err := Push(ctx, src, Ref{Layout: filepath.Join(t.TempDir(), "l"), Tag: "v1"}, opts)
		if err != nil {
			t.Fatal(err)
		}
		if res.Descriptor.Digest != local.Descriptor.Digest {
			t.Errorf("registry digest = %s, want the layout's %s", res.Descriptor.Digest, local.Descriptor.Digest)
		}
		dir := filepath.Join(t.TempDir(), "out")
		if _, err := Pull(ctx, ref("acme/tiny", "v1"), dir, PullOptions{Options: testOptions()}); err != nil {
			t.Fatal(err)
		}
		if got, want := readTree(t, dir), modelWithLink(); !maps.Equal(got, want) {
			t.Errorf("pulled tree = %q, want %q", got, want)
		}
		tags, err := List(ctx, ref("acme/tiny", ""), testOptions())
		if err != nil || len(tags) != 1 || tags[0].Digest != res.Descriptor.Digest {
			t.Errorf("List = %v, %v, want [v1 %s]", tags, err, res.Descriptor.Digest)
		}
		if _, err := Copy(ctx, Ref{Layout: local.Ref.Layout, Tag: "v1"}, ref("copy/tiny", "v1"), testOptions()); err != nil {
			t.Errorf("Copy from a layout: %v", err)
		}
	})

	t.Run("re-push", func(t *testing.T) {
		const n, size = 8, 64 << 20
		src := writeModel(t, n, size, 200)
		proxy := newCountingProxy(t, srv.Host)
		r := Ref{Registry: proxy.host, Repository: "m/repush", Tag: "v1"}
		if _, err := Push(ctx, src, r, PushOptions{Options: testOptions()}); err != nil {
			t.Fatal(err)
		}
		writeRandomFile(t, filepath.Join(src, "shard-05.safetensors"), size/n, 12345)
		proxy.received.Store(0)
		res, err := Push(ctx, src, r, PushOptions{Options: testOptions()})
		if err != nil {
			t.Fatal(err)
		}
		pct := 100 * float64(proxy.received.Load()) / size
		t.Logf("re-push after changing 1 of %d files: sent %d of %d bytes (%.2f%%)", n, proxy.received.Load(), size, pct)
		if pct > 15 || res.Skipped != size-size/n {
			t.Errorf("re-push sent %.2f%% and skipped %d bytes, want at most 15%% and %d", pct, res.Skipped, size-size/n)
		}
	})

	// Hashing first, the rerun asks the registry; streaming, the files
	// sent before the crash are in the digest cache. Both give the same
	// artifact.
	digests := map[string]string{}
	for _, mode := range []string{"hash first", "streaming"} {
		t.Run("crash and rerun, "+mode, func(t *testing.T) {
			const n, size = 6, 12 << 20
			src := writeModel(t, n, size, 300)
			r := ref(strings.ReplaceAll(mode, " ", "-")+"/crash", "v1")
			opts := PushOptions{Options: testOptions()}
			if mode == "streaming" {
				opts = streaming(t)
			}
			opts.Concurrency = 1
			var done atomic.Int64
			opts.Progress = func(p Progress) {
				if p.Phase == PhaseDone && p.Path != "" && done.Add(1) == 2 {
					srv.Stop()
				}
			}
			if _, err := Push(ctx, src, r, opts); err == nil {
				t.Fatal("Push to a registry that crashed succeeded, want an error")
			}
			srv.Restart()
			opts.Progress = nil
			res, err := Push(ctx, src, r, opts)
			if err != nil {
				t.Fatal(err)
			}
			if want := int64(2) * size / n; res.Skipped != want {
				t.Errorf("rerun Skipped = %d, want %d (the 2 blobs stored before the crash)", res.Skipped, want)
			}
			if missing := int64(n-2) * size / n; res.Uploaded < missing || res.Uploaded > missing+4096 {
				t.Errorf("rerun Uploaded = %d, want the %d of the missing blobs and the config", res.Uploaded, missing)
			}
			if _, err := Pull(ctx, res.Ref, filepath.Join(t.TempDir(), "out"), PullOptions{Options: testOptions()}); err != nil {
				t.Errorf("pulling after the rerun: %v", err)
			}
			digests[mode] = res.Descriptor.Digest.String()
		})
	}
	if digests["hash first"] != digests["streaming"] {
		t.Errorf("digests after crash and rerun: hash first %s, streaming %s; want the same", digests["hash first"], digests["streaming"])
	}

	t.Run("bounded memory", func(t *testing.T) {
		if testing.Short() {
			t.Skip("1 GiB push and pull")
		}
		const size = 1 << 30
		src := t.TempDir()
		writeRandomFile(t, filepath.Join(src, "model.safetensors"), size, 43)
		peak, stop := sampleHeap()
		start := time.Now()
		res, err := Push(ctx, src, ref("m/big", "v1"), PushOptions{Options: testOptions()})
		if err != nil {
			t.Fatal(err)
		}
		pushed := time.Since(start)
		start = time.Now()
		if _, err := Pull(ctx, res.Ref, filepath.Join(t.TempDir(), "out"), PullOptions{Options: testOptions()}); err != nil {
			t.Fatal(err)
		}
		pulled := time.Since(start)
		stop()
		mib := float64(peak.Load()) / (1 << 20)
		t.Logf("1 GiB to a real registry: push %v (%.0f MB/s), pull %v (%.0f MB/s), peak HeapInuse %.1f MiB (client only)",
			pushed.Round(time.Millisecond), size/1e6/pushed.Seconds(), pulled.Round(time.Millisecond), size/1e6/pulled.Seconds(), mib)
		if mib >= 150 {
			t.Errorf("peak HeapInuse = %.1f MiB, want < 150 MiB", mib)
		}
	})
}

// sampleHeap samples HeapInuse every 10 ms until stop is called, keeping
// the peak.
func sampleHeap() (peak *atomic.Uint64, stop func()) {
	runtime.GC()
	peak = new(atomic.Uint64)
	quit, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		var ms runtime.MemStats
		for {
			runtime.ReadMemStats(&ms)
			if ms.HeapInuse > peak.Load() {
				peak.Store(ms.HeapInuse)
			}
			select {
			case <-quit:
				return
			case <-time.After(10 * time.Millisecond):
			}
		}
	}()
	return peak, func() { close(quit); <-done }
}
