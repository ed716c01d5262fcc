// Package diag holds the compiler's diagnostics: errors that name the file,
// line and column of the spec they come from, and the CUE path of the value.
package diag

import (
	"fmt"
	"sort"
	"strings"
)

// Pos is a position in a spec file. File is relative to the loaded
// directory, with forward slashes.
type Pos struct {
	File string
	Line int
	Col  int
}

// IsValid reports whether p names a file.
func (p Pos) IsValid() bool { return p.File != "" }

// String returns "file:line:col", or "" for an invalid position.
func (p Pos) String() string {
	if !p.IsValid() {
		return ""
	}
	if p.Line == 0 {
		return p.File
	}
	return fmt.Sprintf("%s:%d:%d", p.File, p.Line, p.Col)
}

// Diagnostic is one problem found in a spec.
type Diagnostic struct {
	Pos  Pos    // where the offending value is written
	Path string // CUE path of the value, e.g. project.pipelines.fraud.train
	Msg  string // what is wrong, lower case
}

// Error returns "file:line:col: path: msg".
func (d Diagnostic) Error() string {
	var b strings.Builder
	if s := d.Pos.String(); s != "" {
		b.WriteString(s)
		b.WriteString(": ")
	}
	if d.Path != "" {
		b.WriteString(d.Path)
		b.WriteString(": ")
	}
	b.WriteString(d.Msg)
	return b.String()
}

// List is a set of diagnostics; as an error it reports all of them, one per
// line, sorted by position.
type List []Diagnostic

// Add appends a diagnostic.
func (l *List) Add(pos Pos, path, format string, args ...any) {
	*l = append(*l, Diagnostic{Pos: pos, Path: path, Msg: fmt.Sprintf(format, args...)})
}

// Err returns l sorted and without duplicates as an error, or nil when l is
// empty.
func (l List) Err() error {
	if len(l) == 0 {
		return nil
	}
	s := append(List(nil), l...)
	s.Sort()
	out := s[:0]
	for i, d := range s {
		if i > 0 && d == s[i-1] {
			continue
		}
		out = append(out, d)
	}
	return out
}

// Sort orders the list by file, line, column, path and message.
func (l List) Sort() {
	sort.SliceStable(l, func(i, j int) bool {
		a, b := l[i], l[j]
		if a.Pos.File != b.Pos.File {
			return a.Pos.File < b.Pos.File
		}
		if a.Pos.Line != b.Pos.Line {
			return a.Pos.Line < b.Pos.Line
		}
		if a.Pos.Col != b.Pos.Col {
			return a.Pos.Col < b.Pos.Col
		}
		if a.Path != b.Path {
			return a.Path < b.Path
		}
		return a.Msg < b.Msg
	})
}

// Error returns every diagnostic, one per line.
func (l List) Error() string {
	var b strings.Builder
	for i, d := range l {
		if i > 0 {
			b.WriteByte('\n')
		}
		b.WriteString(d.Error())
	}
	return b.String()
}
