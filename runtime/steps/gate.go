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
	Numbers map[string]float64 // numbers, NaN and ±Inf included
	Other   map[string]string  // the JSON text of values that are not numbers
}

// ParseMetrics decodes a metrics JSON object. Python's json module writes
// NaN, Infinity and -Infinity where JSON has no such values; they are read
// as the numbers they stand for.
func ParseMetrics(data []byte) (Metrics, error) { return parseMetrics(data, "metrics") }

// parseMetrics is ParseMetrics with errors starting with what.
func parseMetrics(data []byte, what string) (Metrics, error) {
	var top map[string]json.RawMessage
	err := json.Unmarshal(data, &top)
	var se *json.SyntaxError
	if errors.As(err, &se) {
		if fixed, ok := pythonNonFinite(data); ok && json.Unmarshal(fixed, &top) == nil {
			err = nil
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
	m := Metrics{Numbers: map[string]float64{}, Other: map[string]string{}}
	if err := m.add("", top); err != nil {
		return Metrics{}, fmt.Errorf("%s: %w", what, err)
	}
	return m, nil
}

// nonFinite marks a Python non-finite number rewritten as a JSON string.
const nonFinite = "\x00"

func (m Metrics) add(prefix string, obj map[string]json.RawMessage) error {
	for _, k := range slices.Sorted(maps.Keys(obj)) {
		raw := obj[k]
		name := prefix + k
		switch raw[0] {
		case '{':
			var sub map[string]json.RawMessage
			if err := json.Unmarshal(raw, &sub); err != nil {
				return fmt.Errorf("metric %s: %w", name, err)
			}
			if err := m.add(name+".", sub); err != nil {
				return err
			}
		case '-', '0', '1', '2', '3', '4', '5', '6', '7', '8', '9':
			v, err := strconv.ParseFloat(string(raw), 64)
			if err != nil && !isRangeError(err) {
				return fmt.Errorf("metric %s: %s: %w", name, raw, err)
			}
			m.Numbers[name] = v
		case '"':
			var s string
			json.Unmarshal(raw, &s)
			switch s {
			case nonFinite + "NaN":
				m.Numbers[name] = math.NaN()
			case nonFinite + "Infinity":
				m.Numbers[name] = math.Inf(1)
			case nonFinite + "-Infinity":
				m.Numbers[name] = math.Inf(-1)
			default:
				m.Other[name] = string(raw)
			}
		default:
			m.Other[name] = string(raw)
		}
	}
	return nil
}

// pythonNonFinite rewrites the bare NaN, Infinity and -Infinity values
// Python writes into marked JSON strings; ok is false when there are none.
func pythonNonFinite(data []byte) ([]byte, bool) {
	var out bytes.Buffer
	inString, escaped, found := false, false, false
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
				out.WriteString(`"\u0000` + tok + `"`) // nonFinite + tok
				i += len(tok) - 1
				replaced, found = true, true
				break
			}
		}
		if !replaced {
			out.WriteByte(c)
		}
	}
	return out.Bytes(), found
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
		return parseMetrics(data, "metrics file "+uri)
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
	return parseMetrics(data, "metrics file "+path)
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
			results[i].Reason = "not a number: " + o
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
	s := r.Metric + " " + r.Gate + ": "
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
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", r.Metric, r.Gate, r.ObservedText(), res)
	}
	tw.Flush()
	_, err := w.Write(trimLines(b.Bytes()))
	return err
}
