package load

import (
	"encoding/json"
	"slices"
	"strconv"

	"cuelang.org/go/cue"
	cueerrors "cuelang.org/go/cue/errors"
)

// partialJSON exports what is valid of a project that failed validation:
// every field that validates, and the valid fields of the structs that do
// not, so that the checks can run on them. It returns the JSON and the
// paths below the project of the values that failed: those of err's
// errors and those left out.
func partialJSON(pv cue.Value, err error) ([]byte, [][]string) {
	var broken [][]string
	for _, e := range cueerrors.Errors(err) {
		if p := unquote(e.Path()); len(p) > 0 && p[0] == ProjectField {
			broken = append(broken, p[1:])
		}
	}
	x := keepValid(pv, nil, &broken)
	slices.SortFunc(broken, slices.Compare)
	broken = slices.CompactFunc(broken, slices.Equal)
	if x == nil {
		x = map[string]any{}
	}
	data, merr := json.Marshal(x)
	if merr != nil {
		data = []byte("{}")
		broken = append(broken, nil)
	}
	return data, broken
}

// keepValid returns v as JSON when it validates, a map of its valid parts
// when it is a struct, and nil otherwise, adding the path of what it
// leaves out to lost.
func keepValid(v cue.Value, path []string, lost *[][]string) any {
	if v.Validate(cue.Concrete(true)) == nil {
		if data, err := v.MarshalJSON(); err == nil {
			return json.RawMessage(data)
		}
	}
	// A struct with errors in it can be of kind bottom, and so is a
	// missing required field, which iterates over nothing.
	k := v.IncompleteKind()
	if it, err := v.Fields(); err == nil && (k&cue.StructKind != 0 || k == cue.BottomKind) {
		m := map[string]any{}
		for it.Next() {
			if it.Selector().LabelType() != cue.StringLabel {
				continue // a list element of a bottom list, say
			}
			name := it.Selector().Unquoted()
			if x := keepValid(it.Value(), append(slices.Clip(path), name), lost); x != nil {
				m[name] = x
			}
		}
		if len(m) > 0 || k&cue.StructKind != 0 {
			return m
		}
	}
	*lost = append(*lost, slices.Clone(path))
	return nil
}

// Damaged reports whether the project failed validation at the value at
// path (relative to the project, as for Locate), at a value under it or
// at one of its ancestors; with no path, whether it failed at all. The
// decoded project holds only the valid parts of a damaged one, so a check
// of such a value would check what is not there.
func (in *Instance) Damaged(elems ...any) bool {
	p := pathStrings(elems)
	for _, b := range in.broken {
		n := min(len(b), len(p))
		if slices.Equal(b[:n], p[:n]) {
			return true
		}
	}
	return false
}

// Lost reports whether the value at path or one of its ancestors failed
// validation, so that the decoded project may lack it.
func (in *Instance) Lost(elems ...any) bool {
	p := pathStrings(elems)
	for _, b := range in.broken {
		if len(b) <= len(p) && slices.Equal(b, p[:len(b)]) {
			return true
		}
	}
	return false
}

// LostChild reports whether a field of the struct at path, whatever its
// name, or the struct itself or one of its ancestors failed validation: a
// map entry the decoded project may lack.
func (in *Instance) LostChild(elems ...any) bool {
	p := pathStrings(elems)
	for _, b := range in.broken {
		if len(b) <= len(p)+1 && slices.Equal(b[:min(len(b), len(p))], p[:min(len(b), len(p))]) {
			return true
		}
	}
	return false
}

func pathStrings(elems []any) []string {
	out := make([]string, 0, len(elems))
	for _, e := range elems {
		switch e := e.(type) {
		case string:
			out = append(out, e)
		case int:
			out = append(out, strconv.Itoa(e))
		}
	}
	return out
}
