//go:build unix

package executor

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	wfv1 "github.com/argoproj/argo-workflows/v3/pkg/apis/workflow/v1alpha1"
)

// live guards the start of steps' processes against the sweep that kills
// every descendant of this process when the last running step ends:
// running counts the steps' processes running, in every Run.
var live struct {
	sync.Mutex
	running int
}

// runProcess runs a step's process in a group of its own and waits for it;
// at the deadline, or when the run stops (interrupted, or past the
// workflow's deadline), its processes get SIGTERM, then SIGKILL after the
// grace period. Whatever of them outlives the main process is killed with
// it, as a container's processes are (see stepProcs). A process killed by
// a signal exits 128+signal, as a container does. Its output reaches the
// log through a pipe, capped (see cappedLog).
func (r *runner) runProcess(ctx context.Context, exe string, s *step, log *os.File) (wfv1.NodePhase, *int, string) {
	out, err := startOutput(log, r.opts.LogLimit)
	if err != nil {
		return wfv1.NodeError, nil, "capturing the step's output: " + err.Error()
	}
	cmd := &exec.Cmd{
		Path:        exe,
		Args:        s.argv,
		Env:         s.env,
		Dir:         r.opts.Dir,
		Stdout:      out.w,
		Stderr:      out.w,
		SysProcAttr: &syscall.SysProcAttr{Setpgid: true},
	}
	live.Lock()
	err = cmd.Start()
	if err == nil {
		live.running++
	}
	live.Unlock()
	out.w.Close()
	if err != nil {
		out.finish(0)
		return wfv1.NodeFailed, nil, "starting the step: " + err.Error()
	}
	procs := newStepProcs(cmd.Process.Pid, s.nodeID)
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
		r.stop(procs, done)
	case <-ctx.Done():
		why = stopReason(ctx)
		r.stop(procs, done)
	}
	procs.end()
	if err := out.finish(outputDrain); err != nil {
		fmt.Fprintf(log, "==> writing the step's output to this log: %v\n", err)
	}
	return exitPhase(cmd.ProcessState, why)
}

// exitPhase is how a step's process ended: why, when it was killed, else
// its exit status.
func exitPhase(ps *os.ProcessState, why string) (wfv1.NodePhase, *int, string) {
	ws, _ := ps.Sys().(syscall.WaitStatus)
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

// stop sends a step's processes SIGTERM, then SIGKILL if the main process
// outlives the grace period, and waits for it.
func (r *runner) stop(procs *stepProcs, done <-chan error) {
	procs.signal(syscall.SIGTERM)
	t := time.NewTimer(r.opts.Grace)
	defer t.Stop()
	select {
	case <-done:
	case <-t.C:
		procs.signal(syscall.SIGKILL)
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
