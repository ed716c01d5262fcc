package audit

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/rogpeppe/go-internal/txtar"
)

// TestTraceText compares the text trace of testdata/trace_text.txtar's
// trace with its want/ files, run with CAIRN_UPDATE=1 to rewrite them;
// without --wide every line must fit 120 runes, and every digest be
// whole or shortened at its end; with --wide every digest of the trace
// is whole.
func TestTraceText(t *testing.T) {
	file := filepath.Join("testdata", "trace_text.txtar")
	ar, err := txtar.ParseFile(file)
	if err != nil {
		t.Fatal(err)
	}
	var tr Trace
	files := map[string]int{}
	for i, f := range ar.Files {
		files[f.Name] = i
	}
	if err := json.Unmarshal(ar.Files[files["trace.json"]].Data, &tr); err != nil {
		t.Fatal(err)
	}
	got := map[string][]byte{}
	for name, o := range map[string]TextOptions{"want/text": {}, "want/unverified": {IncludeUnverified: true}, "want/wide": {Wide: true, IncludeUnverified: true}} {
		var b bytes.Buffer
		if err := WriteTrace(&b, &tr, o); err != nil {
			t.Fatal(err)
		}
		got[name] = b.Bytes()
		if !o.Wide {
			checkTextWidth(t, name, b.String())
		}
	}
	if os.Getenv("CAIRN_UPDATE") == "1" {
		for name, b := range got {
			ar.Files[files[name]].Data = b
		}
		if err := os.WriteFile(file, txtar.Format(ar), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	for name, b := range got {
		i, ok := files[name]
		if !ok {
			t.Errorf("%s has no %s", file, name)
			continue
		}
		if want := ar.Files[i].Data; !bytes.Equal(b, want) {
			t.Errorf("WriteTrace %s:\n%s\nwant:\n%s\n(CAIRN_UPDATE=1 rewrites %s)", name, b, want, file)
		}
	}
	checkTextContent(t, &tr, got)
}

func checkTextWidth(t *testing.T, name, text string) {
	t.Helper()
	for _, l := range strings.Split(strings.TrimSuffix(text, "\n"), "\n") {
		if n := utf8.RuneCountInString(l); n > TextWidth {
			t.Errorf("%s: a line of %d runes, over %d: %q", name, n, TextWidth, l)
		}
		if c := cutDigest(l); c != "" {
			t.Errorf("%s: digest cut in the middle, %q in %q", name, c, l)
		}
		for _, cell := range regexp.MustCompile(`\s{2,}`).Split(l, -1) {
			if w := doubledWord(cell); w != "" {
				t.Errorf("%s: %q doubles %q", name, l, w)
			}
		}
	}
}

// checkTextContent checks the STATUS column and that --wide holds every
// digest of the trace whole.
func checkTextContent(t *testing.T, tr *Trace, got map[string][]byte) {
	t.Helper()
	if strings.Contains(string(got["want/text"]), "STATUS  ") && strings.Contains(strings.SplitN(string(got["want/text"]), "\n\n", 2)[0], "STATUS") {
		t.Error("the nodes have a STATUS column without --include-unverified")
	}
	for _, n := range tr.Nodes {
		if n.Status == "" {
			continue
		}
		for _, name := range []string{"want/unverified", "want/wide"} {
			if !strings.Contains(string(got[name]), n.Status+" "+n.Reason) {
				t.Errorf("%s: node %s is not marked %s %s", name, n.ID, n.Status, n.Reason)
			}
		}
	}
	wide := string(got["want/wide"])
	for _, n := range tr.Nodes {
		for _, s := range []string{n.Digest, n.URI, bareLabel(n)} {
			if !strings.Contains(wide, s) {
				t.Errorf("--wide lacks %q of node %s", s, n.ID)
			}
		}
	}
	for _, e := range tr.Edges {
		if !strings.Contains(wide, e.StatementDigest) || !strings.Contains(wide, e.KeyID) {
			t.Errorf("--wide lacks the statement or key of edge %s -> %s", e.From, e.To)
		}
	}
}
