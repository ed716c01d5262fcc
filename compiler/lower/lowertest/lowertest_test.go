package lowertest

import "testing"

func TestKubeExpand(t *testing.T) {
	vars := map[string]string{"A": "x", "LB": "{"}
	tests := []struct{ in, want string }{
		{"$(A)", "x"},
		{"$$(A)", "$(A)"},
		{"$(B)", "$(B)"},
		{"$(", "$("},
		{"a$", "a$"},
		{"$x", "$x"},
		{"$$$(LB)", "${"},
		{"${{", "${{"},
	}
	for _, tt := range tests {
		if got := KubeExpand(tt.in, vars); got != tt.want {
			t.Errorf("KubeExpand(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}
