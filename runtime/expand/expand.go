// Package expand is Kubernetes' $(VAR) expansion of a container's command,
// args and environment values, byte for byte as the kubelet does it, so
// that what runs on one machine is what a pod would have run.
package expand

import (
	"strings"

	corev1 "k8s.io/api/core/v1"
)

// Expand expands the $(NAME) references of s as the kubelet expands a
// container's command, args and env values: "$$" is "$", $(NAME) is the
// value of the first map in vars that defines NAME or, undefined, stays
// "$(NAME)", an unclosed "$(" stays as written, and a "$" before any other
// byte stays with that byte.
//
// It follows k8s.io/kubernetes/third_party/forked/golang/expansion,
// including its one quirk: a "$" before a byte outside ASCII writes that
// byte as the rune of the same number (string(byte)), so "$é" does not
// survive unchanged; the kubelet gives programs the same bytes.
func Expand(s string, vars ...map[string]string) string {
	if !strings.Contains(s, "$") {
		return s
	}
	var buf strings.Builder
	checkpoint := 0
	for cursor := 0; cursor < len(s); cursor++ {
		if s[cursor] != '$' || cursor+1 >= len(s) {
			continue
		}
		buf.WriteString(s[checkpoint:cursor])
		read, isVar, advance := readVariableName(s[cursor+1:])
		if isVar {
			buf.WriteString(lookup(read, vars))
		} else {
			buf.WriteString(read)
		}
		cursor += advance
		checkpoint = cursor + 1
	}
	return buf.String() + s[checkpoint:]
}

// lookup is the kubelet's MappingFuncFor: the first map defining name
// wins; an undefined name is written back as a reference.
func lookup(name string, vars []map[string]string) string {
	for _, m := range vars {
		if v, ok := m[name]; ok {
			return v
		}
	}
	return "$(" + name + ")"
}

// readVariableName reads what follows a "$": the text to write, whether it
// is a variable name to look up, and how many bytes it consumed.
func readVariableName(s string) (string, bool, int) {
	switch s[0] {
	case '$':
		return s[0:1], false, 1
	case '(':
		for i := 1; i < len(s); i++ {
			if s[i] == ')' {
				return s[1:i], true, i + 1
			}
		}
		return "$(", false, 1
	default:
		return "$" + string(rune(s[0])), false, 1
	}
}

// Resolver gives the value of an environment variable that has a source
// (valueFrom) instead of a value; ok false leaves the variable unset.
type Resolver func(v corev1.EnvVar) (value string, ok bool)

// Env returns the variables of a container's env list as the kubelet
// defines them: in declaration order, each literal value expanded against
// the variables declared before it (a later declaration of a name wins),
// each valueFrom given by resolve and not expanded. names lists the
// defined variables in the order they were first declared.
func Env(env []corev1.EnvVar, resolve Resolver) (vars map[string]string, names []string) {
	vars = make(map[string]string, len(env))
	for _, e := range env {
		val := e.Value
		switch {
		case val != "":
			val = Expand(val, vars)
		case e.ValueFrom != nil:
			v, ok := "", false
			if resolve != nil {
				v, ok = resolve(e)
			}
			if !ok {
				continue
			}
			val = v
		}
		if _, seen := vars[e.Name]; !seen {
			names = append(names, e.Name)
		}
		vars[e.Name] = val
	}
	return vars, names
}

// Command returns a container's command and args with their references
// expanded against vars, as the kubelet passes them to the runtime.
func Command(command, args []string, vars map[string]string) []string {
	out := make([]string, 0, len(command)+len(args))
	for _, s := range command {
		out = append(out, Expand(s, vars))
	}
	for _, s := range args {
		out = append(out, Expand(s, vars))
	}
	return out
}
