package oci

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/stream"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"golang.org/x/sync/errgroup"

	"cairn.dev/cairn/attest/registrytest"
)

// BenchmarkSHA256 measures this machine's SHA-256 rate, the bound of
// hashing in Push and of verifying in Pull.
func BenchmarkSHA256(b *testing.B) {
	buf := make([]byte, 1<<20)
	const perOp = 64 // MiB hashed per iteration, so that -benchtime 3x means something
	b.SetBytes(perOp << 20)
	for b.Loop() {
		h := sha256.New()
		for range perOp {
			h.Write(buf)
		}
		h.Sum(nil)
	}
}

// BenchmarkPush pushes models to a fresh in-process registry each time.
// CAIRN_BENCH_BIG=1 adds a 2 GiB model of 8 files.
func BenchmarkPush(b *testing.B) {
	cases := []struct {
		name  string
		files int
		size  int64
	}{
		{"8x32MiB", 8, 256 << 20},
		{"1x256MiB", 1, 256 << 20},
	}
	if os.Getenv("CAIRN_BENCH_BIG") == "1" {
		cases = append(cases, struct {
			name  string
			files int
			size  int64
		}{"8x256MiB", 8, 2 << 30})
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			src := writeModel(b, c.files, c.size, 1)
			benchPush(b, c.size, false, func(ref Ref) error {
				_, err := Push(context.Background(), src, ref, PushOptions{Options: testOptions()})
				return err
			})
		})
	}
}

