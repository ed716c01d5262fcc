package schemadoc

import (
	"bytes"
	"fmt"
	"io/fs"
	"slices"
	"strings"

	"cuelang.org/go/cue/ast"
	"cuelang.org/go/cue/format"
	"cuelang.org/go/cue/parser"
	"cuelang.org/go/cue/token"
)

// definition is a top-level definition of the schema, such as #Project.
type definition struct {
	name  string
	doc   string
	value ast.Expr
}

// Markdown parses every *.cue file at the root of fsys and renders a
// Markdown reference of the definitions it declares: one section per
// definition with its doc comment and a table of its fields. The output
// depends only on the files' contents.
func Markdown(fsys fs.FS) ([]byte, error) {
	names, err := fs.Glob(fsys, "*.cue")
	if err != nil {
		return nil, err
	}
	if len(names) == 0 {
		return nil, fmt.Errorf("schemadoc: no .cue files")
	}
	var pkgDocs []string
	var defs []definition
	for _, name := range names { // fs.Glob returns sorted names
		src, err := fs.ReadFile(fsys, name)
		if err != nil {
			return nil, err
		}
		f, err := parser.ParseFile(name, src, parser.ParseComments)
		if err != nil {
			return nil, err
		}
		for _, decl := range f.Decls {
			switch d := decl.(type) {
			case *ast.Package:
				if doc := docText(d); doc != "" {
					pkgDocs = append(pkgDocs, doc)
				}
			case *ast.Field:
				id, ok := d.Label.(*ast.Ident)
				if !ok || !strings.HasPrefix(id.Name, "#") {
					continue
				}
				defs = append(defs, definition{name: id.Name, doc: docText(d), value: d.Value})
			}
		}
	}
	slices.SortStableFunc(defs, func(a, b definition) int { return rank(a.name) - rank(b.name) })

	r := &renderer{defs: map[string]bool{}, values: map[string]ast.Expr{}, overlays: map[string]map[string]*overlay{}, req: map[string]string{}}
	for _, d := range defs {
		r.defs[d.name] = true
		r.values[d.name] = d.value
	}
	// Overlays are collected before anything is rendered: rendering drops
	// the comments of the nodes it formats.
	for _, d := range defs {
		if err := r.collectOverlays(d.name, "", d.value); err != nil {
			return nil, fmt.Errorf("schemadoc: %s: %w", d.name, err)
		}
	}
	w := &r.buf
	w.WriteString("# Spec reference\n\n")
	w.WriteString("This is the reference of the CUE package `cairn.dev/schemas`, the contract of a Cairn repository. ")
	w.WriteString("It is generated from the schema's doc comments by `cairn schema doc`; do not edit it by hand.\n\n")
	for _, doc := range pkgDocs {
		w.WriteString(prose(doc))
	}
	w.WriteString("In the field tables, required is \"yes\" for a field you must write, \"no\" for one that has a default ")
	w.WriteString("or is filled in for you (the default column says with what) and \"optional\" for one you may leave out, ")
	w.WriteString("which then is absent.\n\n")
	w.WriteString("Definitions:\n\n")
	for _, d := range defs {
		fmt.Fprintf(w, "- [%s](#%s)\n", d.name, anchor(d.name))
	}
	for _, d := range defs {
		if err := r.definition(d); err != nil {
			return nil, fmt.Errorf("schemadoc: %s: %w", d.name, err)
		}
	}
	return r.buf.Bytes(), nil
}

// rank puts #Project and #Pipeline first; the other definitions keep the
// order of the files.
func rank(name string) int {
	switch name {
	case "#Project":
		return 0
	case "#Pipeline":
		return 1
	}
	return 2
}

// anchor is the GitHub heading anchor of a definition's section.
func anchor(def string) string {
	return strings.ToLower(strings.TrimPrefix(def, "#"))
}

type renderer struct {
	buf    bytes.Buffer
	defs   map[string]bool     // names of the definitions, for links
	values map[string]ast.Expr // values of the definitions, by name
	// overlays are the values other definitions give the fields of a
	// definition where they use it, by definition and field path.
	overlays map[string]map[string]*overlay
	req      map[string]string // memo of required, by definition and path
	def      string            // the definition being rendered
}

// overlay is a value a definition gives a field of another where it uses
// it: #Pipeline's "model: #Model & {name: *_pipeline | #Name}" gives
// #Model's name a default.
type overlay struct {
	from  string   // the definition using the other, e.g. "#Pipeline"
	at    string   // the path of the use in from, e.g. "model"
	value ast.Expr // the value given
	doc   string   // its doc comment: what the value is, in words
	key   bool     // the value is the key of the pattern at the use
}

// row is one line of a definition's field table.
type row struct {
	path, typ, def, required, doc string
}

