package executor

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	wfv1 "github.com/argoproj/argo-workflows/v3/pkg/apis/workflow/v1alpha1"
	"github.com/argoproj/argo-workflows/v3/util/expr/argoexpr"
	exprenv "github.com/argoproj/argo-workflows/v3/util/expr/env"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// outcome is how one attempt, or a task, ended.
type outcome struct {
	phase    wfv1.NodePhase
	exitCode *int
	message  string
	outputs  map[string]string
	started  time.Time
	finished time.Time
	image    string
	// final: retrying cannot help (the step could not be set up).
	final bool
}

type msgKind int

const (
	msgAttempt msgKind = iota // an attempt starts
	msgEnded                  // an attempt ended
	msgBackoff                // the task waits before its next attempt
	msgDone                   // the task ended
)

// message is what a task's goroutine tells the scheduler, which alone
// changes the run's state.
type message struct {
	task    string
	kind    msgKind
	attempt int // 1-based
	max     int // attempts allowed, 0 for no limit
	at      time.Time
	out     *outcome
	wait    time.Duration
}

// schedule runs the DAG: a task starts once its dependencies are
// fulfilled and its depends expression holds (else it is omitted), in the
// template's order, while fewer than the allowed number of tasks run.
func (r *runner) schedule(ctx context.Context) {
	parallel := r.opts.Parallel
	for _, p := range []*int64{r.wft.Spec.Parallelism, r.entry.Parallelism} {
		if p != nil && *p > 0 && int(*p) < parallel {
			parallel = int(*p)
		}
	}
	for _, t := range r.graph.tasks {
		if r.state.Tasks[t.Name].Kept {
			r.progress.event(event{task: t.Name, kind: evKept})
		}
	}
	msgs := make(chan message)
	running := 0
	for {
		for r.startReady(ctx, &running, parallel, msgs) {
		}
		if running == 0 {
			return
		}
		m := <-msgs
		r.apply(m)
		if m.kind == msgDone {
			running--
		}
	}
}

// startReady settles the tasks whose dependencies are fulfilled and starts
// those that may run; it reports whether anything changed.
func (r *runner) startReady(ctx context.Context, running *int, parallel int, msgs chan<- message) bool {
	changed := false
	for _, t := range r.graph.tasks {
		if r.phase(t.Name) != wfv1.NodePending {
			continue
		}
		ready, run, err := r.graph.evalDepends(t.Name, r.phase)
		switch {
		case !ready:
			continue
		case err != nil:
			r.settle(t.Name, wfv1.NodeError, err.Error())
			changed = true
			continue
		case !run:
			r.settle(t.Name, wfv1.NodeOmitted, "omitted: depends condition not met")
			changed = true
			continue
		case ctx.Err() != nil || *running >= parallel:
			continue
		}
		tmpl, err := r.resolve(t)
		if err != nil {
			r.settle(t.Name, wfv1.NodeError, err.Error())
			changed = true
			continue
		}
		ts := r.state.Tasks[t.Name]
		ts.Status = wfv1.NodeRunning
		*running++
		changed = true
		go r.runTask(ctx, t.Name, tmpl, msgs)
	}
	return changed
}

// resolve substitutes a task's arguments and its template's inputs.
func (r *runner) resolve(t *wfv1.DAGTask) (*wfv1.Template, error) {
	nt, err := resolveTask(t, r.taskScope(t.Name))
	if err != nil {
		return nil, fmt.Errorf("task %s: %w", t.Name, err)
	}
	tmpl, err := processArgs(r.templates[nt.Template], &nt.Arguments, r.globals)
	if err != nil {
		return nil, fmt.Errorf("task %s: %w", t.Name, err)
	}
	return tmpl, nil
}

// settle ends a task that does not run.
func (r *runner) settle(name string, phase wfv1.NodePhase, msg string) {
	ts := r.state.Tasks[name]
	now := time.Now()
	ts.Status, ts.Message, ts.Finished = phase, msg, &now
	r.save()
	r.progress.event(event{task: name, kind: evSettled, phase: phase, message: msg})
}

