package oci

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Temporaries are the files and folders written under a name of their own
// and renamed into place when whole: a layout's blobs (.tmp-<pid>-...) and
// a pull's folder (.NAME.pull-<pid>-...). Each name records the id of the
// process writing it, and that process holds an flock(2) on it while it
// writes. A later writer removes a temporary that no process holds locked
// and whose process has gone (killed, or the machine restarted), or, when
// the process id may have been reused, that has not changed for
// staleAfter.

// staleAfter is how long an unlocked temporary whose recorded process
// still runs is kept; a process id can be reused, so an old temporary is
// removed anyway once no one holds it.
var staleAfter = 10 * time.Minute

// tempPrefix returns prefix followed by this process's id and a dash, to
// name temporaries with (os.CreateTemp and os.MkdirTemp add the rest).
func tempPrefix(prefix string) string {
	return prefix + strconv.Itoa(os.Getpid()) + "-"
}

// tempOwner returns the process id a temporary's name records after
// prefix, or 0 when it records none (a temporary of an older Cairn).
func tempOwner(name, prefix string) int {
	rest, ok := strings.CutPrefix(name, prefix)
	if !ok {
		return 0
	}
	digits, _, _ := strings.Cut(rest, "-")
	pid, err := strconv.Atoi(digits)
	if err != nil || pid <= 0 || pid > maxPID {
		return 0
	}
	return pid
}

// maxPID is the largest process id Linux hands out (pid_max's limit);
// a longer number in a name is not a process id.
const maxPID = 1 << 22

// processAlive reports whether a process with this id runs on this
// machine (a process of another user counts).
func processAlive(pid int) bool {
	if pid == os.Getpid() {
		return true
	}
	err := syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}

// lockHeld reports whether some open file holds an flock on the file or
// folder at name. It is false when the lock cannot be tested.
func lockHeld(name string) bool {
	f, err := os.Open(name)
	if err != nil {
		return false
	}
	defer f.Close()
	err = syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
	return errors.Is(err, syscall.EWOULDBLOCK)
}

// holdLock takes an exclusive flock on f, which keeps it until f is
// closed (or its process ends, however it ends). File systems without
// locks are tolerated: the temporary is then protected by its name's
// process id only.
func holdLock(f *os.File) {
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX)
		if !errors.Is(err, syscall.EINTR) {
			return
		}
	}
}

// isStale reports whether the temporary at name, whose name records the
// process pid (0: none), was left by a writer that is gone.
func isStale(name string, pid int, now time.Time) bool {
	fi, err := os.Lstat(name)
	if err != nil || lockHeld(name) {
		return false
	}
	if pid > 0 && !processAlive(pid) {
		return true
	}
	return now.Sub(fi.ModTime()) > staleAfter
}

// sweepTemps removes the stale temporaries in dir whose names start with
// prefix, and returns how many it removed. Failures are ignored: a
// temporary left is only wasted space.
func sweepTemps(dir, prefix string) int {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return 0
	}
	now := time.Now()
	n := 0
	for _, e := range entries {
		if !strings.HasPrefix(e.Name(), prefix) {
			continue
		}
		name := filepath.Join(dir, e.Name())
		if !isStale(name, tempOwner(e.Name(), prefix), now) {
			continue
		}
		if os.RemoveAll(name) == nil {
			n++
		}
	}
	return n
}

// fileLock is an flock(2) on a lock file, taken to serialize the writers
// of a layout's index.json across processes.
type fileLock struct{ f *os.File }

// lockPollInterval bounds the wait between two tries at a busy lock.
const lockPollInterval = 20 * time.Millisecond

// acquireLock takes the exclusive lock on the file name (made if
// missing), waiting while another process holds it, until ctx is done.
func acquireLock(ctx context.Context, name string) (*fileLock, error) {
	f, err := os.OpenFile(name, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("opening lock %s: %w", name, err)
	}
	wait := time.Millisecond
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			return &fileLock{f}, nil
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) && !errors.Is(err, syscall.EINTR) {
			f.Close()
			return nil, fmt.Errorf("locking %s: %w", name, err)
		}
		select {
		case <-ctx.Done():
			f.Close()
			return nil, fmt.Errorf("locking %s: %w", name, ctx.Err())
		case <-time.After(wait):
		}
		wait = min(2*wait, lockPollInterval)
	}
}

// release gives the lock back.
func (l *fileLock) release() { l.f.Close() }
