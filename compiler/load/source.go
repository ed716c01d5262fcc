package load

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"unicode/utf8"

	"cuelang.org/go/cue/ast"
	"cuelang.org/go/cue/build"
	"cuelang.org/go/cue/parser"

	"cairn.dev/cairn/compiler/diag"
)

// sources watches every file the CUE loader parses, through
// load.Config.ParseFile, for what the loader passes over in silence: text
// that is not UTF-8 (the loader decodes each invalid byte as U+FFFD, the
// replacement character, before parsing) and files without a package
// clause (which `./...` ignores, as the cue command does). It is safe for
// concurrent use, as the loader requires.
type sources struct {
	root  string
	files map[string][]byte // Config.Files

	mu        sync.Mutex
	badUTF8   map[string]diag.Diagnostic // by file, relative to root
	noPackage map[string]bool            // files, relative to root
	failed    map[string]bool            // files that did not parse
}

func newSources(root string, files map[string][]byte) *sources {
	return &sources{root: root, files: files, badUTF8: map[string]diag.Diagnostic{}, noPackage: map[string]bool{}, failed: map[string]bool{}}
}

// parse is a load.Config.ParseFile: it parses as the loader would and
// records what the file holds.
func (s *sources) parse(name string, src any, cfg parser.Config) (*ast.File, error) {
	f, err := parser.ParseFile(name, src, cfg)
	rel := relOrSelf(s.root, name)
	if rel == "cue.mod" || strings.HasPrefix(rel, "cue.mod/") {
		return f, err
	}
	var data []byte
	switch src := src.(type) {
	case []byte:
		data = src
	case string:
		data = []byte(src)
	}
	// Only a file the loader decoded to a replacement character can have
	// held invalid bytes: read that one as it is stored.
	var bad diag.Diagnostic
	invalid := false
	if bytes.Contains(data, []byte(string(utf8.RuneError))) {
		raw, ok := s.files[rel]
		if s.files == nil {
			var rerr error
			raw, rerr = os.ReadFile(name)
			ok = rerr == nil
		}
		if ok {
			bad, invalid = invalidUTF8(rel, raw)
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if invalid {
		s.badUTF8[rel] = bad
	}
	if err != nil {
		s.failed[rel] = true // the loader reports why
	} else if f.PackageName() == "" {
		s.noPackage[rel] = true
	}
	return f, err
}

// utf8Diags returns an error for each file that is not UTF-8 text.
func (s *sources) utf8Diags() diag.List {
	s.mu.Lock()
	defer s.mu.Unlock()
	var l diag.List
	for _, d := range s.badUTF8 {
		l = append(l, d)
	}
	return l
}

// reported reports whether rel, relative to root, was found not to be
// UTF-8 text.
func (s *sources) reported(rel string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, ok := s.badUTF8[rel]
	return ok
}

// unpackagedDiags returns a warning for each file without a package
// clause that the loader read: such a file belongs to no package that
// `./...` matches, so it is ignored, as the cue command ignores it. The
// warning names the package of the file's folder, when it has one.
func (s *sources) unpackagedDiags(insts []*build.Instance) diag.List {
	pkgs := map[string]string{} // folder, relative to root -> package name
	for _, b := range insts {
		if b.PkgName != "" && b.PkgName != "_" {
			pkgs[relOrSelf(s.root, b.Dir)] = b.PkgName
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var l diag.List
	for rel := range s.noPackage {
		if _, bad := s.badUTF8[rel]; bad || s.failed[rel] {
			continue
		}
		d := diag.Diagnostic{Pos: diag.Pos{File: rel, Line: 1, Col: 1}, Severity: diag.Warning}
		if pkg, ok := pkgs[filepath.ToSlash(filepath.Dir(rel))]; ok {
			d.Msg = fmt.Sprintf("file has no package clause, so it is not part of package %s and is ignored, as cue ignores it: start it with `package %s`", pkg, pkg)
		} else {
			d.Msg = "file has no package clause, so it is ignored, as cue ignores it: start it with `package <name>` (the files of a folder share one package)"
		}
		l = append(l, d)
	}
	slices.SortFunc(l, func(a, b diag.Diagnostic) int { return strings.Compare(a.Pos.File, b.Pos.File) })
	return l
}

// invalidUTF8 returns an error at the first byte of data, the contents of
// file, that is not part of a UTF-8 encoded character, counting the
// others; ok is false when data is UTF-8 text. Columns count bytes, as
// CUE's positions do.
func invalidUTF8(file string, data []byte) (d diag.Diagnostic, ok bool) {
	if utf8.Valid(data) {
		return d, false
	}
	line, col, more := 1, 1, 0
	found := false
	for i := 0; i < len(data); {
		r, size := utf8.DecodeRune(data[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			if found {
				more++
			} else {
				found = true
				d.Pos = diag.Pos{File: file, Line: line, Col: col}
				d.Msg = fmt.Sprintf("invalid UTF-8 encoding (byte 0x%02x): a CUE file must be UTF-8 text", data[i])
			}
		case r == '\n':
			line, col = line+1, 0
		}
		i += size
		col += size
	}
	switch {
	case more == 1:
		d.Msg += " (1 more invalid byte in this file)"
	case more > 1:
		d.Msg += fmt.Sprintf(" (%d more invalid bytes in this file)", more)
	}
	return d, true
}