func (r *renderer) definition(d definition) error {
	r.def = d.name
	w := &r.buf
	fmt.Fprintf(w, "\n## %s\n\n", d.name)
	if d.doc != "" {
		w.WriteString(prose(d.doc))
	}
	s, ok := d.value.(*ast.StructLit)
	if !ok || !hasRegularField(s) {
		typ, def, err := r.typeAndDefault(d.value)
		if err != nil {
			return err
		}
		fmt.Fprintf(w, "Type: %s\n", typ)
		if def != "" {
			fmt.Fprintf(w, "\nDefault: %s\n", def)
		}
		return nil
	}
	var rows []row
	var notes []string
	if err := r.fields(s, "", &rows, &notes); err != nil {
		return err
	}
	w.WriteString("| field | type | default | required | description |\n")
	w.WriteString("| --- | --- | --- | --- | --- |\n")
	for _, rw := range rows {
		fmt.Fprintf(w, "| %s | %s | %s | %s | %s |\n",
			cell(code(rw.path)), cell(rw.typ), cell(rw.def), rw.required, cell(inline(rw.doc)))
	}
	if len(notes) > 0 {
		w.WriteString("\nConditional constraints:\n\n")
		for _, n := range notes {
			fmt.Fprintf(w, "- %s\n", n)
		}
	}
	return nil
}

// fields appends the rows of the fields of s, walking nested struct
// literals, and notes on its comprehensions and embeddings.
func (r *renderer) fields(s *ast.StructLit, prefix string, rows *[]row, notes *[]string) error {
	for _, elt := range s.Elts {
		switch e := elt.(type) {
		case *ast.Field:
			label, err := labelText(e.Label)
			if err != nil {
				return err
			}
			path := prefix + label
			required, err := r.required(r.def, path, e)
			if err != nil {
				return err
			}
			doc := docText(e)
			if sub, ok := e.Value.(*ast.StructLit); ok && hasRegularField(sub) {
				*rows = append(*rows, row{path, "struct", "", required, doc})
				if err := r.fields(sub, path+".", rows, notes); err != nil {
					return err
				}
				continue
			}
			typ, def, err := r.typeAndDefault(r.stripOverlays(e.Value))
			if err != nil {
				return err
			}
			if ov := r.overlays[r.def][path]; ov != nil {
				if def, err = r.overlayText(ov); err != nil {
					return err
				}
			}
			*rows = append(*rows, row{path, typ, def, required, doc})
		case *ast.Comprehension:
			// The formatter prints comprehensions only as declarations.
			t, err := source(&ast.File{Decls: []ast.Decl{e}})
			if err != nil {
				return err
			}
			*notes = append(*notes, r.expr(prefixed(prefix, t)))
		case *ast.EmbedDecl:
			t, err := source(e.Expr)
			if err != nil {
				return err
			}
			*notes = append(*notes, "embeds "+r.expr(t))
		}
		// let clauses, attributes and stray comments are not part of the
		// reference.
	}
	return nil
}

// prefixed qualifies the conditional fields of a nested struct literal.
func prefixed(prefix, body string) string {
	if prefix == "" {
		return body
	}
	return "(in " + strings.TrimSuffix(prefix, ".") + ") " + body
}

// hasRegularField reports whether s declares a field with a fixed name;
// structs holding only pattern constraints are rendered as types.
func hasRegularField(s *ast.StructLit) bool {
	for _, elt := range s.Elts {
		if f, ok := elt.(*ast.Field); ok {
			if _, _, err := ast.LabelName(f.Label); err == nil {
				return true
			}
		}
	}
	return false
}

// labelText names a field: its identifier or string, or the source of a
// pattern constraint.
func labelText(l ast.Label) (string, error) {
	if name, _, err := ast.LabelName(l); err == nil {
		return name, nil
	}
	return source(l)
}

// typeAndDefault renders a value expression as Markdown: the type is the
// expression without default markers, the default its disjuncts marked
// with *.
func (r *renderer) typeAndDefault(x ast.Expr) (typ, def string, err error) {
	var types, defs []string
	for _, d := range disjuncts(x) {
		isDefault := false
		if u, ok := d.(*ast.UnaryExpr); ok && u.Op == token.MUL {
			d, isDefault = u.X, true
		}
		t, err := source(d)
		if err != nil {
			return "", "", err
		}
		if isDefault {
			defs = append(defs, t)
		}
		if !slices.Contains(types, t) { // *"a" | "a" is just "a"
			types = append(types, t)
		}
	}
	if len(defs) > 0 {
		def = r.expr(strings.Join(defs, " | "))
	}
	return r.expr(strings.Join(types, " | ")), def, nil
}

// disjuncts flattens the top-level disjunction of x.
func disjuncts(x ast.Expr) []ast.Expr {
	if b, ok := x.(*ast.BinaryExpr); ok && b.Op == token.OR {
		return append(disjuncts(b.X), disjuncts(b.Y)...)
	}
	return []ast.Expr{x}
}

