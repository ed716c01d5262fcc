package emit

import (
	"bytes"
	"encoding/json"
	"math/rand"
	"strings"
	"testing"

	yaml3 "go.yaml.in/yaml/v3"
	"sigs.k8s.io/yaml"
)

// canonical re-encodes JSON data with sorted keys.
func canonical(t *testing.T, v any) string {
	t.Helper()
	data, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var x any
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	if err := dec.Decode(&x); err != nil {
		t.Fatal(err)
	}
	out, _ := json.Marshal(x)
	return string(out)
}

// roundTrip encodes v and reads it back with the YAML 1.1 reader
// Kubernetes tools use (sigs.k8s.io/yaml) and a YAML 1.2 reader.
func roundTrip(t *testing.T, v any) {
	t.Helper()
	data, err := EncodeYAML(v)
	if err != nil {
		t.Fatalf("EncodeYAML: %v", err)
	}
	want := canonical(t, v)
	j, err := yaml.YAMLToJSON(data)
	if err != nil {
		t.Fatalf("sigs.k8s.io/yaml cannot read\n%s\n: %v", data, err)
	}
	var got any
	dec := json.NewDecoder(bytes.NewReader(j))
	dec.UseNumber()
	if err := dec.Decode(&got); err != nil {
		t.Fatal(err)
	}
	if c := canonical(t, got); c != want {
		t.Fatalf("YAML 1.1 read back\n%s\nas %s, want %s", data, c, want)
	}
	var got3 any
	if err := yaml3.Unmarshal(data, &got3); err != nil {
		t.Fatalf("yaml v3 cannot read\n%s\n: %v", data, err)
	}
	if c := canonical(t, numbersAsJSON(got3)); c != want {
		t.Fatalf("YAML 1.2 read back\n%s\nas %s, want %s", data, c, want)
	}
}

// numbersAsJSON turns yaml v3's ints and floats into json.Number.
func numbersAsJSON(v any) any {
	switch v := v.(type) {
	case map[string]any:
		for k, x := range v {
			v[k] = numbersAsJSON(x)
		}
	case []any:
		for i, x := range v {
			v[i] = numbersAsJSON(x)
		}
	case int:
		return json.Number(strings.TrimSpace(string(mustJSON(v))))
	case float64:
		return json.Number(strings.TrimSpace(string(mustJSON(v))))
	}
	return v
}

func mustJSON(v any) []byte { b, _ := json.Marshal(v); return b }

var tricky = []string{
	"", " ", "a ", " a", "yes", "No", "ON", "off", "y", "n", "true", "False", "null", "Null", "~",
	"0", "-1", "1e3", "0x1F", "0o17", "017", "1_000", ".5", ".inf", "-.inf", ".nan", "1:20", "2026-11-27",
	"a: b", "a:b", "a #b", "a#b", "#x", "- x", "-x", "--x", "-", "?", "? x", ":", "a:", "[x]", "{x}", "&a", "*a", "!x",
	"|", ">", "'q'", `"q"`, "%x", "@x", "`x`", "a,b", "x\ny", "x\n", "\nx", "x\n\n", "line\n  indented\n", "tab\there",
	"\x00", "\u0085", "\u2028", "ümlaut", "emoji 🚀", "s3://b/p", "sha256:ab", "{{workflow.uid}}", "$(VAR)", "<<", "=",
	"a\r\nb", "trailing \nline", "x\n#comment\n", "ends with colon:\nnext",
}

func TestEncodeYAMLRoundTrips(t *testing.T) {
	for _, s := range tricky {
		roundTrip(t, map[string]any{"k": s, s + "key": []any{s, map[string]any{"v": s}}})
	}
	roundTrip(t, map[string]any{
		"n": json.Number("3"), "f": json.Number("0.05"), "b": true, "z": nil,
		"empty": map[string]any{}, "list": []any{}, "nested": []any{[]any{"a", json.Number("1")}, []any{}, map[string]any{}},
	})
	rng := rand.New(rand.NewSource(7))
	pieces := append([]string{"a", "Z", "0", " ", ":", "#", "-", "\n", "\"", "'", "\\", "{", "}", "[", "]", ",", "&", "*", "!", "|", ">", "%", "@", "\t", "é"}, tricky...)
	str := func() string {
		var b strings.Builder
		for range rng.Intn(6) {
			b.WriteString(pieces[rng.Intn(len(pieces))])
		}
		return b.String()
	}
	var gen func(depth int) any
	gen = func(depth int) any {
		switch k := rng.Intn(6); {
		case depth > 3 || k < 2:
			return str()
		case k == 2:
			return []any{json.Number("42"), true, false, nil, json.Number("-0.5")}[rng.Intn(5)]
		case k == 3:
			l := []any{}
			for range rng.Intn(4) {
				l = append(l, gen(depth+1))
			}
			return l
		default:
			m := map[string]any{}
			for range rng.Intn(4) {
				m[str()] = gen(depth + 1)
			}
			return m
		}
	}
	for range 3000 {
		roundTrip(t, map[string]any{"root": gen(0), str(): gen(0)})
	}
}

func TestEncodeYAMLStyle(t *testing.T) {
	got, err := EncodeYAML(map[string]any{
		"b": []any{"x", map[string]any{"k": "v", "a": json.Number("1")}},
		"a": map[string]any{"s": "0 3 * * 1", "m": "line1\nline2\n"},
	})
	if err != nil {
		t.Fatal(err)
	}
	want := "a:\n  m: |\n    line1\n    line2\n  s: \"0 3 * * 1\"\nb:\n- x\n- a: 1\n  k: v\n"
	if string(got) != want {
		t.Errorf("EncodeYAML = \n%s\nwant\n%s", got, want)
	}
}

func BenchmarkEncodeYAML(b *testing.B) {
	v := map[string]any{}
	for i := range 50 {
		v[strings.Repeat("k", i%7+1)+string(rune('a'+i%26))] = []any{"--dataset", "s3://bucket/path", json.Number("3"), map[string]any{"name": "CAIRN_INPUT", "value": "{{workflow.uid}}"}}
	}
	b.Run("cairn", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := EncodeYAML(v); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("sigs.k8s.io/yaml", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := yaml.Marshal(v); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// TestYAMLMatchesData checks the JSON path (parse, prune, encode) against
// encoding/json's own decoding, for strings full of escapes.
func TestYAMLMatchesData(t *testing.T) {
	rng := rand.New(rand.NewSource(3))
	pieces := append([]string{"\"", "\\", "<", ">", "&", "\u2028", "😀", "\x01", "\t", "\n", "/"}, tricky...)
	for range 2000 {
		obj := map[string]any{}
		for range rng.Intn(5) + 1 {
			var b strings.Builder
			for range rng.Intn(8) {
				b.WriteString(pieces[rng.Intn(len(pieces))])
			}
			obj["k"+b.String()] = []any{b.String(), map[string]any{"v": b.String(), "n": nil, "e": map[string]any{}}}
		}
		got, err := YAML(obj)
		if err != nil {
			t.Fatal(err)
		}
		j, err := yaml.YAMLToJSON(got)
		if err != nil {
			t.Fatalf("reading\n%s\n: %v", got, err)
		}
		var back any
		json.Unmarshal(j, &back)
		// YAML drops nulls and empty objects, as a manifest should.
		for _, v := range obj {
			m := v.([]any)[1].(map[string]any)
			delete(m, "n")
			delete(m, "e")
		}
		if c, w := canonical(t, back), canonical(t, obj); c != w {
			t.Fatalf("YAML(%v) read back as %s, want %s", obj, c, w)
		}
	}
}
