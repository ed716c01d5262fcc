package steps

import (
	"bytes"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func TestGate(t *testing.T) {
	metrics := map[string]float64{"auc": 0.93, "precision": 0.8, "loss": 0.2, "nan": math.NaN(), "n": 10}
	tests := []struct {
		gate string
		name string
		pass bool
		why  string
	}{
		{">= 0.92", "auc", true, ""},
		{">=0.93", "auc", true, ""},
		{">= 0.94", "auc", false, ""},
		{"> 0.93", "auc", false, ""},
		{"> 0.9", "auc", true, ""},
		{"<= 0.2", "loss", true, ""},
		{"< 0.2", "loss", false, ""},
		{"< 0.25", "loss", true, ""},
		{"== 10", "n", true, ""},
		{"== 10.5", "n", false, ""},
		{" >= 0.80 ", "precision", true, ""},
		{">= 0.5", "recall", false, "missing from the metrics"},
		{">= 0", "nan", false, "NaN"},
		{"<= 1", "nan", false, "NaN"},
		{"=> 0.9", "auc", false, `bad gate: gate "=> 0.9": want OPERATOR NUMBER with OPERATOR one of >=, >, <=, <, ==`},
		{">= NaN", "auc", false, `bad gate: gate ">= NaN": "NaN" is not a number`},
	}
	for _, tt := range tests {
		rs, ok := Gate(metrics, map[string]string{tt.name: tt.gate})
		if len(rs) != 1 || ok != tt.pass || rs[0].Pass != tt.pass || rs[0].Reason != tt.why {
			t.Errorf("Gate(%s %s) = %+v, %v; want pass %v, reason %q", tt.name, tt.gate, rs, ok, tt.pass, tt.why)
		}
	}
	rs, ok := Gate(metrics, map[string]string{"precision": ">= 0.8", "auc": ">= 0.92", "recall": ">= 0.5"})
	if ok {
		t.Error("Gate with a missing metric passed")
	}
	var names []string
	for _, r := range rs {
		names = append(names, r.Metric)
	}
	if !reflect.DeepEqual(names, []string{"auc", "precision", "recall"}) {
		t.Errorf("results in order %v, want by metric name", names)
	}
	if _, ok := Gate(metrics, nil); !ok {
		t.Error("no gates: failed")
	}
}

func TestParseMetrics(t *testing.T) {
	m, err := ParseMetrics([]byte(`{"auc": 0.95, "eval": {"precision": 0.8, "at": {"k": 3}}, "model": "lr", "ok": true, "tiny": 1e-400,
		"s": "NaN in a string", "list": [1, 2], "curve": [NaN, {"x": Infinity}], "null": null}`))
	if err != nil {
		t.Fatal(err)
	}
	wantNum := map[string]float64{"auc": 0.95, "eval.precision": 0.8, "eval.at.k": 3, "tiny": 0}
	if !reflect.DeepEqual(m.Numbers, wantNum) {
		t.Errorf("numbers %v, want %v", m.Numbers, wantNum)
	}
	wantOther := map[string]string{"model": `"lr"`, "ok": "true", "s": `"NaN in a string"`, "list": "[1, 2]",
		"curve": `[NaN, {"x": Infinity}]`, "null": "null"}
	if !reflect.DeepEqual(m.Other, wantOther) {
		t.Errorf("other metrics %v, want %v", m.Other, wantOther)
	}
	rs, ok := m.Gate(map[string]string{"model": ">= 1", "eval.precision": ">= 0.8", "curve": "> 0"})
	if ok || rs[0].Reason != `not a number: [NaN, {"x": Infinity}]` || !rs[1].Pass || rs[2].Reason != `not a number: "lr"` {
		t.Errorf("Metrics.Gate = %+v", rs)
	}

	for in, want := range map[string]string{
		``:                               "metrics: invalid JSON at line 1, column 1: unexpected end of input",
		`{"auc": 0.9,}`:                  "metrics: invalid JSON at line 1, column 13: invalid character '}' looking for beginning of object key string",
		"{\n  \"auc\": 0.9\n  \"x\": 1}": "metrics: invalid JSON at line 3, column 3: invalid character '\"' after object key:value pair",
		`[1, 2]`:                         "metrics: want a JSON object of metrics, not array",
		`null`:                           "metrics: want a JSON object of metrics, not null",
		`{"a": 1} x`:                     "metrics: invalid JSON at line 1, column 10: invalid character 'x' after top-level value",
	} {
		_, err := ParseMetrics([]byte(in))
		if err == nil || err.Error() != want {
			t.Errorf("ParseMetrics(%q) error %v, want %q", in, err, want)
		}
	}
}

func TestReadMetrics(t *testing.T) {
	dir := t.TempDir()
	_, err := ReadMetrics(filepath.Join(dir, "metrics.json"))
	if err == nil || !strings.Contains(err.Error(), "metrics.json: no such file (did the evaluation write it?)") {
		t.Errorf("missing file: %v", err)
	}
	p := filepath.Join(dir, "m.json")
	os.WriteFile(p, []byte("{\"auc\": }"), 0o644)
	_, err = ReadMetrics(p)
	if err == nil || err.Error() != "metrics file "+p+": invalid JSON at line 1, column 9: invalid character '}' looking for beginning of value" {
		t.Errorf("bad JSON: %v", err)
	}
	if _, err := ReadMetrics("hdfs://nn/metrics.json"); err == nil || !strings.Contains(err.Error(), "hdfs:// is not read") {
		t.Errorf("object store: %v", err)
	}
	os.WriteFile(p, []byte(`{"auc": 0.9}`), 0o644)
	if m, err := ReadMetrics("file://" + filepath.ToSlash(p)); err != nil || m.Numbers["auc"] != 0.9 {
		t.Errorf("file URI: %v, %v", m, err)
	}
}

func TestWriteGateTable(t *testing.T) {
	rs, _ := Gate(map[string]float64{"auc": 0.95, "precision": 0.75}, map[string]string{"auc": ">= 0.92", "precision": ">= 0.80", "recall": "> 0.5"})
	var b bytes.Buffer
	if err := WriteGateTable(&b, rs); err != nil {
		t.Fatal(err)
	}
	want := `METRIC     GATE     OBSERVED  RESULT
auc        >= 0.92  0.95      pass
precision  >= 0.80  0.75      FAIL
recall     > 0.5    -         FAIL: missing from the metrics
`
	if b.String() != want {
		t.Errorf("table:\n%s\nwant:\n%s", b.String(), want)
	}
	if s := rs[1].String(); s != "precision >= 0.80: observed 0.75: fail" {
		t.Errorf("String() = %q", s)
	}
}

// FuzzParseMetrics: any input either parses to metrics or gives an error
// that names the metrics; valid JSON objects of numbers always parse.
func FuzzParseMetrics(f *testing.F) {
	for _, s := range []string{`{"auc": 0.9}`, `{"a": {"b": NaN}}`, `{"a": "NaN", "b": Infinity}`, `[]`, `{`, `{"a": -Infinity}`, "{\"x\\\"NaN\": 1}"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := ParseMetrics(data)
		if err != nil {
			if !strings.HasPrefix(err.Error(), "metrics") {
				t.Errorf("error %q does not start with metrics", err)
			}
			return
		}
		if m.Numbers == nil || m.Other == nil {
			t.Error("nil maps")
		}
		Gate(m.Numbers, map[string]string{"a": ">= 0"})
	})
}

