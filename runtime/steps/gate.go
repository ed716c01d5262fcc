package steps

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"math"
	"os"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"

	"gocloud.dev/gcerrors"

	"cairn.dev/cairn/schemas"
)

// Metrics are an evaluation's metrics by name. A nested object's members
// are named with dots ({"eval": {"auc": 0.9}} gives "eval.auc").
type Metrics struct {
	Numbers map[string]float64 // numbers, all finite
	Other   map[string]string  // the JSON text of values that are not numbers
}

// ParseMetrics decodes a metrics JSON object. Every number must be
// finite: NaN, Infinity and -Infinity (which Python's json module writes
// where JSON has no such values) and numbers too large for a float64
// (1e999) are refused, each named with its metric and its line and column,
// so that no gate holds them and no lineage records them.
func ParseMetrics(data []byte) (Metrics, error) { return parseMetrics(data, "metrics") }

// parseMetrics is ParseMetrics with errors starting with what.
func parseMetrics(data []byte, what string) (Metrics, error) {
	src, marks := data, []int64(nil)
	var top map[string]json.RawMessage
	err := json.Unmarshal(data, &top)
	var se *json.SyntaxError
	if errors.As(err, &se) {
		if fixed, at := pythonNonFinite(data); len(at) > 0 && json.Unmarshal(fixed, &top) == nil {
			src, marks, err = fixed, at, nil
		}
	}
	if err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) && te.Field == "" {
			return Metrics{}, fmt.Errorf("%s: want a JSON object of metrics, not %s", what, te.Value)
		}
		return Metrics{}, jsonError(what, data, err)
	}
	if top == nil {
		return Metrics{}, fmt.Errorf("%s: want a JSON object of metrics, not null", what)
	}
	r := &metricsReader{what: what, data: data, src: src, marks: marks, dec: json.NewDecoder(bytes.NewReader(src)),
		m: Metrics{Numbers: map[string]float64{}, Other: map[string]string{}}}
	r.dec.UseNumber()
	if _, err := r.dec.Token(); err != nil { // the object's "{"
		return Metrics{}, jsonError(what, data, err)
	}
	if err := r.object(""); err != nil {
		return Metrics{}, jsonError(what, data, err)
	}
	if len(r.errs) > 0 {
		return Metrics{}, errors.Join(r.errs...)
	}
	return r.m, nil
}

// nonFinite marks a Python non-finite number rewritten as a JSON string.
const nonFinite = "\x00"

// markerGrowth is how many bytes longer the marked string is than the
// token it replaces: `"\u0000` and `"`.
const markerGrowth = 8

// metricsReader walks a metrics object, already known to be valid JSON,
// token by token, so each value's place in the file is known.
type metricsReader struct {
	what  string
	data  []byte  // the file as read
	src   []byte  // data with Python's non-finite numbers marked
	marks []int64 // offsets in src of the marked strings, in order
	dec   *json.Decoder
	m     Metrics
	errs  []error
}

// object reads the members of an object whose "{" has been read, naming
// them after prefix, and its "}".
func (r *metricsReader) object(prefix string) error {
	for r.dec.More() {
		tok, err := r.dec.Token()
		if err != nil {
			return err
		}
		if err := r.value(prefix + tok.(string)); err != nil {
			return err
		}
	}
	_, err := r.dec.Token()
	return err
}

// value reads the value of the metric name.
func (r *metricsReader) value(name string) error {
	start := r.valueStart()
	tok, err := r.dec.Token()
	if err != nil {
		return err
	}
	switch t := tok.(type) {
	case json.Delim:
		if t == '{' {
			return r.object(name + ".")
		}
		if err := r.skip(); err != nil { // an array
			return err
		}
	case json.Number:
		v, err := strconv.ParseFloat(string(t), 64)
		if err != nil {
			r.fail(start, name, fmt.Sprintf("%s is too large for a float64: not a finite number", shorten(string(t))))
			return nil
		}
		r.m.Numbers[name] = v
		delete(r.m.Other, name)
		return nil
	case string:
		if _, marked := slices.BinarySearch(r.marks, start); marked {
			tok, _ := strings.CutPrefix(t, nonFinite)
			r.fail(start, name, tok+" is not a finite number")
			return nil
		}
	}
	r.m.Other[name] = string(r.data[r.orig(start):r.orig(r.dec.InputOffset())])
	delete(r.m.Numbers, name)
	return nil
}

// valueStart returns the offset in src of the value after the key just
// read: past the spaces and the colon.
func (r *metricsReader) valueStart() int64 {
	i := r.dec.InputOffset()
	for i < int64(len(r.src)) && strings.IndexByte(" \t\r\n:", r.src[i]) >= 0 {
		i++
	}
	return i
}

// skip reads the rest of an array whose "[" has been read.
func (r *metricsReader) skip() error {
	for depth := 1; depth > 0; {
		tok, err := r.dec.Token()
		if err != nil {
			return err
		}
		if d, ok := tok.(json.Delim); ok {
			if d == '[' || d == '{' {
				depth++
			} else {
				depth--
			}
		}
	}
	return nil
}

// orig returns the offset in data of offset off in src.
func (r *metricsReader) orig(off int64) int64 {
	n, _ := slices.BinarySearch(r.marks, off) // the marks before off
	return off - int64(n)*markerGrowth
}

// fail records that the metric name, whose value starts at offset start
// in src, is not a finite number.
func (r *metricsReader) fail(start int64, name, why string) {
	line, col := lineCol(r.data, r.orig(start)+1)
	r.errs = append(r.errs, fmt.Errorf("%s: line %d, column %d: metric %s: %s", r.what, line, col, quoteData(name), why))
}

