package emit

import (
	"bytes"
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"unicode/utf16"
)

// node is a JSON value: an object with keys in order, an array, a string,
// or a literal (number, true, false, null) kept as written.
type node struct {
	kind  byte // 'o', 'a', 's' or 'l'
	text  string
	keys  []string
	items []*node // object values or array items
}

// parseJSON reads the JSON encoding/json wrote into a tree, without Go
// maps or reflection.
func parseJSON(data []byte) (*node, error) {
	p := &jsonParser{s: data}
	n, err := p.value()
	if err != nil {
		return nil, err
	}
	p.space()
	if p.i != len(p.s) {
		return nil, fmt.Errorf("emit: trailing data at offset %d", p.i)
	}
	return n, nil
}

type jsonParser struct {
	s []byte
	i int
}

func (p *jsonParser) space() {
	for p.i < len(p.s) && (p.s[p.i] == ' ' || p.s[p.i] == '\n' || p.s[p.i] == '\t' || p.s[p.i] == '\r') {
		p.i++
	}
}

func (p *jsonParser) value() (*node, error) {
	p.space()
	if p.i >= len(p.s) {
		return nil, fmt.Errorf("emit: unexpected end of JSON")
	}
	switch c := p.s[p.i]; {
	case c == '{':
		p.i++
		n := &node{kind: 'o'}
		p.space()
		if p.i < len(p.s) && p.s[p.i] == '}' {
			p.i++
			return n, nil
		}
		for {
			p.space()
			k, err := p.str()
			if err != nil {
				return nil, err
			}
			p.space()
			if p.i >= len(p.s) || p.s[p.i] != ':' {
				return nil, fmt.Errorf("emit: want ':' at offset %d", p.i)
			}
			p.i++
			v, err := p.value()
			if err != nil {
				return nil, err
			}
			n.keys = append(n.keys, k)
			n.items = append(n.items, v)
			p.space()
			if p.i < len(p.s) && p.s[p.i] == ',' {
				p.i++
				continue
			}
			if p.i < len(p.s) && p.s[p.i] == '}' {
				p.i++
				return n, nil
			}
			return nil, fmt.Errorf("emit: want ',' or '}' at offset %d", p.i)
		}
	case c == '[':
		p.i++
		n := &node{kind: 'a'}
		p.space()
		if p.i < len(p.s) && p.s[p.i] == ']' {
			p.i++
			return n, nil
		}
		for {
			v, err := p.value()
			if err != nil {
				return nil, err
			}
			n.items = append(n.items, v)
			p.space()
			if p.i < len(p.s) && p.s[p.i] == ',' {
				p.i++
				continue
			}
			if p.i < len(p.s) && p.s[p.i] == ']' {
				p.i++
				return n, nil
			}
			return nil, fmt.Errorf("emit: want ',' or ']' at offset %d", p.i)
		}
	case c == '"':
		s, err := p.str()
		if err != nil {
			return nil, err
		}
		return &node{kind: 's', text: s}, nil
	default:
		start := p.i
		for p.i < len(p.s) && strings.IndexByte(",]} \n\t\r", p.s[p.i]) < 0 {
			p.i++
		}
		return &node{kind: 'l', text: string(p.s[start:p.i])}, nil
	}
}

// str reads a JSON string; only strings with escapes take the slow path.
func (p *jsonParser) str() (string, error) {
	if p.i >= len(p.s) || p.s[p.i] != '"' {
		return "", fmt.Errorf("emit: want a string at offset %d", p.i)
	}
	start := p.i
	p.i++
	escaped := false
	for p.i < len(p.s) {
		switch p.s[p.i] {
		case '\\':
			escaped = true
			p.i += 2
			continue
		case '"':
			p.i++
			if !escaped {
				return string(p.s[start+1 : p.i-1]), nil
			}
			return unescape(p.s[start+1 : p.i-1])
		}
		p.i++
	}
	return "", fmt.Errorf("emit: unterminated string")
}

