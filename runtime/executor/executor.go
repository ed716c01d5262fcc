package executor

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	wfv1 "github.com/argoproj/argo-workflows/v3/pkg/apis/workflow/v1alpha1"
)

// Options says how to run a template.
type Options struct {
	// Dir is the working folder of every step: the spec package's folder.
	// Default: the current folder.
	Dir string
	// RunRoot is the folder holding the run folders, <RunRoot>/<run id>.
	RunRoot string
	// RunID names a new run (default: a new id that sorts by time) or,
	// with From, the run to resume (default: the latest run of the
	// template's pipeline under RunRoot).
	RunID string
	// Parameters override workflow parameters by name; each must be
	// declared by the template.
	Parameters map[string]string
	// Parallel bounds the tasks running at once; default the number of
	// CPUs. The template's own parallelism bounds it further.
	Parallel int
	// Secrets maps Kubernetes secret names to local folders, one file per
	// key: mounted secret volumes are those folders, and secretKeyRef
	// variables not set in Env are read from them.
	Secrets map[string]string
	// Self is the executable a step's command "cairn" runs; default
	// os.Executable().
	Self string
	// Ranks, when positive, is how many MPI ranks an MPI step runs here,
	// whatever its MPIJob asks for.
	Ranks int
	// From resumes a run from this task: the task and the tasks that
	// depend on it, directly or not, run again, as does every task that
	// did not succeed; the others keep their recorded results and outputs.
	From string
	// Force resumes a run even when the template changed since.
	Force bool
	// Progress receives a line per task event, nil for none; Live redraws
	// the running tasks under them (for a terminal).
	Progress io.Writer
	Live     bool
	// Env is this process's environment, default os.Environ(): where the
	// variables a template takes from secrets, config maps and fields are
	// looked up. A step gets only its template's variables, CAIRN_LOCAL=1,
	// ARGO_NODE_ID and the few of Env that a machine, not a template,
	// provides (PATH, HOME, the locale and the like: see hostEnv), never
	// a password or credential its template does not ask for.
	Env []string
	// LogLimit caps how much of each attempt's output its task's log
	// keeps, in bytes: the first quarter and the last three quarters, with
	// a line between saying how much was dropped. 0 means DefaultLogLimit,
	// a negative number no limit; at least MinLogLimit.
	LogLimit int64
	// Grace is how long a step has between SIGTERM and SIGKILL when its
	// deadline passes or the run is interrupted; default 30s, Kubernetes'
	// default terminationGracePeriodSeconds.
	Grace time.Duration
	// Now gives the run's creation time; default time.Now.
	Now func() time.Time
}

// Result is how a run ended.
type Result struct {
	// ID is the run id, also {{workflow.uid}}.
	ID string
	// Dir is the run folder.
	Dir       string
	Namespace string
	Pipeline  string
	// Status is Succeeded, or Failed when a task failed unhandled or the
	// run was interrupted.
	Status  wfv1.NodePhase
	Message string
	// Tasks in the template's order.
	Tasks    []TaskResult
	Duration time.Duration
}

// Succeeded reports whether the run succeeded.
func (r *Result) Succeeded() bool { return r.Status == wfv1.NodeSucceeded }

// TaskResult is how one task ended.
type TaskResult struct {
	Name string
	// Status is Argo's phase: Succeeded, Failed, Error, Skipped, Omitted,
	// or Pending for a task an interrupted run never started.
	Status wfv1.NodePhase
	// Kept marks a task whose result was kept from an earlier execution
	// of the run (From).
	Kept     bool
	Attempts int
	ExitCode *int
	Duration time.Duration
	// Log is the task's log file.
	Log     string
	Image   string
	Message string
	Outputs map[string]string
}

// runner is one execution of a template.
type runner struct {
	wft       *wfv1.WorkflowTemplate
	opts      Options
	entry     *wfv1.Template
	graph     *graph
	templates map[string]*wfv1.Template
	baseEnv   map[string]string
	digest    string
	dir       string // the run folder
	state     *runState
	globals   map[string]string
	rerun     map[string]bool // tasks this execution runs
	progress  *reporter
	stateErr  error
}

