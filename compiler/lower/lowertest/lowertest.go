// Package lowertest models, for tests, what happens to compiled strings on
// their way to a program: Kubernetes' $(VAR) expansion of container
// commands, args and environment values.
package lowertest

import "cairn.dev/cairn/runtime/expand"

// KubeExpand expands $(VAR) references as Kubernetes does in a
// container's command, args and env values (as documented for the
// Container API): "$$" is "$", $(NAME) is the variable or, undefined,
// stays as written, an unclosed "$(" and any other "$" stay with the byte
// after them. It is the local executor's own expansion (runtime/expand),
// so the compiler's tests and local runs agree.
func KubeExpand(s string, vars map[string]string) string {
	return expand.Expand(s, vars)
}