// unescape decodes the body of a JSON string with escapes; surrogate
// pairs and anything unusual go through encoding/json.
func unescape(s []byte) (string, error) {
	var b strings.Builder
	b.Grow(len(s))
	for i := 0; i < len(s); i++ {
		if s[i] != '\\' {
			b.WriteByte(s[i])
			continue
		}
		if i+1 >= len(s) {
			return "", fmt.Errorf("emit: bad escape")
		}
		i++
		switch s[i] {
		case '"', '\\', '/':
			b.WriteByte(s[i])
		case 'n':
			b.WriteByte('\n')
		case 't':
			b.WriteByte('\t')
		case 'r':
			b.WriteByte('\r')
		case 'b':
			b.WriteByte('\b')
		case 'f':
			b.WriteByte('\f')
		case 'u':
			if i+4 >= len(s) {
				return "", fmt.Errorf("emit: bad escape")
			}
			r, err := strconv.ParseUint(string(s[i+1:i+5]), 16, 32)
			if err != nil {
				return "", err
			}
			if utf16.IsSurrogate(rune(r)) {
				var out string
				err := json.Unmarshal(append(append([]byte{'"'}, s...), '"'), &out)
				return out, err
			}
			b.WriteRune(rune(r))
			i += 4
		default:
			return "", fmt.Errorf("emit: bad escape \\%c", s[i])
		}
	}
	return b.String(), nil
}

// prune drops null values and empty objects (but emptyDir: {}) from an
// object, recursively, and sorts object keys.
func (n *node) prune() {
	switch n.kind {
	case 'o':
		keys, items := n.keys[:0], n.items[:0]
		for i, k := range n.keys {
			v := n.items[i]
			if v.kind == 'l' && v.text == "null" {
				continue
			}
			v.prune()
			if v.kind == 'o' && len(v.keys) == 0 && k != "emptyDir" {
				continue
			}
			keys, items = append(keys, k), append(items, v)
		}
		n.keys, n.items = keys, items
		sort.Sort(byKey{n})
	case 'a':
		for _, v := range n.items {
			v.prune()
		}
	}
}

type byKey struct{ n *node }

func (b byKey) Len() int           { return len(b.n.keys) }
func (b byKey) Less(i, j int) bool { return b.n.keys[i] < b.n.keys[j] }
func (b byKey) Swap(i, j int) {
	b.n.keys[i], b.n.keys[j] = b.n.keys[j], b.n.keys[i]
	b.n.items[i], b.n.items[j] = b.n.items[j], b.n.items[i]
}

// drop removes a key of an object.
func (n *node) drop(key string) {
	for i, k := range n.keys {
		if k == key {
			n.keys = append(n.keys[:i], n.keys[i+1:]...)
			n.items = append(n.items[:i], n.items[i+1:]...)
			return
		}
	}
}

// fromData turns plain JSON data (as encoding/json decodes it, with
// json.Number or float64 numbers) into a tree with sorted keys.
func fromData(v any) (*node, error) {
	switch v := v.(type) {
	case map[string]any:
		n := &node{kind: 'o'}
		for k, x := range v {
			c, err := fromData(x)
			if err != nil {
				return nil, err
			}
			n.keys = append(n.keys, k)
			n.items = append(n.items, c)
		}
		sort.Sort(byKey{n})
		return n, nil
	case []any:
		n := &node{kind: 'a'}
		for _, x := range v {
			c, err := fromData(x)
			if err != nil {
				return nil, err
			}
			n.items = append(n.items, c)
		}
		return n, nil
	case string:
		return &node{kind: 's', text: v}, nil
	case nil, bool, json.Number, float64:
		data, err := json.Marshal(v)
		if err != nil {
			return nil, err
		}
		return &node{kind: 'l', text: string(data)}, nil
	}
	return nil, fmt.Errorf("emit: cannot encode %T as YAML", v)
}

// encodeJSON writes a tree as encoding/json's indented output does, two
// spaces per level, without escaping HTML characters.
func encodeJSON(b *bytes.Buffer, n *node, indent string) error {
	switch n.kind {
	case 'o', 'a':
		open, close := byte('{'), byte('}')
		if n.kind == 'a' {
			open, close = '[', ']'
		}
		b.WriteByte(open)
		if len(n.items) == 0 {
			b.WriteByte(close)
			return nil
		}
		inner := indent + "  "
		for i, v := range n.items {
			if i > 0 {
				b.WriteByte(',')
			}
			b.WriteByte('\n')
			b.WriteString(inner)
			if n.kind == 'o' {
				if err := encodeJSONString(b, n.keys[i]); err != nil {
					return err
				}
				b.WriteString(": ")
			}
			if err := encodeJSON(b, v, inner); err != nil {
				return err
			}
		}
		b.WriteByte('\n')
		b.WriteString(indent)
		b.WriteByte(close)
		return nil
	case 's':
		return encodeJSONString(b, n.text)
	}
	b.WriteString(n.text)
	return nil
}

func encodeJSONString(b *bytes.Buffer, s string) error {
	enc := json.NewEncoder(b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(s); err != nil {
		return err
	}
	b.Truncate(b.Len() - 1) // Encode's newline
	return nil
}
