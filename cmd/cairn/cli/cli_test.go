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
	t.Setenv("CAIRN_CACHE_DIR", "off")
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
	// The condition is lowered from the MPI training compute: the problem
	// is placed where bert.cue writes train.compute.
	want := res.Locate("nlp-research", "bert-pretrain", "train", "compute")
	if d.Pos.File != "bert.cue" || d.Pos.Line == 0 || d.Pos != want {
		t.Errorf("problem at %v, want %v, where bert.cue writes train.compute", d.Pos, want)
	}
	if pl := res.Locate("nlp-research", "bert-pretrain"); d.Pos == pl {
		t.Errorf("problem at the pipeline (%v), want the training compute", pl)
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

// TestVetRunsOutputChecks runs `cairn vet` end to end on an example whose
// compiled output is broken after the compile: vet must fail with the
// output problem, and pass without the breakage.
func TestVetRunsOutputChecks(t *testing.T) {
	t.Setenv("CAIRN_CACHE_DIR", "off")
	dir := "../../../examples/bert-pretrain"
	var stdout, stderr bytes.Buffer
	if code := Run([]string{"vet", dir, "--no-git"}, &stdout, &stderr); code != ExitOK {
		t.Fatalf("cairn vet %s = exit %d, want 0; stderr:\n%s", dir, code, &stderr)
	}
	testHookCompiled = func(res *compiler.Result) {
		for name, data := range res.Files {
			res.Files[name] = bytes.Replace(data, []byte("status.replicaStatuses.Launcher.failed > 0"), []byte("status.replicaStatuses.Launcher.failed > 0,status.x == y"), 1)
		}
	}
	defer func() { testHookCompiled = nil }()
	stdout.Reset()
	stderr.Reset()
	if code := Run([]string{"vet", dir, "--no-git"}, &stdout, &stderr); code != ExitFailure {
		t.Fatalf("cairn vet with a comma in a failure condition = exit %d, want 1; stdout:\n%s", code, &stdout)
	}
	if !strings.Contains(stderr.String(), "failureCondition") || !strings.Contains(stderr.String(), "[condition]") {
		t.Errorf("cairn vet stderr = %q, want the failure condition problem", &stderr)
	}
}
