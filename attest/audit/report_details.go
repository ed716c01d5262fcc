package audit

import (
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"
)

// detail is one row of a node's details in the report.
type detail struct {
	Key   string
	Lines []string
	Pre   bool // preformatted JSON
}

// firstDetails are the attributes shown first, in this order: how a run
// or evaluation scored and whether it met its gates.
var firstDetails = []string{"metrics", "gates", "verdict", "hyperparameters"}

// nodeDetails lists a node's details: its metrics and gates first (a
// run's gates are those of the evaluations of the models it produced),
// then its full label, status, id, digest and URI, then every other
// attribute by name.
func nodeDetails(t *Trace, n Node) ([]detail, error) {
	var out []detail
	add := func(key string, v any) error {
		d, err := detailOf(key, v)
		if err == nil {
			out = append(out, d)
		}
		return err
	}
	for _, k := range firstDetails {
		if v, ok := n.Attrs[k]; ok {
			if err := add(k, v); err != nil {
				return nil, err
			}
		}
		if k == "gates" && n.Kind == KindRun {
			for _, ev := range evaluationsOf(t, n.ID) {
				if err := add("gates, "+kindLabel(ev)+statusNote(ev), ev.Attrs["gates"]); err != nil {
					return nil, err
				}
			}
		}
	}
	for _, kv := range [][2]string{{"label", n.Label}, {"status", strings.TrimSpace(n.Status + " " + n.Reason)}, {"id", n.ID}, {"digest", n.Digest}, {"uri", n.URI}} {
		if kv[1] != "" {
			out = append(out, detail{Key: kv[0], Lines: []string{kv[1]}})
		}
	}
	for _, k := range slices.Sorted(maps.Keys(n.Attrs)) {
		if !slices.Contains(firstDetails, k) {
			if err := add(k, n.Attrs[k]); err != nil {
				return nil, err
			}
		}
	}
	return out, nil
}

// statusNote is " (rejected REASON)" for a node described only by what
// did not verify.
func statusNote(n Node) string {
	if n.Status == "" {
		return ""
	}
	return " (" + strings.TrimSpace(n.Status+" "+n.Reason) + ")"
}

// evaluationsOf returns the evaluations, with gates, of the models a run
// produced, as the trace sorts them.
func evaluationsOf(t *Trace, run string) []Node {
	models := map[string]bool{}
	for _, e := range t.Edges {
		if e.From == run && e.Kind == EdgeProduced {
			models[e.To] = true
		}
	}
	evals := map[string]bool{}
	for _, e := range t.Edges {
		if models[e.From] && e.Kind == EdgeEvaluated {
			evals[e.To] = true
		}
	}
	var out []Node
	for _, n := range t.Nodes {
		if _, ok := n.Attrs["gates"]; ok && evals[n.ID] {
			out = append(out, n)
		}
	}
	return out
}

// detailOf formats one attribute: a scalar as text, an object of scalars
// (metrics, hyperparameters) as one "name: value" line each, gates as
// one line each, anything else as indented JSON.
func detailOf(key string, v any) (detail, error) {
	if s, ok := scalar(v); ok {
		return detail{Key: key, Lines: []string{s}}, nil
	}
	if lines, ok := gateLines(v); ok {
		return detail{Key: key, Lines: lines}, nil
	}
	if m, ok := v.(map[string]any); ok {
		var lines []string
		for _, k := range slices.Sorted(maps.Keys(m)) {
			s, ok := scalar(m[k])
			if !ok {
				lines = nil
				break
			}
			lines = append(lines, k+": "+s)
		}
		if lines != nil {
			return detail{Key: key, Lines: lines}, nil
		}
	}
	raw, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return detail{}, fmt.Errorf("report: attribute %s: %w", key, err)
	}
	return detail{Key: key, Lines: []string{string(raw)}, Pre: true}, nil
}

func scalar(v any) (string, bool) {
	switch x := v.(type) {
	case string:
		return x, true
	case float64, bool, int, int64:
		return fmt.Sprint(x), true
	case nil:
		return "null", true
	}
	return "", false
}

// gateLines formats an evaluation's gates (lineage.Gate as JSON): "auc
// >= 0.92: 0.95, passed", or "not reported" for a missing value.
func gateLines(v any) ([]string, bool) {
	list, ok := v.([]any)
	if !ok || len(list) == 0 {
		return nil, false
	}
	var lines []string
	for _, x := range list {
		g, ok := x.(map[string]any)
		if !ok {
			return nil, false
		}
		metric, _ := g["metric"].(string)
		cond, _ := g["condition"].(string)
		value := "not reported"
		if s, ok := scalar(g["value"]); ok && g["value"] != nil {
			value = s
		}
		verdict := "failed"
		if p, _ := g["passed"].(bool); p {
			verdict = "passed"
		}
		lines = append(lines, fmt.Sprintf("%s %s: %s, %s", metric, cond, value, verdict))
	}
	return lines, true
}