// shorten cuts s to MaxShown bytes, marking the cut with "...".
func shorten(s string) string {
	if len(s) <= MaxShown {
		return s
	}
	return s[:MaxShown] + "..."
}

// pythonNonFinite rewrites the bare NaN, Infinity and -Infinity values
// Python writes into marked JSON strings, and returns the offsets of the
// marked strings in the result (none when there are none).
func pythonNonFinite(data []byte) ([]byte, []int64) {
	var out bytes.Buffer
	var marks []int64
	inString, escaped := false, false
	for i := 0; i < len(data); i++ {
		c := data[i]
		if inString {
			out.WriteByte(c)
			switch {
			case escaped:
				escaped = false
			case c == '\\':
				escaped = true
			case c == '"':
				inString = false
			}
			continue
		}
		if c == '"' {
			inString = true
			out.WriteByte(c)
			continue
		}
		replaced := false
		for _, tok := range []string{"NaN", "Infinity", "-Infinity"} {
			if bytes.HasPrefix(data[i:], []byte(tok)) {
				marks = append(marks, int64(out.Len()))
				out.WriteString(`"\u0000` + tok + `"`) // nonFinite + tok
				i += len(tok) - 1
				replaced = true
				break
			}
		}
		if !replaced {
			out.WriteByte(c)
		}
	}
	return out.Bytes(), marks
}

// maxMetricsSize bounds a metrics file read from an object store.
const maxMetricsSize = 64 << 20

// ReadMetrics reads a metrics file at location, a path, a file:// URI or
// an object-store URI; errors name the file.
func ReadMetrics(location string) (Metrics, error) {
	return ReadMetricsContext(context.Background(), location)
}

// ReadMetricsContext is ReadMetrics with a context for an object store's
// requests.
func ReadMetricsContext(ctx context.Context, location string) (Metrics, error) {
	if IsObjectStore(location) {
		data, uri, err := readObject(ctx, location, maxMetricsSize)
		if gcerrors.Code(err) == gcerrors.NotFound && !strings.Contains(err.Error(), "no such bucket") {
			return Metrics{}, fmt.Errorf("metrics file %s: no such object (did the evaluation write it?)", uri)
		}
		if err != nil {
			return Metrics{}, fmt.Errorf("metrics file %w", err)
		}
		return parseMetrics(data, "metrics file "+showData(uri))
	}
	path, err := LocalPath(location)
	if err != nil {
		return Metrics{}, fmt.Errorf("metrics file %w", err)
	}
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return Metrics{}, fmt.Errorf("metrics file %s: no such file (did the evaluation write it?)", path)
	}
	if err != nil {
		return Metrics{}, fmt.Errorf("metrics file %s: %w", path, err)
	}
	return parseMetrics(data, "metrics file "+showData(path))
}

// GateResult is the outcome of one gate.
type GateResult struct {
	Metric   string
	Gate     string  // the expression as written, trimmed
	Observed float64 // when Found
	Found    bool    // the metric is a number in the metrics
	Pass     bool
	Reason   string // why it failed: the metric is missing, not a number, NaN, or the gate does not parse
}

// Gate applies gates (metric name → expression such as ">= 0.92", parsed
// by schemas.ParseGate) to metrics, in metric-name order. ok is true when
// every gate passes; a missing metric, a NaN and a gate that does not parse
// fail.
func Gate(metrics map[string]float64, gates map[string]string) (results []GateResult, ok bool) {
	ok = true
	for _, name := range slices.Sorted(maps.Keys(gates)) {
		expr := gates[name]
		r := GateResult{Metric: name, Gate: strings.TrimSpace(expr)}
		v, found := metrics[name]
		r.Observed, r.Found = v, found
		g, err := schemas.ParseGate(expr)
		switch {
		case err != nil:
			r.Reason = "bad gate: " + err.Error()
		case !found:
			r.Reason = "missing from the metrics"
		case math.IsNaN(v):
			r.Reason = "NaN"
		default:
			r.Pass = g.Pass(v)
		}
		ok = ok && r.Pass
		results = append(results, r)
	}
	return results, ok
}

// Gate applies gates to the metrics, as the function Gate, saying so when
// a gated metric is there but not a number.
func (m Metrics) Gate(gates map[string]string) ([]GateResult, bool) {
	results, ok := Gate(m.Numbers, gates)
	for i := range results {
		if o, isOther := m.Other[results[i].Metric]; isOther && !results[i].Found && !strings.HasPrefix(results[i].Reason, "bad gate") {
			results[i].Reason = "not a number: " + showData(o)
		}
	}
	return results, ok
}

// ObservedText returns the observed value as text, or "-".
func (r GateResult) ObservedText() string {
	if !r.Found {
		return "-"
	}
	return strconv.FormatFloat(r.Observed, 'g', -1, 64)
}

// String returns the result as "auc >= 0.92: observed 0.95: pass".
func (r GateResult) String() string {
	s := showData(r.Metric) + " " + showData(r.Gate) + ": "
	if r.Found {
		s += "observed " + r.ObservedText() + ": "
	}
	if r.Pass {
		return s + "pass"
	}
	if r.Reason != "" {
		return s + "fail (" + r.Reason + ")"
	}
	return s + "fail"
}

// WriteGateTable prints the results as a table: metric, gate, observed,
// result.
func WriteGateTable(w io.Writer, results []GateResult) error {
	var b bytes.Buffer
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "METRIC\tGATE\tOBSERVED\tRESULT")
	for _, r := range results {
		res := "pass"
		if !r.Pass {
			res = "FAIL"
			if r.Reason != "" {
				res += ": " + r.Reason
			}
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", showData(r.Metric), showData(r.Gate), r.ObservedText(), res)
	}
	tw.Flush()
	_, err := w.Write(trimLines(b.Bytes()))
	return err
}
