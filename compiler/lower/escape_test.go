package lower_test

import (
	"encoding/json"
	"math/rand"
	"strings"
	"testing"

	argotmpl "github.com/argoproj/argo-workflows/v3/util/template"

	"cairn.dev/cairn/compiler/lower"
	"cairn.dev/cairn/compiler/lower/lowertest"
)

// argoPasses runs Argo's own template substitution n times, as its
// controller does for globals and then for inputs.
func argoPasses(t *testing.T, s string, n int) string {
	t.Helper()
	vars := map[string]any{"workflow.name": "wf-x", "workflow.uid": "uid-1", "inputs.parameters.x": "X", "b": "B"}
	for range n {
		tmpl, err := argotmpl.NewTemplate(s)
		if err != nil {
			t.Fatalf("argo template %q: %v", s, err)
		}
		out, err := tmpl.Replace(vars, true)
		if err != nil {
			t.Fatalf("argo replace %q: %v", s, err)
		}
		s = out
	}
	return s
}

func TestEscaperKeepsUserStrings(t *testing.T) {
	vars := map[string]string{"CAIRN_INPUT_X": "s3://x", lower.BraceVar: "{"}
	cases := []string{
		"plain", "{{workflow.name}}", "{{", "{{{", "a{{b}}c", "}}{{workflow.uid}}{{",
		"{{='x'}}", "${{ secrets.X }}", "$${{x}}", "$(CAIRN_INPUT_X)/{{x}}", "$({{x}})",
		"$(", "$", "{{$", "cost: $5 {{", "{ {", "{{inputs.parameters.x}}",
	}
	rng := rand.New(rand.NewSource(1))
	for range 2000 {
		var b strings.Builder
		for range rng.Intn(12) {
			b.WriteString([]string{"{", "}", "$", "(", ")", "x", "CAIRN_INPUT_X", "=", "'"}[rng.Intn(9)])
		}
		cases = append(cases, b.String())
	}
	for _, s := range cases {
		var esc lower.Escaper
		got := esc.String(s)
		if strings.Contains(got, "{{") {
			t.Fatalf("Escaper.String(%q) = %q, still holds {{", s, got)
		}
		if strings.Contains(s, "{{") != esc.Used && strings.Contains(got, lower.BraceVar) != esc.Used {
			t.Errorf("Escaper.String(%q): Used = %v for %q", s, esc.Used, got)
		}
		afterArgo := argoPasses(t, got, 3)
		if afterArgo != got {
			t.Errorf("Argo changed escaped %q (from %q) into %q", got, s, afterArgo)
		}
		if k, want := lowertest.KubeExpand(afterArgo, vars), lowertest.KubeExpand(s, vars); k != want {
			t.Errorf("Kubernetes gives %q for escaped %q, want %q as for the user's %q", k, got, want, s)
		}
	}
}

// Without escaping, Argo would expand a user's string: the control case.
func TestArgoExpandsUnescaped(t *testing.T) {
	if got := argoPasses(t, "{{workflow.name}}", 1); got != "wf-x" {
		t.Fatalf("argo substitution of {{workflow.name}} = %q, want wf-x", got)
	}
}

func TestJSONTextSurvivesArgoAndKubernetes(t *testing.T) {
	v := map[string]any{"cmd": []string{"{{workflow.name}}", "$(HOME)", "a{{{b", "$$"}, "k{{": "v$"}
	text := lower.JSONArg(v)
	if strings.Contains(text, "{{") || strings.Contains(text, "$") {
		t.Fatalf("JSONArg = %q, holds {{ or $", text)
	}
	after := lowertest.KubeExpand(argoPasses(t, text, 3), map[string]string{"HOME": "/root"})
	var got, want any
	if err := json.Unmarshal([]byte(after), &got); err != nil {
		t.Fatalf("decoding %q: %v", after, err)
	}
	data, _ := json.Marshal(v)
	json.Unmarshal(data, &want)
	if lower.CanonicalJSON(got) != lower.CanonicalJSON(want) {
		t.Errorf("JSONArg round trip = %v, want %v", got, want)
	}
}
