package audit

import (
	"bytes"
	"encoding/json"
	"fmt"
	"html/template"
	"slices"
	"strings"
)

// kindColors fill the node boxes, one colour per kind.
var kindColors = map[string]string{
	KindCommit: "#f4d58d", KindSpec: "#f2b880", KindDataset: "#9ad1d4", KindFeature: "#b8e0c2",
	KindImage: "#c7c2e8", KindArtifact: "#dddddd", KindRun: "#f7a9a8", KindModel: "#80b3ff",
	KindEvaluation: "#a3d977", KindDeployment: "#ffcf56",
}

type reportNode struct {
	Node
	N            int
	Box          *box
	Color        string
	Name, Title  string // kind and label; the tooltip
	Lines        []line // the label's lines in the box, then its status
	Details      []detail
	Verified     bool
	StatusReason string
}

// line is one line of text in a box.
type line struct {
	Text   string
	X, Y   int
	Status bool // the status of a node only unverified statements describe
}

type reportEdge struct {
	Edge
	N              int
	Path           string
	BX, BY         int
	Verified       bool
	Badge, Title   string
	FromID, ToID   string
	FromLbl, ToLbl string
}

// boxLines are the lines drawn in a node's box under its kind: the
// label (less a repeated kind) wrapped, digests shortened, and the
// status of a node only unverified statements describe. The whole label
// is in the box's tooltip and the node's details.
func boxLines(n Node) []string {
	var lines []string
	if l := bareLabel(n); l != "" {
		s, _ := shortDigests(l)
		lines = wrapText(s, labelChars)
	}
	return append(lines, statusLines(n)...)
}

// statusLines are the status of a node only unverified statements
// describe, as its box shows it.
func statusLines(n Node) []string {
	if n.Status == "" {
		return nil
	}
	return wrapText("✗ "+strings.TrimSpace(n.Status+" "+n.Reason), labelChars)
}

// drawable returns the trace with its nodes' attributes as JSON gives
// them and without the edges whose ends are not among its nodes.
func drawable(t *Trace) (*Trace, error) {
	c := *t
	c.Nodes = slices.Clone(t.Nodes)
	ids := map[string]bool{}
	for i, n := range c.Nodes {
		ids[n.ID] = true
		if n.Attrs == nil {
			continue
		}
		raw, err := json.Marshal(n.Attrs)
		if err != nil {
			return nil, fmt.Errorf("report: node %s: %w", n.ID, err)
		}
		c.Nodes[i].Attrs = nil
		if err := json.Unmarshal(raw, &c.Nodes[i].Attrs); err != nil {
			return nil, fmt.Errorf("report: node %s: %w", n.ID, err)
		}
	}
	c.Edges = nil
	for _, e := range t.Edges {
		if ids[e.From] && ids[e.To] {
			c.Edges = append(c.Edges, e)
		}
	}
	return &c, nil
}

