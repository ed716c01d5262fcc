package audit

import (
	"cmp"
	"fmt"
	"slices"
)

// Report geometry, in SVG user units (CSS pixels).
const (
	nodeW     = 200 // a node's box
	nodePad   = 8   // left of the text in a box
	lineH     = 15  // one line of text
	kindBase  = 17  // the baseline of the kind's line, from the box's top
	boxBottom = 10  // below the last line
	minNodeH  = 46
	portGap   = 20 // between the ends of edges on a box's side
	colGap    = 64 // between columns: the badges and arrowheads
	rowGap    = 24 // between boxes of a column
	margin    = 30 // around the graph
	badgeR    = 8  // a badge's radius
	badgeAt   = 24 // a badge's centre, left of the box an edge enters
	straight  = 36 // the straight end of an edge, into its box
	// labelChars is how many runes of a label fit on a line of a box, in
	// a 12 px monospace font: DejaVu Sans Mono advances 0.602 em, 7.2 px;
	// 7.5 px leaves room for others.
	labelChars = (nodeW - 2*nodePad) * 2 / 15
)

// box is where a node is drawn.
type box struct {
	X, Y, W, H int
	Layer      int
	Lines      []string // the label's lines
}

// graphLayout is the drawing of a trace: a box per node, and per edge
// the points where it leaves and enters its boxes.
type graphLayout struct {
	Boxes         map[string]*box
	Out, In       []int // per edge, the y of its ends
	Width, Height int
}

// layers gives each node its column: the length of the longest path to
// it from a node with no edge into it, so sources are on the left and
// deployments on the right; a source then moves right to the column
// before the first node it feeds.
func layers(t *Trace) map[string]int {
	in := map[string][]string{}
	out := map[string][]string{}
	for _, e := range t.Edges {
		in[e.To] = append(in[e.To], e.From)
		out[e.From] = append(out[e.From], e.To)
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
	lay := map[string]int{}
	for _, n := range t.Nodes {
		lay[n.ID] = depth(n.ID)
	}
	for _, n := range t.Nodes {
		if len(in[n.ID]) > 0 || len(out[n.ID]) == 0 {
			continue
		}
		first := -1
		for _, to := range out[n.ID] {
			if first < 0 || lay[to] < first {
				first = lay[to]
			}
		}
		lay[n.ID] = max(0, first-1)
	}
	return lay
}

// layout places the nodes: columns by layers, each column ordered by the
// mean height of the nodes that feed its nodes (then as the trace sorts
// them), each box as tall as its label's lines and its edges' ends need.
func layout(t *Trace) *graphLayout {
	lay := layers(t)
	g := &graphLayout{Boxes: map[string]*box{}}
	ins, outs := map[string][]int{}, map[string][]int{}
	for i, e := range t.Edges {
		ins[e.To] = append(ins[e.To], i)
		outs[e.From] = append(outs[e.From], i)
	}
	columns := map[int][]int{}
	last := 0
	for i, n := range t.Nodes {
		l := lay[n.ID]
		columns[l] = append(columns[l], i)
		last = max(last, l)
		lines := boxLines(n)
		ends := max(len(ins[n.ID]), len(outs[n.ID]))
		h := max(minNodeH, kindBase+lineH*len(lines)+boxBottom, portGap*(ends+1))
		g.Boxes[n.ID] = &box{X: margin + l*(nodeW+colGap), W: nodeW, H: h, Layer: l, Lines: lines}
	}
	for l := 0; l <= last; l++ {
		col := columns[l]
		key := map[int]float64{}
		for _, i := range col {
			key[i] = feedHeight(t, ins[t.Nodes[i].ID], g.Boxes)
		}
		slices.SortStableFunc(col, func(a, b int) int { return cmp.Compare(key[a], key[b]) })
		y := margin
		for _, i := range col {
			b := g.Boxes[t.Nodes[i].ID]
			b.Y = y
			y += b.H + rowGap
		}
		g.Height = max(g.Height, y-rowGap+margin)
	}
	g.Width = 2*margin + (last+1)*nodeW + last*colGap
	g.Out, g.In = ports(t, g.Boxes, outs, ins)
	return g
}

// feedHeight is the mean centre height of the boxes already placed that
// edges lead into a node from; a node fed by none sorts last.
func feedHeight(t *Trace, in []int, boxes map[string]*box) float64 {
	sum, n := 0.0, 0
	for _, i := range in {
		if b := boxes[t.Edges[i].From]; b != nil && b.Layer < boxes[t.Edges[i].To].Layer {
			sum += float64(b.Y) + float64(b.H)/2
			n++
		}
	}
	if n == 0 {
		return 1e18
	}
	return sum / float64(n)
}

// ports spreads the ends of each box's edges evenly down its side, in
// the order of the boxes at their other ends, so that no two edges end
// at the same point and every badge stands apart.
func ports(t *Trace, boxes map[string]*box, outs, ins map[string][]int) (out, in []int) {
	out, in = make([]int, len(t.Edges)), make([]int, len(t.Edges))
	spread := func(ends map[string][]int, other func(Edge) string, at []int) {
		for id, es := range ends {
			b := boxes[id]
			es = slices.Clone(es)
			slices.SortStableFunc(es, func(i, j int) int {
				bi, bj := boxes[other(t.Edges[i])], boxes[other(t.Edges[j])]
				return cmp.Or(cmp.Compare(bi.Y, bj.Y), cmp.Compare(i, j))
			})
			for k, e := range es {
				at[e] = b.Y + b.H*(k+1)/(len(es)+1)
			}
		}
	}
	spread(outs, func(e Edge) string { return e.To }, out)
	spread(ins, func(e Edge) string { return e.From }, in)
	return out, in
}

// edgePath is the SVG path of edge i: a curve from the right side of its
// source to a straight run into the left side of its target, where the
// badge sits and the arrowhead (the path's marker-end) points.
func (g *graphLayout) edgePath(t *Trace, i int) (path string, bx, by int) {
	e := t.Edges[i]
	a, b := g.Boxes[e.From], g.Boxes[e.To]
	x1, y1 := a.X+a.W, g.Out[i]
	x2, y2 := b.X, g.In[i]
	xs := x2 - straight
	d := max(40, (xs-x1)/2)
	return fmt.Sprintf("M%d,%d C%d,%d %d,%d %d,%d L%d,%d", x1, y1, x1+d, y1, xs-d, y2, xs, y2, x2, y2), x2 - badgeAt, y2
}
