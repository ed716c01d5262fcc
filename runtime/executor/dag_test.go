package executor

import (
	"maps"
	"slices"
	"testing"

	wfv1 "github.com/argoproj/argo-workflows/v3/pkg/apis/workflow/v1alpha1"
)

// TestResolveDepends checks the expansion of depends and dependencies
// against what Argo's GetTaskDependencies gives.
func TestResolveDepends(t *testing.T) {
	dag := &wfv1.DAGTemplate{Tasks: []wfv1.DAGTask{
		{Name: "a"},
		{Name: "b-1", ContinueOn: &wfv1.ContinueOn{Failed: true}},
		{Name: "c", Depends: "a && b-1.Failed"},
		{Name: "d", Dependencies: []string{"a", "b-1"}},
		{Name: "e", Depends: "!c || (d.Succeeded && a.AnySucceeded)"},
	}}
	g, err := newGraph(dag)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		task, logic string
		deps        []string
	}{
		{"a", "", []string{}},
		{"c", "(a.Succeeded || a.Skipped || a.Daemoned) && b-1.Failed", []string{"a", "b-1"}},
		{"d", "(a.Succeeded || a.Skipped || a.Daemoned) && (b-1.Succeeded || b-1.Skipped || b-1.Daemoned || b-1.Failed)", []string{"a", "b-1"}},
		{"e", "!(c.Succeeded || c.Skipped || c.Daemoned) || (d.Succeeded && a.AnySucceeded)", []string{"a", "c", "d"}},
	}
	for _, tt := range tests {
		if got := g.logic[tt.task]; got != tt.logic {
			t.Errorf("depends of %s = %q, want %q", tt.task, got, tt.logic)
		}
		if got := g.deps[tt.task]; !slices.Equal(got, tt.deps) {
			t.Errorf("dependencies of %s = %q, want %q", tt.task, got, tt.deps)
		}
	}
	if got := g.ancestors("e"); !slices.Equal(got, []string{"a", "b-1", "c", "d"}) {
		t.Errorf("ancestors of e = %q", got)
	}
	if got := slices.Sorted(maps.Keys(g.descendants("b-1"))); !slices.Equal(got, []string{"b-1", "c", "d", "e"}) {
		t.Errorf("descendants of b-1 = %q", got)
	}

	phases := map[string]wfv1.NodePhase{"a": wfv1.NodeSucceeded, "b-1": wfv1.NodeFailed, "c": wfv1.NodePending}
	phase := func(n string) wfv1.NodePhase { return phases[n] }
	if ready, run, err := g.evalDepends("c", phase); !ready || !run || err != nil {
		t.Errorf("c with a succeeded and b-1 failed: ready %v, run %v, %v", ready, run, err)
	}
	if ready, _, _ := g.evalDepends("e", phase); ready {
		t.Error("e is ready while c is pending")
	}
}
