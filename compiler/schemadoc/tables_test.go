package schemadoc_test

import (
	"strings"
	"testing"

	"cairn.dev/cairn/compiler/schemadoc"
	"cairn.dev/cairn/schemas"
)

// docRow is one row of a field table of the generated reference, its
// cells as Markdown.
type docRow struct {
	path, typ, def, required, desc string
}

// specTables renders the reference of the schemas and returns its field
// tables by definition, the rows by field path.
func specTables(t *testing.T) map[string]map[string]docRow {
	t.Helper()
	md := renderSpec(t)
	tables := map[string]map[string]docRow{}
	def := ""
	for _, line := range strings.Split(string(md), "\n") {
		if name, ok := strings.CutPrefix(line, "## "); ok {
			def = name
			continue
		}
		if !strings.HasPrefix(line, "| `") {
			continue
		}
		cells := splitRow(line)
		if len(cells) != 5 {
			t.Fatalf("%s: row with %d cells: %s", def, len(cells), line)
		}
		path := strings.Trim(cells[0], "`")
		if tables[def] == nil {
			tables[def] = map[string]docRow{}
		}
		tables[def][path] = docRow{path, cells[1], cells[2], cells[3], cells[4]}
	}
	if len(tables) == 0 {
		t.Fatal("the reference has no field tables")
	}
	return tables
}

// renderSpec renders the reference of the schemas.
func renderSpec(t *testing.T) []byte {
	t.Helper()
	md, err := schemadoc.Markdown(schemas.FS)
	if err != nil {
		t.Fatal(err)
	}
	return md
}

// splitRow splits a Markdown table row at its unescaped "|".
func splitRow(line string) []string {
	line = strings.TrimSuffix(strings.TrimPrefix(line, "| "), " |")
	var cells []string
	var cur strings.Builder
	for i := 0; i < len(line); i++ {
		switch {
		case line[i] == '\\' && i+1 < len(line) && line[i+1] == '|':
			cur.WriteString(`\|`)
			i++
		case strings.HasPrefix(line[i:], " | "):
			cells = append(cells, cur.String())
			cur.Reset()
			i += 2
		default:
			cur.WriteByte(line[i])
		}
	}
	return append(cells, cur.String())
}
