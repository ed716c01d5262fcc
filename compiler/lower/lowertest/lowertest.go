// Package lowertest models, for tests, what happens to compiled strings on
// their way to a program: Kubernetes' $(VAR) expansion of container
// commands, args and environment values.
package lowertest

import "strings"

// KubeExpand expands $(VAR) references as Kubernetes does in a
// container's command, args and env values (as documented for the
// Container API): "$$" is "$", $(NAME) is the variable or, undefined,
// stays as written, an unclosed "$(" and any other "$" stay with the byte
// after them.
func KubeExpand(s string, vars map[string]string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '$' || i+1 == len(s) {
			b.WriteByte(s[i])
			continue
		}
		switch s[i+1] {
		case '$':
			b.WriteByte('$')
			i++
		case '(':
			j := strings.IndexByte(s[i+2:], ')')
			if j < 0 {
				b.WriteString("$(")
				i++
				continue
			}
			name := s[i+2 : i+2+j]
			if v, ok := vars[name]; ok {
				b.WriteString(v)
			} else {
				b.WriteString("$(" + name + ")")
			}
			i += 2 + j
		default:
			b.WriteByte('$')
			b.WriteByte(s[i+1])
			i++
		}
	}
	return b.String()
}
