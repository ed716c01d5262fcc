package load

import (
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"cuelang.org/go/cue"
	"cuelang.org/go/cue/ast"
	cueerrors "cuelang.org/go/cue/errors"
	"cuelang.org/go/cue/parser"
	"cuelang.org/go/cue/token"
	"cuelang.org/go/mod/modfile"

	"cairn.dev/cairn/compiler/diag"
)

// ModFile is the module file of a CUE module, relative to its root.
const ModFile = "cue.mod/module.cue"

// modFileFields are the top-level fields a module file may hold.
var modFileFields = []string{"module", "language", "source", "deps", "custom"}

// checkModFile parses the module file as the cue command does (with
// modfile.ParseNonStrict, as cue/load does) and reports its problems with
// the cue command's words, each at a position in the file: most of
// modfile's errors carry none, and cue/load's own report of them is empty.
func checkModFile(root string, files map[string][]byte) diag.List {
	data, ok := files[ModFile]
	if files == nil {
		var err error
		if data, err = os.ReadFile(filepath.Join(root, filepath.FromSlash(ModFile))); err != nil {
			return diag.List{{Pos: diag.Pos{File: ModFile}, Msg: "cannot read the module file: " + strings.TrimPrefix(err.Error(), "open "+root+"/")}}
		}
	} else if !ok {
		return nil // findRoot reports it
	}
	return CheckModFile(data)
}

// LanguageVersion returns the CUE language version Cairn evaluates, the
// newest a module file may declare.
func LanguageVersion() string { return cue.LanguageVersion() }

// CheckModFile reports the problems of the contents of a module file,
// positioned in ModFile, in the cue command's words; nil when there are
// none.
func CheckModFile(data []byte) diag.List {
	_, err := modfile.ParseNonStrict(data, ModFile)
	if err == nil {
		return nil
	}
	var diags diag.List
	for _, e := range cueerrors.Errors(err) {
		diags = append(diags, modFileDiag(data, e))
	}
	return diags
}

// modFileDiag turns one error of modfile's parser into a diagnostic.
func modFileDiag(data []byte, e cueerrors.Error) diag.Diagnostic {
	msg := e.Error()
	elems := e.Path()
	path := strings.Join(elems, ".")
	if path != "" {
		msg = strings.TrimPrefix(msg, path+": ")
	}
	pos := e.Position()
	if ps := e.InputPositions(); !pos.IsValid() && len(ps) > 0 {
		pos = ps[0]
	}
	d := diag.Diagnostic{Path: path, Msg: msg}
	if pos.IsValid() {
		d.Pos = diag.Pos{File: ModFile, Line: pos.Line(), Col: pos.Column()}
	}
	file, _ := parser.ParseFile(ModFile, data)
	switch {
	case errors.Is(e, modfile.ErrNoLanguageVersion):
		d.Pos = modFilePos(file, "module")
		d.Msg += "; run 'cue mod fix', or add " + `language: version: "` + cue.LanguageVersion() + `"`
	case strings.HasPrefix(msg, "invalid module file "+ModFile+": "):
		d.Path = "module"
		d.Pos = modFilePos(file, "module")
		d.Msg = strings.TrimPrefix(msg, "invalid module file "+ModFile+": ")
		if strings.Contains(d.Msg, "module path") {
			d.Msg += `; want a path such as "example.com/` + suggestModule(file) + `@v0"`
		}
	case strings.HasPrefix(msg, "language version "):
		d.Path = "language.version"
		d.Pos = modFilePos(file, "language", "version")
	case strings.HasPrefix(msg, "field not allowed") && len(elems) == 1:
		if s := diag.Closest(elems[0], modFileFields); s != "" {
			d.Msg += "; did you mean " + strconv.Quote(s) + "?"
		} else {
			d.Msg += "; want " + strings.Join(modFileFields, ", ")
		}
	}
	if !d.Pos.IsValid() {
		d.Pos = diag.Pos{File: ModFile, Line: 1, Col: 1}
	}
	return d
}

// modFilePos returns where the value of a field of the module file is
// written, else the start of the file.
func modFilePos(f *ast.File, path ...string) diag.Pos {
	if f != nil {
		if p := newLocator([]*ast.File{f}, "").find(path); p.IsValid() {
			return posOf(p)
		}
	}
	return diag.Pos{File: ModFile, Line: 1, Col: 1}
}

func posOf(p token.Pos) diag.Pos {
	return diag.Pos{File: ModFile, Line: p.Line(), Col: p.Column()}
}

// suggestModule returns a lower-case module name from the module path the
// file declares, for the example of a valid path.
func suggestModule(f *ast.File) string {
	name := ""
	if f != nil {
		for _, d := range f.Decls {
			if fd, ok := d.(*ast.Field); ok {
				if l, _, _ := ast.LabelName(fd.Label); l == "module" {
					if lit, ok := fd.Value.(*ast.BasicLit); ok {
						name = strings.Trim(lit.Value, `"`)
					}
				}
			}
		}
	}
	name, _, _ = strings.Cut(name, "@")
	name = name[strings.LastIndex(name, "/")+1:]
	if s := ModuleName(name); s != "" {
		return s
	}
	return "ml"
}

// ModuleName turns a folder name into the last element of a valid module
// path: lower case, with runs of characters other than letters and digits
// replaced by '-', and no '-' at either end; "" when nothing is left.
func ModuleName(name string) string {
	var b strings.Builder
	dash := false
	for _, r := range strings.ToLower(name) {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' {
			if dash && b.Len() > 0 {
				b.WriteByte('-')
			}
			b.WriteRune(r)
			dash = false
			continue
		}
		dash = true
	}
	return b.String()
}
