package executor

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	wfv1 "github.com/argoproj/argo-workflows/v3/pkg/apis/workflow/v1alpha1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/yaml"
)

// TestMain refuses to run the tests when a step started this binary as
// "cairn": every test gives Options.Self a script of its own, and a test
// that forgot would otherwise run the whole suite again from inside a step.
func TestMain(m *testing.M) {
	if filepath.Base(os.Args[0]) == "cairn" {
		fmt.Fprintln(os.Stderr, "executor tests: the test binary was run as a step's cairn command; set Options.Self")
		os.Exit(97)
	}
	os.Exit(m.Run())
}

// sh is a container template running a shell script.
func sh(name, script string) wfv1.Template {
	return wfv1.Template{Name: name, Container: &corev1.Container{
		Name: "main", Image: "registry.example.com/step:1", Command: []string{"sh", "-c", script},
	}}
}

// task is a DAG task running the template of the same name.
func task(name, depends string) wfv1.DAGTask {
	return wfv1.DAGTask{Name: name, Template: name, Depends: depends}
}

// newWFT returns a WorkflowTemplate whose entrypoint DAG runs tasks.
func newWFT(tasks []wfv1.DAGTask, templates ...wfv1.Template) *wfv1.WorkflowTemplate {
	wft := &wfv1.WorkflowTemplate{}
	wft.Name, wft.Namespace = "demo", "team"
	wft.Spec.Entrypoint = "main"
	wft.Spec.Arguments.Parameters = []wfv1.Parameter{{Name: "run-root", Value: wfv1.AnyStringPtr("s3://bucket/demo")}}
	wft.Spec.Templates = append([]wfv1.Template{{Name: "main", DAG: &wfv1.DAGTemplate{Tasks: tasks}}}, templates...)
	return wft
}

// env is a test's folder, the steps' working folder.
type env struct {
	t    *testing.T
	dir  string
	opts Options
}

func newEnv(t *testing.T) *env {
	t.Helper()
	dir := t.TempDir()
	self := filepath.Join(dir, "bin", "fake-cairn")
	writeScript(t, self, `printf '%s\n' "$@" > cairn.args`)
	return &env{t: t, dir: dir, opts: Options{
		Dir:        dir,
		RunRoot:    filepath.Join(dir, "runs"),
		Parameters: map[string]string{"run-root": filepath.Join(dir, "runs")},
		Parallel:   4,
		Self:       self,
		Grace:      200 * time.Millisecond,
		Env:        os.Environ(),
	}}
}

