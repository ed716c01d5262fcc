package emit

import (
	"bytes"
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
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
	var b bytes.Buffer
	if err := encodeValue(&b, v, 0, false); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

func encodeValue(b *bytes.Buffer, v any, indent int, inList bool) error {
	switch v := v.(type) {
	case map[string]any:
		if len(v) == 0 {
			b.WriteString("{}\n")
			return nil
		}
		keys := make([]string, 0, len(v))
		for k := range v {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for i, k := range keys {
			if i > 0 || !inList {
				writeIndent(b, indent)
			}
			writeString(b, k, indent, true)
			b.WriteByte(':')
			if err := encodeChild(b, v[k], indent); err != nil {
				return err
			}
		}
	case []any:
		if len(v) == 0 {
			b.WriteString("[]\n")
			return nil
		}
		for i, x := range v {
			if i > 0 || !inList {
				writeIndent(b, indent)
			}
			b.WriteString("- ")
			switch x := x.(type) {
			case map[string]any:
				if len(x) == 0 {
					b.WriteString("{}\n")
					continue
				}
				if err := encodeValue(b, x, indent+2, true); err != nil {
					return err
				}
			case []any:
				if len(x) == 0 {
					b.WriteString("[]\n")
					continue
				}
				if err := encodeValue(b, x, indent+2, true); err != nil {
					return err
				}
			default:
				if err := writeScalar(b, x, indent+2); err != nil {
					return err
				}
			}
		}
	default:
		return writeScalar(b, v, indent)
	}
	return nil
}

// encodeChild writes the value of a map key, after the colon.
func encodeChild(b *bytes.Buffer, v any, indent int) error {
	switch x := v.(type) {
	case map[string]any:
		if len(x) == 0 {
			b.WriteString(" {}\n")
			return nil
		}
		b.WriteByte('\n')
		return encodeValue(b, x, indent+2, false)
	case []any:
		if len(x) == 0 {
			b.WriteString(" []\n")
			return nil
		}
		b.WriteByte('\n')
		return encodeValue(b, x, indent, false)
	default:
		b.WriteByte(' ')
		return writeScalar(b, v, indent+2)
	}
}

func writeIndent(b *bytes.Buffer, n int) {
	for range n {
		b.WriteByte(' ')
	}
}

func writeScalar(b *bytes.Buffer, v any, indent int) error {
	switch v := v.(type) {
	case nil:
		b.WriteString("null\n")
	case bool:
		b.WriteString(strconv.FormatBool(v))
		b.WriteByte('\n')
	case json.Number:
		b.WriteString(v.String())
		b.WriteByte('\n')
	case float64:
		b.WriteString(strconv.FormatFloat(v, 'g', -1, 64))
		b.WriteByte('\n')
	case string:
		writeString(b, v, indent, false)
		b.WriteByte('\n')
	default:
		return fmt.Errorf("emit: cannot encode %T as YAML", v)
	}
	return nil
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
	for i := 0; i < len(s); {
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
	}
	b.WriteByte('"')
}
