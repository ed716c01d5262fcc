package schemadoc_test

import (
	"fmt"
	"io/fs"
	"slices"
	"strings"
	"testing"

	"cuelang.org/go/cue"
	"cuelang.org/go/cue/build"
	"cuelang.org/go/cue/cuecontext"
	"cuelang.org/go/cue/parser"

	"cairn.dev/cairn/schemas"
)

// rootSamples are values for the fields of #Project that CUE requires,
// so that the defaults computed from them (a model's repository from
// modelRegistry) are complete. TestRequiredMatchesCUE fails when they are
// not exactly the fields CUE requires of #Project.
var rootSamples = map[string]any{
	"name":          "p",
	"modelRegistry": "registry.example.com/ml",
}

// TestRequiredMatchesCUE checks the required column of every field table
// of the reference against CUE's own evaluation of the schemas, at every
// place a project uses the definition (so that what #Pipeline fills in
// for #Model counts): a field is "optional" when CUE holds it as an
// optional field (?), "yes" when it is a required field (!) or a regular
// field that is incomplete until the user writes it, and "no" otherwise;
// a scalar field that is "no" names its default.
func TestRequiredMatchesCUE(t *testing.T) {
	tables := specTables(t)
	ctx := cuecontext.New()
	inst := build.NewContext().NewInstance("", nil)
	names, err := fs.Glob(schemas.FS, "*.cue")
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range names {
		src, err := fs.ReadFile(schemas.FS, name)
		if err != nil {
			t.Fatal(err)
		}
		f, err := parser.ParseFile(name, src, parser.ParseComments)
		if err != nil {
			t.Fatal(err)
		}
		if err := inst.AddSyntax(f); err != nil {
			t.Fatal(err)
		}
	}
	pkg := ctx.BuildInstance(inst)
	if err := pkg.Err(); err != nil {
		t.Fatal(err)
	}

	w := &cueWalk{tables: tables, views: map[string]map[string][]string{}}
	project := pkg.LookupPath(cue.ParsePath("#Project"))
	filled := project
	for k, v := range rootSamples {
		filled = filled.FillPath(cue.MakePath(cue.Str(k)), v)
	}

	// The fields of #Project, each with the other required fields given.
	var rootRequired []string
	it, err := project.Fields(cue.Optional(true))
	if err != nil {
		t.Fatal(err)
	}
	for it.Next() {
		label := it.Selector().Unquoted()
		v := project
		for k, s := range rootSamples {
			if k != label {
				v = v.FillPath(cue.MakePath(cue.Str(k)), s)
			}
		}
		fv, sel, ok := field(v, label)
		if !ok {
			t.Fatalf("#Project.%s: not found", label)
		}
		view := cueView(sel, fv)
		if view == "yes" {
			rootRequired = append(rootRequired, label)
		}
		w.record("#Project", label, view, fv)
	}
	slices.Sort(rootRequired)
	if want := sortedKeys(rootSamples); !slices.Equal(rootRequired, want) {
		t.Fatalf("CUE requires %v of #Project; rootSamples holds %v", rootRequired, want)
	}
	// Everything below, in a project with its required fields given.
	it, err = filled.Fields(cue.Optional(true))
	if err != nil {
		t.Fatal(err)
	}
	for it.Next() {
		w.descend("#Project", it.Selector().Unquoted(), it.Value(), 0)
	}
	// Definitions no project uses, on their own.
	for def := range tables {
		if w.views[def] == nil {
			w.walk(def, "", pkg.LookupPath(cue.ParsePath(def)), 0)
		}
	}
	for _, e := range w.errs {
		t.Error(e)
	}

	for _, def := range sortedKeys(tables) {
		for _, path := range sortedKeys(tables[def]) {
			rw := tables[def][path]
			if strings.Contains(path, "[") {
				continue // a pattern constraint
			}
			views := w.views[def][path]
			if len(views) == 0 {
				t.Errorf("%s.%s is in the reference but CUE has no such field", def, path)
				continue
			}
			if len(views) > 1 {
				t.Errorf("%s.%s is %s in some uses and %s in others; the reference can show only one", def, path, views[0], views[1])
				continue
			}
			if rw.required != views[0] {
				t.Errorf("%s.%s: required column = %q, CUE says %q", def, path, rw.required, views[0])
			}
			if views[0] == "no" && w.scalar[def+"."+path] && rw.def == "" {
				t.Errorf("%s.%s is not required, but the default column does not say what fills it", def, path)
			}
		}
	}
	for _, def := range sortedKeys(w.views) {
		for _, path := range sortedKeys(w.views[def]) {
			if _, ok := tables[def][path]; !ok {
				t.Errorf("CUE has field %s.%s, the reference has no row for it", def, path)
			}
		}
	}
}