// Run runs a WorkflowTemplate's entrypoint DAG. A failed step is a Result
// with Status Failed; an error means the run could not start (or its
// state could not be written): an unsupported template, an unresolvable
// parameter, a secret or program this machine lacks, a run to resume that
// does not exist or whose template changed.
//
// On Linux, Run makes this process a child subreaper, so that it can end
// every process a step started, as a container's end does; when a step
// ends while no other runs, every process left under this one is killed,
// so a program calling Run should start no processes of its own meanwhile.
func Run(ctx context.Context, wft *wfv1.WorkflowTemplate, opts Options) (*Result, error) {
	opts, err := withDefaults(opts)
	if err != nil {
		return nil, err
	}
	r, err := newRunner(wft, opts)
	if err != nil {
		return nil, err
	}
	var release func()
	if opts.From != "" {
		release, err = r.resume()
	} else {
		release, err = r.create()
	}
	if err != nil {
		return nil, err
	}
	defer release()
	if ads := wft.Spec.ActiveDeadlineSeconds; ads != nil && *ads > 0 {
		d := time.Duration(*ads) * time.Second
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeoutCause(ctx, d, fmt.Errorf("the workflow's activeDeadlineSeconds %d passed", *ads))
		defer cancel()
	}
	becomeSubreaper()
	r.progress = newReporter(opts.Progress, opts.Live)
	begin := time.Now()
	r.schedule(ctx)
	r.progress.close()

	now := time.Now()
	r.state.Finished = &now
	r.state.Status = r.graph.runPhase(r.phase)
	if ctx.Err() != nil {
		r.state.Status, r.state.Message = wfv1.NodeFailed, stopReason(ctx)
	}
	r.save()
	return r.result(time.Since(begin)), r.stateErr
}

