package audit

import (
	"encoding/json"
	"fmt"
	"slices"
)

// compareTraces compares a trace (got, as trace.json holds it) whole with
// the one the bundle's statements give (want): the model, its artifacts,
// the nodes and the edges, and names the first difference.
func compareTraces(got, want *Trace) error {
	if got.Model != want.Model {
		return fmt.Errorf("model %s, but the bundle's statements trace %s", got.Model, want.Model)
	}
	for i := range max(len(got.Artifacts), len(want.Artifacts)) {
		switch {
		case i >= len(want.Artifacts):
			return fmt.Errorf("artifact %s is not one the bundle holds", got.Artifacts[i].Ref())
		case i >= len(got.Artifacts):
			return fmt.Errorf("artifact %s of the bundle is missing", want.Artifacts[i].Ref())
		}
		if g, w := jsonText(got.Artifacts[i]), jsonText(want.Artifacts[i]); g != w {
			return fmt.Errorf("artifact %s is %s, but the bundle gives %s", want.Artifacts[i].Ref(), g, w)
		}
	}
	return compareLineage(got, want)
}

// compareLineage compares the nodes and edges of two traces.
func compareLineage(got, want *Trace) error {
	if err := compareNodes(got.Nodes, want.Nodes); err != nil {
		return err
	}
	return compareEdges(got.Edges, want.Edges)
}

func compareNodes(got, want []Node) error {
	byID := map[string]Node{}
	for _, n := range want {
		byID[n.ID] = n
	}
	listed := map[string]bool{}
	for _, n := range got {
		if listed[n.ID] {
			return fmt.Errorf("node %s is listed twice", n.ID)
		}
		listed[n.ID] = true
		w, ok := byID[n.ID]
		if !ok {
			return fmt.Errorf("node %s is not in the trace the bundle's statements give", n.ID)
		}
		if field, g, w := nodeDiff(n, w); field != "" {
			return fmt.Errorf("node %s: %s %s, but the bundle's statements give %s", n.ID, field, g, w)
		}
	}
	for _, n := range want {
		if !listed[n.ID] {
			return fmt.Errorf("node %s (%s %q), which the bundle's statements give, is missing", n.ID, n.Kind, n.Label)
		}
	}
	for i := range got {
		if got[i].ID != want[i].ID {
			return fmt.Errorf("node %s is out of order", got[i].ID)
		}
	}
	return nil
}

// nodeDiff returns the first field in which two descriptions of a node
// differ, and its two values, or "".
func nodeDiff(a, b Node) (field, got, want string) {
	fields := []struct{ name, a, b string }{
		{"kind", a.Kind, b.Kind}, {"label", a.Label, b.Label}, {"digest", a.Digest, b.Digest}, {"uri", a.URI, b.URI},
		{"attrs", jsonText(a.Attrs), jsonText(b.Attrs)}, {"status", a.Status, b.Status}, {"reason", a.Reason, b.Reason},
	}
	for _, f := range fields {
		if f.a != f.b {
			return f.name, fmt.Sprintf("%q", f.a), fmt.Sprintf("%q", f.b)
		}
	}
	return "", "", ""
}

func compareEdges(got, want []Edge) error {
	count := map[Edge]int{}
	for _, e := range want {
		count[e]++
	}
	for _, e := range got {
		if count[e] > 0 {
			count[e]--
			continue
		}
		if slices.Contains(want, e) {
			return fmt.Errorf("edge %s is listed twice", edgeName(e))
		}
		if i := slices.IndexFunc(want, func(w Edge) bool {
			return w.From == e.From && w.To == e.To && w.Kind == e.Kind && w.Artifact == e.Artifact && w.StatementDigest == e.StatementDigest
		}); i >= 0 {
			field, g, w := edgeDiff(e, want[i])
			return fmt.Errorf("edge %s: %s %q, but the bundle's statements give %q", edgeName(e), field, g, w)
		}
		return fmt.Errorf("edge %s is not in the trace the bundle's statements give", edgeName(e))
	}
	for _, e := range want {
		if count[e] > 0 {
			return fmt.Errorf("edge %s, which the bundle's statements give, is missing", edgeName(e))
		}
	}
	for i := range got {
		if got[i] != want[i] {
			return fmt.Errorf("edge %s is out of order", edgeName(got[i]))
		}
	}
	return nil
}

func edgeName(e Edge) string {
	return fmt.Sprintf("%s %s -> %s (statement %s of %s)", e.Kind, e.From, e.To, e.StatementDigest, e.Artifact)
}

// edgeDiff returns the first field but the edge's ends, kind and
// statement in which two edges differ, and its two values.
func edgeDiff(a, b Edge) (field, got, want string) {
	switch {
	case a.Status != b.Status:
		return "status", a.Status, b.Status
	case a.Reason != b.Reason:
		return "reason", a.Reason, b.Reason
	case a.KeyID != b.KeyID:
		return "keyId", a.KeyID, b.KeyID
	}
	return "predicateType", a.PredicateType, b.PredicateType
}

// jsonText is v as JSON (map keys sorted).
func jsonText(v any) string {
	raw, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprintf("%v", v)
	}
	return string(raw)
}
