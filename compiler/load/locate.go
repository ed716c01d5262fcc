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
	return l
}

// find returns the position of the value at path, or of the deepest
// ancestor of it that is written in the files. Path elements are field names
// or list indexes (as decimal strings).
func (l *locator) find(path []string) token.Pos {
	var best token.Pos
	bestDepth := 0
	var record = func(p token.Pos, depth int) {
		if depth > bestDepth && p.IsValid() {
			best, bestDepth = p, depth
		}
	}
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
	return best
}
