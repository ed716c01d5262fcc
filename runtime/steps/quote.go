package steps

import (
	"strconv"
	"strings"
	"unicode/utf8"
)

// MaxShown bounds how many bytes of a value read from data (a cell, a
// column or metric name, a file name) a message shows; longer values are
// cut, and the cut marked with "...".
const MaxShown = 64

// quoteData returns s as a Go string literal (strconv.Quote: control bytes,
// invalid UTF-8 and non-printing characters escaped), cut to MaxShown
// bytes of s with "..." after the closing quote when longer. Messages use
// it for values read from data files, so that a terminal never receives
// the file's raw bytes.
func quoteData(s string) string {
	if len(s) <= MaxShown {
		return strconv.Quote(s)
	}
	cut := MaxShown
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return strconv.Quote(s[:cut]) + "..."
}

// maxPlain bounds the printable text showData shows as it is: the
// longest object key an object store allows.
const maxPlain = 1024

// showData returns s as it is when it is printable text of at most
// maxPlain bytes (so the usual column, metric and file names read as
// written), else quoteData(s).
func showData(s string) string {
	if len(s) <= maxPlain && isPlain(s) {
		return s
	}
	return quoteData(s)
}

// isPlain reports whether s is valid UTF-8 of printing characters and
// ASCII spaces only.
func isPlain(s string) bool {
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c < ' ' || c == 0x7f {
				return false
			}
			i++
			continue
		}
		r, n := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && n == 1 || !strconv.IsPrint(r) {
			return false
		}
		i += n
	}
	return true
}

// escapeControls escapes, as strconv.Quote would, the bytes of s that are
// not printing characters (control bytes, invalid UTF-8), leaving the rest
// as it is: for messages of libraries that may echo a file's bytes.
func escapeControls(s string) string {
	if isPlain(s) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && n == 1 || r != ' ' && !strconv.IsPrint(r) {
			q := strconv.Quote(s[i : i+n])
			b.WriteString(q[1 : len(q)-1])
		} else {
			b.WriteString(s[i : i+n])
		}
		i += n
	}
	return b.String()
}

// showList is names shown by showData, joined with ", ".
func showList(names []string) string {
	out := make([]string, len(names))
	for i, n := range names {
		out[i] = showData(n)
	}
	return strings.Join(out, ", ")
}