// cueWalk collects CUE's view of the fields of the definitions that have
// a table, by definition and field path.
type cueWalk struct {
	tables map[string]map[string]docRow
	views  map[string]map[string][]string
	scalar map[string]bool // "#Def.path" of fields that are not structs or lists
	errs   []string
}

func (w *cueWalk) record(def, path, view string, v cue.Value) {
	if w.views[def] == nil {
		w.views[def] = map[string][]string{}
	}
	if !slices.Contains(w.views[def][path], view) {
		w.views[def][path] = append(w.views[def][path], view)
	}
	if w.scalar == nil {
		w.scalar = map[string]bool{}
	}
	if k := v.IncompleteKind(); k&(cue.StructKind|cue.ListKind) == 0 {
		w.scalar[def+"."+path] = true
	}
}

// walk records the fields of v, a use of def at path inside it.
func (w *cueWalk) walk(def, path string, v cue.Value, depth int) {
	if depth > 20 {
		w.errs = append(w.errs, fmt.Sprintf("%s.%s: too deep", def, path))
		return
	}
	it, err := v.Fields(cue.Optional(true))
	if err != nil {
		w.errs = append(w.errs, fmt.Sprintf("%s.%s: %v", def, path, err))
		return
	}
	for it.Next() {
		p := joinPath(path, it.Selector().Unquoted())
		w.record(def, p, cueView(it.Selector(), it.Value()), it.Value())
		w.descend(def, p, it.Value(), depth)
	}
}

// descend walks into the value v of the field at path in def: a use of
// a definition with a table, an inline struct, or a struct of patterns
// whose values are such uses.
func (w *cueWalk) descend(def, path string, v cue.Value, depth int) {
	if v.IncompleteKind()&cue.StructKind == 0 {
		return
	}
	if _, ok := v.Default(); ok {
		return // a value, such as the default of #Cluster.spotSelector
	}
	if d := w.tableDef(v); d != "" {
		w.walk(d, "", v, depth+1)
		return
	}
	if hasFields(v) {
		w.walk(def, path, v, depth+1)
		return
	}
	// A struct of patterns: look at one field of it.
	pv := v.LookupPath(cue.MakePath(cue.AnyString))
	if !pv.Exists() || pv.IncompleteKind()&cue.StructKind == 0 {
		return
	}
	x := v.FillPath(cue.MakePath(cue.Str("x")), map[string]any{}).LookupPath(cue.MakePath(cue.Str("x")))
	if d := w.tableDef(x); d != "" {
		w.walk(d, "", x, depth+1)
	}
}

// tableDef names the definition with a table that v is a use of, from
// CUE's record of v's conjuncts; "" if none.
func (w *cueWalk) tableDef(v cue.Value) string {
	var found string
	var visit func(v cue.Value, depth int)
	visit = func(v cue.Value, depth int) {
		if found != "" || depth > 8 {
			return
		}
		if _, p := v.ReferencePath(); len(p.Selectors()) == 1 {
			if name := p.String(); w.tables[name] != nil {
				found = name
				return
			}
		}
		op, args := v.Expr()
		if op != cue.AndOp && op != cue.SelectorOp {
			return
		}
		for _, a := range args {
			visit(a, depth+1)
		}
	}
	visit(v, 0)
	return found
}

// cueView is CUE's view of a field: "optional", "yes" or "no".
func cueView(sel cue.Selector, v cue.Value) string {
	switch sel.ConstraintType() {
	case cue.OptionalConstraint:
		return "optional"
	case cue.RequiredConstraint:
		return "yes"
	}
	if err := v.Validate(cue.Concrete(true)); err != nil {
		return "yes"
	}
	return "no"
}

// field finds the field label of v, whatever its kind.
func field(v cue.Value, label string) (cue.Value, cue.Selector, bool) {
	it, err := v.Fields(cue.Optional(true))
	if err != nil {
		return cue.Value{}, cue.Selector{}, false
	}
	for it.Next() {
		if it.Selector().Unquoted() == label {
			return it.Value(), it.Selector(), true
		}
	}
	return cue.Value{}, cue.Selector{}, false
}

// hasFields reports whether v has named fields of any kind.
func hasFields(v cue.Value) bool {
	it, err := v.Fields(cue.Optional(true))
	return err == nil && it.Next()
}

func joinPath(path, name string) string {
	if path == "" {
		return name
	}
	return path + "." + name
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