// source formats n as CUE on a single line, without comments.
func source(n ast.Node) (string, error) {
	ast.Walk(n, func(n ast.Node) bool {
		ast.SetComments(n, nil)
		return true
	}, nil)
	b, err := format.Node(n)
	if err != nil {
		return "", err
	}
	return oneLine(string(b)), nil
}

// oneLine joins the lines of formatted CUE, separating the elements of
// structs and lists with commas.
func oneLine(s string) string {
	var out strings.Builder
	for i, line := range strings.Split(strings.TrimSpace(s), "\n") {
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		if i > 0 {
			prev := out.String()
			switch {
			case strings.HasSuffix(prev, "{"), strings.HasSuffix(prev, "["), strings.HasSuffix(prev, "("),
				strings.HasPrefix(line, "}"), strings.HasPrefix(line, "]"), strings.HasPrefix(line, ")"):
			case strings.HasSuffix(prev, ","):
				out.WriteString(" ")
			case strings.HasSuffix(prev, "&"), strings.HasSuffix(prev, "|"):
				out.WriteString(" ")
			default:
				out.WriteString(", ")
			}
		}
		out.WriteString(line)
	}
	return strings.TrimSuffix(out.String(), ",")
}

// expr renders CUE source as code spans, linking the definitions it
// references to their sections.
func (r *renderer) expr(src string) string {
	var out strings.Builder
	start := 0 // start of the pending code text
	flush := func(end int) {
		if end > start {
			out.WriteString(code(src[start:end]))
		}
	}
	for i := 0; i < len(src); {
		c := src[i]
		switch {
		case c == '"':
			i = skipString(src, i)
		case c == '#' && (i == 0 || !isIdent(src[i-1])):
			j := i + 1
			for j < len(src) && isIdent(src[j]) {
				j++
			}
			name := src[i:j]
			if r.defs[name] {
				flush(i)
				fmt.Fprintf(&out, "[%s](#%s)", name, anchor(name))
				start = j
			}
			i = j
		default:
			i++
		}
	}
	flush(len(src))
	return out.String()
}

// skipString returns the index just past the string literal starting at
// the quote at src[i].
func skipString(src string, i int) int {
	for j := i + 1; j < len(src); j++ {
		switch src[j] {
		case '\\':
			j++
		case '"':
			return j + 1
		}
	}
	return len(src)
}

func isIdent(c byte) bool {
	return c == '_' || c == '$' || c == '#' || '0' <= c && c <= '9' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z'
}

// code renders s as a Markdown code span.
func code(s string) string {
	fence := "`"
	for strings.Contains(s, fence) {
		fence += "`"
	}
	if strings.HasPrefix(s, "`") || strings.HasSuffix(s, "`") {
		s = " " + s + " "
	}
	return fence + s + fence
}

// cell escapes the column separator in a table cell.
func cell(s string) string {
	return strings.ReplaceAll(s, "|", `\|`)
}

// docText returns the doc comment of n.
func docText(n ast.Node) string {
	var parts []string
	for _, cg := range ast.Comments(n) {
		if cg.Doc {
			parts = append(parts, cg.Text())
		}
	}
	return strings.TrimSpace(strings.Join(parts, "\n"))
}

// prose renders a doc comment as Markdown paragraphs; lines indented with
// a tab become CUE code blocks.
func prose(doc string) string {
	var out strings.Builder
	var para, block []string
	endPara := func() {
		if len(para) > 0 {
			out.WriteString(escape(strings.Join(para, " ")) + "\n\n")
			para = nil
		}
	}
	endBlock := func() {
		for len(block) > 0 && block[len(block)-1] == "" {
			block = block[:len(block)-1]
		}
		if len(block) > 0 {
			out.WriteString("```cue\n" + strings.Join(block, "\n") + "\n```\n\n")
			block = nil
		}
	}
	for _, line := range strings.Split(doc, "\n") {
		switch {
		case strings.HasPrefix(line, "\t"):
			endPara()
			block = append(block, strings.TrimPrefix(line, "\t"))
		case strings.TrimSpace(line) == "":
			endPara()
			if len(block) > 0 {
				block = append(block, "")
			}
		default:
			endBlock()
			para = append(para, strings.TrimSpace(line))
		}
	}
	endPara()
	endBlock()
	return out.String()
}

// inline renders a doc comment as a single line of Markdown.
func inline(doc string) string {
	return escape(strings.Join(strings.Fields(doc), " "))
}

// escape keeps Markdown from reading prose as markup or HTML.
var escape = strings.NewReplacer(`\`, `\\`, "`", "\\`", "*", `\*`, "<", `\<`, "[", `\[`, "]", `\]`).Replace
