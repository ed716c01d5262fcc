package audit

import (
	"bytes"
	"encoding/json"
	"fmt"
	"html/template"
	"sort"
)

// Report geometry, in SVG user units (CSS pixels).
const (
	nodeW   = 190
	nodeH   = 46
	colGap  = 60
	rowGap  = 26
	margin  = 30
	maxText = 26
)

// kindColors fill the node boxes, one colour per kind.
var kindColors = map[string]string{
	KindCommit: "#f4d58d", KindSpec: "#f2b880", KindDataset: "#9ad1d4", KindFeature: "#b8e0c2",
	KindImage: "#c7c2e8", KindArtifact: "#dddddd", KindRun: "#f7a9a8", KindModel: "#80b3ff",
	KindEvaluation: "#a3d977", KindDeployment: "#ffcf56",
}

type reportNode struct {
	Node
	N, Layer    int
	X, Y        int
	Color, Text string
	AttrsJSON   string
}

type reportEdge struct {
	Edge
	Path           string
	BX, BY         int
	Verified       bool
	Badge, Title   string
	FromID, ToID   string
	FromLbl, ToLbl string
}

// shortLabel is the text drawn in a node's box.
func shortLabel(s string) string {
	r := []rune(s)
	if len(r) <= maxText {
		return s
	}
	return string(r[:maxText-1]) + "…"
}

// layers gives each node its column: the length of the longest path to
// it from a node with no edge into it, so sources are on the left and
// deployments on the right.
func layers(t *Trace) map[string]int {
	in := map[string][]string{}
	for _, e := range t.Edges {
		in[e.To] = append(in[e.To], e.From)
	}
	memo := map[string]int{}
	visiting := map[string]bool{}
	var depth func(id string) int
	depth = func(id string) int {
		if d, ok := memo[id]; ok {
			return d
		}
		if visiting[id] {
			return 0 // a cycle: break it
		}
		visiting[id] = true
		d := 0
		for _, p := range in[id] {
			d = max(d, depth(p)+1)
		}
		visiting[id] = false
		memo[id] = d
		return d
	}
	out := map[string]int{}
	for _, n := range t.Nodes {
		out[n.ID] = depth(n.ID)
	}
	return out
}

