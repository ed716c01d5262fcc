package oci

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"io/fs"
	"log"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"path"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// testRegistry is go-containerregistry's in-process registry with blobs
// on disk. Blob upload sessions are served by a front of its own, which
// streams each upload into the blob store, hashing it on the way, as a
// production registry does: the in-process registry keeps upload sessions
// in memory, under one lock. The front counts the blob bytes it receives,
// and a fault, when set, may break any request.
type testRegistry struct {
	t     testing.TB
	srv   *httptest.Server
	host  string
	blobs *diskBlobs
	inner http.Handler

	mu       sync.Mutex
	sessions map[string]*upload
	nextID   atomic.Int64

	received  atomic.Int64 // blob bytes received in upload requests
	completed atomic.Int64 // blob uploads completed
	attempts  atomic.Int64 // blob upload sessions started

	// fault, when set, sees every request first; it returns true when it
	// has answered (or broken) the request itself.
	fault atomic.Pointer[func(w http.ResponseWriter, r *http.Request) bool]
}

// upload is a blob upload session: a temporary file and its hash.
type upload struct {
	f *os.File
	h hash.Hash
}

func newTestRegistry(t testing.TB) *testRegistry {
	t.Helper()
	blobs := &diskBlobs{dir: t.TempDir()}
	r := &testRegistry{
		t:        t,
		blobs:    blobs,
		sessions: map[string]*upload{},
		inner: registry.New(
			registry.Logger(log.New(io.Discard, "", 0)),
			registry.WithBlobHandler(blobs),
		),
	}
	r.srv = httptest.NewServer(r)
	t.Cleanup(r.srv.Close)
	r.host = strings.TrimPrefix(r.srv.URL, "http://")
	return r
}

// ref returns a reference to repo:tag in this registry.
func (r *testRegistry) ref(repo, tag string) Ref {
	return Ref{Registry: r.host, Repository: repo, Tag: tag}
}

func (r *testRegistry) setFault(f func(w http.ResponseWriter, req *http.Request) bool) {
	if f == nil {
		r.fault.Store(nil)
		return
	}
	r.fault.Store(&f)
}

func (r *testRegistry) resetCounts() {
	r.received.Store(0)
	r.completed.Store(0)
	r.attempts.Store(0)
}

func (r *testRegistry) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	if f := r.fault.Load(); f != nil && (*f)(w, req) {
		return
	}
	p := req.URL.Path
	i := strings.Index(p, "/blobs/uploads/")
	if i < 0 {
		r.inner.ServeHTTP(w, req)
		return
	}
	repo, id := p[:i], p[i+len("/blobs/uploads/"):]
	r.mu.Lock()
	up := r.sessions[id]
	r.mu.Unlock()
	switch {
	case req.Method == http.MethodPost && id == "" && req.URL.Query().Get("digest") == "":
		if err := os.MkdirAll(r.blobs.dir, 0o755); err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		f, err := os.CreateTemp(r.blobs.dir, "upload-*")
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		id = fmt.Sprint(r.nextID.Add(1))
		r.mu.Lock()
		r.sessions[id] = &upload{f: f, h: sha256.New()}
		r.mu.Unlock()
		r.attempts.Add(1)
		w.Header().Set("Location", repo+"/blobs/uploads/"+id)
		w.Header().Set("Range", "0-0")
		w.WriteHeader(http.StatusAccepted)
	case (req.Method == http.MethodPatch || req.Method == http.MethodPut) && up != nil:
		n, err := io.Copy(io.MultiWriter(up.f, up.h), req.Body)
		r.received.Add(n)
		if err != nil {
			return
		}
		if req.Method == http.MethodPatch {
			w.Header().Set("Location", repo+"/blobs/uploads/"+id)
			w.Header().Set("Range", fmt.Sprintf("0-%d", n-1))
			w.WriteHeader(http.StatusAccepted)
			return
		}
		r.mu.Lock()
		delete(r.sessions, id)
		r.mu.Unlock()
		defer os.Remove(up.f.Name())
		if err := up.f.Close(); err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		want := req.URL.Query().Get("digest")
		h, err := v1.NewHash(want)
		if got := "sha256:" + hex.EncodeToString(up.h.Sum(nil)); err != nil || got != want {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusBadRequest)
			fmt.Fprintf(w, `{"errors":[{"code":"DIGEST_INVALID","message":"content has digest %s, not %s"}]}`, got, want)
			return
		}
		if err := r.blobs.store(up.f.Name(), h); err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		r.completed.Add(1)
		w.Header().Set("Docker-Content-Digest", want)
		w.Header().Set("Location", repo+"/blobs/"+want)
		w.WriteHeader(http.StatusCreated)
	default:
		r.inner.ServeHTTP(w, req)
	}
}