// apply records what a task's goroutine reports.
func (r *runner) apply(m message) {
	ts := r.state.Tasks[m.task]
	switch m.kind {
	case msgAttempt:
		if m.attempt == 1 {
			ts.Started = &m.at
		}
		ts.Attempts = append(ts.Attempts, attemptState{Started: m.at, Status: wfv1.NodeRunning})
		r.progress.event(event{task: m.task, kind: evStarted, attempt: m.attempt, max: m.max, image: ts.Image})
	case msgEnded:
		o := m.out
		a := &ts.Attempts[len(ts.Attempts)-1]
		a.Finished, a.Status, a.ExitCode, a.Message = &o.finished, o.phase, o.exitCode, o.message
		ts.ExitCode = o.exitCode
		if o.image != "" {
			ts.Image = o.image
		}
		if o.phase != wfv1.NodeSucceeded {
			r.progress.event(event{task: m.task, kind: evAttemptFailed, attempt: m.attempt, phase: o.phase, exitCode: o.exitCode, message: o.message})
		}
	case msgBackoff:
		r.progress.event(event{task: m.task, kind: evRetrying, attempt: m.attempt, max: m.max, wait: m.wait})
	case msgDone:
		o := m.out
		now := time.Now()
		ts.Status, ts.Message, ts.ExitCode, ts.Outputs, ts.Finished = o.phase, o.message, o.exitCode, o.outputs, &now
		var d time.Duration
		if ts.Started != nil {
			d = now.Sub(*ts.Started)
		}
		r.progress.event(event{task: m.task, kind: evFinished, phase: o.phase, exitCode: o.exitCode, message: o.message, attempt: len(ts.Attempts), duration: d})
	}
	r.save()
}

// runTask runs a task's attempts, as its retry strategy allows.
func (r *runner) runTask(ctx context.Context, name string, tmpl *wfv1.Template, msgs chan<- message) {
	rs := tmpl.RetryStrategy
	maxAttempts := 1
	if rs != nil {
		maxAttempts = 0
		if rs.Limit != nil {
			if n, err := strconv.Atoi(rs.Limit.String()); err == nil && n >= 0 {
				maxAttempts = n + 1
			}
		}
	}
	var attempts []*outcome
	for n := 0; ; n++ {
		locals := map[string]string{"pod.name": fmt.Sprintf("%s-%s-%d", r.state.WorkflowName, name, n)}
		if rs != nil {
			locals["retries"] = strconv.Itoa(n)
			code, status, duration, msg := "0", "", "0", ""
			if n > 0 {
				last := attempts[n-1]
				if last.exitCode != nil {
					code = strconv.Itoa(*last.exitCode)
				}
				status, duration, msg = string(last.phase), fmt.Sprint(last.finished.Sub(last.started).Seconds()), last.message
			}
			locals["lastRetry.exitCode"], locals["lastRetry.status"] = code, status
			locals["lastRetry.duration"], locals["lastRetry.message"] = duration, msg
		}
		start := time.Now()
		msgs <- message{task: name, kind: msgAttempt, attempt: n + 1, max: maxAttempts, at: start}
		o := r.attempt(ctx, name, tmpl, locals, n+1, maxAttempts)
		o.started = start
		attempts = append(attempts, o)
		ended := *o // the scheduler's copy: o may change below
		msgs <- message{task: name, kind: msgEnded, attempt: n + 1, out: &ended}
		if o.phase == wfv1.NodeSucceeded || o.final || rs == nil || ctx.Err() != nil {
			break
		}
		again, wait, why, err := shouldRetry(rs, attempts)
		if err != nil {
			o.phase, o.message = wfv1.NodeError, "retryStrategy: "+err.Error()
			break
		}
		if !again {
			if why != "" {
				o.message = strings.TrimPrefix(o.message+"; "+why, "; ")
			}
			break
		}
		msgs <- message{task: name, kind: msgBackoff, attempt: n + 2, max: maxAttempts, wait: wait}
		if wait > 0 {
			t := time.NewTimer(wait)
			select {
			case <-t.C:
			case <-ctx.Done():
				t.Stop()
			}
			if ctx.Err() != nil {
				o.message = strings.TrimPrefix(o.message+"; "+stopReason(ctx), "; ")
				break
			}
		}
	}
	last := attempts[len(attempts)-1]
	msgs <- message{task: name, kind: msgDone, out: last}
}