func withDefaults(opts Options) (Options, error) {
	if opts.RunRoot == "" {
		return opts, errors.New("no run root: say where run folders go")
	}
	var err error
	if opts.RunRoot, err = filepath.Abs(opts.RunRoot); err != nil {
		return opts, err
	}
	if opts.Dir == "" {
		opts.Dir = "."
	}
	if opts.Dir, err = filepath.Abs(opts.Dir); err != nil {
		return opts, err
	}
	if opts.Parallel <= 0 {
		opts.Parallel = runtime.NumCPU()
	}
	switch {
	case opts.Self == "":
		if opts.Self, err = os.Executable(); err != nil {
			return opts, fmt.Errorf("finding this executable for the steps running cairn: %w", err)
		}
	case !strings.ContainsRune(opts.Self, filepath.Separator):
		if opts.Self, err = exec.LookPath(opts.Self); err != nil {
			return opts, err
		}
	}
	if opts.Self, err = filepath.Abs(opts.Self); err != nil {
		return opts, err
	}
	if opts.Env == nil {
		opts.Env = os.Environ()
	}
	switch {
	case opts.LogLimit == 0:
		opts.LogLimit = DefaultLogLimit
	case opts.LogLimit > 0 && opts.LogLimit < MinLogLimit:
		return opts, fmt.Errorf("log limit %d bytes: want at least %s", opts.LogLimit, sizeString(MinLogLimit))
	}
	if opts.Grace <= 0 {
		opts.Grace = 30 * time.Second
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Ranks < 0 {
		return opts, fmt.Errorf("ranks %d: want a positive number", opts.Ranks)
	}
	secrets := map[string]string{}
	for name, dir := range opts.Secrets {
		abs, err := filepath.Abs(dir)
		if err != nil {
			return opts, err
		}
		if fi, err := os.Stat(abs); err != nil || !fi.IsDir() {
			return opts, fmt.Errorf("secret %s: %s is not a folder", name, dir)
		}
		secrets[name] = abs
	}
	opts.Secrets = secrets
	return opts, nil
}

func newRunner(wft *wfv1.WorkflowTemplate, opts Options) (*runner, error) {
	r := &runner{wft: wft, opts: opts, templates: map[string]*wfv1.Template{}, baseEnv: map[string]string{}}
	for _, kv := range opts.Env {
		if k, v, ok := strings.Cut(kv, "="); ok {
			r.baseEnv[k] = v
		}
	}
	for i := range wft.Spec.Templates {
		t := &wft.Spec.Templates[i]
		r.templates[t.Name] = t
	}
	name := wft.Namespace + "/" + wft.Name
	r.entry = r.templates[wft.Spec.Entrypoint]
	switch {
	case wft.Spec.Entrypoint == "":
		return nil, fmt.Errorf("%s: the template has no entrypoint", name)
	case r.entry == nil:
		return nil, fmt.Errorf("%s: entrypoint %q is not a template of it", name, wft.Spec.Entrypoint)
	case r.entry.DAG == nil:
		return nil, fmt.Errorf("%s: entrypoint %q is not a DAG; only DAG workflows run locally", name, wft.Spec.Entrypoint)
	case wft.Spec.OnExit != "" || len(wft.Spec.Hooks) > 0:
		return nil, fmt.Errorf("%s: exit handlers and hooks are not supported locally", name)
	case r.entry.DAG.Target != "":
		return nil, fmt.Errorf("%s: dag.target is not supported locally", name)
	}
	g, err := newGraph(r.entry.DAG)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	r.graph = g
	if r.digest, err = templateDigest(wft); err != nil {
		return nil, err
	}
	return r, nil
}

// create prepares a new run: its state, the checks, then its folder.
func (r *runner) create() (func(), error) {
	now := r.opts.Now()
	id := r.opts.RunID
	if id == "" {
		id = newRunID(now)
	}
	if err := checkRunID(id); err != nil {
		return nil, err
	}
	params, err := workflowParameters(r.wft, nil, r.opts.Parameters)
	if err != nil {
		return nil, err
	}
	r.dir = filepath.Join(r.opts.RunRoot, id)
	r.state = &runState{
		Version:        stateVersion,
		ID:             id,
		Namespace:      r.wft.Namespace,
		Pipeline:       r.wft.Name,
		WorkflowName:   workflowName(r.wft.Name, id),
		TemplateDigest: r.digest,
		Created:        now.UTC().Truncate(time.Second),
		Started:        time.Now(),
		Status:         wfv1.NodeRunning,
		Parameters:     params,
		Tasks:          map[string]*taskState{},
	}
	r.rerun = map[string]bool{}
	for _, t := range r.graph.tasks {
		r.state.Tasks[t.Name] = r.newTaskState(t.Name)
		r.rerun[t.Name] = true
	}
	r.globals = globals(r.wft, r.state)
	if err := r.preflight(); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(r.opts.RunRoot, 0o755); err != nil {
		return nil, err
	}
	if err := os.Mkdir(r.dir, 0o755); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return nil, fmt.Errorf("run %s exists already in %s: resume it with --from TASK, or choose another id", id, r.opts.RunRoot)
		}
		return nil, err
	}
	release, err := lockRun(r.dir)
	if err != nil {
		return nil, err
	}
	if err := r.makeDirs(); err != nil {
		release()
		return nil, err
	}
	r.save()
	if r.stateErr != nil {
		release()
		return nil, r.stateErr
	}
	return release, nil
}