func writeScript(t *testing.T, path, body string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte("#!/bin/sh\n"+body+"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
}

// run runs wft and fails the test on an error.
func (e *env) run(wft *wfv1.WorkflowTemplate) *Result {
	e.t.Helper()
	res, err := Run(context.Background(), wft, e.opts)
	if err != nil {
		e.t.Fatalf("Run: %v", err)
	}
	return res
}

func (e *env) read(name string) string {
	e.t.Helper()
	data, err := os.ReadFile(filepath.Join(e.dir, name))
	if err != nil {
		e.t.Fatal(err)
	}
	return string(data)
}

func (e *env) write(name, content string) {
	e.t.Helper()
	if err := os.WriteFile(filepath.Join(e.dir, name), []byte(content), 0o644); err != nil {
		e.t.Fatal(err)
	}
}

// taskOf returns a task's result.
func taskOf(t *testing.T, res *Result, name string) TaskResult {
	t.Helper()
	for _, tr := range res.Tasks {
		if tr.Name == name {
			return tr
		}
	}
	t.Fatalf("no task %s in the result", name)
	return TaskResult{}
}

// wantStatus checks the status of tasks.
func wantStatus(t *testing.T, res *Result, want map[string]wfv1.NodePhase) {
	t.Helper()
	for name, phase := range want {
		if got := taskOf(t, res, name); got.Status != phase {
			t.Errorf("task %s: status %s (%s), want %s", name, got.Status, got.Message, phase)
		}
	}
}

func logOf(t *testing.T, tr TaskResult) string {
	t.Helper()
	data, err := os.ReadFile(tr.Log)
	if err != nil {
		t.Fatalf("log of %s: %v", tr.Name, err)
	}
	return string(data)
}

// record is a script recording a task's start and end in the file events.
func record(name, body string) wfv1.Template {
	return sh(name, fmt.Sprintf("echo start %s >> events; %s echo end %s >> events", name, body, name))
}

func TestOrder(t *testing.T) {
	e := newEnv(t)
	wft := newWFT(
		[]wfv1.DAGTask{task("a", ""), task("b", "a"), task("c", "a"), task("d", "b && c"), {Name: "e", Template: "e", Dependencies: []string{"d", "a"}}},
		record("a", "sleep 0.02;"), record("b", "sleep 0.02;"), record("c", ""), record("d", ""), record("e", ""),
	)
	res := e.run(wft)
	if !res.Succeeded() {
		t.Fatalf("run %s: %s", res.Status, res.Message)
	}
	lines := strings.Split(strings.TrimSpace(e.read("events")), "\n")
	pos := map[string]int{}
	for i, l := range lines {
		pos[l] = i
	}
	if len(pos) != 10 {
		t.Fatalf("events = %q, want a start and an end for each of 5 tasks", lines)
	}
	for _, edge := range [][2]string{{"a", "b"}, {"a", "c"}, {"b", "d"}, {"c", "d"}, {"d", "e"}, {"a", "e"}} {
		if pos["end "+edge[0]] > pos["start "+edge[1]] {
			t.Errorf("%s started before %s, which it depends on, ended: %q", edge[1], edge[0], lines)
		}
	}
}

// TestParallel shows that independent tasks run at once (each waits for
// the other to have started) and that no more than Parallel run at once.
func TestParallel(t *testing.T) {
	t.Run("together", func(t *testing.T) {
		e := newEnv(t)
		e.opts.Parallel = 2
		wait := func(me, other string) string {
			return fmt.Sprintf("touch %s.up; i=0; while [ ! -e %s.up ]; do i=$((i+1)); [ $i -gt 1000 ] && exit 1; sleep 0.01; done", me, other)
		}
		res := e.run(newWFT([]wfv1.DAGTask{task("a", ""), task("b", "")}, sh("a", wait("a", "b")), sh("b", wait("b", "a"))))
		wantStatus(t, res, map[string]wfv1.NodePhase{"a": wfv1.NodeSucceeded, "b": wfv1.NodeSucceeded})
	})
	t.Run("bounded", func(t *testing.T) {
		e := newEnv(t)
		e.opts.Parallel = 2
		e.write("count", "0\n")
		script := counting("0.03")
		var tasks []wfv1.DAGTask
		var tmpls []wfv1.Template
		for i := range 6 {
			name := fmt.Sprintf("t%d", i)
			tasks = append(tasks, task(name, ""))
			tmpls = append(tmpls, sh(name, script))
		}
		res := e.run(newWFT(tasks, tmpls...))
		if !res.Succeeded() {
			t.Fatalf("run %s", res.Status)
		}
		seen := strings.Fields(e.read("seen"))
		if len(seen) != 6 {
			t.Fatalf("seen = %q, want 6 counts", seen)
		}
		for _, s := range seen {
			if n, _ := strconv.Atoi(s); n > 2 {
				t.Errorf("%d tasks ran at once with Parallel 2 (counts %q)", n, seen)
			}
		}
	})
	t.Run("template parallelism", func(t *testing.T) {
		e := newEnv(t)
		e.write("count", "0\n")
		script := counting("0.02")
		wft := newWFT([]wfv1.DAGTask{task("a", ""), task("b", ""), task("c", "")}, sh("a", script), sh("b", script), sh("c", script))
		one := int64(1)
		wft.Spec.Parallelism = &one
		e.run(wft)
		for _, s := range strings.Fields(e.read("seen")) {
			if s != "1" {
				t.Errorf("%s tasks ran at once under spec.parallelism 1", s)
			}
		}
	})
}

// counting is a script that counts the tasks running it at once in the
// file count, under a lock (a folder), records the count in seen, and
// sleeps.
func counting(sleep string) string {
	lock := `until mkdir lock 2>/dev/null; do sleep 0.001; done`
	return lock + `; n=$(($(cat count)+1)); echo $n > count; echo $n >> seen; rmdir lock; sleep ` + sleep +
		`; ` + lock + `; echo $(($(cat count)-1)) > count; rmdir lock`
}

// counter is a script counting its runs in cnt.<name> and exiting with
// the code for that run: codes[0] the first time, and so on, the last one
// from then on.
func counter(name string, codes ...int) wfv1.Template {
	var cases []string
	for i, c := range codes[:len(codes)-1] {
		cases = append(cases, fmt.Sprintf("%d) exit %d;;", i+1, c))
	}
	return sh(name, fmt.Sprintf(`n=$(($(cat cnt.%[1]s 2>/dev/null || echo 0)+1)); echo $n > cnt.%[1]s; case $n in %[2]s esac; exit %[3]d`,
		name, strings.Join(cases, " "), codes[len(codes)-1]))
}

func retrying(tmpl wfv1.Template, rs wfv1.RetryStrategy) wfv1.Template {
	tmpl.RetryStrategy = &rs
	return tmpl
}

func limit(n int) *intstr.IntOrString {
	v := intstr.FromInt(n)
	return &v
}

func TestRetries(t *testing.T) {
	tests := []struct {
		name         string
		tmpl         wfv1.Template
		want         wfv1.NodePhase
		attempts     int
		wantExitCode int
	}{
		{"succeeds on the third attempt", retrying(counter("s", 1, 1, 0), wfv1.RetryStrategy{Limit: limit(2)}), wfv1.NodeSucceeded, 3, 0},
		{"limit 1 fails", retrying(counter("s", 1, 1, 0), wfv1.RetryStrategy{Limit: limit(1)}), wfv1.NodeFailed, 2, 1},
		{"limit 0 runs once", retrying(counter("s", 1, 0), wfv1.RetryStrategy{Limit: limit(0)}), wfv1.NodeFailed, 1, 1},
		{"limit as a string", retrying(counter("s", 1, 0), wfv1.RetryStrategy{Limit: &intstr.IntOrString{Type: intstr.String, StrVal: "1"}}), wfv1.NodeSucceeded, 2, 0},
		{"no strategy runs once", counter("s", 1, 0), wfv1.NodeFailed, 1, 1},
		{"OnError does not retry a failure", retrying(counter("s", 1, 0), wfv1.RetryStrategy{Limit: limit(3), RetryPolicy: wfv1.RetryPolicyOnError}), wfv1.NodeFailed, 1, 1},
		{"OnFailure retries a failure", retrying(counter("s", 1, 0), wfv1.RetryStrategy{Limit: limit(3), RetryPolicy: wfv1.RetryPolicyOnFailure}), wfv1.NodeSucceeded, 2, 0},
		{"Always retries a failure", retrying(counter("s", 1, 0), wfv1.RetryStrategy{Limit: limit(3), RetryPolicy: wfv1.RetryPolicyAlways}), wfv1.NodeSucceeded, 2, 0},
		{"expression retries exit code 3 only", retrying(counter("s", 3, 3, 4, 0), wfv1.RetryStrategy{Limit: limit(5), Expression: "asInt(lastRetry.exitCode) == 3"}), wfv1.NodeFailed, 3, 4},
		{"expression on status", retrying(counter("s", 1, 0), wfv1.RetryStrategy{Limit: limit(5), Expression: "lastRetry.status == 'Error'"}), wfv1.NodeFailed, 1, 1},
		{"expression on retries", retrying(counter("s", 1), wfv1.RetryStrategy{Limit: limit(9), Expression: "asInt(retries) < 2"}), wfv1.NodeFailed, 3, 1},
		{"compiled spot expression retries a preemption", retrying(counter("s", 137, 0), wfv1.RetryStrategy{
			Limit: limit(3), RetryPolicy: wfv1.RetryPolicyAlways,
			Expression: "lastRetry.status == 'Error' || (lastRetry.status == 'Failed' && asInt(lastRetry.exitCode) in [137, 143])",
			Backoff:    &wfv1.Backoff{Duration: "1ms", Factor: limit(2), Cap: "5ms"},
		}), wfv1.NodeSucceeded, 2, 0},
		{"compiled spot expression stops on a bug", retrying(counter("s", 1, 0), wfv1.RetryStrategy{
			Limit: limit(3), RetryPolicy: wfv1.RetryPolicyAlways,
			Expression: "lastRetry.status == 'Error' || (lastRetry.status == 'Failed' && asInt(lastRetry.exitCode) in [137, 143])",
		}), wfv1.NodeFailed, 1, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			res := e.run(newWFT([]wfv1.DAGTask{task("s", "")}, tt.tmpl))
			s := taskOf(t, res, "s")
			if s.Status != tt.want || s.Attempts != tt.attempts {
				t.Errorf("status %s after %d attempts (%s), want %s after %d", s.Status, s.Attempts, s.Message, tt.want, tt.attempts)
			}
			if s.ExitCode == nil || *s.ExitCode != tt.wantExitCode {
				t.Errorf("exit code %v, want %d", s.ExitCode, tt.wantExitCode)
			}
			if got := strings.TrimSpace(e.read("cnt.s")); got != strconv.Itoa(tt.attempts) {
				t.Errorf("the step ran %s times, want %d", got, tt.attempts)
			}
			if n := strings.Count(logOf(t, s), "==> s: attempt "); n != 2*tt.attempts {
				t.Errorf("log has %d attempt lines, want a header and a footer for each of %d attempts:\n%s", n, tt.attempts, logOf(t, s))
			}
			if (res.Status == wfv1.NodeSucceeded) != (tt.want == wfv1.NodeSucceeded) {
				t.Errorf("run %s, task %s", res.Status, s.Status)
			}
		})
	}
}

