package oci

import (
	"bytes"
	"context"
	"errors"
	"io/fs"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"cairn.dev/cairn/attest/registrytest"
)

// The tests in this file run the cairn command itself, built once from
// cmd/cairn, and interrupt its transfers with signals.

// cairnCmd is the cairn binary the tests build.
var cairnCmd struct {
	once sync.Once
	dir  string
	bin  string
	err  error
}

// TestMain removes the cairn binary once every test has run.
func TestMain(m *testing.M) {
	code := m.Run()
	if cairnCmd.dir != "" {
		os.RemoveAll(cairnCmd.dir)
	}
	os.Exit(code)
}

// cairnBinary builds cmd/cairn once and returns its path; -short skips
// the tests that need it.
func cairnBinary(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("builds the cairn command; skipped with -short")
	}
	cairnCmd.once.Do(func() {
		if cairnCmd.dir, cairnCmd.err = os.MkdirTemp("", "cairn-oci-test-"); cairnCmd.err != nil {
			return
		}
		cairnCmd.bin = filepath.Join(cairnCmd.dir, "cairn")
		cmd := exec.Command("go", "build", "-o", cairnCmd.bin, "cairn.dev/cairn/cmd/cairn")
		cmd.Dir = filepath.Join("..", "..")
		if out, err := cmd.CombinedOutput(); err != nil {
			cairnCmd.err = errors.New("go build ./cmd/cairn: " + err.Error() + "\n" + string(out))
		}
	})
	if cairnCmd.err != nil {
		t.Fatal(cairnCmd.err)
	}
	return cairnCmd.bin
}

// startCairn starts cairn with args in dir, its output in the returned
// buffer.
func startCairn(t *testing.T, dir string, env []string, args ...string) (*exec.Cmd, *bytes.Buffer) {
	t.Helper()
	cmd := exec.Command(cairnBinary(t), args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill() })
	return cmd, &out
}

// waitForTemp waits until a file of at least one byte lies under a
// folder of dir whose name starts with prefix, or a file of dir named so
// holds one, and returns its path.
func waitForTemp(t *testing.T, dir, prefix string) string {
	t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for time.Now().Before(deadline) {
		found := ""
		filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
			if err != nil || found != "" {
				return nil
			}
			rel, _ := filepath.Rel(dir, p)
			first, _, _ := strings.Cut(filepath.ToSlash(rel), "/")
			if !strings.HasPrefix(first, prefix) || d.IsDir() {
				return nil
			}
			if fi, err := d.Info(); err == nil && fi.Size() > 0 {
				found = filepath.Join(dir, first)
			}
			return nil
		})
		if found != "" {
			return found
		}
		time.Sleep(2 * time.Millisecond)
	}
	t.Fatalf("no %s* with data appeared in %s", prefix, dir)
	return ""
}

// throttledModel pushes a model of 32 MiB to an in-process registry that
// sends blobs at 1 MiB/s each, so a pull of it lasts about 8 s.
func throttledModel(t *testing.T) Ref {
	t.Helper()
	host := registrytest.InProcess(t, func(h http.Handler) http.Handler { return registrytest.Throttle(h, 1<<20) })
	ref := Ref{Registry: host, Repository: "ml/big", Tag: "v1"}
	if _, err := Push(context.Background(), writeModel(t, 4, 32<<20, 11), ref, PushOptions{Options: testOptions()}); err != nil {
		t.Fatal(err)
	}
	return ref
}

// TestPullSignal interrupts cairn model pull with SIGINT and SIGTERM in
// the middle of the transfer: it exits with 128 plus the signal's number
// and says so, no temporary folder is left, and the target is as it was
// (missing, or an empty folder).
func TestPullSignal(t *testing.T) {
	ref := throttledModel(t)
	for _, c := range []struct {
		sig   syscall.Signal
		name  string
		exist bool // the target is an empty folder beforehand
	}{{syscall.SIGINT, "SIGINT", false}, {syscall.SIGTERM, "SIGTERM", true}} {
		t.Run(c.name, func(t *testing.T) {
			work := t.TempDir()
			if c.exist {
				if err := os.Mkdir(filepath.Join(work, "out"), 0o755); err != nil {
					t.Fatal(err)
				}
			}
			cmd, out := startCairn(t, work, nil, "model", "pull", "--insecure", "-q", ref.String(), "out")
			waitForTemp(t, work, ".out.pull-")
			if err := cmd.Process.Signal(c.sig); err != nil {
				t.Fatal(err)
			}
			err := cmd.Wait()
			var ee *exec.ExitError
			if !errors.As(err, &ee) || ee.ExitCode() != 128+int(c.sig) {
				t.Errorf("cairn model pull after %s: %v, want exit code %d\n%s", c.name, err, 128+int(c.sig), out)
			}
			if want := "interrupted by " + c.name; !strings.Contains(out.String(), want) {
				t.Errorf("output = %q, want it to say %q", out, want)
			}
			checkUntouched(t, work, c.exist)
		})
	}
}

