package diag_test

import (
	"errors"
	"reflect"
	"testing"

	"cairn.dev/cairn/compiler/diag"
)

func TestSeverity(t *testing.T) {
	var d diag.Diagnostic
	if d.Severity != diag.Error || d.Severity.String() != "error" || diag.Warning.String() != "warning" {
		t.Errorf("zero Severity = %v, Warning = %v; want error, warning", d.Severity, diag.Warning)
	}
}

func TestList(t *testing.T) {
	pos := func(line int) diag.Pos { return diag.Pos{File: "spec.cue", Line: line, Col: 3} }
	w1 := diag.Diagnostic{Pos: pos(9), Path: "project.platformImage", Msg: "not pinned", Severity: diag.Warning}
	e1 := diag.Diagnostic{Pos: pos(4), Path: "project.name", Msg: "bad name"}
	e2 := diag.Diagnostic{Pos: pos(12), Path: "project.pipelines.a", Msg: "too long"}

	warnings := diag.List{w1, w1}
	if err := warnings.Err(); err != nil {
		t.Errorf("Err of warnings alone = %v, want nil", err)
	}
	if warnings.HasErrors() {
		t.Error("HasErrors of warnings alone = true")
	}
	if got := warnings.Sorted(); len(got) != 1 {
		t.Errorf("Sorted kept duplicates: %v", got)
	}
	if got := (diag.List{}).Sorted(); got != nil {
		t.Errorf("Sorted of an empty list = %v, want nil", got)
	}

	all := diag.List{e2, w1, e1, w1}
	errs, warns := all.Split()
	if len(errs) != 2 || !reflect.DeepEqual(errs[0], e2) || !reflect.DeepEqual(errs[1], e1) || len(warns) != 2 || !reflect.DeepEqual(warns[0], w1) {
		t.Errorf("Split = %v / %v, want the errors and the warnings in order", errs, warns)
	}
	err := all.Err()
	var l diag.List
	if !errors.As(err, &l) || len(l) != 3 {
		t.Fatalf("Err = %#v, want a diag.List of 3", err)
	}
	const want = "spec.cue:4:3: project.name: bad name\n" +
		"warning: spec.cue:9:3: project.platformImage: not pinned\n" +
		"spec.cue:12:3: project.pipelines.a: too long"
	if got := err.Error(); got != want {
		t.Errorf("Err().Error() =\n%s\nwant\n%s", got, want)
	}
	if got := w1.Error(); got != "spec.cue:9:3: project.platformImage: not pinned" {
		t.Errorf("Diagnostic.Error of a warning = %q, want it without the severity", got)
	}

	// A warning and an error at the same place stay apart.
	w2 := e1
	w2.Severity = diag.Warning
	if got := (diag.List{w2, e1}).Sorted(); len(got) != 2 || !reflect.DeepEqual(got[0], e1) {
		t.Errorf("Sorted(warning, error at one place) = %v, want the error first, both kept", got)
	}
}

func TestClosest(t *testing.T) {
	fields := []string{"image", "command", "inputs", "hyperparameters", "compute", "critical", "env", "resources"}
	tests := []struct {
		name string
		want string
	}{
		{"imgae", "image"},    // a swap
		{"comand", "command"}, // a letter missing
		{"hyperparamters", "hyperparameters"},
		{"Inputs", "inputs"}, // case
		{"learningRate", ""}, // nothing near
		{"en", "env"},
		{"xyz", ""},
		{"image", ""}, // the name itself is no suggestion
	}
	for _, tt := range tests {
		if got := diag.Closest(tt.name, fields); got != tt.want {
			t.Errorf("Closest(%q) = %q, want %q", tt.name, got, tt.want)
		}
	}
}