// TestRetryOnError retries an attempt that errored (its output file was
// missing) under OnError.
func TestRetryOnError(t *testing.T) {
	e := newEnv(t)
	tmpl := sh("s", `n=$(($(cat cnt 2>/dev/null || echo 0)+1)); echo $n > cnt; [ $n -ge 2 ] && echo done > /tmp/cairn/outputs/out; exit 0`)
	tmpl.Outputs.Parameters = []wfv1.Parameter{{Name: "out", ValueFrom: &wfv1.ValueFrom{Path: "/tmp/cairn/outputs/out"}}}
	tmpl.RetryStrategy = &wfv1.RetryStrategy{Limit: limit(2), RetryPolicy: wfv1.RetryPolicyOnError}
	res := e.run(newWFT([]wfv1.DAGTask{task("s", "")}, tmpl))
	s := taskOf(t, res, "s")
	if s.Status != wfv1.NodeSucceeded || s.Attempts != 2 || s.Outputs["out"] != "done" {
		t.Errorf("status %s after %d attempts, outputs %v (%s); want Succeeded after 2, out=done", s.Status, s.Attempts, s.Outputs, s.Message)
	}
}

func TestBackoff(t *testing.T) {
	rs := &wfv1.RetryStrategy{Limit: limit(10), Backoff: &wfv1.Backoff{Duration: "1m", Factor: limit(2), Cap: "30m"}}
	now := time.Now()
	var attempts []*outcome
	var waits []time.Duration
	for range 7 {
		attempts = append(attempts, &outcome{phase: wfv1.NodeFailed, started: now, finished: now})
		again, wait, _, err := shouldRetry(rs, attempts)
		if err != nil || !again {
			t.Fatalf("shouldRetry after %d attempts = %v, %v", len(attempts), again, err)
		}
		waits = append(waits, wait)
	}
	want := []time.Duration{time.Minute, 2 * time.Minute, 4 * time.Minute, 8 * time.Minute, 16 * time.Minute, 30 * time.Minute, 30 * time.Minute}
	if !slices.Equal(waits, want) {
		t.Errorf("backoff waits %v, want %v", waits, want)
	}
	rs.Backoff.MaxDuration = "3m"
	if again, wait, _, _ := shouldRetry(rs, attempts[:2]); !again || wait != 2*time.Minute {
		t.Errorf("with maxDuration 3m, after 2 attempts: again %v after %s, want yes after 2m", again, wait)
	}
	if again, _, why, _ := shouldRetry(rs, attempts[:3]); again || why != "backoff would exceed max duration limit" {
		t.Errorf("with maxDuration 3m, after 3 attempts: again %v (%s), want no", again, why)
	}
}

func TestDeadline(t *testing.T) {
	for _, tt := range []struct{ name, script string }{
		{"SIGTERM", `sleep 60 & echo $! > child.pid; echo $$$$ > main.pid; wait`},
		// The step ignores SIGTERM (and so does its child): SIGKILL after
		// the grace period.
		{"SIGKILL", `trap '' TERM; sleep 60 & echo $! > child.pid; echo $$$$ > main.pid; wait; wait; sleep 60`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			tmpl := sh("slow", tt.script)
			one := intstr.FromInt(1)
			tmpl.ActiveDeadlineSeconds = &one
			start := time.Now()
			res := e.run(newWFT([]wfv1.DAGTask{task("slow", ""), task("after", "slow")}, tmpl, sh("after", "true")))
			if d := time.Since(start); d > 30*time.Second {
				t.Errorf("the run took %s with a deadline of 1s", d)
			}
			s := taskOf(t, res, "slow")
			if s.Status != wfv1.NodeFailed || !strings.Contains(s.Message, "deadline") {
				t.Errorf("slow: %s (%s), want Failed past its deadline", s.Status, s.Message)
			}
			wantCode := 128 + int(syscall.SIGTERM)
			if tt.name == "SIGKILL" {
				wantCode = 128 + int(syscall.SIGKILL)
			}
			if s.ExitCode == nil || *s.ExitCode != wantCode {
				t.Errorf("slow: exit code %v, want %d", s.ExitCode, wantCode)
			}
			wantStatus(t, res, map[string]wfv1.NodePhase{"after": wfv1.NodeOmitted})
			for _, f := range []string{"main.pid", "child.pid"} {
				pid, err := strconv.Atoi(strings.TrimSpace(e.read(f)))
				if err != nil {
					t.Fatal(err)
				}
				waitGone(t, f, pid)
			}
		})
	}
}