// shouldRetry decides, after a failed attempt, whether the task runs again
// and after how long, as Argo's processNodeRetries does: the retry policy,
// then the limit, then the expression (over lastRetry.status, .exitCode,
// .duration, .message and retries); the backoff is duration ×
// factor^(retries so far), capped, within maxDuration.
func shouldRetry(rs *wfv1.RetryStrategy, attempts []*outcome) (bool, time.Duration, string, error) {
	last := attempts[len(attempts)-1]
	n := len(attempts)
	var onFailed, onError bool
	switch p := rs.RetryPolicyActual(); p {
	case wfv1.RetryPolicyAlways:
		onFailed, onError = true, true
	case wfv1.RetryPolicyOnError:
		onError = true
	case wfv1.RetryPolicyOnFailure:
		onFailed = true
	case wfv1.RetryPolicyOnTransientError:
		// No local failure is a transient Kubernetes error.
	default:
		return false, 0, "", fmt.Errorf("%s is not a valid retry policy", p)
	}
	if last.phase == wfv1.NodeFailed && !onFailed || last.phase == wfv1.NodeError && !onError {
		return false, 0, "", nil
	}
	if rs.Limit != nil {
		limit, err := intOrString(rs.Limit)
		if err != nil {
			return false, 0, "", fmt.Errorf("limit: %w", err)
		}
		if n > limit {
			return false, 0, "no more retries left", nil
		}
	}
	if rs.Expression != "" {
		code := "-1"
		if last.exitCode != nil {
			code = strconv.Itoa(*last.exitCode)
		}
		scope := exprenv.GetFuncMap(map[string]any{
			"retries":            strconv.Itoa(n - 1),
			"lastRetry.exitCode": code,
			"lastRetry.status":   string(last.phase),
			"lastRetry.duration": fmt.Sprint(last.finished.Sub(last.started).Seconds()),
			"lastRetry.message":  last.message,
		})
		ok, err := argoexpr.EvalBool(rs.Expression, scope)
		if err != nil {
			return false, 0, "", fmt.Errorf("expression %q: %w", rs.Expression, err)
		}
		if !ok {
			return false, 0, "retryStrategy.expression evaluated to false", nil
		}
	}
	b := rs.Backoff
	if b == nil {
		return true, 0, "", nil
	}
	var maxDeadline time.Time
	if b.MaxDuration != "" {
		d, err := wfv1.ParseStringToDuration(b.MaxDuration)
		if err != nil {
			return false, 0, "", fmt.Errorf("backoff.maxDuration: %w", err)
		}
		maxDeadline = attempts[0].started.Add(d)
		if time.Now().After(maxDeadline) {
			return false, 0, "max duration limit exceeded", nil
		}
	}
	if b.Duration == "" {
		return false, 0, "", errors.New("backoff has no duration")
	}
	wait, err := wfv1.ParseStringToDuration(b.Duration)
	if err != nil {
		return false, 0, "", fmt.Errorf("backoff.duration: %w", err)
	}
	if b.Factor != nil {
		f, err := intOrString(b.Factor)
		if err != nil {
			return false, 0, "", fmt.Errorf("backoff.factor: %w", err)
		}
		if f > 0 {
			m := math.Pow(float64(f), float64(n-1))
			if wait > 0 && m > float64(math.MaxInt64)/float64(wait) {
				wait = time.Duration(math.MaxInt64)
			} else {
				wait = time.Duration(float64(wait) * m)
			}
		}
	}
	if b.Cap != "" {
		c, err := wfv1.ParseStringToDuration(b.Cap)
		if err != nil {
			return false, 0, "", fmt.Errorf("backoff.cap: %w", err)
		}
		wait = min(wait, c)
	}
	if !maxDeadline.IsZero() && last.finished.Add(wait).After(maxDeadline) {
		return false, 0, "backoff would exceed max duration limit", nil
	}
	return true, wait, "", nil
}

func intOrString(v *intstr.IntOrString) (int, error) {
	if v.Type == intstr.Int {
		return int(v.IntVal), nil
	}
	n, err := strconv.Atoi(v.StrVal)
	if err != nil {
		return 0, fmt.Errorf("%q is not a number", v.StrVal)
	}
	return n, nil
}

