package schemadoc

import (
	"fmt"
	"strings"

	"cuelang.org/go/cue/ast"
	"cuelang.org/go/cue/token"
)

// This file decides the default and required columns of a field: what its
// own value says, and what the definitions that use its definition fill
// in (overlays).

// useOf splits a use of a definition with a table, "#D" or "#D & {...}",
// into the definition's name and the struct literals unified with it. ok
// is false for any other expression.
func (r *renderer) useOf(x ast.Expr) (def string, structs []*ast.StructLit, ok bool) {
	for _, c := range conjuncts(x) {
		switch c := c.(type) {
		case *ast.Ident:
			if def != "" || !r.hasTable(c.Name) {
				return "", nil, false
			}
			def = c.Name
		case *ast.StructLit:
			structs = append(structs, c)
		default:
			return "", nil, false
		}
	}
	return def, structs, def != ""
}

// conjuncts flattens the top-level unification of x.
func conjuncts(x ast.Expr) []ast.Expr {
	if p, ok := x.(*ast.ParenExpr); ok {
		return conjuncts(p.X)
	}
	if b, ok := x.(*ast.BinaryExpr); ok && b.Op == token.AND {
		return append(conjuncts(b.X), conjuncts(b.Y)...)
	}
	return []ast.Expr{x}
}

// hasTable reports whether def is a definition rendered as a field table.
func (r *renderer) hasTable(def string) bool {
	s, ok := r.values[def].(*ast.StructLit)
	return ok && hasRegularField(s)
}

// collectOverlays records the values that the definition def, at path
// inside it, gives to the fields of the definitions it uses.
func (r *renderer) collectOverlays(def, path string, x ast.Expr) error {
	s, ok := x.(*ast.StructLit)
	if !ok {
		return nil
	}
	for _, elt := range s.Elts {
		f, ok := elt.(*ast.Field)
		if !ok {
			continue
		}
		at, alias := path, ""
		if name, _, err := ast.LabelName(f.Label); err == nil {
			at = join(path, name)
		} else if l, ok := f.Label.(*ast.ListLit); ok && len(l.Elts) == 1 {
			if a, ok := l.Elts[0].(*ast.Alias); ok {
				alias = a.Ident.Name // [Name=_]: the key of each field
			}
		}
		if target, structs, ok := r.useOf(f.Value); ok {
			for _, sl := range structs {
				if err := r.addOverlays(def, at, alias, target, "", sl, ""); err != nil {
					return err
				}
			}
			continue
		}
		if err := r.collectOverlays(def, at, f.Value); err != nil {
			return err
		}
	}
	return nil
}

// addOverlays records the fields of s, unified at from's path at with the
// definition target, as overlays on target's fields below path. doc is
// the doc comment of an enclosing shorthand field ("a: b: x").
func (r *renderer) addOverlays(from, at, alias, target, path string, s *ast.StructLit, doc string) error {
	for _, elt := range s.Elts {
		f, ok := elt.(*ast.Field)
		if !ok {
			return fmt.Errorf("%s: only fields may refine %s", join(at, path), target)
		}
		name, _, err := ast.LabelName(f.Label)
		if err != nil {
			return fmt.Errorf("%s: only named fields may refine %s", join(at, path), target)
		}
		p := join(path, name)
		def, fp, tf, err := r.resolve(target, p)
		if err != nil {
			return fmt.Errorf("%s refines %s.%s: %w", join(at, path), target, p, err)
		}
		fdoc := docText(f)
		if fdoc == "" {
			fdoc = doc
		}
		if sub, ok := f.Value.(*ast.StructLit); ok && r.isStruct(tf.Value) {
			// A refinement of the fields of a struct field.
			if err := r.addOverlays(from, at, alias, target, p, sub, fdoc); err != nil {
				return err
			}
			continue
		}
		if r.overlays[def] == nil {
			r.overlays[def] = map[string]*overlay{}
		}
		if old := r.overlays[def][fp]; old != nil {
			return fmt.Errorf("%s.%s is refined both in %s and in %s", def, fp, old.from, from)
		}
		id, isIdent := f.Value.(*ast.Ident)
		r.overlays[def][fp] = &overlay{
			from:  from,
			at:    at,
			value: f.Value,
			doc:   fdoc,
			key:   isIdent && alias != "" && id.Name == alias,
		}
	}
	return nil
}

// resolve finds the field at path below the definition def, following
// uses of other definitions: it returns the definition declaring the
// field, the field's path there and the field.
func (r *renderer) resolve(def, path string) (string, string, *ast.Field, error) {
	x, inner := r.values[def], ""
	var field *ast.Field
	for _, name := range strings.Split(path, ".") {
		if field != nil {
			if d, _, ok := r.useOf(field.Value); ok {
				def, x, inner = d, r.values[d], ""
			} else {
				x = field.Value
			}
		}
		s, ok := x.(*ast.StructLit)
		if !ok {
			return "", "", nil, fmt.Errorf("no field %s", name)
		}
		field = nil
		for _, elt := range s.Elts {
			if f, ok := elt.(*ast.Field); ok {
				if n, _, err := ast.LabelName(f.Label); err == nil && n == name {
					field = f
				}
			}
		}
		if field == nil {
			return "", "", nil, fmt.Errorf("no field %s", name)
		}
		inner = join(inner, name)
	}
	return def, inner, field, nil
}

// isStruct reports whether x is a struct with named fields: a literal or
// a use of a definition with a table.
func (r *renderer) isStruct(x ast.Expr) bool {
	if _, _, ok := r.useOf(x); ok {
		return true
	}
	s, ok := x.(*ast.StructLit)
	return ok && hasRegularField(s)
}