// waitGone fails unless a process is gone (or a zombie, dead but not yet
// reaped by an init that does not reap) within a few seconds.
func waitGone(t *testing.T, what string, pid int) {
	t.Helper()
	for i := 0; i < 100; i++ {
		if err := syscall.Kill(pid, 0); errors.Is(err, syscall.ESRCH) {
			return
		}
		if stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid)); err == nil {
			if _, rest, ok := strings.Cut(string(stat), ") "); ok && strings.HasPrefix(rest, "Z") {
				return
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	syscall.Kill(pid, syscall.SIGKILL)
	t.Errorf("process %d (%s) outlived the step's deadline", pid, what)
}

func TestFailurePropagation(t *testing.T) {
	e := newEnv(t)
	wft := newWFT(
		[]wfv1.DAGTask{task("gate", ""), task("pack", "gate"), task("push", "pack"), task("side", ""), task("side2", "side")},
		sh("gate", "echo metrics too low; exit 3"), record("pack", ""), record("push", ""), sh("side", "sleep 0.05"), record("side2", ""),
	)
	res := e.run(wft)
	wantStatus(t, res, map[string]wfv1.NodePhase{
		"gate": wfv1.NodeFailed, "pack": wfv1.NodeOmitted, "push": wfv1.NodeOmitted,
		"side": wfv1.NodeSucceeded, "side2": wfv1.NodeSucceeded,
	})
	if res.Succeeded() {
		t.Errorf("run %s, want Failed", res.Status)
	}
	if got := e.read("events"); got != "start side2\nend side2\n" {
		t.Errorf("events %q: only side2 should have run", got)
	}
	gate := taskOf(t, res, "gate")
	if gate.ExitCode == nil || *gate.ExitCode != 3 || !strings.Contains(logOf(t, gate), "metrics too low\n") {
		t.Errorf("gate: exit code %v, log:\n%s", gate.ExitCode, logOf(t, gate))
	}
	if pack := taskOf(t, res, "pack"); pack.Log != "" || pack.Attempts != 0 {
		t.Errorf("pack, omitted, has a log %q or %d attempts", pack.Log, pack.Attempts)
	}
}

func TestDepends(t *testing.T) {
	tests := []struct {
		name    string
		depends string
		fail    bool // a fails
		runs    bool
		ok      bool // the run succeeds
	}{
		{"bare name, success", "a", false, true, true},
		{"bare name, failure", "a", true, false, false},
		{"a.Failed, failure", "a.Failed", true, true, true},
		{"a.Failed, success", "a.Failed", false, false, true},
		{"a.Succeeded || a.Failed", "a.Succeeded || a.Failed", true, true, true},
		{"!a.Succeeded", "!a.Succeeded", true, true, true},
		{"a.Errored", "a.Errored", true, false, false},
		{"a && b", "a && b", false, true, true},
		{"a || b with a failed", "a || b", true, true, true}, // c handles a's failure, as in Argo
		{"a.AnySucceeded", "a.AnySucceeded", false, false, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			a := sh("a", "exit 0")
			if tt.fail {
				a = sh("a", "exit 1")
			}
			res := e.run(newWFT([]wfv1.DAGTask{task("a", ""), task("b", ""), task("c", tt.depends)}, a, sh("b", "true"), sh("c", "true")))
			c := taskOf(t, res, "c")
			if ran := c.Status == wfv1.NodeSucceeded; ran != tt.runs {
				t.Errorf("c: %s (%s), want run %v", c.Status, c.Message, tt.runs)
			}
			if res.Succeeded() != tt.ok {
				t.Errorf("run %s, want succeeded %v", res.Status, tt.ok)
			}
		})
	}
}

func TestContinueOn(t *testing.T) {
	e := newEnv(t)
	res := e.run(newWFT(
		[]wfv1.DAGTask{{Name: "a", Template: "a", ContinueOn: &wfv1.ContinueOn{Failed: true}}, {Name: "b", Template: "b", Dependencies: []string{"a"}}},
		sh("a", "exit 1"), sh("b", "true"),
	))
	wantStatus(t, res, map[string]wfv1.NodePhase{"a": wfv1.NodeFailed, "b": wfv1.NodeSucceeded})
	if !res.Succeeded() {
		t.Errorf("run %s, want Succeeded: a continues on failure", res.Status)
	}
}

func TestOutputParameters(t *testing.T) {
	e := newEnv(t)
	produce := sh("produce", `printf 'sha256:abc\n' > /tmp/cairn/outputs/digest; printf 'x\n\n' > /tmp/cairn/outputs/two`)
	produce.Outputs.Parameters = []wfv1.Parameter{
		{Name: "digest", ValueFrom: &wfv1.ValueFrom{Path: "/tmp/cairn/outputs/digest"}},
		{Name: "two", ValueFrom: &wfv1.ValueFrom{Path: "/tmp/cairn/outputs/two"}},
		{Name: "none", ValueFrom: &wfv1.ValueFrom{Path: "/tmp/cairn/other/none", Default: wfv1.AnyStringPtr("fallback")}},
	}
	consume := sh("consume", `printf '%s|%s|%s|%s' "{{inputs.parameters.digest}}" "$(D)" "{{inputs.parameters.none}}" "{{inputs.parameters.const}}" > got`)
	consume.Container.Env = []corev1.EnvVar{{Name: "D", Value: "dataset={{inputs.parameters.digest}}"}}
	consume.Inputs.Parameters = []wfv1.Parameter{{Name: "digest"}, {Name: "none"}, {Name: "const", Default: wfv1.AnyStringPtr("default")}}
	c := task("consume", "produce")
	c.Arguments.Parameters = []wfv1.Parameter{
		{Name: "digest", Value: wfv1.AnyStringPtr("{{tasks.produce.outputs.parameters.digest}}")},
		{Name: "none", Value: wfv1.AnyStringPtr("{{tasks.produce.outputs.parameters.none}}")},
	}
	res := e.run(newWFT([]wfv1.DAGTask{task("produce", ""), c}, produce, consume))
	if !res.Succeeded() {
		t.Fatalf("run %s: %+v", res.Status, res.Tasks)
	}
	if got, want := e.read("got"), "sha256:abc|dataset=sha256:abc|fallback|default"; got != want {
		t.Errorf("consume got %q, want %q", got, want)
	}
	p := taskOf(t, res, "produce")
	if want := map[string]string{"digest": "sha256:abc", "two": "x\n", "none": "fallback"}; !mapsEqual(p.Outputs, want) {
		t.Errorf("produce outputs %q, want %q (one trailing newline trimmed)", p.Outputs, want)
	}
	local := filepath.Join(res.Dir, "tasks", "produce", "root", "tmp", "cairn", "outputs", "digest")
	if _, err := os.Stat(local); err != nil {
		t.Errorf("the output file is not in the task's root: %v", err)
	}
}