// attempt runs one attempt of a task: the last substitution, with the
// attempt's variables, the step prepared in a fresh container root, the
// process, then the outputs.
func (r *runner) attempt(ctx context.Context, name string, tmpl *wfv1.Template, locals map[string]string, n, max int) *outcome {
	begin := time.Now()
	fail := func(phase wfv1.NodePhase, err error) *outcome {
		return &outcome{phase: phase, message: err.Error(), finished: time.Now(), final: true}
	}
	t, err := substitute(tmpl, r.globals, locals, true)
	if err != nil {
		return fail(wfv1.NodeError, fmt.Errorf("task %s: %w", name, err))
	}
	root := filepath.Join(r.dir, tasksDir, name, "root")
	s, err := r.prepare(name, t, root)
	if err != nil {
		return fail(wfv1.NodeError, err)
	}
	s.nodeID = locals["pod.name"]
	s.env = append(s.env, envNodeID+"="+s.nodeID)
	log, err := openLog(filepath.Join(r.dir, logsDir, name+".log"))
	if err != nil {
		return fail(wfv1.NodeError, err)
	}
	defer log.Close()
	o := &outcome{image: s.image}
	total := "no limit"
	if max > 0 {
		total = "of " + strconv.Itoa(max)
	}
	fmt.Fprintf(log, "==> %s: attempt %d %s, %s, image %s\n", name, n, total, time.Now().UTC().Format(time.RFC3339), orDash(s.image))
	for _, note := range s.notes {
		fmt.Fprintf(log, "==> %s\n", note)
	}
	fmt.Fprintf(log, "==> $ %s\n", shellQuote(s.argv))

	err = os.RemoveAll(root)
	for _, d := range append([]string{root}, s.dirs...) {
		if err == nil {
			err = os.MkdirAll(d, 0o755)
		}
	}
	if err != nil {
		o.phase, o.message = wfv1.NodeError, fmt.Sprintf("preparing the step's folders: %v", err)
	} else if exe, err := r.executable(s.argv, s.env); err != nil {
		// A container runtime reports a missing program as a failed
		// container.
		o.phase, o.message = wfv1.NodeFailed, "starting the step: "+err.Error()
	} else {
		o.phase, o.exitCode, o.message = r.runProcess(ctx, exe, s, log)
		if o.phase == wfv1.NodeSucceeded {
			outs, err := readOutputs(s)
			if err != nil {
				o.phase, o.message = wfv1.NodeError, err.Error()
			}
			o.outputs = outs
		}
	}
	o.finished = time.Now()
	code := "none"
	if o.exitCode != nil {
		code = strconv.Itoa(*o.exitCode)
	}
	fmt.Fprintf(log, "==> %s: attempt %d %s after %s, exit code %s", name, n, strings.ToLower(string(o.phase)), roundDuration(o.finished.Sub(begin)), code)
	if o.message != "" {
		fmt.Fprintf(log, ": %s", o.message)
	}
	fmt.Fprintln(log)
	return o
}

// openLog opens a task's log at its end, for reading too: the output's
// cap rewrites its tail in place.
func openLog(name string) (*os.File, error) {
	f, err := os.OpenFile(name, os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, err
	}
	if _, err := f.Seek(0, io.SeekEnd); err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}

// prepare turns a substituted template into the step to run.
func (r *runner) prepare(task string, tmpl *wfv1.Template, root string) (*step, error) {
	d, from, err := deadlineOf(tmpl)
	if err != nil {
		return nil, fmt.Errorf("step %s: %w", task, err)
	}
	switch {
	case tmpl.Container != nil:
		s, err := r.prepareContainer(task, container{c: tmpl.Container, volumes: r.volumesOf(tmpl)}, tmpl.Outputs.Parameters, root)
		if err != nil {
			return nil, err
		}
		s.deadline, s.deadlineFrom = d, from
		return s, nil
	case tmpl.Resource != nil:
		return r.prepareMPI(task, tmpl, root, d, from)
	}
	return nil, fmt.Errorf("step %s: a %s template cannot run locally", task, tmpl.GetType())
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// shellQuote writes argv as a shell would read it back.
func shellQuote(argv []string) string {
	q := make([]string, len(argv))
	for i, a := range argv {
		if a != "" && strings.Trim(a, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_./=:,+@%") == "" {
			q[i] = a
		} else {
			q[i] = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
		}
	}
	return strings.Join(q, " ")
}

// roundDuration rounds a duration for people.
func roundDuration(d time.Duration) time.Duration {
	switch {
	case d >= time.Minute:
		return d.Round(time.Second)
	case d >= time.Second:
		return d.Round(100 * time.Millisecond)
	default:
		return d.Round(time.Millisecond)
	}
}