// resume prepares an execution of an earlier run from a task.
func (r *runner) resume() (func(), error) {
	name := r.wft.Namespace + "/" + r.wft.Name
	if _, ok := r.graph.byName[r.opts.From]; !ok {
		var names []string
		for _, t := range r.graph.tasks {
			names = append(names, t.Name)
		}
		return nil, fmt.Errorf("--from %s: %s has no such task (its tasks: %s)", r.opts.From, name, strings.Join(names, ", "))
	}
	id := r.opts.RunID
	if id == "" {
		var err error
		if id, err = latestRun(r.opts.RunRoot, r.wft.Namespace, r.wft.Name); err != nil {
			return nil, err
		}
	}
	if err := checkRunID(id); err != nil {
		return nil, err
	}
	r.dir = filepath.Join(r.opts.RunRoot, id)
	if _, err := os.Stat(r.dir); err != nil {
		return nil, fmt.Errorf("run %s: no such run under %s", id, r.opts.RunRoot)
	}
	release, err := lockRun(r.dir)
	if err != nil {
		return nil, err
	}
	fail := func(err error) (func(), error) {
		release()
		return nil, err
	}
	st, err := readState(r.dir)
	if err != nil {
		return fail(err)
	}
	if st.Namespace != r.wft.Namespace || st.Pipeline != r.wft.Name {
		return fail(fmt.Errorf("run %s is a run of %s/%s, not of %s", id, st.Namespace, st.Pipeline, name))
	}
	if st.TemplateDigest != r.digest && !r.opts.Force {
		return fail(fmt.Errorf("the compiled template of %s changed since run %s (%s then, %s now): start a new run without --from, or pass --force to resume with the new template", name, id, st.TemplateDigest, r.digest))
	}
	params, err := workflowParameters(r.wft, st.Parameters, r.opts.Parameters)
	if err != nil {
		return fail(err)
	}
	again := r.graph.descendants(r.opts.From)
	r.rerun = map[string]bool{}
	tasks := map[string]*taskState{}
	for _, t := range r.graph.tasks {
		old := st.Tasks[t.Name]
		if old != nil && old.Status == wfv1.NodeSucceeded && !again[t.Name] {
			old.Kept = true
			tasks[t.Name] = old
			continue
		}
		tasks[t.Name] = r.newTaskState(t.Name)
		r.rerun[t.Name] = true
	}
	st.Tasks, st.Parameters, st.TemplateDigest = tasks, params, r.digest
	st.Started, st.Finished, st.From = time.Now(), nil, r.opts.From
	st.Status, st.Message = wfv1.NodeRunning, ""
	r.state = st
	r.globals = globals(r.wft, r.state)
	if err := r.preflight(); err != nil {
		return fail(err)
	}
	if err := r.makeDirs(); err != nil {
		return fail(err)
	}
	r.save()
	if r.stateErr != nil {
		return fail(r.stateErr)
	}
	return release, nil
}

func (r *runner) newTaskState(name string) *taskState {
	ts := &taskState{Status: wfv1.NodePending, Log: filepath.ToSlash(filepath.Join(logsDir, name+".log"))}
	switch tmpl := r.templates[r.graph.byName[name].Template]; {
	case tmpl == nil:
	case tmpl.Container != nil:
		ts.Image = tmpl.Container.Image
	case tmpl.Resource != nil:
		if m, err := parseMPIJob(name, tmpl); err == nil {
			ts.Image = m.launcher.c.Image
		}
	}
	return ts
}

func (r *runner) makeDirs() error {
	for _, d := range []string{logsDir, tasksDir} {
		if err := os.MkdirAll(filepath.Join(r.dir, d), 0o755); err != nil {
			return err
		}
	}
	return nil
}

// stopReason says why a run stopped early: interrupted, or the cause its
// context was cancelled with.
func stopReason(ctx context.Context) string {
	cause := context.Cause(ctx)
	if cause == nil || errors.Is(cause, context.Canceled) {
		return "interrupted"
	}
	return cause.Error()
}

// workflowName is {{workflow.name}}: the template's name and the run id's
// random part, as Argo names a workflow after its generateName.
func workflowName(name, id string) string {
	suffix := id
	if i := strings.LastIndexByte(id, '-'); i >= 0 && i+1 < len(id) {
		suffix = id[i+1:]
	}
	return name + "-" + strings.ToLower(suffix)
}

// save writes run.json; the first failure is kept for Run to return.
func (r *runner) save() {
	if err := writeState(r.dir, r.state); err != nil && r.stateErr == nil {
		r.stateErr = err
	}
}

// phase is a task's current phase.
func (r *runner) phase(name string) wfv1.NodePhase { return r.state.Tasks[name].Status }