func mapsEqual(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

func TestMissingOutput(t *testing.T) {
	e := newEnv(t)
	tmpl := sh("s", "true")
	tmpl.Outputs.Parameters = []wfv1.Parameter{{Name: "digest", ValueFrom: &wfv1.ValueFrom{Path: "/tmp/cairn/outputs/digest"}}}
	res := e.run(newWFT([]wfv1.DAGTask{task("s", ""), task("next", "s")}, tmpl, sh("next", "true")))
	s := taskOf(t, res, "s")
	if s.Status != wfv1.NodeError || !strings.Contains(s.Message, "/tmp/cairn/outputs/digest") {
		t.Errorf("s: %s (%s), want Error naming the missing file", s.Status, s.Message)
	}
	wantStatus(t, res, map[string]wfv1.NodePhase{"next": wfv1.NodeOmitted})
}

// TestEscapes shows that a user's "{{" escaped by the compiler reaches the
// program verbatim through Argo's substitutions and Kubernetes' expansion.
func TestEscapes(t *testing.T) {
	e := newEnv(t)
	// The user wrote: printf %s '{{workflow.name}} $(HOME) ${{ x }}' > out
	tmpl := sh("s", `printf %s '$(CAIRN_LB){workflow.name}} $$(HOME) $$$(CAIRN_LB){ x }}' > out; printf %s "$USER_VAR" > var`)
	tmpl.Container.Env = []corev1.EnvVar{{Name: "CAIRN_LB", Value: "{"}, {Name: "USER_VAR", Value: "$(CAIRN_LB){inputs.parameters.x}}"}}
	tmpl.RetryStrategy = &wfv1.RetryStrategy{Limit: limit(1)}
	res := e.run(newWFT([]wfv1.DAGTask{task("s", "")}, tmpl))
	if !res.Succeeded() {
		t.Fatalf("run %s: %s", res.Status, taskOf(t, res, "s").Message)
	}
	if got, want := e.read("out"), "{{workflow.name}} $(HOME) ${{ x }}"; got != want {
		t.Errorf("the program got %q, want %q", got, want)
	}
	if got, want := e.read("var"), "{{inputs.parameters.x}}"; got != want {
		t.Errorf("the variable is %q, want %q", got, want)
	}
}

func TestUnresolvable(t *testing.T) {
	e := newEnv(t)
	res := e.run(newWFT([]wfv1.DAGTask{task("a", ""), task("b", "a")}, sh("a", "echo {{inputs.parameters.nope}}"), sh("b", "true")))
	a := taskOf(t, res, "a")
	if a.Status != wfv1.NodeError || !strings.Contains(a.Message, "task a") || !strings.Contains(a.Message, "{{inputs.parameters.nope}}") {
		t.Errorf("a: %s (%s), want Error naming the task and the expression", a.Status, a.Message)
	}
	wantStatus(t, res, map[string]wfv1.NodePhase{"b": wfv1.NodeOmitted})

	bad := task("b", "a")
	bad.Arguments.Parameters = []wfv1.Parameter{{Name: "x", Value: wfv1.AnyStringPtr("{{tasks.a.outputs.parameters.missing}}")}}
	b := sh("b", "echo {{inputs.parameters.x}}")
	b.Inputs.Parameters = []wfv1.Parameter{{Name: "x"}}
	res = e.run(newWFT([]wfv1.DAGTask{task("a", ""), bad}, sh("a", "true"), b))
	if tb := taskOf(t, res, "b"); tb.Status != wfv1.NodeError || !strings.Contains(tb.Message, "task b") || !strings.Contains(tb.Message, "{{tasks.a.outputs.parameters.missing}}") {
		t.Errorf("b: %s (%s), want Error naming the task and the expression", tb.Status, tb.Message)
	}
}

func TestWorkflowVariables(t *testing.T) {
	e := newEnv(t)
	e.opts.RunID = "20261127T051500Z-3f9a1c"
	e.opts.Now = func() time.Time { return time.Date(2026, 11, 27, 5, 15, 0, 0, time.UTC) }
	tmpl := sh("s", `printf '%s\n' "$(CAIRN_RUN_DIR)" "{{workflow.uid}}" "{{workflow.name}}" "{{workflow.creationTimestamp.RFC3339}}" "{{workflow.namespace}}" "{{workflow.parameters.size}}" "$CAIRN_LOCAL" "$HOME_FROM_HOST" > vars; touch "$(CAIRN_RUN_DIR)/features/s/out"`)
	tmpl.Container.Env = []corev1.EnvVar{{Name: "CAIRN_RUN_DIR", Value: "{{workflow.parameters.run-root}}/{{workflow.uid}}"}, {Name: "OUT", Value: "{{workflow.parameters.run-root}}/{{workflow.uid}}/features/s/out"}}
	wft := newWFT([]wfv1.DAGTask{task("s", "")}, tmpl)
	wft.Spec.Arguments.Parameters = append(wft.Spec.Arguments.Parameters, wfv1.Parameter{Name: "size", Value: wfv1.AnyStringPtr("small")})
	e.opts.Parameters["size"] = "large"
	e.opts.Env = append(e.opts.Env, "HOME_FROM_HOST=yes", "CAIRN_LOCAL=0")
	res := e.run(wft)
	if !res.Succeeded() {
		t.Fatalf("run %s: %s", res.Status, taskOf(t, res, "s").Message)
	}
	// HOME_FROM_HOST, of this environment but not the template's, does
	// not reach the step.
	want := strings.Join([]string{res.Dir, e.opts.RunID, "demo-3f9a1c", "2026-11-27T05:15:00Z", "team", "large", "1", ""}, "\n") + "\n"
	if got := e.read("vars"); got != want {
		t.Errorf("variables:\n%s\nwant:\n%s", got, want)
	}
	if res.Dir != filepath.Join(e.opts.RunRoot, e.opts.RunID) {
		t.Errorf("run folder %s, want %s", res.Dir, filepath.Join(e.opts.RunRoot, e.opts.RunID))
	}

	e.opts.RunID = ""
	e.opts.Parameters["sise"] = "x"
	if _, err := Run(context.Background(), wft, e.opts); err == nil || !strings.Contains(err.Error(), `"sise" is not declared`) {
		t.Errorf("an undeclared parameter: error %v", err)
	}
}

func TestSelf(t *testing.T) {
	e := newEnv(t)
	tmpl := sh("s", "")
	tmpl.Container.Command = []string{"cairn", "step", "validate-data"}
	tmpl.Container.Args = []string{"--outputs", "/tmp/cairn/outputs", "--run", "{{workflow.uid}}"}
	tmpl.Outputs.Parameters = []wfv1.Parameter{{Name: "digest", ValueFrom: &wfv1.ValueFrom{Path: "/tmp/cairn/outputs/digest"}}}
	writeScript(t, e.opts.Self, `printf '%s\n' "$@" > cairn.args; echo sha256:1 > "$4/digest"`)
	res := e.run(newWFT([]wfv1.DAGTask{task("s", "")}, tmpl))
	if !res.Succeeded() {
		t.Fatalf("run %s: %s", res.Status, taskOf(t, res, "s").Message)
	}
	local := filepath.Join(res.Dir, "tasks", "s", "root", "tmp", "cairn", "outputs")
	if got, want := e.read("cairn.args"), strings.Join([]string{"step", "validate-data", "--outputs", local, "--run", res.ID}, "\n")+"\n"; got != want {
		t.Errorf("cairn ran with\n%s\nwant\n%s", got, want)
	}
	if got := taskOf(t, res, "s").Outputs["digest"]; got != "sha256:1" {
		t.Errorf("digest %q", got)
	}
}

func TestSecrets(t *testing.T) {
	e := newEnv(t)
	keys := filepath.Join(e.dir, "keys")
	os.MkdirAll(keys, 0o755)
	os.WriteFile(filepath.Join(keys, "cosign.key"), []byte("KEY"), 0o600)
	os.WriteFile(filepath.Join(keys, "cosign.password"), []byte("pw\n"), 0o600)
	tmpl := sh("pack", `cat /var/run/cairn/signing/cosign.key > key; printf %s "$COSIGN_PASSWORD" > pw; printf %s "${OTHER-unset}" > other; echo "$(KEYFILE)" > keyfile`)
	tmpl.Container.VolumeMounts = []corev1.VolumeMount{{Name: "signing-key", MountPath: "/var/run/cairn/signing", ReadOnly: true}}
	tmpl.Container.Env = []corev1.EnvVar{
		{Name: "COSIGN_PASSWORD", ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: "cairn-signing-key"}, Key: "cosign.password"}}},
		{Name: "OTHER", ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: "cairn-signing-key"}, Key: "nope"}}},
		{Name: "KEYFILE", Value: "/var/run/cairn/signing/cosign.key"},
	}
	wft := newWFT([]wfv1.DAGTask{task("pack", "")}, tmpl)
	wft.Spec.Volumes = []corev1.Volume{{Name: "signing-key", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: "cairn-signing-key"}}}}

	// Unmapped: refused before anything runs.
	_, err := Run(context.Background(), wft, e.opts)
	if err == nil || !strings.Contains(err.Error(), "step pack mounts secret cairn-signing-key") || !strings.Contains(err.Error(), "--secret cairn-signing-key=DIR") {
		t.Errorf("unmapped secret: error %v", err)
	}
	if _, err := os.Stat(e.opts.RunRoot); err == nil {
		t.Errorf("a refused run left %s", e.opts.RunRoot)
	}

	e.opts.Secrets = map[string]string{"cairn-signing-key": keys}
	res := e.run(wft)
	if !res.Succeeded() {
		t.Fatalf("run %s: %s", res.Status, taskOf(t, res, "pack").Message)
	}
	if e.read("key") != "KEY" || e.read("pw") != "pw\n" || e.read("other") != "unset" || e.read("keyfile") != filepath.Join(keys, "cosign.key")+"\n" {
		t.Errorf("key %q, password %q, other %q, keyfile %q", e.read("key"), e.read("pw"), e.read("other"), e.read("keyfile"))
	}
	if log := logOf(t, taskOf(t, res, "pack")); !strings.Contains(log, "OTHER: left unset") {
		t.Errorf("the log does not say OTHER was left unset:\n%s", log)
	}

	// The environment wins over the folder.
	e.opts.Env = append(os.Environ(), "COSIGN_PASSWORD=from-env")
	e.run(wft)
	if got := e.read("pw"); got != "from-env" {
		t.Errorf("password %q, want the environment's", got)
	}
}

