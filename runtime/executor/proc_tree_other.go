//go:build unix && !linux

package executor

import "syscall"

// Without Linux's /proc and child subreapers, a step's processes are its
// process group: one that leaves the group (setsid) is not found.

func becomeSubreaper() {}

// stepProcs kills one step's process group.
type stepProcs struct{ main int }

func newStepProcs(main int, nodeID string) *stepProcs { return &stepProcs{main: main} }

// signal sends sig to the step's process group.
func (p *stepProcs) signal(sig syscall.Signal) { syscall.Kill(-p.main, sig) }

// end kills, with SIGKILL, what is left of the step's process group.
func (p *stepProcs) end() {
	live.Lock()
	live.running--
	live.Unlock()
	syscall.Kill(-p.main, syscall.SIGKILL)
}
