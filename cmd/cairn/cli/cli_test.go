package cli

import (
	"bytes"
	"strings"
	"testing"

	"cairn.dev/cairn/compiler"
	"cairn.dev/cairn/compiler/diag"
)

// TestCheckOutputPlacesProblemsAtThePipeline tampers with compiled output
// and checks that vet's output checks report it at the pipeline's place in
// the specs, naming the object, the field and the check.
func TestCheckOutputPlacesProblemsAtThePipeline(t *testing.T) {
	res, err := compiler.Compile(compiler.Options{Dir: "../../../examples/bert-pretrain"})
	if err != nil {
		t.Fatal(err)
	}
	if probs := checkOutput(res); len(probs) != 0 {
		t.Fatalf("checkOutput(bert-pretrain) = %v, want no problems", probs)
	}
	const file = "nlp-research/bert-pretrain/workflowtemplate.yaml"
	orig := res.Files[file]
	bad := bytes.Replace(orig, []byte("status.replicaStatuses.Launcher.succeeded == 1"), []byte("status.replicaStatuses.Launcher.succeeded >= 1"), 1)
	if bytes.Equal(bad, orig) {
		t.Fatal("the success condition is not in the compiled template")
	}
	res.Files[file] = bad
	probs := checkOutput(res)
	if len(probs) == 0 {
		t.Fatal("checkOutput found nothing wrong with an unparsable success condition")
	}
	d := probs[0]
	if d.Pos.File != "bert.cue" || d.Pos.Line == 0 {
		t.Errorf("problem at %v, want the pipeline's place in bert.cue", d.Pos)
	}
	for _, want := range []string{"WorkflowTemplate nlp-research/bert-pretrain", file, "successCondition", "[condition]"} {
		if !strings.Contains(d.Msg, want) {
			t.Errorf("problem %q does not mention %q", d.Msg, want)
		}
	}
	if d.Path != `project.pipelines."bert-pretrain"` {
		t.Errorf("problem path = %q, want project.pipelines.\"bert-pretrain\"", d.Path)
	}
}

func TestGitHubLine(t *testing.T) {
	got := githubLine("error", diagAt("a,b.cue", 3, 4, "x.y", "bad: 100%\nnext"))
	want := "::error file=a%2Cb.cue,line=3,col=4,title=x.y::bad: 100%25%0Anext"
	if got != want {
		t.Errorf("githubLine = %q, want %q", got, want)
	}
}

func diagAt(file string, line, col int, path, msg string) diag.Diagnostic {
	return diag.Diagnostic{Pos: diag.Pos{File: file, Line: line, Col: col}, Path: path, Msg: msg}
}