// Report renders a trace as one standalone HTML page: inline CSS, the
// graph as inline SVG laid out left to right by longest path, each edge
// an arrow with one badge saying whether its statement verified, a table
// of the edges and one of the nodes' details. It makes no network
// request.
func Report(t *Trace) ([]byte, error) {
	t, err := drawable(t)
	if err != nil {
		return nil, err
	}
	g := layout(t)
	nodes, err := reportNodes(t, g)
	if err != nil {
		return nil, err
	}
	data := struct {
		Model         string
		Artifacts     []Artifact
		Nodes         []reportNode
		Edges         []reportEdge
		Width, Height int
	}{t.Model, t.Artifacts, nodes, reportEdges(t, g), g.Width, g.Height}
	var buf bytes.Buffer
	if err := reportTemplate.Execute(&buf, data); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

func reportNodes(t *Trace, g *graphLayout) ([]reportNode, error) {
	var nodes []reportNode
	for i, n := range t.Nodes {
		details, err := nodeDetails(t, n)
		if err != nil {
			return nil, err
		}
		color := kindColors[n.Kind]
		if color == "" {
			color = "#dddddd"
		}
		b := g.Boxes[n.ID]
		rn := reportNode{Node: n, N: i, Box: b, Color: color, Name: kindLabel(n), Details: details,
			Verified: n.Status == "", StatusReason: strings.TrimSpace(n.Status + " " + n.Reason)}
		rn.Title = nodeTitle(rn.Name, n.Digest, n.URI, rn.StatusReason)
		status := len(b.Lines) - len(statusLines(n))
		for k, l := range b.Lines {
			rn.Lines = append(rn.Lines, line{l, b.X + nodePad, b.Y + kindBase + lineH*(k+1), k >= status})
		}
		nodes = append(nodes, rn)
	}
	return nodes, nil
}

// nodeTitle is a node's tooltip: its kind and whole label, then its
// digest and URI unless the label holds them, and its status, a line
// each.
func nodeTitle(name, digest, uri, status string) string {
	lines := []string{name}
	for _, s := range []string{digest, uri, status} {
		if s != "" && !strings.Contains(name, s) {
			lines = append(lines, s)
		}
	}
	return strings.Join(lines, "\n")
}

func reportEdges(t *Trace, g *graphLayout) []reportEdge {
	byID := map[string]int{}
	for i, n := range t.Nodes {
		byID[n.ID] = i
	}
	var edges []reportEdge
	for i, e := range t.Edges {
		path, bx, by := g.edgePath(t, i)
		from, to := kindLabel(t.Nodes[byID[e.From]]), kindLabel(t.Nodes[byID[e.To]])
		re := reportEdge{Edge: e, N: i, Verified: e.Status == "verified", Path: path, BX: bx, BY: by,
			FromID: fmt.Sprintf("n%d", byID[e.From]), ToID: fmt.Sprintf("n%d", byID[e.To]), FromLbl: from, ToLbl: to}
		if re.Verified {
			re.Badge, re.Title = "✓", fmt.Sprintf("%s: %s → %s\nverified, signed by %s\nstatement %s", e.Kind, from, to, e.KeyID, e.StatementDigest)
		} else {
			re.Badge, re.Title = "✗", fmt.Sprintf("%s: %s → %s\n%s %s, key %s\nstatement %s", e.Kind, from, to, e.Status, e.Reason, e.KeyID, e.StatementDigest)
		}
		edges = append(edges, re)
	}
	return edges
}

var reportTemplate = template.Must(template.New("report").Parse(`<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; img-src data:">
<title>Lineage of {{.Model}}</title>
<style>
body { font-family: sans-serif; margin: 20px; color: #222; background: #fff; overflow-wrap: anywhere; }
h1 { font-size: 20px; } h2 { font-size: 16px; margin-top: 28px; }
svg { display: block; max-width: 100%; height: auto; }
svg text { font-family: sans-serif; font-size: 12px; }
svg text.kind { font-weight: bold; }
svg text.label { font-family: "DejaVu Sans Mono", monospace; }
svg text.status { fill: #c62828; }
.node rect { stroke: #333; stroke-width: 1; }
.node.rejected rect { stroke: #c62828; stroke-width: 2; stroke-dasharray: 6 3; }
.edge path { fill: none; stroke: #666; stroke-width: 1.5; }
.edge.rejected path { stroke: #c62828; stroke-dasharray: 5 4; }
#arrow path { fill: #666; } #arrow-rejected path { fill: #c62828; }
.badge.ok circle { fill: #2e7d32; } .badge.bad circle { fill: #c62828; }
.badge text { fill: #fff; font-weight: bold; }
table { border-collapse: collapse; font-size: 12px; width: 100%; table-layout: fixed; }
td, th { border: 1px solid #ccc; padding: 4px 6px; text-align: left; vertical-align: top; overflow-wrap: anywhere; }
td.digest { font-family: monospace; }
pre { margin: 0; white-space: pre-wrap; overflow-wrap: anywhere; }
dl { margin: 0; display: grid; grid-template-columns: max-content minmax(0, 1fr); gap: 2px 12px; }
dt { font-weight: bold; } dd { margin: 0; min-width: 0; }
.verified { color: #2e7d32; } .rejected, .missing { color: #c62828; }
</style>
</head>
<body>
<h1>Lineage of {{.Model}}</h1>
{{range .Artifacts}}<p>{{.Ref}} — signature <span class="{{.SignatureStatus}}">{{.SignatureStatus}} {{.SignatureReason}}</span> {{.SignatureKey}}</p>
{{end}}
<svg id="lineage" xmlns="http://www.w3.org/2000/svg" width="{{.Width}}" height="{{.Height}}" viewBox="0 0 {{.Width}} {{.Height}}">
<defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="10" markerHeight="10" markerUnits="userSpaceOnUse" orient="auto"><path d="M0,0 L10,5 L0,10 z"/></marker><marker id="arrow-rejected" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="10" markerHeight="10" markerUnits="userSpaceOnUse" orient="auto"><path d="M0,0 L10,5 L0,10 z"/></marker></defs>
{{range .Edges}}<g class="edge{{if not .Verified}} rejected{{end}}" id="e{{.N}}" data-from="{{.FromID}}" data-to="{{.ToID}}" data-kind="{{.Kind}}" data-status="{{.Status}}"><path d="{{.Path}}" marker-end="url(#arrow{{if not .Verified}}-rejected{{end}})"/></g>
{{end}}{{range .Nodes}}<g class="node{{if not .Verified}} rejected{{end}}" id="n{{.N}}" data-id="{{.ID}}" data-kind="{{.Kind}}" data-layer="{{.Box.Layer}}"><title>{{.Title}}</title><rect x="{{.Box.X}}" y="{{.Box.Y}}" width="{{.Box.W}}" height="{{.Box.H}}" rx="6" fill="{{.Color}}"/><text class="kind" x="{{.Box.X}}" y="{{.Box.Y}}" dx="8" dy="17">{{.Kind}}</text>{{if .Lines}}<text class="label">{{range .Lines}}<tspan{{if .Status}} class="status"{{end}} x="{{.X}}" y="{{.Y}}">{{.Text}}</tspan>{{end}}</text>{{end}}</g>
{{end}}{{range .Edges}}<g class="badge {{if .Verified}}ok{{else}}bad{{end}}" data-edge="e{{.N}}" data-from="{{.FromID}}" data-to="{{.ToID}}"><title>{{.Title}}</title><circle cx="{{.BX}}" cy="{{.BY}}" r="8"/><text x="{{.BX}}" y="{{.BY}}" dx="-4" dy="4">{{.Badge}}</text></g>
{{end}}</svg>
<h2>Edges</h2>
<table id="edges">
<colgroup><col style="width: 9%"><col style="width: 19%"><col style="width: 19%"><col style="width: 7%"><col style="width: 10%"><col style="width: 18%"><col style="width: 18%"></colgroup>
<tr><th>edge</th><th>from</th><th>to</th><th>status</th><th>reason</th><th>signer key</th><th>statement</th></tr>
{{range .Edges}}<tr id="r{{.N}}"><td>{{.Kind}}</td><td title="{{.From}}">{{.FromLbl}}</td><td title="{{.To}}">{{.ToLbl}}</td><td class="{{.Status}}">{{.Status}}</td><td>{{.Reason}}</td><td class="digest">{{.KeyID}}</td><td class="digest">{{.StatementDigest}}</td></tr>
{{end}}</table>
<h2>Nodes</h2>
<table id="nodes">
<colgroup><col style="width: 28%"><col style="width: 12%"><col style="width: 60%"></colgroup>
<tr><th>node</th><th>status</th><th>details</th></tr>
{{range .Nodes}}<tr id="d{{.N}}"><td>{{.Name}}</td><td class="{{if .Verified}}verified{{else}}{{.Status}}{{end}}">{{if .Verified}}verified{{else}}{{.StatusReason}}{{end}}</td><td><dl>{{range .Details}}<dt>{{.Key}}</dt><dd>{{if .Pre}}<pre>{{index .Lines 0}}</pre>{{else}}{{range $i, $l := .Lines}}{{if $i}}<br>{{end}}{{$l}}{{end}}{{end}}</dd>{{end}}</dl></td></tr>
{{end}}</table>
</body>
</html>
`))
