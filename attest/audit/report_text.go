package audit

import (
	"fmt"
	"io"
	"strings"
	"unicode/utf8"
)

// TextWidth is the width, in runes, of the text trace (WriteTrace
// without Wide).
const TextWidth = 120

// TextOptions configure WriteTrace.
type TextOptions struct {
	// Wide writes one line per row and every digest whole, however wide.
	Wide bool
	// IncludeUnverified adds a STATUS column to the nodes: "verified", or
	// the status and reason of the statement that alone describes a node.
	IncludeUnverified bool
}

// WriteTrace writes a trace as text: the model's artifacts, the nodes,
// then one row per edge with its status (and reason), signer key and
// statement. Without Wide every line fits TextWidth runes: long cells
// wrap onto more lines of their row, and digests are shortened to their
// first 12 hex digits (the whole ones are in --wide and the JSON).
func WriteTrace(w io.Writer, t *Trace, o TextOptions) error {
	width := TextWidth
	if o.Wide {
		width = 0
	}
	short := false
	cell := func(s string) string {
		if o.Wide {
			return s
		}
		s, cut := shortDigests(s)
		short = short || cut
		return s
	}
	head := &textTable{}
	for _, a := range t.Artifacts {
		sig := a.SignatureStatus
		if a.SignatureReason != "" {
			sig += " " + a.SignatureReason
		}
		if a.SignatureKey != "" {
			sig += ", key " + a.SignatureKey
		}
		head.add("model", a.Ref())
		head.add("signature", sig)
	}
	nodes := &textTable{header: true}
	nodes.add(nodeHeader(o)...)
	for _, n := range t.Nodes {
		row := []string{n.Kind, dashed(cell(bareLabel(n))), dashed(cell(n.Digest)), dashed(cell(n.URI))}
		if o.IncludeUnverified {
			row = append(row, nodeStatus(n))
		}
		nodes.add(row...)
	}
	byID := map[string]Node{}
	for _, n := range t.Nodes {
		byID[n.ID] = n
	}
	name := func(id string) string {
		if n, ok := byID[id]; ok {
			return cell(kindLabel(n))
		}
		return cell(id)
	}
	edges := &textTable{header: true}
	edges.add("EDGE", "FROM", "TO", "STATUS", "KEY", "STATEMENT")
	for _, e := range t.Edges {
		edges.add(e.Kind, name(e.From), name(e.To), strings.TrimSpace(e.Status+" "+e.Reason), dashed(cell(e.KeyID)), dashed(cell(e.StatementDigest)))
	}
	var b strings.Builder
	head.write(&b, width)
	nodes.write(&b, width)
	b.WriteString("\n")
	edges.write(&b, width)
	if short {
		b.WriteString("\ndigests are shortened to 12 hex digits: --wide or --format json shows them whole\n")
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func nodeHeader(o TextOptions) []string {
	h := []string{"KIND", "NODE", "DIGEST", "URI"}
	if o.IncludeUnverified {
		h = append(h, "STATUS")
	}
	return h
}

// nodeStatus is "verified", or the status and reason of the description
// shown when no verified statement gives one.
func nodeStatus(n Node) string {
	if n.Status == "" {
		return "verified"
	}
	return strings.TrimSpace(n.Status + " " + n.Reason)
}

// dashed stands "-" for an empty cell.
func dashed(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// textTable is a table of text cells, columns two spaces apart.
type textTable struct {
	rows   [][]string
	header bool // the first row names the columns
}

func (t *textTable) add(cells ...string) { t.rows = append(t.rows, cells) }

// textGap separates the columns of a text table.
const textGap = 2

// write writes the table. With a width (in runes) the columns are
// narrowed, the widest first, until a row fits, and cells wrap onto
// more lines of their row; with none each row is one line.
func (t *textTable) write(b *strings.Builder, width int) {
	if len(t.rows) == 0 {
		return
	}
	widths := t.widths(width)
	for _, row := range t.rows {
		cells := make([][]string, len(row))
		height := 1
		for i, c := range row {
			cells[i] = []string{c}
			if width > 0 {
				cells[i] = wrapText(c, widths[i])
			}
			height = max(height, len(cells[i]))
		}
		for l := 0; l < height; l++ {
			var line strings.Builder
			for i := range row {
				s := ""
				if l < len(cells[i]) {
					s = cells[i][l]
				}
				line.WriteString(s)
				if i < len(row)-1 {
					line.WriteString(strings.Repeat(" ", widths[i]-utf8.RuneCountInString(s)+textGap))
				}
			}
			fmt.Fprintln(b, strings.TrimRight(line.String(), " "))
		}
	}
}

// minColumn is the narrowest a text column is made, if its cells are
// wider: short words stay whole.
const minColumn = 8

// widths returns each column's width: its widest cell, then, while the
// row is wider than width (when given), a column loses a rune: the one
// that wraps onto the fewest more lines, the widest of those. No column
// is narrowed below its header, its widest digest or minColumn.
func (t *textTable) widths(width int) []int {
	w, floor := t.natural()
	total := textGap * (len(w) - 1)
	for _, x := range w {
		total += x
	}
	memo := map[[2]int]int{}
	lines := func(col, width int) int {
		k := [2]int{col, width}
		if n, ok := memo[k]; ok {
			return n
		}
		n := 0
		for _, r := range t.rows {
			if col < len(r) {
				n += len(wrapText(r[col], width))
			}
		}
		memo[k] = n
		return n
	}
	for width > 0 && total > width {
		best, cost := -1, 0
		for i := range w {
			if w[i] <= floor[i] {
				continue
			}
			c := lines(i, w[i]-1) - lines(i, w[i])
			if best < 0 || c < cost || c == cost && w[i] > w[best] {
				best, cost = i, c
			}
		}
		if best < 0 {
			break
		}
		w[best]--
		total--
	}
	return w
}

// natural returns each column's widest cell, and the narrowest it may
// be made: its header, its widest digest, or minColumn.
func (t *textTable) natural() (w, floor []int) {
	n := 0
	for _, r := range t.rows {
		n = max(n, len(r))
	}
	w, floor = make([]int, n), make([]int, n)
	for j, r := range t.rows {
		for i, c := range r {
			w[i] = max(w[i], utf8.RuneCountInString(c))
			if j == 0 && t.header {
				floor[i] = max(floor[i], utf8.RuneCountInString(c))
			}
			for _, d := range unbreakable.FindAllString(c, -1) {
				floor[i] = max(floor[i], utf8.RuneCountInString(d))
			}
		}
	}
	for i := range w {
		floor[i] = max(floor[i], min(w[i], minColumn))
	}
	return w, floor
}
