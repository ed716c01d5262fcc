package load

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	"cuelang.org/go/cue"
	cueerrors "cuelang.org/go/cue/errors"

	"cairn.dev/cairn/compiler/diag"
)

// Messages explain completes.
const (
	msgNotAllowed = "field not allowed: the schema has no such field here (see docs/spec.md)"
	msgRequired   = "field is required but not present"
)

// explain completes the diagnostics of a project that failed validation
// with what the schema allows where it failed: for a field it does not
// allow, the field that was probably meant or the fields there are; for a
// missing required field, the values it takes.
func explain(diags diag.List, pv cue.Value, err error) {
	unknown := map[string][]string{} // formatted path → elements
	var notAllowed []string
	for _, e := range cueerrors.Errors(err) {
		if f, _ := e.Msg(); strings.HasPrefix(f, "field not allowed") {
			unknown[FormatPath(e.Path())] = e.Path()
			notAllowed = append(notAllowed, FormatPath(e.Path()))
		}
	}
	for i, d := range diags {
		switch {
		case d.Msg == msgNotAllowed && unknown[d.Path] != nil:
			elems := unknown[d.Path]
			var names []string
			for _, f := range schemaFields(pv, elems[1:len(elems)-1]) {
				if !slices.Contains(notAllowed, FormatPath(append(slices.Clone(elems[:len(elems)-1]), f))) {
					names = append(names, f)
				}
			}
			diags[i].Msg = notAllowedMsg(unquote(elems[len(elems)-1:])[0], names)
		case d.Msg == msgRequired && strings.HasPrefix(d.Path, ProjectField+"."):
			if want := requiredWant(pv, d.Path); want != "" {
				diags[i].Msg += ": want " + want
			}
		}
	}
}

// notAllowedMsg says that field is not allowed where names are.
func notAllowedMsg(field string, names []string) string {
	if s := diag.Closest(field, names); s != "" {
		return fmt.Sprintf("field not allowed: did you mean %q? (see docs/spec.md)", s)
	}
	if len(names) == 0 {
		return msgNotAllowed
	}
	slices.Sort(names)
	return "field not allowed: the schema has no such field here; want one of " + strings.Join(names, ", ") + " (see docs/spec.md)"
}

// schemaFields returns the names of the regular, optional and required
// fields of the struct at path (below the project).
func schemaFields(pv cue.Value, path []string) []string {
	v := pv
	if len(path) > 0 {
		v = pv.LookupPath(cue.ParsePath(FormatPath(path)))
	}
	it, err := v.Fields(cue.Optional(true))
	if err != nil {
		return nil
	}
	var names []string
	for it.Next() {
		if sel := it.Selector(); sel.LabelType() == cue.StringLabel {
			names = append(names, sel.Unquoted())
		}
	}
	return names
}

// requiredWant describes the values a missing required field at path (a
// formatted path from the project) takes: its enumeration, or what its
// pattern stands for; "" when it is neither.
func requiredWant(pv cue.Value, path string) string {
	elems := cue.ParsePath(path).Selectors()
	if len(elems) < 2 {
		return ""
	}
	parent := pv.LookupPath(cue.MakePath(elems[1 : len(elems)-1]...))
	last := elems[len(elems)-1]
	it, err := parent.Fields(cue.Optional(true))
	if err != nil || last.LabelType() != cue.StringLabel {
		return ""
	}
	for it.Next() {
		if sel := it.Selector(); sel.LabelType() == cue.StringLabel && sel.Unquoted() == last.Unquoted() {
			return describeValues(it.Value())
		}
	}
	return ""
}

// describeValues describes a schema value: "a" | "b" for an enumeration
// of literals, the words for a named pattern, "" otherwise.
func describeValues(v cue.Value) string {
	op, args := v.Expr()
	if op == cue.OrOp {
		var alts []string
		for _, a := range args {
			if a.IsConcrete() && a.Kind()&(cue.StringKind|cue.NumberKind|cue.BoolKind) != 0 {
				alts = append(alts, fmt.Sprint(a))
			} else {
				return ""
			}
		}
		slices.Sort(alts)
		return strings.Join(alts, " | ")
	}
	if d, ok := schemaPatterns()[fmt.Sprint(v)]; ok {
		return d
	}
	return ""
}

// suggestValue returns `; did you mean "x"?` when the quoted value given
// is near one of the quoted alternatives, "" otherwise.
func suggestValue(given string, alts []string) string {
	g, err := strconv.Unquote(given)
	if err != nil {
		return ""
	}
	var names []string
	for _, a := range alts {
		if s, err := strconv.Unquote(a); err == nil {
			names = append(names, s)
		}
	}
	if s := diag.Closest(g, names); s != "" {
		return fmt.Sprintf("; did you mean %q?", s)
	}
	return ""
}