// diskBlobs keeps blobs in files named by digest. The registry verifies
// uploads before Put returns, so Stat trusts the name.
type diskBlobs struct{ dir string }

func (d *diskBlobs) path(h v1.Hash) string { return filepath.Join(d.dir, h.Algorithm, h.Hex) }

func (d *diskBlobs) Stat(_ context.Context, _ string, h v1.Hash) (int64, error) {
	fi, err := os.Stat(d.path(h))
	if errors.Is(err, fs.ErrNotExist) {
		return 0, registry.ErrNotFound
	}
	if err != nil {
		return 0, err
	}
	return fi.Size(), nil
}

func (d *diskBlobs) Get(_ context.Context, _ string, h v1.Hash) (io.ReadCloser, error) {
	f, err := os.Open(d.path(h))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, registry.ErrNotFound
	}
	return f, err
}

// store moves a verified upload into place.
func (d *diskBlobs) store(name string, h v1.Hash) error {
	if err := os.MkdirAll(filepath.Join(d.dir, h.Algorithm), 0o755); err != nil {
		return err
	}
	return os.Rename(name, d.path(h))
}

func (d *diskBlobs) Put(_ context.Context, _ string, h v1.Hash, rc io.ReadCloser) error {
	if err := os.MkdirAll(filepath.Join(d.dir, h.Algorithm), 0o755); err != nil {
		return err
	}
	f, err := os.CreateTemp(filepath.Join(d.dir, h.Algorithm), "put-*")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	if _, err := io.Copy(f, rc); err != nil {
		f.Close()
		return err
	}
	if err := rc.Close(); err != nil { // verifies the digest
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(f.Name(), d.path(h))
}

// testOptions reach the test registry quickly: no credentials looked up,
// retries after a millisecond.
func testOptions() Options {
	return Options{
		Insecure: true,
		Keychain: authn.NewMultiKeychain(), // anonymous
		backoff:  &remote.Backoff{Duration: time.Millisecond, Factor: 2, Steps: 3},
	}
}

// writeTree writes files (path → content) under a new folder.
func writeTree(t testing.TB, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for p, content := range files {
		name := filepath.Join(dir, filepath.FromSlash(p))
		if err := os.MkdirAll(filepath.Dir(name), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(name, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// readTree returns the regular files under dir, path → content, and fails
// on anything else.
func readTree(t testing.TB, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		if !d.Type().IsRegular() {
			return fmt.Errorf("%s: not a regular file", p)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		out[filepath.ToSlash(rel)] = string(b)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// writeRandomFile writes size pseudo-random bytes (seeded) to name, a
// MiB at a time, without holding the file in memory.
func writeRandomFile(t testing.TB, name string, size int64, seed uint64) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(name), 0o755); err != nil {
		t.Fatal(err)
	}
	f, err := os.Create(name)
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.NewChaCha8([32]byte{byte(seed), byte(seed >> 8), byte(seed >> 16), byte(seed >> 24)})
	buf := make([]byte, 1<<20)
	for left := size; left > 0; {
		n := min(left, int64(len(buf)))
		rng.Read(buf[:n])
		if _, err := f.Write(buf[:n]); err != nil {
			t.Fatal(err)
		}
		left -= n
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}

// writeModel writes n random files totalling size bytes under a new
// folder, named shard-NN.safetensors.
func writeModel(t testing.TB, n int, size int64, seed uint64) string {
	t.Helper()
	dir := t.TempDir()
	for i := range n {
		writeRandomFile(t, filepath.Join(dir, fmt.Sprintf("shard-%02d.safetensors", i)), size/int64(n), seed+uint64(i))
	}
	return dir
}

// isUpload reports whether req sends blob bytes.
func isUpload(req *http.Request) bool {
	return strings.Contains(req.URL.Path, "/blobs/uploads/") && (req.Method == http.MethodPatch || req.Method == http.MethodPut)
}

// breakAfter reads n bytes of the request body, then drops the
// connection, as a network failure would.
func breakAfter(w http.ResponseWriter, req *http.Request, n int64) {
	io.CopyN(io.Discard, req.Body, n)
	conn, _, err := w.(http.Hijacker).Hijack()
	if err != nil {
		panic(err)
	}
	conn.Close()
}

// layoutFiles lists the entries of a folder, recursively, as slash paths.
func listFolder(t testing.TB, dir string) []string {
	t.Helper()
	var out []string
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && p != dir {
			rel, _ := filepath.Rel(dir, p)
			out = append(out, path.Clean(filepath.ToSlash(rel)))
		}
		return nil
	})
	return out
}
