package executor

import (
	"fmt"
	"maps"
	"regexp"
	"slices"
	"sort"
	"strings"

	wfv1 "github.com/argoproj/argo-workflows/v3/pkg/apis/workflow/v1alpha1"
	"github.com/argoproj/argo-workflows/v3/util/expr/argoexpr"
)

// The dependency logic below follows Argo's controller
// (workflow/common/ancestry.go and workflow/controller/dag.go, v3.7):
// "depends" names tasks, bare or with a result (a.Succeeded); a bare name
// means (a.Succeeded || a.Skipped || a.Daemoned), plus a.Errored and
// a.Failed when that task continues on them; "dependencies: [a, b]" is the
// bare names joined with &&. The expression is evaluated with expr over
// each dependency's results, "-" in names read as "_".

var (
	taskNameRegex = regexp.MustCompile(`([a-zA-Z0-9][-a-zA-Z0-9]*?\.[A-Z][a-zA-Z]+)|([a-zA-Z0-9][-a-zA-Z0-9]*)`)
	// taskResults are the results a depends expression may name.
	taskResults = []string{"Succeeded", "Failed", "Errored", "Skipped", "Omitted", "Daemoned", "AnySucceeded", "AllFailed"}
)

// taskResultsEnv is what a depends expression sees of one dependency
// (Argo's TaskResults).
type taskResultsEnv struct {
	Succeeded    bool `json:"Succeeded"`
	Failed       bool `json:"Failed"`
	Errored      bool `json:"Errored"`
	Skipped      bool `json:"Skipped"`
	Omitted      bool `json:"Omitted"`
	Daemoned     bool `json:"Daemoned"`
	AnySucceeded bool `json:"AnySucceeded"`
	AllFailed    bool `json:"AllFailed"`
}

// graph is a DAG template's tasks with their resolved dependencies.
type graph struct {
	tasks  []*wfv1.DAGTask // in template order
	byName map[string]*wfv1.DAGTask
	deps   map[string][]string // sorted
	logic  map[string]string   // resolved depends expression, "" without dependencies
	// dependents lists, for each task, the tasks that depend on it.
	dependents map[string][]string
}

// newGraph resolves the dependencies of a DAG's tasks and checks that they
// name tasks and form no cycle.
func newGraph(dag *wfv1.DAGTemplate) (*graph, error) {
	g := &graph{
		byName:     map[string]*wfv1.DAGTask{},
		deps:       map[string][]string{},
		logic:      map[string]string{},
		dependents: map[string][]string{},
	}
	for i := range dag.Tasks {
		t := &dag.Tasks[i]
		if _, dup := g.byName[t.Name]; dup {
			return nil, fmt.Errorf("task %q is declared twice", t.Name)
		}
		g.tasks = append(g.tasks, t)
		g.byName[t.Name] = t
	}
	for _, t := range g.tasks {
		if t.Depends != "" && len(t.Dependencies) > 0 {
			return nil, fmt.Errorf("task %q: use depends or dependencies, not both", t.Name)
		}
		deps, logic, err := g.resolve(t)
		if err != nil {
			return nil, fmt.Errorf("task %q: %w", t.Name, err)
		}
		g.deps[t.Name], g.logic[t.Name] = deps, logic
		for _, d := range deps {
			g.dependents[d] = append(g.dependents[d], t.Name)
		}
	}
	if cycle := g.cycle(); cycle != nil {
		return nil, fmt.Errorf("tasks depend on each other in a cycle: %s", strings.Join(cycle, " -> "))
	}
	return g, nil
}

// resolve returns a task's dependencies and its depends expression with
// bare task names expanded, as Argo's GetTaskDependencies does.
func (g *graph) resolve(t *wfv1.DAGTask) ([]string, string, error) {
	depends := t.Depends
	if depends == "" {
		var parts []string
		for _, d := range t.Dependencies {
			dt, ok := g.byName[d]
			if !ok {
				return nil, "", fmt.Errorf("dependencies name %q, which is not a task of the DAG", d)
			}
			parts = append(parts, expandDependency(d, dt))
		}
		depends = strings.Join(parts, " && ")
	}
	type match struct {
		name       string
		start, end int
	}
	var bare []match
	set := map[string]bool{}
	for _, m := range taskNameRegex.FindAllStringSubmatchIndex(depends, -1) {
		if m[2] == -1 { // a bare task name
			name := depends[m[4]:m[5]]
			set[name] = true
			bare = append(bare, match{name, m[4], m[5]})
			continue
		}
		name, result, _ := strings.Cut(depends[m[2]:m[3]], ".")
		if !slices.Contains(taskResults, result) {
			return nil, "", fmt.Errorf("depends %q: %s.%s is not a task result (use one of %s)", t.Depends, name, result, strings.Join(taskResults, ", "))
		}
		set[name] = true
	}
	for name := range set {
		if _, ok := g.byName[name]; !ok {
			return nil, "", fmt.Errorf("depends %q names %q, which is not a task of the DAG", depends, name)
		}
		if name == t.Name {
			return nil, "", fmt.Errorf("depends %q names the task itself", depends)
		}
	}
	sort.Slice(bare, func(i, j int) bool { return bare[i].start > bare[j].start })
	for _, m := range bare {
		depends = depends[:m.start] + expandDependency(m.name, g.byName[m.name]) + depends[m.end:]
	}
	deps := make([]string, 0, len(set))
	for name := range set {
		deps = append(deps, name)
	}
	sort.Strings(deps)
	return deps, depends, nil
}