// TestReadMetricsNonFinite: a metric that is not a finite number fails the
// read (so gate and pack stop before anything is held or pushed), named
// with its metric, the file and the value's line and column, whether a
// gate names the metric or not.
func TestReadMetricsNonFinite(t *testing.T) {
	dir := t.TempDir()
	for _, tt := range []struct {
		name, data, gates, want string
	}{
		{"infinity", `{"auc": Infinity}`, `>= 0.9`, `line 1, column 9: metric "auc": Infinity is not a finite number`},
		{"overflow", `{"auc": 1e999}`, `>= 0.9`, `line 1, column 9: metric "auc": 1e999 is too large for a float64: not a finite number`},
		{"negative-overflow", `{"auc": -1e999}`, `<= 0.9`, `line 1, column 9: metric "auc": -1e999 is too large for a float64: not a finite number`},
		{"minus-infinity", `{"auc": -Infinity}`, `<= 0.3`, `line 1, column 9: metric "auc": -Infinity is not a finite number`},
		{"nan-gated", `{"auc": NaN}`, `>= 0.9`, `line 1, column 9: metric "auc": NaN is not a finite number`},
		{"nan-ungated", "{\"auc\": 0.95,\n  \"eval\": {\"loss\":  NaN}}", `>= 0.9`, `line 2, column 21: metric "eval.loss": NaN is not a finite number`},
		{"after-nan", `{"a": NaN, "b": Infinity, "c": 1}`, `>= 0.9`, `line 1, column 7: metric "a": NaN is not a finite number` + "\n" +
			"metrics file %s: line 1, column 17: metric \"b\": Infinity is not a finite number"},
		{"escape-in-name", "{\"a\\u001b[2J\": NaN}", `>= 0.9`, `line 1, column 16: metric "a\x1b[2J": NaN is not a finite number`},
	} {
		p := filepath.Join(dir, tt.name+".json")
		if err := os.WriteFile(p, []byte(tt.data), 0o644); err != nil {
			t.Fatal(err)
		}
		want := "metrics file " + p + ": " + tt.want
		if strings.Contains(want, "%s") {
			want = strings.ReplaceAll(want, "%s", p)
		}
		m, err := ReadMetrics(p)
		if err == nil {
			rs, ok := m.Gate(map[string]string{"auc": tt.gates})
			t.Errorf("%s: ReadMetrics(%s) = %v, no error (gate: %v, passed %v); want %q", tt.name, tt.data, m.Numbers, rs, ok, want)
			continue
		}
		if err.Error() != want {
			t.Errorf("%s: ReadMetrics(%s) error\n%s\nwant\n%s", tt.name, tt.data, err, want)
		}
		if strings.ContainsRune(err.Error(), 0x1b) {
			t.Errorf("%s: error %q holds a raw ESC byte", tt.name, err)
		}
	}
}
