package executor

import (
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	wfv1 "github.com/argoproj/argo-workflows/v3/pkg/apis/workflow/v1alpha1"
)

type eventKind int

const (
	evStarted       eventKind = iota // an attempt started
	evAttemptFailed                  // an attempt failed
	evRetrying                       // the task waits to run again
	evFinished                       // the task ended
	evSettled                        // the task will not run (omitted, or an error before it ran)
	evKept                           // the task keeps its result from an earlier execution
)

// event is a task event for the progress display.
type event struct {
	task     string
	kind     eventKind
	attempt  int
	max      int
	image    string
	phase    wfv1.NodePhase
	exitCode *int
	message  string
	wait     time.Duration
	duration time.Duration
}

// reporter writes a line per event and, live, keeps a block of the
// running tasks with their elapsed time under them, redrawn in place.
type reporter struct {
	mu      sync.Mutex
	w       io.Writer
	live    bool
	start   time.Time
	running map[string]runningTask
	drawn   int // lines of the live block on screen
	stop    chan struct{}
	stopped chan struct{}
}

type runningTask struct {
	since   time.Time
	attempt int
}

// newReporter returns a reporter writing to w; nil (quiet) when w is nil.
func newReporter(w io.Writer, live bool) *reporter {
	if w == nil {
		return nil
	}
	p := &reporter{w: w, live: live, start: time.Now(), running: map[string]runningTask{}}
	if live {
		p.stop, p.stopped = make(chan struct{}), make(chan struct{})
		go p.tick()
	}
	return p
}

func (p *reporter) tick() {
	defer close(p.stopped)
	t := time.NewTicker(200 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-p.stop:
			return
		case <-t.C:
			p.mu.Lock()
			p.clear()
			p.draw()
			p.mu.Unlock()
		}
	}
}

// close stops the redrawing and clears the live block.
func (p *reporter) close() {
	if p == nil {
		return
	}
	if p.live {
		close(p.stop)
		<-p.stopped
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.clear()
}

func (p *reporter) event(e event) {
	if p == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	switch e.kind {
	case evStarted:
		p.running[e.task] = runningTask{time.Now(), e.attempt}
	case evFinished, evSettled, evRetrying:
		delete(p.running, e.task)
	}
	p.clear()
	fmt.Fprintf(p.w, "[%7s] %s: %s\n", formatElapsed(time.Since(p.start)), e.task, describe(e))
	p.draw()
}

func describe(e event) string {
	switch e.kind {
	case evStarted:
		s := "started"
		if e.attempt > 1 {
			s = fmt.Sprintf("attempt %d%s started", e.attempt, ofMax(e.max))
		}
		if e.image != "" {
			s += " (image " + e.image + ", not pulled)"
		}
		return s
	case evAttemptFailed:
		return fmt.Sprintf("attempt %d %s: %s", e.attempt, strings.ToLower(string(e.phase)), e.message)
	case evRetrying:
		return fmt.Sprintf("retrying in %s (attempt %d%s)", roundDuration(e.wait), e.attempt, ofMax(e.max))
	case evKept:
		return "kept: it succeeded in an earlier execution of the run"
	case evSettled:
		if e.phase == wfv1.NodeOmitted {
			return "omitted: its depends condition is not met"
		}
		return strings.ToLower(string(e.phase)) + ": " + e.message
	}
	s := fmt.Sprintf("%s in %s", strings.ToLower(string(e.phase)), roundDuration(e.duration))
	if e.attempt > 1 {
		s += fmt.Sprintf(" after %d attempts", e.attempt)
	}
	if e.phase != wfv1.NodeSucceeded && e.message != "" {
		s += ": " + e.message
	}
	return s
}

func ofMax(max int) string {
	if max > 0 {
		return " of " + strconv.Itoa(max)
	}
	return ""
}

// clear erases the live block.
func (p *reporter) clear() {
	if p.live && p.drawn > 0 {
		fmt.Fprintf(p.w, "\x1b[%dA\x1b[J", p.drawn)
		p.drawn = 0
	}
}

// draw writes the live block: one line per running task.
func (p *reporter) draw() {
	if !p.live || len(p.running) == 0 {
		return
	}
	names := slices.Sorted(maps.Keys(p.running))
	sort.SliceStable(names, func(i, j int) bool { return p.running[names[i]].since.Before(p.running[names[j]].since) })
	for _, n := range names {
		t := p.running[n]
		line := fmt.Sprintf("  running %s  %s", n, formatElapsed(time.Since(t.since)))
		if t.attempt > 1 {
			line += fmt.Sprintf("  (attempt %d)", t.attempt)
		}
		fmt.Fprintln(p.w, line)
	}
	p.drawn = len(names)
}

func formatElapsed(d time.Duration) string {
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%.1fs", d.Seconds())
	case d < time.Hour:
		return fmt.Sprintf("%dm%02ds", int(d.Minutes()), int(d.Seconds())%60)
	}
	return fmt.Sprintf("%dh%02dm", int(d.Hours()), int(d.Minutes())%60)
}

// WriteSummary writes a table of a run's tasks: status, attempts,
// duration, exit code and log file (relative to the working folder when
// under it).
func WriteSummary(w io.Writer, res *Result) {
	wd, _ := os.Getwd()
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "TASK\tSTATUS\tATTEMPTS\tDURATION\tEXIT\tLOG")
	for _, t := range res.Tasks {
		status := string(t.Status)
		if t.Kept {
			status += " (kept)"
		}
		dur, code, log := "-", "-", "-"
		if t.Duration > 0 && !t.Kept {
			dur = roundDuration(t.Duration).String()
		}
		if t.ExitCode != nil {
			code = strconv.Itoa(*t.ExitCode)
		}
		if t.Log != "" {
			log = relTo(wd, t.Log)
		}
		attempts := "-"
		if t.Attempts > 0 {
			attempts = strconv.Itoa(t.Attempts)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", t.Name, status, attempts, dur, code, log)
	}
	tw.Flush()
	for _, t := range res.Tasks {
		if !t.Kept && t.Message != "" && (t.Status == wfv1.NodeFailed || t.Status == wfv1.NodeError) {
			fmt.Fprintf(w, "%s: %s\n", t.Name, t.Message)
		}
	}
}

// relTo returns p relative to dir when it lies under it.
func relTo(dir, p string) string {
	if dir == "" {
		return p
	}
	rel, err := filepath.Rel(dir, p)
	if err != nil || rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
		return p
	}
	return rel
}
