package emit

import (
	"bytes"
	"fmt"
	"strings"
	"unicode/utf8"
)

// EncodeYAML writes plain JSON data (maps, slices, strings, json.Number,
// float64, bools, nil) as block-style YAML: keys sorted, two-space indents,
// lists at their key's indentation, multi-line strings as literal blocks,
// and every string that YAML 1.1 or 1.2 could read as anything else
// double-quoted. It is a direct encoder for the one shape of data Cairn
// writes, much cheaper than a general YAML library, and its output is
// checked by parsing it back with one (see the tests).
func EncodeYAML(v any) ([]byte, error) {
	n, err := fromData(v)
	if err != nil {
		return nil, err
	}
	var b bytes.Buffer
	encodeNode(&b, n, 0, false)
	return b.Bytes(), nil
}

func encodeNode(b *bytes.Buffer, n *node, indent int, inList bool) {
	switch n.kind {
	case 'o':
		if len(n.keys) == 0 {
			b.WriteString("{}\n")
			return
		}
		for i, k := range n.keys {
			if i > 0 || !inList {
				writeIndent(b, indent)
			}
			writeString(b, k, indent, true)
			b.WriteByte(':')
			encodeChild(b, n.items[i], indent)
		}
	case 'a':
		if len(n.items) == 0 {
			b.WriteString("[]\n")
			return
		}
		for i, x := range n.items {
			if i > 0 || !inList {
				writeIndent(b, indent)
			}
			b.WriteString("- ")
			if x.kind == 'o' || x.kind == 'a' {
				encodeNode(b, x, indent+2, true)
			} else {
				writeScalar(b, x, indent+2)
			}
		}
	default:
		writeScalar(b, n, indent)
	}
}

// encodeChild writes the value of a map key, after the colon.
func encodeChild(b *bytes.Buffer, n *node, indent int) {
	switch {
	case n.kind == 'o' && len(n.keys) == 0:
		b.WriteString(" {}\n")
	case n.kind == 'a' && len(n.items) == 0:
		b.WriteString(" []\n")
	case n.kind == 'o':
		b.WriteByte('\n')
		encodeNode(b, n, indent+2, false)
	case n.kind == 'a':
		b.WriteByte('\n')
		encodeNode(b, n, indent, false)
	default:
		b.WriteByte(' ')
		writeScalar(b, n, indent+2)
	}
}

func writeIndent(b *bytes.Buffer, n int) {
	for range n {
		b.WriteByte(' ')
	}
}

func writeScalar(b *bytes.Buffer, n *node, indent int) {
	if n.kind == 's' {
		writeString(b, n.text, indent, false)
	} else {
		b.WriteString(n.text)
	}
	b.WriteByte('\n')
}

// writeString writes s plain when no YAML reader could take it for
// anything but this string, as a literal block when it spans lines, and
// double-quoted otherwise.
func writeString(b *bytes.Buffer, s string, indent int, key bool) {
	switch {
	case isPlain(s):
		b.WriteString(s)
	case !key && canLiteral(s):
		b.WriteByte('|')
		if !strings.HasSuffix(s, "\n") {
			b.WriteByte('-')
		}
		for _, line := range strings.SplitAfter(strings.TrimSuffix(s, "\n"), "\n") {
			b.WriteByte('\n')
			if line != "\n" && line != "" {
				writeIndent(b, indent)
			}
			b.WriteString(strings.TrimSuffix(line, "\n"))
		}
	default:
		writeQuoted(b, s)
	}
}

var reserved = map[string]bool{
	"y": true, "n": true, "yes": true, "no": true, "on": true, "off": true,
	"true": true, "false": true, "null": true, "~": true,
}

// isPlain reports whether s can be written without quotes: it starts with
// a letter, '/' or a '-' that starts no number, holds only characters with
// no meaning in a plain scalar, and is no YAML 1.1 keyword.
func isPlain(s string) bool {
	if s == "" || reserved[strings.ToLower(s)] {
		return false
	}
	c := s[0]
	switch {
	case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c == '/':
	case c == '-':
		if len(s) == 1 || !(s[1] >= 'a' && s[1] <= 'z' || s[1] >= 'A' && s[1] <= 'Z' || s[1] == '-') {
			return false
		}
	default:
		return false
	}
	if s[len(s)-1] == ' ' || s[len(s)-1] == ':' {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case strings.IndexByte("._/@+=-()", c) >= 0:
		case c == ' ':
			if i+1 < len(s) && (s[i+1] == '#' || s[i+1] == ' ') {
				return false
			}
		case c == ':':
			if i+1 < len(s) && s[i+1] == ' ' {
				return false
			}
		default:
			return false
		}
	}
	return true
}

// canLiteral reports whether s, spanning lines, can be a literal block:
// printable, no tabs, no line starting or ending with a space, and not
// only newlines.
func canLiteral(s string) bool {
	if !strings.Contains(s, "\n") || strings.TrimRight(s, "\n") == "" || strings.HasSuffix(s, "\n\n") || !utf8.ValidString(s) {
		return false
	}
	for _, line := range strings.Split(strings.TrimSuffix(s, "\n"), "\n") {
		if strings.HasPrefix(line, " ") || strings.HasSuffix(line, " ") {
			return false
		}
		for _, r := range line {
			if r < 0x20 || r == 0x7f || r == 0xfeff || r >= 0x80 && r < 0xa0 || r == 0x2028 || r == 0x2029 {
				return false
			}
		}
	}
	return true
}

func writeQuoted(b *bytes.Buffer, s string) {
	b.WriteByte('"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c >= 0x20 && c < 0x7f && c != '"' && c != '\\' {
			i++ // the common case: a run of printable ASCII
			continue
		}
		b.WriteString(s[start:i])
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			fmt.Fprintf(b, `\x%02x`, s[i])
		case r == '"':
			b.WriteString(`\"`)
		case r == '\\':
			b.WriteString(`\\`)
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\t':
			b.WriteString(`\t`)
		case r < 0x20 || r == 0x7f || r >= 0x80 && r < 0xa0 || r == 0xfeff || r == 0x2028 || r == 0x2029:
			fmt.Fprintf(b, `\u%04x`, r)
		default:
			b.WriteString(s[i : i+size])
		}
		i += size
		start = i
	}
	b.WriteString(s[start:])
	b.WriteByte('"')
}