// TestResume runs a pipeline that fails at c, then resumes it from c once
// the cause is fixed: a and b keep their results and outputs, c and d run.
func TestResume(t *testing.T) {
	e := newEnv(t)
	count := func(name, rest string) wfv1.Template {
		return sh(name, fmt.Sprintf(`echo x >> runs.%s; %s`, name, rest))
	}
	a := count("a", `echo from-a > /tmp/cairn/outputs/v`)
	a.Outputs.Parameters = []wfv1.Parameter{{Name: "v", ValueFrom: &wfv1.ValueFrom{Path: "/tmp/cairn/outputs/v"}}}
	c := count("c", `test -e marker && echo "{{inputs.parameters.v}}" > c.got`)
	c.Inputs.Parameters = []wfv1.Parameter{{Name: "v"}}
	ct := task("c", "a && b")
	ct.Arguments.Parameters = []wfv1.Parameter{{Name: "v", Value: wfv1.AnyStringPtr("{{tasks.a.outputs.parameters.v}}")}}
	wft := newWFT([]wfv1.DAGTask{task("a", ""), task("b", ""), ct, task("d", "c")}, a, count("b", ""), c, count("d", ""))

	first := e.run(wft)
	wantStatus(t, first, map[string]wfv1.NodePhase{"a": wfv1.NodeSucceeded, "b": wfv1.NodeSucceeded, "c": wfv1.NodeFailed, "d": wfv1.NodeOmitted})

	e.write("marker", "")
	e.opts.From = "c"
	second := e.run(wft)
	if second.ID != first.ID || second.Dir != first.Dir {
		t.Errorf("resumed run %s, want the latest run %s", second.ID, first.ID)
	}
	if !second.Succeeded() {
		t.Fatalf("resumed run %s: %+v", second.Status, second.Tasks)
	}
	for name, want := range map[string]int{"a": 1, "b": 1, "c": 2, "d": 1} {
		if got := strings.Count(e.read("runs."+name), "x"); got != want {
			t.Errorf("%s ran %d times, want %d", name, got, want)
		}
	}
	if got := e.read("c.got"); got != "from-a\n" {
		t.Errorf("c got %q from a's kept output", got)
	}
	if !taskOf(t, second, "a").Kept || taskOf(t, second, "c").Kept {
		t.Errorf("kept: a %v, c %v; want a kept, c not", taskOf(t, second, "a").Kept, taskOf(t, second, "c").Kept)
	}
	st, err := readState(second.Dir)
	if err != nil {
		t.Fatal(err)
	}
	if st.Status != wfv1.NodeSucceeded || st.From != "c" || st.Tasks["a"].Outputs["v"] != "from-a" || len(st.Tasks["c"].Attempts) != 1 {
		t.Errorf("run.json: status %s, from %q, a's outputs %v, c's attempts %d", st.Status, st.From, st.Tasks["a"].Outputs, len(st.Tasks["c"].Attempts))
	}
	if log := logOf(t, taskOf(t, second, "c")); strings.Count(log, "==> c: attempt 1 of 1,") != 2 {
		t.Errorf("c's log does not hold both executions:\n%s", log)
	}

	// Resuming from a runs everything again but b.
	e.opts.From = "a"
	third := e.run(wft)
	if !third.Succeeded() || !taskOf(t, third, "b").Kept || taskOf(t, third, "d").Kept {
		t.Errorf("from a: %s, b kept %v, d kept %v", third.Status, taskOf(t, third, "b").Kept, taskOf(t, third, "d").Kept)
	}

	// A changed template is refused, unless forced.
	wft.Spec.Templates[2].Container.Image = "registry.example.com/step:2"
	_, err = Run(context.Background(), wft, e.opts)
	if err == nil || !strings.Contains(err.Error(), "changed since run "+first.ID) || !strings.Contains(err.Error(), "--force") {
		t.Errorf("changed template: error %v", err)
	}
	e.opts.Force = true
	if res := e.run(wft); !res.Succeeded() {
		t.Errorf("forced: %s", res.Status)
	}

	e.opts.From = "nope"
	if _, err := Run(context.Background(), wft, e.opts); err == nil || !strings.Contains(err.Error(), "no such task") {
		t.Errorf("--from nope: error %v", err)
	}
	e.opts.From, e.opts.RunID = "c", "20990101T000000Z-000000"
	if _, err := Run(context.Background(), wft, e.opts); err == nil || !strings.Contains(err.Error(), "no such run") {
		t.Errorf("--run of a missing run: error %v", err)
	}
	other := newEnv(t)
	other.opts.From = "c"
	if _, err := Run(context.Background(), wft, other.opts); err == nil || !strings.Contains(err.Error(), "no run of pipeline team/demo") {
		t.Errorf("resume without runs: error %v", err)
	}
}

