// Package diag holds the compiler's diagnostics: errors and warnings that
// name the file, line and column of the spec they come from, and the CUE
// path of the value.
package diag

import (
	"fmt"
	"slices"
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

// Severity says whether a diagnostic fails the compile.
type Severity int

const (
	// Error fails the compile. It is the zero value: a diagnostic is an
	// error unless it says otherwise.
	Error Severity = iota
	// Warning is reported, and the compile goes on.
	Warning
)

// String returns "error" or "warning".
func (s Severity) String() string {
	if s == Warning {
		return "warning"
	}
	return "error"
}

// Diagnostic is one problem found in a spec.
type Diagnostic struct {
	Pos      Pos      // where the offending value is written
	Path     string   // CUE path of the value, e.g. project.pipelines.fraud.train
	Msg      string   // what is wrong, lower case
	Severity Severity // Error (the zero value) or Warning
	Also     []Pos    // other places the user wrote the value, if any
}

// Error returns "file:line:col: path: msg", without the severity (List's
// Error marks warnings).
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
	if len(d.Also) > 0 {
		b.WriteString(" (also set at ")
		for i, p := range d.Also {
			if i > 0 {
				b.WriteString(", ")
			}
			b.WriteString(p.String())
		}
		b.WriteString(")")
	}
	return b.String()
}

// same reports whether two diagnostics say the same thing at the same
// place.
func same(a, b Diagnostic) bool {
	return a.Pos == b.Pos && a.Path == b.Path && a.Msg == b.Msg && a.Severity == b.Severity && slices.Equal(a.Also, b.Also)
}

// List is a set of diagnostics, errors and warnings; as an error it
// reports all of them, one per line, sorted by position, warnings marked
// "warning: ".
type List []Diagnostic

// Add appends an error.
func (l *List) Add(pos Pos, path, format string, args ...any) {
	*l = append(*l, Diagnostic{Pos: pos, Path: path, Msg: fmt.Sprintf(format, args...)})
}

// Err returns l sorted and without duplicates as an error when it holds at
// least one error, warnings included; it returns nil when l is empty or
// holds only warnings, which do not fail a compile.
func (l List) Err() error {
	if !l.HasErrors() {
		return nil
	}
	return l.Sorted()
}

// HasErrors reports whether l holds a diagnostic of severity Error.
func (l List) HasErrors() bool {
	for _, d := range l {
		if d.Severity == Error {
			return true
		}
	}
	return false
}

// Split returns the errors and the warnings of l, each in l's order.
func (l List) Split() (errs, warns List) {
	for _, d := range l {
		if d.Severity == Warning {
			warns = append(warns, d)
		} else {
			errs = append(errs, d)
		}
	}
	return errs, warns
}

// Sorted returns a sorted copy of l without duplicates, or nil when l is
// empty.
func (l List) Sorted() List {
	if len(l) == 0 {
		return nil
	}
	s := append(List(nil), l...)
	s.Sort()
	out := s[:0]
	for i, d := range s {
		if i > 0 && same(d, s[i-1]) {
			continue
		}
		out = append(out, d)
	}
	return out
}

// Sort orders the list by file, line, column, path, message and severity.
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
		if a.Msg != b.Msg {
			return a.Msg < b.Msg
		}
		return a.Severity < b.Severity
	})
}

// Error returns every diagnostic, one per line, warnings prefixed with
// "warning: ".
func (l List) Error() string {
	var b strings.Builder
	for i, d := range l {
		if i > 0 {
			b.WriteByte('\n')
		}
		if d.Severity == Warning {
			b.WriteString("warning: ")
		}
		b.WriteString(d.Error())
	}
	return b.String()
}