// BenchmarkPushReal pushes to a real registry server (distribution, in
// its own process), a new repository each time.
func BenchmarkPushReal(b *testing.B) {
	srv := registrytest.Start(b)
	for _, c := range []struct {
		name  string
		files int
		size  int64
	}{{"8x32MiB", 8, 256 << 20}, {"1x256MiB", 1, 256 << 20}} {
		b.Run(c.name, func(b *testing.B) {
			src := writeModel(b, c.files, c.size, 1)
			b.SetBytes(c.size)
			i := 0
			for b.Loop() {
				i++
				ref := Ref{Registry: srv.Host, Repository: fmt.Sprintf("bench/%s-%d", strings.ToLower(c.name), i), Tag: "v1"}
				if _, err := Push(context.Background(), src, ref, PushOptions{Options: testOptions()}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkUploadStrategy compares, on one 1 GiB file, hashing every file
// before sending it (Push) with hashing while sending (the digest is
// known only at the end of the upload, so the store cannot be asked
// first whether it holds the blob). "cold" pushes to an empty registry,
// "again" to one that holds the blob already.
func BenchmarkUploadStrategy(b *testing.B) {
	const size = 1 << 30
	src := b.TempDir()
	writeRandomFile(b, filepath.Join(src, "model.safetensors"), size, 3)
	strategies := []struct {
		name string
		push func(Ref) error
	}{
		{"hash-then-upload", func(ref Ref) error {
			_, err := Push(context.Background(), src, ref, PushOptions{Options: testOptions()})
			return err
		}},
		{"hash-while-upload", func(ref Ref) error {
			return pushStreaming(context.Background(), src, ref, PushOptions{Options: testOptions()})
		}},
	}
	for _, s := range strategies {
		b.Run("cold/"+s.name, func(b *testing.B) { benchPush(b, size, false, s.push) })
	}
	for _, s := range strategies {
		b.Run("again/"+s.name, func(b *testing.B) { benchPush(b, size, true, s.push) })
	}
}

// benchPush times push to a fresh registry per iteration, which holds
// the model already when again is set.
func benchPush(b *testing.B, size int64, again bool, push func(Ref) error) {
	b.SetBytes(size)
	b.ResetTimer()
	for range b.N {
		b.StopTimer()
		reg := newTestRegistry(b)
		ref := reg.ref("bench", "v1")
		if again {
			if err := push(ref); err != nil {
				b.Fatal(err)
			}
			reg.resetCounts()
		}
		b.StartTimer()
		if err := push(ref); err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		b.ReportMetric(float64(reg.received.Load())/float64(size)*100, "%sent")
		reg.srv.Close()
		os.RemoveAll(reg.blobs.dir)
		b.StartTimer()
	}
}

// BenchmarkPull pulls a model of 8 files totalling 256 MiB.
func BenchmarkPull(b *testing.B) {
	const size = 256 << 20
	src := writeModel(b, 8, size, 1)
	reg := newTestRegistry(b)
	ref := reg.ref("bench", "v1")
	if _, err := Push(context.Background(), src, ref, PushOptions{Options: testOptions()}); err != nil {
		b.Fatal(err)
	}
	b.SetBytes(size)
	b.ResetTimer()
	for range b.N {
		dir := filepath.Join(b.TempDir(), "out")
		if _, err := Pull(context.Background(), ref, dir, PullOptions{Options: testOptions()}); err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		os.RemoveAll(dir)
		b.StartTimer()
	}
}

// pushStreaming is Push with hash-while-upload, kept to measure against
// it: each file is read once, hashed as go-containerregistry sends it,
// and committed with the digest computed at the end. Nothing can be
// skipped: the digest is unknown until the bytes are sent.
func pushStreaming(ctx context.Context, dir string, ref Ref, opts PushOptions) error {
	files, paths, err := scan(dir)
	if err != nil {
		return err
	}
	store, err := OpenStore(ref, opts.Options)
	if err != nil {
		return err
	}
	rs := store.(*remoteStore)
	up, err := rs.getPusher()
	if err != nil {
		return err
	}
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(opts.concurrency())
	for i := range files {
		g.Go(func() error {
			l := &streamingLayer{mediaType: types.MediaType(files[i].MediaType), size: files[i].Size, name: paths[i]}
			if err := up.Upload(gctx, rs.repo, l); err != nil {
				return err
			}
			files[i].Digest = *l.digest
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return err
	}
	config, manifest, err := modelManifest(files, &opts, time.Time{})
	if err != nil {
		return err
	}
	p := &pusher{store: store}
	desc, err := p.putManifest(ctx, config, manifest)
	if err != nil {
		return err
	}
	return store.Tag(ctx, ref.reference(), desc)
}

// streamingLayer hashes the file as it is read; its digest is
// stream.ErrNotComputed until then, which makes go-containerregistry
// upload it without a HEAD check and commit it with the digest it has at
// the end.
type streamingLayer struct {
	mediaType types.MediaType
	size      int64
	name      string

	mu     sync.Mutex
	digest *v1.Hash
}

func (l *streamingLayer) Digest() (v1.Hash, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.digest == nil {
		return v1.Hash{}, stream.ErrNotComputed
	}
	return *l.digest, nil
}

func (l *streamingLayer) DiffID() (v1.Hash, error)            { return l.Digest() }
func (l *streamingLayer) Size() (int64, error)                { return l.size, nil }
func (l *streamingLayer) MediaType() (types.MediaType, error) { return l.mediaType, nil }
func (l *streamingLayer) Uncompressed() (io.ReadCloser, error) {
	return l.Compressed()
}

func (l *streamingLayer) Compressed() (io.ReadCloser, error) {
	f, err := os.Open(l.name)
	if err != nil {
		return nil, err
	}
	return &hashingReader{f: f, h: sha256.New(), l: l}, nil
}

type hashingReader struct {
	f *os.File
	h interface {
		io.Writer
		Sum([]byte) []byte
	}
	n int64
	l *streamingLayer
}

func (r *hashingReader) Read(p []byte) (int, error) {
	n, err := r.f.Read(p)
	r.h.Write(p[:n])
	r.n += int64(n)
	if err == io.EOF || r.n == r.l.size {
		r.l.mu.Lock()
		if r.l.digest == nil {
			r.l.digest = &v1.Hash{Algorithm: "sha256", Hex: hex.EncodeToString(r.h.Sum(nil))}
		}
		r.l.mu.Unlock()
	}
	return n, err
}

func (r *hashingReader) Close() error { return r.f.Close() }
