package load

import (
	"strconv"
	"strings"

	"cuelang.org/go/cue/ast"
	"cuelang.org/go/cue/token"
)

// locator finds where a path is written in the user's files by walking
// their syntax trees. CUE positions of unified values often point into the
// schema; the syntax tree says where the user wrote a field.
type locator struct {
	files []*ast.File
	// refs holds the positions of references to the schema package
	// (schemas.#Project) in the files: CUE names them as the place a
	// schema value comes from, but they say nothing about the error.
	refs map[token.Pos]bool
	// home is the top-level project field that declares the project: the
	// one that names the schema, else the one that sets its name, else
	// the first. A value the user did not write is located there.
	home *ast.Field
}

// newLocator indexes the user's files.
func newLocator(files []*ast.File, importPath string) *locator {
	l := &locator{files: files, refs: map[token.Pos]bool{}}
	for _, f := range files {
		names := map[string]bool{}
		for spec := range f.ImportSpecs() {
			path, err := strconv.Unquote(spec.Path.Value)
			if err != nil || path != importPath {
				continue
			}
			name := importPath[strings.LastIndex(importPath, "/")+1:]
			if spec.Name != nil {
				name = spec.Name.Name
			}
			names[name] = true
		}
		if len(names) == 0 {
			continue
		}
		ast.Walk(f, func(n ast.Node) bool {
			if sel, ok := n.(*ast.SelectorExpr); ok {
				if id, ok := sel.X.(*ast.Ident); ok && names[id.Name] {
					l.refs[sel.Pos()] = true
					l.refs[sel.Sel.Pos()] = true
				}
			}
			return true
		}, nil)
	}
	l.home = l.findHome()
	return l
}

// findHome returns the field that declares the project (see home).
func (l *locator) findHome() *ast.Field {
	var first, named *ast.Field
	for _, f := range l.files {
		for _, d := range f.Decls {
			fd, ok := d.(*ast.Field)
			if !ok {
				continue
			}
			if name, _, err := ast.LabelName(fd.Label); err != nil || name != ProjectField {
				continue
			}
			if first == nil {
				first = fd
			}
			if l.refersToSchema(fd.Value) {
				return fd
			}
			if named == nil && (&locator{files: []*ast.File{{Decls: []ast.Decl{fd}}}}).find([]string{ProjectField, "name"}).IsValid() {
				named = fd
			}
		}
	}
	if named != nil {
		return named
	}
	return first
}

// refersToSchema reports whether e refers to the schema package.
func (l *locator) refersToSchema(e ast.Expr) bool {
	found := false
	ast.Walk(e, func(n ast.Node) bool {
		if sel, ok := n.(*ast.SelectorExpr); ok && l.refs[sel.Pos()] {
			found = true
		}
		return !found
	}, nil)
	return found
}

// find returns the position of the value at path, or of the deepest
// ancestor of it that is written in the files. Path elements are field names
// or list indexes (as decimal strings).
func (l *locator) find(path []string) token.Pos {
	var best token.Pos
	bestDepth := 0
	l.walk(path, func(p token.Pos, depth int) {
		if depth > bestDepth && p.IsValid() {
			best, bestDepth = p, depth
		}
	})
	if bestDepth == 1 && l.home != nil && path[0] == ProjectField {
		// Only the project is written: point at the field declaring it.
		if len(path) == 1 {
			return l.home.Value.Pos()
		}
		return l.home.Label.Pos()
	}
	return best
}

// findAll returns every position where the value at path is written.
func (l *locator) findAll(path []string) []token.Pos {
	var all []token.Pos
	l.walk(path, func(p token.Pos, depth int) {
		if depth == len(path) && p.IsValid() {
			all = append(all, p)
		}
	})
	return all
}

// walk calls record with the position of each field or list element of
// the files that is on path, and its depth: the value's position at the
// full depth, the label's above it.
func (l *locator) walk(path []string, record func(p token.Pos, depth int)) {
	var walkExpr func(e ast.Expr, depth int)
	var walkDecls func(decls []ast.Decl, depth int)
	walkDecls = func(decls []ast.Decl, depth int) {
		if depth >= len(path) {
			return
		}
		for _, d := range decls {
			switch d := d.(type) {
			case *ast.Field:
				name, _, err := ast.LabelName(d.Label)
				if err != nil || name != path[depth] {
					continue
				}
				if depth+1 == len(path) {
					record(d.Value.Pos(), depth+1)
				} else {
					record(d.Label.Pos(), depth+1)
					walkExpr(d.Value, depth+1)
				}
			case *ast.EmbedDecl:
				walkExpr(d.Expr, depth)
			}
		}
	}
	walkExpr = func(e ast.Expr, depth int) {
		switch e := e.(type) {
		case *ast.StructLit:
			walkDecls(e.Elts, depth)
		case *ast.BinaryExpr:
			walkExpr(e.X, depth)
			walkExpr(e.Y, depth)
		case *ast.ParenExpr:
			walkExpr(e.X, depth)
		case *ast.ListLit:
			if depth >= len(path) {
				return
			}
			i, err := strconv.Atoi(path[depth])
			if err != nil || i < 0 || i >= len(e.Elts) {
				return
			}
			record(e.Elts[i].Pos(), depth+1)
			walkExpr(e.Elts[i], depth+1)
		}
	}
	for _, f := range l.files {
		walkDecls(f.Decls, 0)
	}
}
