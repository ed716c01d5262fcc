//go:build linux

package executor

import (
	"bytes"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// On Linux this process is a child subreaper: a step's process whose
// parent exits (a daemon's double fork, a setsid'd child) is reparented
// here rather than to init, so it stays a descendant of this process and
// can be found and killed when its step ends, as a container's end kills
// everything in the container. A step's processes are its main process,
// those in its process group, and the descendants of this process whose
// environment carries the step's ARGO_NODE_ID, with all their
// descendants; when no other step runs, every descendant of this process
// is one of the ending step's, marked or not.

var subreaper sync.Once

// becomeSubreaper makes this process the child subreaper of its
// descendants; it fails quietly on kernels without subreapers, where a
// detached process is then found only while its parent lives.
func becomeSubreaper() {
	subreaper.Do(func() { unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) })
}

// procInfo is what /proc/<pid>/stat says of a process.
type procInfo struct {
	pid, ppid, pgrp int
	zombie          bool
	start           uint64 // start time, in clock ticks after boot
}

// stepProcs finds and kills one step's processes.
type stepProcs struct {
	main   int
	marker []byte // "\x00ARGO_NODE_ID=<id>\x00"
	// seen are the processes found so far, by pid, with their start time,
	// so that those reparented here are reaped once dead, but never a
	// process that took a dead one's pid.
	seen map[int]uint64
}

func newStepProcs(main int, nodeID string) *stepProcs {
	return &stepProcs{main: main, marker: []byte("\x00" + envNodeID + "=" + nodeID + "\x00"), seen: map[int]uint64{}}
}

// signal sends sig to the step's live processes and to its process group.
func (p *stepProcs) signal(sig syscall.Signal) {
	for _, pi := range p.find(false) {
		if !pi.zombie {
			syscall.Kill(pi.pid, sig)
		}
	}
	syscall.Kill(-p.main, sig)
}

// end kills, with SIGKILL, what is left of a step whose main process
// exited, reaping the processes that were reparented here; with no other
// step running, every descendant of this process goes too.
func (p *stepProcs) end() {
	live.Lock()
	live.running--
	all := live.running == 0
	if !all {
		live.Unlock()
	} else {
		defer live.Unlock()
	}
	for range 200 {
		syscall.Kill(-p.main, syscall.SIGKILL)
		left := 0
		for _, pi := range p.find(all) {
			if !pi.zombie {
				syscall.Kill(pi.pid, syscall.SIGKILL)
				left++
			}
		}
		p.reap()
		if left == 0 {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// find returns the step's processes, alive or zombies, or, with all,
// every descendant of this process, and records them as seen.
func (p *stepProcs) find(all bool) []procInfo {
	procs := readProcs()
	children := map[int][]int{}
	for _, pi := range procs {
		children[pi.ppid] = append(children[pi.ppid], pi.pid)
	}
	self := os.Getpid()
	var found []procInfo
	var walk func(pid int, in bool)
	walk = func(pid int, in bool) {
		for _, c := range children[pid] {
			pi := procs[c]
			mine := in || all || c == p.main || pi.pgrp == p.main || !pi.zombie && p.marked(c)
			if mine {
				found = append(found, pi)
				p.seen[c] = pi.start
			}
			walk(c, mine)
		}
	}
	walk(self, false)
	return found
}

// marked reports whether a process's environment holds the step's mark.
func (p *stepProcs) marked(pid int) bool {
	env, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/environ")
	if err != nil {
		return false
	}
	return bytes.HasPrefix(env, p.marker[1:]) || bytes.Contains(env, p.marker)
}

// reap waits for the seen processes that are dead and were reparented
// here, pass after pass, as reaping one reparents its dead children here;
// the main process is its exec.Cmd's to wait for.
func (p *stepProcs) reap() {
	self := os.Getpid()
	for reaped := true; reaped; {
		reaped = false
		for pid, start := range p.seen {
			pi, ok := readProc(pid)
			switch {
			case !ok || pi.start != start:
				delete(p.seen, pid) // gone, its pid maybe another's now
			case pid != p.main && pi.zombie && pi.ppid == self:
				var ws unix.WaitStatus
				if n, _ := unix.Wait4(pid, &ws, unix.WNOHANG, nil); n == pid {
					delete(p.seen, pid)
					reaped = true
				}
			}
		}
	}
}

// readProcs reads every process of /proc, by pid.
func readProcs() map[int]procInfo {
	out := map[int]procInfo{}
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return out
	}
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if pi, ok := readProc(pid); ok {
			out[pid] = pi
		}
	}
	return out
}

// readProc reads /proc/<pid>/stat: "pid (comm) state ppid pgrp ...", the
// start time its 22nd field; comm may hold spaces and parentheses.
func readProc(pid int) (procInfo, bool) {
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return procInfo{}, false
	}
	i := bytes.LastIndexByte(data, ')')
	if i < 0 {
		return procInfo{}, false
	}
	f := strings.Fields(string(data[i+1:]))
	if len(f) < 20 {
		return procInfo{}, false
	}
	pi := procInfo{pid: pid, zombie: f[0] == "Z"}
	pi.ppid, _ = strconv.Atoi(f[1])
	pi.pgrp, _ = strconv.Atoi(f[2])
	pi.start, _ = strconv.ParseUint(f[19], 10, 64)
	return pi, true
}
