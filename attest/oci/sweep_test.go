package oci

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"
)

// deadPID returns the id of a process that has ended.
func deadPID(t *testing.T) int {
	t.Helper()
	cmd := exec.Command("true")
	if err := cmd.Run(); err != nil {
		t.Fatal(err)
	}
	pid := cmd.Process.Pid
	if err := syscall.Kill(pid, 0); err == nil || errors.Is(err, syscall.EPERM) {
		t.Skipf("process id %d was reused at once", pid)
	}
	return pid
}

// touch writes a file, and sets its modification time age ago.
func touch(t *testing.T, name string, age time.Duration) {
	t.Helper()
	if err := os.WriteFile(name, []byte("partial"), 0o644); err != nil {
		t.Fatal(err)
	}
	when := time.Now().Add(-age)
	if err := os.Chtimes(name, when, when); err != nil {
		t.Fatal(err)
	}
}

// tempsIn lists the names in dir that start with prefix.
func tempsIn(t *testing.T, dir, prefix string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), prefix) {
			out = append(out, e.Name())
		}
	}
	return out
}

// TestLayoutSweepsStaleTemps leaves in a layout the temporaries of
// killed pushes (a blob of a process that has ended, an old unlocked one
// of an earlier Cairn, a temporary index.json) next to the temporary of a
// push that is still running in this process (locked, and made old, so
// only the lock protects it): the next push removes the first ones and
// keeps the live one, which then completes.
func TestLayoutSweepsStaleTemps(t *testing.T) {
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "layout")
	ref := Ref{Layout: dir, Tag: "v1"}
	if _, err := Push(ctx, writeTree(t, map[string]string{"a.bin": "first"}), ref, PushOptions{}); err != nil {
		t.Fatal(err)
	}
	blobs := filepath.Join(dir, "blobs", "sha256")
	dead := fmt.Sprintf(".tmp-%d-0123456789ab-42", deadPID(t))
	touch(t, filepath.Join(blobs, dead), 0)
	touch(t, filepath.Join(blobs, ".tmp-stream-77"), time.Hour)
	touch(t, filepath.Join(dir, ".tmp-index.json-99"), 0)
	recent := fmt.Sprintf(".tmp-%d-0123456789ab-43", os.Getpid())
	touch(t, filepath.Join(blobs, recent), 0)

	// A push that stops in the middle of its blob, until released.
	held, release := make(chan struct{}), make(chan struct{})
	opts := PushOptions{Options: Options{Progress: func(p Progress) {
		if p.Phase == PhaseUpload && p.Bytes > 0 && p.Bytes < p.Size {
			select {
			case <-held:
			default:
				close(held)
				<-release
			}
		}
	}}}
	big := t.TempDir()
	writeRandomFile(t, filepath.Join(big, "w.safetensors"), 3*reportEvery, 3)
	liveErr := make(chan error, 1)
	go func() {
		_, err := Push(ctx, big, Ref{Layout: dir, Tag: "live"}, opts)
		liveErr <- err
	}()
	<-held
	mine := fmt.Sprintf(".tmp-%d-", os.Getpid())
	planted := map[string]bool{dead: true, ".tmp-stream-77": true, recent: true}
	var live []string
	for _, name := range tempsIn(t, blobs, ".tmp-") {
		if !planted[name] {
			live = append(live, name)
			when := time.Now().Add(-time.Hour)
			os.Chtimes(filepath.Join(blobs, name), when, when)
		}
	}
	if len(live) != 1 {
		close(release)
		t.Fatalf("temporaries of the running push = %q, want one", live)
	}
	if !strings.HasPrefix(live[0], mine) {
		t.Errorf("the running push's temporary is %s, want a name starting %s (its process id)", live[0], mine)
	}

	if _, err := Push(ctx, writeTree(t, map[string]string{"b.bin": "second"}), Ref{Layout: dir, Tag: "v2"}, PushOptions{}); err != nil {
		close(release)
		t.Fatal(err)
	}
	got := append(tempsIn(t, blobs, ".tmp-"), tempsIn(t, dir, ".tmp-")...)
	close(release)
	want := []string{live[0], recent}
	if !slices.Equal(slices.Sorted(slices.Values(got)), slices.Sorted(slices.Values(want))) {
		t.Errorf("temporaries after the next push = %q, want %q (the running push's and the recent one of a running process)", got, want)
	}
	if err := <-liveErr; err != nil {
		t.Errorf("the running push failed after the sweep: %v", err)
	}
	if got := tempsIn(t, blobs, ".tmp-"); len(got) != 1 || got[0] != recent {
		t.Errorf("temporaries after the running push ended = %q, want only %s", got, recent)
	}
}

// TestPullSweepsStaleTemps leaves next to a pull's target the folder of a
// killed pull into it (process ended), an old one of an earlier Cairn
// (no process id) and a recent one of a running process: the next pull
// removes the first two, keeps the third, and leaves those of other
// targets alone.
func TestPullSweepsStaleTemps(t *testing.T) {
	ctx := context.Background()
	ref := Ref{Layout: filepath.Join(t.TempDir(), "layout"), Tag: "v1"}
	if _, err := Push(ctx, writeTree(t, map[string]string{"a.bin": "first"}), ref, PushOptions{}); err != nil {
		t.Fatal(err)
	}
	parent := t.TempDir()
	mk := func(name string, age time.Duration) {
		if err := os.Mkdir(filepath.Join(parent, name), 0o700); err != nil {
			t.Fatal(err)
		}
		touch(t, filepath.Join(parent, name, "a.bin"), 0)
		when := time.Now().Add(-age)
		os.Chtimes(filepath.Join(parent, name), when, when)
	}
	mk(fmt.Sprintf(".out.pull-%d-1", deadPID(t)), 0)
	mk(".out.pull-1234567890", time.Hour)
	running := fmt.Sprintf(".out.pull-%d-2", os.Getpid())
	mk(running, 0)
	other := fmt.Sprintf(".other.pull-%d-3", deadPID(t))
	mk(other, 0)
	if _, err := Pull(ctx, ref, filepath.Join(parent, "out"), PullOptions{}); err != nil {
		t.Fatal(err)
	}
	got := tempsIn(t, parent, ".")
	want := []string{other, running}
	if !slices.Equal(slices.Sorted(slices.Values(got)), want) {
		t.Errorf("temporary folders after the pull = %q, want %q", got, want)
	}
}
