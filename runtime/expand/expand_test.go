package expand

import (
	"slices"
	"testing"

	corev1 "k8s.io/api/core/v1"
)

func TestExpand(t *testing.T) {
	vars := map[string]string{"A": "x", "LB": "{", "EMPTY": "", "D": "$(A)"}
	tests := []struct{ in, want string }{
		{"", ""},
		{"plain", "plain"},
		{"$(A)", "x"},
		{"a$(A)b$(A)", "axbx"},
		{"$$(A)", "$(A)"},
		{"$$$(A)", "$x"},
		{"$$$$", "$$"},
		{"$(B)", "$(B)"},
		{"$(EMPTY)", ""},
		{"$(D)", "$(A)"}, // values are not expanded again
		{"$(", "$("},
		{"$(A", "$(A"},
		{"$((A)", "$((A)"},
		{"a$", "a$"},
		{"$", "$"},
		{"$x", "$x"},
		{"$$$(LB)", "${"},
		{"$(LB){x}}", "{{x}}"},
		{"${{", "${{"},
		{"$()", "$()"},
		{"$(A)$(", "x$("},
		// The kubelet writes the byte after a lone "$" as a rune.
		{"$\xc3\xa9", "$\xc3\x83\xa9"},
	}
	for _, tt := range tests {
		if got := Expand(tt.in, vars); got != tt.want {
			t.Errorf("Expand(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestExpandFirstMapWins(t *testing.T) {
	if got := Expand("$(A)/$(B)", map[string]string{"A": "1"}, map[string]string{"A": "2", "B": "3"}); got != "1/3" {
		t.Errorf("Expand over two maps = %q, want %q", got, "1/3")
	}
}

func TestEnv(t *testing.T) {
	env := []corev1.EnvVar{
		{Name: "CAIRN_LB", Value: "{"},
		{Name: "ROOT", Value: "/data"},
		{Name: "OUT", Value: "$(ROOT)/out/$(LATER)"},
		{Name: "LATER", Value: "late"},
		{Name: "SECRET", ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{Key: "k"}}},
		{Name: "UNSET", ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{Key: "missing"}}},
		{Name: "RAW", Value: ""},
		{Name: "ROOT", Value: "/other"},
		{Name: "ESC", Value: "$(CAIRN_LB){workflow.name}}"},
	}
	vars, names := Env(env, func(v corev1.EnvVar) (string, bool) {
		if v.ValueFrom.SecretKeyRef.Key == "k" {
			return "$(ROOT)", true
		}
		return "", false
	})
	want := map[string]string{
		"CAIRN_LB": "{",
		"ROOT":     "/other",
		"OUT":      "/data/out/$(LATER)",
		"LATER":    "late",
		"SECRET":   "$(ROOT)", // a valueFrom is never expanded
		"RAW":      "",
		"ESC":      "{{workflow.name}}",
	}
	if len(vars) != len(want) {
		t.Errorf("Env defined %v, want %v", vars, want)
	}
	for k, v := range want {
		if vars[k] != v {
			t.Errorf("Env: %s = %q, want %q", k, vars[k], v)
		}
	}
	if wantNames := []string{"CAIRN_LB", "ROOT", "OUT", "LATER", "SECRET", "RAW", "ESC"}; !slices.Equal(names, wantNames) {
		t.Errorf("Env names = %q, want %q", names, wantNames)
	}
}

func TestCommand(t *testing.T) {
	got := Command([]string{"sh", "-c", "echo $(A)"}, []string{"$$(A)", "$(B)"}, map[string]string{"A": "a"})
	want := []string{"sh", "-c", "echo a", "$(A)", "$(B)"}
	if !slices.Equal(got, want) {
		t.Errorf("Command = %q, want %q", got, want)
	}
}