// preflight checks, before anything runs, that every task this execution
// runs can run here, so that a missing secret or program is reported at
// once rather than after hours of training.
func (r *runner) preflight() error {
	var errs []error
	for _, t := range r.graph.tasks {
		if !r.rerun[t.Name] {
			continue
		}
		if err := r.checkTask(t); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// checkTask checks that a task uses only what runs locally.
func (r *runner) checkTask(t *wfv1.DAGTask) error {
	var unsupported []string
	if t.When != "" {
		unsupported = append(unsupported, "when")
	}
	if t.WithItems != nil || t.WithParam != "" || t.WithSequence != nil {
		unsupported = append(unsupported, "withItems, withParam and withSequence")
	}
	if t.TemplateRef != nil || t.Inline != nil {
		unsupported = append(unsupported, "templateRef and inline templates")
	}
	if len(t.Hooks) > 0 || t.OnExit != "" {
		unsupported = append(unsupported, "hooks and onExit")
	}
	if len(t.Arguments.Artifacts) > 0 {
		unsupported = append(unsupported, "artifacts")
	}
	if len(unsupported) > 0 {
		return fmt.Errorf("task %s uses %s, not supported locally", t.Name, strings.Join(unsupported, ", "))
	}
	tmpl := r.templates[t.Template]
	if tmpl == nil {
		return fmt.Errorf("task %s: template %q is not a template of the workflow", t.Name, t.Template)
	}
	if len(tmpl.Inputs.Artifacts) > 0 || len(tmpl.Outputs.Artifacts) > 0 {
		return fmt.Errorf("step %s passes artifacts, not supported locally", t.Name)
	}
	if len(tmpl.InitContainers) > 0 || len(tmpl.Sidecars) > 0 || tmpl.Daemon != nil && *tmpl.Daemon {
		return fmt.Errorf("step %s has init containers, sidecars or runs as a daemon, not supported locally", t.Name)
	}
	for _, in := range tmpl.Inputs.Parameters {
		if in.ValueFrom != nil && in.ValueFrom.Default == nil {
			return fmt.Errorf("step %s: input %s takes its value from a source, not supported locally", t.Name, in.Name)
		}
	}
	for _, p := range tmpl.Outputs.Parameters {
		if p.ValueFrom == nil || p.ValueFrom.Path == "" && p.ValueFrom.Default == nil {
			return fmt.Errorf("step %s: output parameter %s: only outputs read from a file (valueFrom.path) are supported locally", t.Name, p.Name)
		}
	}
	switch {
	case tmpl.Container != nil:
		return r.checkContainer(t.Name, container{c: tmpl.Container, volumes: r.volumesOf(tmpl)})
	case tmpl.Resource != nil:
		m, err := parseMPIJob(t.Name, tmpl)
		if err != nil {
			return err
		}
		if err := r.checkMPI(t.Name, m); err != nil {
			return err
		}
		return r.checkContainer(t.Name, m.launcher)
	default:
		return fmt.Errorf("step %s: template %s is a %s template; only container and MPIJob resource templates run locally", t.Name, tmpl.Name, tmpl.GetType())
	}
}

// result builds the Result from the state.
func (r *runner) result(d time.Duration) *Result {
	res := &Result{
		ID: r.state.ID, Dir: r.dir, Namespace: r.state.Namespace, Pipeline: r.state.Pipeline,
		Status: r.state.Status, Message: r.state.Message, Duration: d,
	}
	for _, t := range r.graph.tasks {
		ts := r.state.Tasks[t.Name]
		tr := TaskResult{
			Name: t.Name, Status: ts.Status, Kept: ts.Kept, Attempts: len(ts.Attempts),
			ExitCode: ts.ExitCode, Image: ts.Image, Message: ts.Message, Outputs: ts.Outputs,
		}
		if ts.Log != "" && len(ts.Attempts) > 0 {
			tr.Log = filepath.Join(r.dir, filepath.FromSlash(ts.Log))
		}
		if ts.Started != nil && ts.Finished != nil {
			tr.Duration = ts.Finished.Sub(*ts.Started)
		}
		res.Tasks = append(res.Tasks, tr)
	}
	return res
}
