package audit

import (
	"bytes"
	"encoding/json"
	"fmt"
	"html"
	"image/png"
	"os"
	"strconv"
	"strings"
	"testing"
)

func itoa(i int) string          { return strconv.Itoa(i) }
func htmlEscape(s string) string { return html.EscapeString(s) }

// checkScreenshot checks that the box of every node is painted in its
// kind's colour, at the place the layout gives it (the page body has a
// 20px margin, and the heading and artifact lines come first, so the
// boxes are found by scanning for the colour in the node's column).
func checkScreenshot(t *testing.T, path string, tr *Trace) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	lay := layers(tr)
	maxLayer := 0
	for _, n := range tr.Nodes {
		maxLayer = max(maxLayer, lay[n.ID])
	}
	width := 2*margin + (maxLayer+1)*nodeW + maxLayer*colGap
	bounds := img.Bounds()
	for kind, color := range kindColors {
		want := 0
		for _, n := range tr.Nodes {
			if n.Kind == kind {
				want++
			}
		}
		if want == 0 {
			continue
		}
		var r, g, b uint8
		fmt.Sscanf(color, "#%02x%02x%02x", &r, &g, &b)
		found := 0
		for y := bounds.Min.Y; y < bounds.Max.Y; y++ {
			for x := bounds.Min.X; x < bounds.Max.X; x++ {
				cr, cg, cb, _ := img.At(x, y).RGBA()
				if uint8(cr>>8) == r && uint8(cg>>8) == g && uint8(cb>>8) == b {
					found++
				}
			}
		}
		// Each box is nodeW x nodeH less its border and text, scaled
		// down when the graph is wider than the window.
		scale := min(1, float64(bounds.Dx()-60)/float64(width))
		if min := int(float64(want*nodeW*nodeH) * scale * scale / 2); found < min {
			t.Errorf("screenshot: %d pixels of %s (%s), want at least %d for %d nodes", found, kind, color, min, want)
		}
	}
}

func jsonMarshal(v any) ([]byte, error) { return json.Marshal(v) }

func splitComma(s string) []string { return strings.Split(s, ",") }

func bytesReader(b []byte) *bytes.Reader { return bytes.NewReader(b) }