func TestRunState(t *testing.T) {
	e := newEnv(t)
	var progress bytes.Buffer
	e.opts.Progress = &progress
	tmpl := sh("a", `echo hello; echo oops >&2; printf v > /tmp/cairn/outputs/p`)
	tmpl.Outputs.Parameters = []wfv1.Parameter{{Name: "p", ValueFrom: &wfv1.ValueFrom{Path: "/tmp/cairn/outputs/p"}}}
	res := e.run(newWFT([]wfv1.DAGTask{task("a", ""), task("b", "a")}, tmpl, sh("b", "exit 2")))
	data, err := os.ReadFile(filepath.Join(res.Dir, "run.json"))
	if err != nil {
		t.Fatal(err)
	}
	var st map[string]any
	if err := json.Unmarshal(data, &st); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"id", "pipeline", "templateDigest", "tasks", "parameters", "status"} {
		if _, ok := st[k]; !ok {
			t.Errorf("run.json has no %q:\n%s", k, data)
		}
	}
	rs, _ := readState(res.Dir)
	a, b := rs.Tasks["a"], rs.Tasks["b"]
	if a.Status != wfv1.NodeSucceeded || a.Outputs["p"] != "v" || *a.ExitCode != 0 || len(a.Attempts) != 1 || a.Image != "registry.example.com/step:1" {
		t.Errorf("a in run.json: %+v", a)
	}
	if b.Status != wfv1.NodeFailed || *b.ExitCode != 2 || rs.Status != wfv1.NodeFailed {
		t.Errorf("b in run.json: %+v, run %s", b, rs.Status)
	}
	if log := logOf(t, taskOf(t, res, "a")); !strings.Contains(log, "hello\noops\n") {
		t.Errorf("a's log lacks its output:\n%s", log)
	}
	for _, want := range []string{"a: started (image registry.example.com/step:1, not pulled)", "a: succeeded in", "b: failed in", "exit code 2"} {
		if !strings.Contains(progress.String(), want) {
			t.Errorf("progress lacks %q:\n%s", want, progress.String())
		}
	}
	var sum bytes.Buffer
	WriteSummary(&sum, res)
	for _, want := range []string{"TASK", "a     Succeeded", "b     Failed", "b: exit code 2"} {
		if !strings.Contains(sum.String(), want) {
			t.Errorf("summary lacks %q:\n%s", want, sum.String())
		}
	}
}

func TestInterrupt(t *testing.T) {
	e := newEnv(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		for i := 0; i < 500; i++ {
			if _, err := os.Stat(filepath.Join(e.dir, "up")); err == nil {
				break
			}
			time.Sleep(10 * time.Millisecond)
		}
		cancel()
	}()
	res, err := Run(ctx, newWFT([]wfv1.DAGTask{task("a", ""), task("b", "a")}, sh("a", "touch up; sleep 60"), sh("b", "true")), e.opts)
	if err != nil {
		t.Fatal(err)
	}
	if res.Succeeded() || res.Message != "interrupted" {
		t.Errorf("run %s (%s), want Failed, interrupted", res.Status, res.Message)
	}
	wantStatus(t, res, map[string]wfv1.NodePhase{"a": wfv1.NodeFailed, "b": wfv1.NodeOmitted})
}

