package oci

import (
	"context"
	"crypto/sha256"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

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
// before sending it (Push without a digest cache) with hashing while
// sending (Push with an empty digest cache: the digest is known only at
// the end of the upload). "cold" pushes to an empty registry, "again" to
// one that holds the blob already under the same tag, which makes the
// streaming push hash first.
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
			// An empty digest cache: every file is new, so it is streamed.
			_, err := Push(context.Background(), src, ref, PushOptions{Options: testOptions(), DigestCache: b.TempDir()})
			return err
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

// BenchmarkPushVsOras pushes the same model to a real registry server
// (distribution, in its own process) with Cairn, the way `cairn model
// push` does (digest cache on, empty: every file is new), with Cairn
// hashing every file first (no digest cache), and with the oras CLI,
// each to a new repository, in turns. It reports each one's seconds per
// push and Cairn's time as a fraction of oras'. It needs oras on PATH; the
// 2 GiB sizes need CAIRN_BENCH_BIG=1 (make bench sets it).
func BenchmarkPushVsOras(b *testing.B) {
	oras, err := exec.LookPath("oras")
	if err != nil {
		b.Skip("oras is not on PATH")
	}
	srv := registrytest.Start(b)
	cases := []struct {
		name  string
		files int
		size  int64
	}{{"8x32MiB", 8, 256 << 20}}
	if os.Getenv("CAIRN_BENCH_BIG") == "1" {
		cases = append(cases, struct {
			name  string
			files int
			size  int64
		}{"8x256MiB", 8, 2 << 30}, struct {
			name  string
			files int
			size  int64
		}{"1x2GiB", 1, 2 << 30})
	}
	old := racyWindow
	racyWindow = 0
	defer func() { racyWindow = old }()
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			src := writeModel(b, c.files, c.size, 5)
			var names []string
			for i := range c.files {
				names = append(names, fmt.Sprintf("shard-%02d.safetensors", i))
			}
			var cairn, hashFirst, orasT time.Duration
			i := 0
			for b.Loop() {
				i++
				repo := fmt.Sprintf("bench/%s-%d", strings.ToLower(c.name), i)
				start := time.Now()
				if _, err := Push(context.Background(), src, Ref{Registry: srv.Host, Repository: repo + "-cairn/model", Tag: "v1"},
					PushOptions{Options: testOptions(), DigestCache: b.TempDir()}); err != nil {
					b.Fatal(err)
				}
				cairn += time.Since(start)

				start = time.Now()
				if _, err := Push(context.Background(), src, Ref{Registry: srv.Host, Repository: repo + "-hashed/model", Tag: "v1"},
					PushOptions{Options: testOptions()}); err != nil {
					b.Fatal(err)
				}
				hashFirst += time.Since(start)

				cmd := exec.Command(oras, append([]string{"push", "--plain-http", "--no-tty", srv.Host + "/" + repo + "-oras/model:v1"}, names...)...)
				cmd.Dir = src
				start = time.Now()
				if out, err := cmd.CombinedOutput(); err != nil {
					b.Fatalf("oras push: %v\n%s", err, out)
				}
				orasT += time.Since(start)
			}
			n := float64(i)
			b.ReportMetric(cairn.Seconds()/n, "cairn-s/push")
			b.ReportMetric(hashFirst.Seconds()/n, "hash-first-s/push")
			b.ReportMetric(orasT.Seconds()/n, "oras-s/push")
			b.ReportMetric(cairn.Seconds()/orasT.Seconds(), "cairn/oras")
			b.ReportMetric(float64(c.size)/1e6/(cairn.Seconds()/n), "cairn-MB/s")
		})
	}
}