// checkUntouched fails unless work holds nothing but the target out, as it
// was: missing, or an empty folder when exist.
func checkUntouched(t *testing.T, work string, exist bool) {
	t.Helper()
	entries, err := os.ReadDir(work)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	want := []string(nil)
	if exist {
		want = []string{"out"}
	}
	if strings.Join(names, " ") != strings.Join(want, " ") {
		t.Errorf("the target's folder holds %q, want %q (no temporary)", names, want)
	}
	if exist {
		if entries, err := os.ReadDir(filepath.Join(work, "out")); err != nil || len(entries) > 0 {
			t.Errorf("the target holds %d entries (%v), want it empty as before", len(entries), err)
		}
	}
}

// TestPullKilledThenSwept kills cairn model pull with SIGKILL, which
// cannot be caught, in the middle of the transfer: its temporary folder
// stays, and the next pull into the same target removes it and succeeds.
func TestPullKilledThenSwept(t *testing.T) {
	ref := throttledModel(t)
	work := t.TempDir()
	cmd, _ := startCairn(t, work, nil, "model", "pull", "--insecure", "-q", ref.String(), "out")
	left := waitForTemp(t, work, ".out.pull-")
	cmd.Process.Kill()
	cmd.Wait()
	if _, err := os.Stat(left); err != nil {
		t.Fatalf("the killed pull's temporary folder: %v, want it left behind", err)
	}
	rerun, out := startCairn(t, work, nil, "model", "pull", "--insecure", "-q", ref.String(), "out")
	if err := rerun.Wait(); err != nil {
		t.Fatalf("the next pull: %v\n%s", err, out)
	}
	if _, err := os.Stat(left); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("the killed pull's temporary folder after the next pull: %v, want it removed", err)
	}
	if entries, _ := os.ReadDir(work); len(entries) != 1 {
		t.Errorf("the target's folder holds %d entries, want the target alone", len(entries))
	}
	if got := len(readTree(t, filepath.Join(work, "out"))); got != 4 {
		t.Errorf("pulled %d files, want 4", got)
	}
}

// TestPushSignal interrupts cairn model push to a layout with SIGINT
// while a 1 GiB file is written: it exits with 130, no temporary blob is
// left and no tag is written.
func TestPushSignal(t *testing.T) {
	src := t.TempDir()
	f, err := os.Create(filepath.Join(src, "w.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Truncate(1 << 30); err != nil { // sparse: cheap to make and read
		t.Fatal(err)
	}
	f.Close()
	work := t.TempDir()
	cache := []string{"CAIRN_CACHE_DIR=" + t.TempDir()} // a digest cache: new files are streamed
	cmd, out := startCairn(t, work, cache, "model", "push", "-q", src, "oci:layout:v1")
	blobs := filepath.Join(work, "layout", "blobs", "sha256")
	waitForTemp(t, blobs, ".tmp-")
	cmd.Process.Signal(syscall.SIGINT)
	err = cmd.Wait()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 130 {
		t.Errorf("cairn model push after SIGINT: %v, want exit code 130\n%s", err, out)
	}
	if !strings.Contains(out.String(), "interrupted by SIGINT") {
		t.Errorf("output = %q, want it to say it was interrupted", out)
	}
	if temps := tempsIn(t, blobs, ".tmp-"); len(temps) > 0 {
		t.Errorf("temporary blobs left: %q", temps)
	}
	if tags, err := List(context.Background(), Ref{Layout: filepath.Join(work, "layout")}, Options{}); err != nil || len(tags) > 0 {
		t.Errorf("tags after the interrupted push = %v, %v; want none", tags, err)
	}
}