// expandDependency is what a bare task name means in depends.
func expandDependency(name string, t *wfv1.DAGTask) string {
	parts := []string{name + ".Succeeded", name + ".Skipped", name + ".Daemoned"}
	if t.ContinueOn != nil {
		if t.ContinueOn.Error {
			parts = append(parts, name+".Errored")
		}
		if t.ContinueOn.Failed {
			parts = append(parts, name+".Failed")
		}
	}
	return "(" + strings.Join(parts, " || ") + ")"
}

// cycle returns the tasks of a dependency cycle, or nil.
func (g *graph) cycle() []string {
	const (
		unvisited = iota
		visiting
		done
	)
	state := map[string]int{}
	var stack []string
	var visit func(string) []string
	visit = func(n string) []string {
		switch state[n] {
		case visiting:
			i := slices.Index(stack, n)
			return append(slices.Clone(stack[i:]), n)
		case done:
			return nil
		}
		state[n] = visiting
		stack = append(stack, n)
		for _, d := range g.deps[n] {
			if c := visit(d); c != nil {
				return c
			}
		}
		stack = stack[:len(stack)-1]
		state[n] = done
		return nil
	}
	for _, t := range g.tasks {
		if c := visit(t.Name); c != nil {
			return c
		}
	}
	return nil
}

// ancestors returns every task a task depends on, directly or not.
func (g *graph) ancestors(name string) []string {
	seen := map[string]bool{}
	var walk func(string)
	walk = func(n string) {
		for _, d := range g.deps[n] {
			if !seen[d] {
				seen[d] = true
				walk(d)
			}
		}
	}
	walk(name)
	return slices.Sorted(maps.Keys(seen))
}

// descendants returns a task and every task that depends on it, directly
// or not.
func (g *graph) descendants(name string) map[string]bool {
	seen := map[string]bool{name: true}
	queue := []string{name}
	for len(queue) > 0 {
		n := queue[0]
		queue = queue[1:]
		for _, d := range g.dependents[n] {
			if !seen[d] {
				seen[d] = true
				queue = append(queue, d)
			}
		}
	}
	return seen
}

// fulfilled reports whether a phase is final for scheduling: the task ran
// to an end, or will not run.
func fulfilled(p wfv1.NodePhase) bool {
	switch p {
	case wfv1.NodeSucceeded, wfv1.NodeFailed, wfv1.NodeError, wfv1.NodeSkipped, wfv1.NodeOmitted:
		return true
	}
	return false
}

// evalDepends says whether a task whose dependencies are all fulfilled
// runs: ready is false while one is not fulfilled.
func (g *graph) evalDepends(name string, phase func(string) wfv1.NodePhase) (ready, run bool, err error) {
	logic := g.logic[name]
	env := map[string]taskResultsEnv{}
	for _, d := range g.deps[name] {
		p := phase(d)
		if !fulfilled(p) {
			return false, false, nil
		}
		env[strings.ReplaceAll(d, "-", "_")] = taskResultsEnv{
			Succeeded: p == wfv1.NodeSucceeded,
			Failed:    p == wfv1.NodeFailed,
			Errored:   p == wfv1.NodeError,
			Skipped:   p == wfv1.NodeSkipped,
			Omitted:   p == wfv1.NodeOmitted,
		}
	}
	if logic == "" {
		return true, true, nil
	}
	expr := strings.ReplaceAll(logic, "-", "_")
	ok, err := argoexpr.EvalBool(expr, env)
	if err != nil {
		return true, false, fmt.Errorf("evaluating depends %q: %w", logic, err)
	}
	return true, ok, nil
}

// runPhase is the phase of a finished DAG as Argo assesses it: each target
// task (every task no other task depends on) takes the
// phase of its branch (its own when it ran; a skipped or omitted task
// inherits its dependencies' phases, a failure winning), and the DAG fails
// when a target's branch failed or errored and the target does not
// continue on that.
func (g *graph) runPhase(phase func(string) wfv1.NodePhase) wfv1.NodePhase {
	branch := map[string]map[wfv1.NodePhase]bool{}
	var phases func(string) map[wfv1.NodePhase]bool
	phases = func(n string) map[wfv1.NodePhase]bool {
		if b, ok := branch[n]; ok {
			return b
		}
		b := map[wfv1.NodePhase]bool{}
		switch p := phase(n); p {
		case wfv1.NodeSucceeded, wfv1.NodeFailed, wfv1.NodeError:
			b[p] = true
		case wfv1.NodeSkipped, wfv1.NodeOmitted:
			if len(g.deps[n]) == 0 {
				b[wfv1.NodeSucceeded] = true
			}
			for _, d := range g.deps[n] {
				for q := range phases(d) {
					b[q] = true
				}
			}
		default:
			b[p] = true // not run: pending
		}
		branch[n] = b
		return b
	}
	var targets []string
	for _, t := range g.tasks {
		if len(g.dependents[t.Name]) == 0 {
			targets = append(targets, t.Name)
		}
	}
	result := wfv1.NodeSucceeded
	for _, name := range targets {
		t := g.byName[name]
		for p := range phases(name) {
			switch {
			case p == wfv1.NodeFailed || p == wfv1.NodeError:
				if t.ContinuesOn(p) {
					continue
				}
				if result != wfv1.NodeFailed {
					result = p
				}
			case p != wfv1.NodeSucceeded && result == wfv1.NodeSucceeded:
				result = wfv1.NodeFailed // a task that never ran
			}
		}
	}
	// Tasks left pending (an interrupted run) fail it wherever they are.
	for _, t := range g.tasks {
		if !fulfilled(phase(t.Name)) {
			return wfv1.NodeFailed
		}
	}
	return result
}