// Report renders a trace as one standalone HTML page: inline CSS, the
// graph as inline SVG laid out left to right by longest path, a badge on
// every edge saying whether its statement verified, and a table of the
// nodes' details. It makes no network request.
func Report(t *Trace) ([]byte, error) {
	lay := layers(t)
	byLayer := map[int][]string{}
	maxLayer := 0
	for _, n := range t.Nodes {
		byLayer[lay[n.ID]] = append(byLayer[lay[n.ID]], n.ID)
		maxLayer = max(maxLayer, lay[n.ID])
	}
	pos := map[string][2]int{}
	maxRows := 0
	for l, ids := range byLayer {
		sort.Strings(ids)
		maxRows = max(maxRows, len(ids))
		for i, id := range ids {
			pos[id] = [2]int{margin + l*(nodeW+colGap), margin + i*(nodeH+rowGap)}
		}
	}
	var nodes []reportNode
	index := map[string]int{}
	for i, n := range t.Nodes {
		index[n.ID] = i
		attrs := map[string]any{"id": n.ID}
		if n.Digest != "" {
			attrs["digest"] = n.Digest
		}
		if n.URI != "" {
			attrs["uri"] = n.URI
		}
		for k, v := range n.Attrs {
			attrs[k] = v
		}
		if n.Status != "" {
			attrs["status"], attrs["reason"] = n.Status, n.Reason
		}
		raw, err := json.MarshalIndent(attrs, "", "  ")
		if err != nil {
			return nil, err
		}
		color := kindColors[n.Kind]
		if color == "" {
			color = "#dddddd"
		}
		p := pos[n.ID]
		nodes = append(nodes, reportNode{Node: n, N: i, Layer: lay[n.ID], X: p[0], Y: p[1], Color: color, Text: shortLabel(n.Label), AttrsJSON: string(raw)})
	}
	var edges []reportEdge
	for _, e := range t.Edges {
		a, okA := pos[e.From]
		b, okB := pos[e.To]
		if !okA || !okB {
			continue
		}
		x1, y1 := a[0]+nodeW, a[1]+nodeH/2
		x2, y2 := b[0], b[1]+nodeH/2
		if lay[e.From] >= lay[e.To] { // not left to right: go round
			x1, x2 = a[0]+nodeW/2, b[0]+nodeW/2
			y1, y2 = a[1]+nodeH, b[1]+nodeH
		}
		mx := (x1 + x2) / 2
		re := reportEdge{Edge: e, Verified: e.Status == "verified",
			Path: fmt.Sprintf("M%d,%d C%d,%d %d,%d %d,%d", x1, y1, mx, y1, mx, y2, x2, y2),
			BX:   mx, BY: (y1 + y2) / 2,
			FromID: fmt.Sprintf("n%d", index[e.From]), ToID: fmt.Sprintf("n%d", index[e.To])}
		if re.Verified {
			re.Badge, re.Title = "✓", fmt.Sprintf("%s: verified, signed by %s, statement %s", e.Kind, e.KeyID, e.StatementDigest)
		} else {
			re.Badge, re.Title = "✗", fmt.Sprintf("%s: %s %s, key %s, statement %s", e.Kind, e.Status, e.Reason, e.KeyID, e.StatementDigest)
		}
		edges = append(edges, re)
	}
	data := struct {
		Model         string
		Artifacts     []Artifact
		Nodes         []reportNode
		Edges         []reportEdge
		Width, Height int
		NodeW, NodeH  int
	}{t.Model, t.Artifacts, nodes, edges,
		2*margin + (maxLayer+1)*nodeW + maxLayer*colGap, 2*margin + maxRows*nodeH + max(0, maxRows-1)*rowGap + nodeH/2, nodeW, nodeH}
	var buf bytes.Buffer
	if err := reportTemplate.Execute(&buf, data); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

var reportTemplate = template.Must(template.New("report").Parse(`<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; img-src data:">
<title>Lineage of {{.Model}}</title>
<style>
body { font-family: sans-serif; margin: 20px; color: #222; background: #fff; }
h1 { font-size: 20px; } h2 { font-size: 16px; margin-top: 28px; }
svg text { font-family: sans-serif; font-size: 12px; }
.node rect { stroke: #333; stroke-width: 1; }
.edge path { fill: none; stroke: #666; stroke-width: 1.5; }
.edge.rejected path { stroke: #c62828; stroke-dasharray: 5 4; }
.badge.ok circle { fill: #2e7d32; } .badge.bad circle { fill: #c62828; }
.badge text { fill: #fff; font-weight: bold; }
table { border-collapse: collapse; font-size: 12px; }
td, th { border: 1px solid #ccc; padding: 4px 6px; text-align: left; vertical-align: top; }
pre { margin: 0; white-space: pre-wrap; }
.verified { color: #2e7d32; } .rejected, .missing { color: #c62828; }
</style>
</head>
<body>
<h1>Lineage of {{.Model}}</h1>
{{range .Artifacts}}<p>{{.Ref}} — signature <span class="{{.SignatureStatus}}">{{.SignatureStatus}} {{.SignatureReason}}</span> {{.SignatureKey}}</p>
{{end}}
<svg id="lineage" xmlns="http://www.w3.org/2000/svg" width="{{.Width}}" height="{{.Height}}" style="max-width: 100%; height: auto" viewBox="0 0 {{.Width}} {{.Height}}">
{{range .Edges}}<g class="edge{{if not .Verified}} rejected{{end}}" data-from="{{.FromID}}" data-to="{{.ToID}}" data-kind="{{.Kind}}" data-status="{{.Status}}"><path d="{{.Path}}"/></g>
{{end}}{{range .Nodes}}<g class="node" id="n{{.N}}" data-id="{{.ID}}" data-kind="{{.Kind}}" data-layer="{{.Layer}}"><title>{{.Kind}} {{.Label}}{{if .Status}} ({{.Status}} {{.Reason}}){{end}}</title><rect x="{{.X}}" y="{{.Y}}" width="{{$.NodeW}}" height="{{$.NodeH}}" rx="6" fill="{{.Color}}"/><text x="{{.X}}" y="{{.Y}}" dx="8" dy="17">{{.Kind}}</text><text class="label" x="{{.X}}" y="{{.Y}}" dx="8" dy="35">{{.Text}}</text></g>
{{end}}{{range .Edges}}<g class="badge {{if .Verified}}ok{{else}}bad{{end}}" data-from="{{.FromID}}" data-to="{{.ToID}}"><title>{{.Title}}</title><circle cx="{{.BX}}" cy="{{.BY}}" r="8"/><text x="{{.BX}}" y="{{.BY}}" dx="-4" dy="4">{{.Badge}}</text></g>
{{end}}</svg>
<h2>Edges</h2>
<table>
<tr><th>edge</th><th>from</th><th>to</th><th>status</th><th>reason</th><th>signer key</th><th>statement</th></tr>
{{range .Edges}}<tr><td>{{.Kind}}</td><td>{{.From}}</td><td>{{.To}}</td><td class="{{.Status}}">{{.Status}}</td><td>{{.Reason}}</td><td>{{.KeyID}}</td><td>{{.StatementDigest}}</td></tr>
{{end}}</table>
<h2>Nodes</h2>
<table>
<tr><th>kind</th><th>label</th><th>details</th></tr>
{{range .Nodes}}<tr id="d{{.N}}"><td>{{.Kind}}</td><td{{if .Status}} class="{{.Status}}"{{end}}>{{.Label}}</td><td><pre>{{.AttrsJSON}}</pre></td></tr>
{{end}}</table>
</body>
</html>
`))