func join(path, name string) string {
	if path == "" {
		return name
	}
	return path + "." + name
}

// stripOverlays renders a use of a definition with overlays as the
// definition alone: the overlays are shown in its table. A pattern
// "[Name=_]" whose alias only served them becomes "[string]".
func (r *renderer) stripOverlays(x ast.Expr) ast.Expr {
	if def, structs, ok := r.useOf(x); ok && len(structs) > 0 {
		return ast.NewIdent(def)
	}
	s, ok := x.(*ast.StructLit)
	if !ok {
		return x
	}
	out := *s
	out.Elts = make([]ast.Decl, len(s.Elts))
	for i, elt := range s.Elts {
		out.Elts[i] = elt
		f, ok := elt.(*ast.Field)
		if !ok {
			continue
		}
		v := r.stripOverlays(f.Value)
		if v == f.Value {
			continue
		}
		nf := *f
		nf.Value = v
		if l, ok := f.Label.(*ast.ListLit); ok && len(l.Elts) == 1 {
			if _, ok := l.Elts[0].(*ast.Alias); ok {
				nf.Label = &ast.ListLit{Elts: []ast.Expr{ast.NewIdent("string")}}
			}
		}
		out.Elts[i] = &nf
	}
	return &out
}

// overlayText is the default column of a field filled in by an overlay:
// what fills it, and where.
func (r *renderer) overlayText(ov *overlay) (string, error) {
	where := fmt.Sprintf("[%s](#%s) %s", ov.from, anchor(ov.from), code(ov.at))
	if ov.key {
		return "its key in " + where, nil
	}
	text := inline(ov.doc)
	if text == "" {
		_, def, err := r.typeAndDefault(ov.value)
		if err != nil {
			return "", err
		}
		if def == "" {
			t, err := source(ov.value)
			if err != nil {
				return "", err
			}
			def = r.expr(t)
		}
		text = def
	}
	return text + " (set in " + where + ")", nil
}

// required is the required column of field f at path in the definition
// def: "optional" for a field marked ?, "yes" for one the user must
// write, "no" for one that has a default or is filled in by a use of def
// (an overlay) or by the definitions of its value.
func (r *renderer) required(def, path string, f *ast.Field) (string, error) {
	key := def + "\x00" + path
	if v, ok := r.req[key]; ok {
		if v == "" {
			return "", fmt.Errorf("%s.%s needs itself", def, path)
		}
		return v, nil
	}
	r.req[key] = "" // in progress
	v, err := r.required1(def, path, f)
	if err != nil {
		delete(r.req, key)
		return "", err
	}
	r.req[key] = v
	return v, nil
}

func (r *renderer) required1(def, path string, f *ast.Field) (string, error) {
	if r.overlays[def][path] != nil {
		return "no", nil // a regular field of the use fills it
	}
	switch {
	case f.Constraint == token.OPTION:
		return "optional", nil
	case hasDefault(f.Value):
		if f.Constraint == token.NOT {
			// CUE asks for a required field even when it has a default.
			return "", fmt.Errorf("%s is required (!) and has a default, which never applies: drop one", path)
		}
		return "no", nil
	case f.Constraint == token.NOT:
		return "yes", nil
	}
	needs, err := r.needsValue(def, path, f.Value)
	if err != nil {
		return "", err
	}
	if needs {
		return "yes", nil
	}
	return "no", nil
}

// hasDefault reports whether x is a disjunction with a default.
func hasDefault(x ast.Expr) bool {
	for _, d := range disjuncts(x) {
		if u, ok := d.(*ast.UnaryExpr); ok && u.Op == token.MUL {
			return true
		}
	}
	return false
}

// needsValue reports whether the value x of a regular field at path in
// def is incomplete until the user gives one: a type or constraint, or a
// struct with a required field. Open lists, structs of patterns, literals
// and references to other fields are complete.
func (r *renderer) needsValue(def, path string, x ast.Expr) (bool, error) {
	switch x := x.(type) {
	case *ast.ParenExpr:
		return r.needsValue(def, path, x.X)
	case *ast.BasicLit, *ast.Interpolation:
		return false, nil
	case *ast.ListLit:
		for _, e := range x.Elts {
			if _, ok := e.(*ast.Ellipsis); ok {
				continue
			}
			if needs, err := r.needsValue(def, path, e); needs || err != nil {
				return needs, err
			}
		}
		return false, nil
	case *ast.StructLit:
		for _, elt := range x.Elts {
			f, ok := elt.(*ast.Field)
			if !ok {
				continue
			}
			name, _, err := ast.LabelName(f.Label)
			if err != nil {
				continue // a pattern
			}
			req, err := r.required(def, join(path, name), f)
			if err != nil {
				return false, err
			}
			if req == "yes" {
				return true, nil
			}
		}
		return false, nil
	case *ast.Ident:
		if v, ok := r.values[x.Name]; ok {
			return r.needsValue(x.Name, "", v)
		}
		switch x.Name {
		case "_", "string", "bytes", "int", "float", "number", "bool", "null":
			return x.Name != "null", nil
		}
		return false, nil // another field fills it
	case *ast.BinaryExpr:
		if x.Op == token.AND {
			if d, _, ok := r.useOf(x); ok {
				// The struct literals are overlays on d's fields.
				return r.needsValue(d, "", r.values[d])
			}
			for _, c := range conjuncts(x) {
				if _, ok := c.(*ast.BasicLit); ok {
					return false, nil // a value, whatever else constrains it
				}
			}
		}
		return true, nil
	}
	return true, nil
}