func TestUnsupported(t *testing.T) {
	e := newEnv(t)
	withItems := task("a", "")
	withItems.WithItems = []wfv1.Item{{}}
	for _, tt := range []struct {
		wft  *wfv1.WorkflowTemplate
		want string
	}{
		{newWFT([]wfv1.DAGTask{withItems}, sh("a", "true")), "task a uses withItems"},
		{newWFT([]wfv1.DAGTask{task("a", "b")}, sh("a", "true")), `names "b", which is not a task`},
		{newWFT([]wfv1.DAGTask{task("a", "b"), task("b", "a")}, sh("a", "true"), sh("b", "true")), "cycle"},
		{newWFT([]wfv1.DAGTask{task("a", "")}, wfv1.Template{Name: "a", Suspend: &wfv1.SuspendTemplate{}}), "only container and MPIJob"},
		{newWFT([]wfv1.DAGTask{task("a", "b.Done")}, sh("a", "true"), sh("b", "true")), "b.Done is not a task result"},
	} {
		if _, err := Run(context.Background(), tt.wft, e.opts); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("error %v, want one saying %q", err, tt.want)
		}
	}
}

func TestRewritePaths(t *testing.T) {
	rws := []rewrite{{"/tmp/cairn/outputs", "/run/root/tmp/cairn/outputs"}, {"/var/run/s", "/keys"}}
	for in, want := range map[string]string{
		"/tmp/cairn/outputs":                            "/run/root/tmp/cairn/outputs",
		"/tmp/cairn/outputs/digest":                     "/run/root/tmp/cairn/outputs/digest",
		"--outputs=/tmp/cairn/outputs":                  "--outputs=/run/root/tmp/cairn/outputs",
		"echo > /tmp/cairn/outputs/x; cat /var/run/s/k": "echo > /run/root/tmp/cairn/outputs/x; cat /keys/k",
		"/tmp/cairn/outputs2":                           "/tmp/cairn/outputs2",
		"/x/tmp/cairn/outputs":                          "/x/tmp/cairn/outputs",
		"a/tmp/cairn/outputs":                           "a/tmp/cairn/outputs",
	} {
		if got := rewritePaths(in, rws); got != want {
			t.Errorf("rewritePaths(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestParseYAML(t *testing.T) {
	// A template as the compiler writes it, read back as YAML.
	data := []byte(`
apiVersion: argoproj.io/v1alpha1
kind: WorkflowTemplate
metadata: {name: p, namespace: n}
spec:
  entrypoint: main
  arguments: {parameters: [{name: run-root, value: "s3://x"}]}
  templates:
  - name: main
    dag:
      tasks:
      - {name: a, template: a}
  - name: a
    container:
      image: x
      command: [sh, -c, "echo ok > out"]
`)
	var wft wfv1.WorkflowTemplate
	if err := yaml.Unmarshal(data, &wft); err != nil {
		t.Fatal(err)
	}
	e := newEnv(t)
	if res := e.run(&wft); !res.Succeeded() || e.read("out") != "ok\n" {
		t.Errorf("run %s", res.Status)
	}
}

func TestWorkflowDeadline(t *testing.T) {
	e := newEnv(t)
	wft := newWFT([]wfv1.DAGTask{task("a", ""), task("b", "a")}, sh("a", "sleep 60"), sh("b", "true"))
	one := int64(1)
	wft.Spec.ActiveDeadlineSeconds = &one
	res := e.run(wft)
	if res.Succeeded() || !strings.Contains(res.Message, "activeDeadlineSeconds 1") {
		t.Errorf("run %s (%s), want Failed past the workflow's deadline", res.Status, res.Message)
	}
	if a := taskOf(t, res, "a"); a.Status != wfv1.NodeFailed || !strings.Contains(a.Message, "activeDeadlineSeconds 1") {
		t.Errorf("a: %s (%s)", a.Status, a.Message)
	}
}

func TestLiveProgress(t *testing.T) {
	var buf bytes.Buffer
	p := newReporter(&buf, true)
	p.event(event{task: "train", kind: evStarted, attempt: 1, max: 1})
	if !strings.HasSuffix(buf.String(), "  running train  0.0s\n") {
		t.Errorf("after a start, the live block is not drawn: %q", buf.String())
	}
	p.event(event{task: "train", kind: evFinished, phase: wfv1.NodeSucceeded, attempt: 1, duration: time.Second})
	p.close()
	out := buf.String()
	if !strings.Contains(out, "\x1b[1A\x1b[J[") || !strings.Contains(out, "] train: succeeded in 1s\n") || strings.HasSuffix(out, "running train") {
		t.Errorf("the live block is not cleared before the next line: %q", out)
	}
	if newReporter(nil, true) != nil {
		t.Error("a reporter without a writer is not nil")
	}
}

func TestLock(t *testing.T) {
	dir := t.TempDir()
	release, err := lockRun(dir)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := lockRun(dir); err == nil || !strings.Contains(err.Error(), "in use by another cairn run") {
		t.Errorf("a second lock: %v", err)
	}
	release()
	again, err := lockRun(dir)
	if err != nil {
		t.Errorf("after release: %v", err)
	} else {
		again()
	}
}

func TestMissingProgram(t *testing.T) {
	e := newEnv(t)
	tmpl := sh("train", "")
	tmpl.Container.Command = []string{"no-such-program-here", "x"}
	_, err := Run(context.Background(), newWFT([]wfv1.DAGTask{task("train", "")}, tmpl), e.opts)
	if err == nil || !strings.Contains(err.Error(), "step train runs no-such-program-here, which is not on PATH here") {
		t.Errorf("a missing program: error %v", err)
	}
	// A program named by a path may come from an earlier step: it fails
	// when it runs.
	tmpl.Container.Command = []string{"./made-by-a-step"}
	res := e.run(newWFT([]wfv1.DAGTask{task("train", "")}, tmpl))
	if tr := taskOf(t, res, "train"); tr.Status != wfv1.NodeFailed || !strings.Contains(tr.Message, "made-by-a-step") {
		t.Errorf("train: %s (%s)", tr.Status, tr.Message)
	}
}
