//go:build unix

package executor

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"time"

	wfv1 "github.com/argoproj/argo-workflows/v3/pkg/apis/workflow/v1alpha1"
)

// runProcess runs a step's process in a group of its own and waits for it;
// at the deadline, or when the run stops (interrupted, or past the
// workflow's deadline), the group gets SIGTERM, then SIGKILL after the
// grace period. Whatever of the group outlives the main process is killed
// with it, as a container's processes are. A process killed by a signal
// exits 128+signal, as a container does.
func (r *runner) runProcess(ctx context.Context, exe string, s *step, log *os.File) (wfv1.NodePhase, *int, string) {
	cmd := &exec.Cmd{
		Path:        exe,
		Args:        s.argv,
		Env:         s.env,
		Dir:         r.opts.Dir,
		Stdout:      log,
		Stderr:      log,
		SysProcAttr: &syscall.SysProcAttr{Setpgid: true},
	}
	if err := cmd.Start(); err != nil {
		return wfv1.NodeFailed, nil, "starting the step: " + err.Error()
	}
	pgid := cmd.Process.Pid
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	var deadline <-chan time.Time
	if s.deadline > 0 {
		t := time.NewTimer(s.deadline)
		defer t.Stop()
		deadline = t.C
	}
	var why string
	select {
	case <-done:
	case <-deadline:
		why = fmt.Sprintf("exceeded its deadline of %s (%s) and was killed", s.deadline, s.deadlineFrom)
		r.killGroup(pgid, done)
	case <-ctx.Done():
		why = stopReason(ctx)
		r.killGroup(pgid, done)
	}
	syscall.Kill(-pgid, syscall.SIGKILL)

	ws, _ := cmd.ProcessState.Sys().(syscall.WaitStatus)
	code := ws.ExitStatus()
	if ws.Signaled() {
		code = 128 + int(ws.Signal())
	}
	switch {
	case why != "":
		return wfv1.NodeFailed, &code, why
	case code != 0:
		msg := fmt.Sprintf("exit code %d", code)
		if ws.Signaled() {
			msg = fmt.Sprintf("killed by %s (exit code %d)", ws.Signal(), code)
		}
		return wfv1.NodeFailed, &code, msg
	}
	return wfv1.NodeSucceeded, &code, ""
}

// killGroup sends SIGTERM to a process group, then SIGKILL if the main
// process outlives the grace period, and waits for it.
func (r *runner) killGroup(pgid int, done <-chan error) {
	syscall.Kill(-pgid, syscall.SIGTERM)
	t := time.NewTimer(r.opts.Grace)
	defer t.Stop()
	select {
	case <-done:
	case <-t.C:
		syscall.Kill(-pgid, syscall.SIGKILL)
		<-done
	}
}

// lockRun takes the run folder's lock, so that two executions never share
// a run; the lock goes with the process.
func lockRun(dir string) (release func(), err error) {
	f, err := os.OpenFile(filepath.Join(dir, lockFile), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("run %s is in use by another cairn run", filepath.Base(dir))
		}
		return nil, fmt.Errorf("locking %s: %w", dir, err)
	}
	return func() { f.Close() }, nil
}
