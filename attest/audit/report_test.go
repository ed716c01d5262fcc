package audit

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"html"
	goimage "image"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"unicode/utf8"
)

func jsonMarshal(v any) ([]byte, error) { return json.Marshal(v) }

func splitComma(s string) []string { return strings.Split(s, ",") }

func bytesReader(b []byte) *bytes.Reader { return bytes.NewReader(b) }

// doubledWord returns a word that s repeats at once ("spec spec"), or "".
func doubledWord(s string) string {
	w := strings.Fields(strings.ToLower(s))
	for i := 1; i < len(w); i++ {
		if w[i] == w[i-1] {
			return w[i]
		}
	}
	return ""
}

// cutDigest returns a run of hex digits in s that is neither whole (40
// or more) nor shortened to 12 digits and "…", or "".
var hexRun = regexp.MustCompile(`[0-9a-f]{12,}…?`)

func cutDigest(s string) string {
	for _, h := range hexRun.FindAllString(s, -1) {
		n := utf8.RuneCountInString(h)
		if !(strings.HasSuffix(h, "…") && n == shortHex+1) && !(!strings.HasSuffix(h, "…") && n >= 40) {
			return h
		}
	}
	return ""
}

func TestWrapText(t *testing.T) {
	digest := "sha256:" + hexOf("image")
	for _, c := range []struct {
		in    string
		width int
		want  []string
	}{
		{"fraud.cue", 27, []string{"fraud.cue"}},
		{"prod/payments-ml eu-west-1", 20, []string{"prod/payments-ml", "eu-west-1"}},
		{"registry.example.com/train@sha256:6105d6cc76af…", 27, []string{"registry.example.com/train@", "sha256:6105d6cc76af…"}},
		{"registry.example.com/train@" + digest, 80, []string{"registry.example.com/train@", digest}},
		{"s3://payments-data/transactions/2026-11", 27, []string{"s3://payments-data/", "transactions/2026-11"}},
		{"abcdefghijklmnopqrstuvwxyz0123", 10, []string{"abcdefghij", "klmnopqrst", "uvwxyz0123"}},
		{"", 10, []string{""}},
	} {
		if got := wrapText(c.in, c.width); strings.Join(got, "|") != strings.Join(c.want, "|") {
			t.Errorf("wrapText(%q, %d) = %q, want %q", c.in, c.width, got, c.want)
		}
	}
}

func TestLabels(t *testing.T) {
	for _, c := range []struct {
		n          Node
		bare, name string
	}{
		{Node{Kind: KindSpec, Label: "spec fraud.cue"}, "fraud.cue", "spec fraud.cue"},
		{Node{Kind: KindRun, Label: "run e2e"}, "e2e", "run e2e"},
		{Node{Kind: KindRun, Label: "run"}, "", "run"},
		{Node{Kind: KindDataset, Label: "raw"}, "raw", "dataset raw"},
		{Node{Kind: KindEvaluation, Label: "evaluation pass"}, "pass", "evaluation pass"},
		{Node{Kind: KindModel, Label: "spec:v1"}, "spec:v1", "model spec:v1"},
	} {
		if got := bareLabel(c.n); got != c.bare {
			t.Errorf("bareLabel(%+v) = %q, want %q", c.n, got, c.bare)
		}
		if got := kindLabel(c.n); got != c.name {
			t.Errorf("kindLabel(%+v) = %q, want %q", c.n, got, c.name)
		}
	}
	long := "registry.example.com/train@sha256:" + hexOf("image")
	got, cut := shortDigests(long)
	if want := "registry.example.com/train@sha256:" + hexOf("image")[:12] + "…"; got != want || !cut {
		t.Errorf("shortDigests(%q) = %q, %v; want %q, true", long, got, cut, want)
	}
}

// TestReportDetails checks a run's details start with its metrics and
// the gates of its model's evaluation, and an evaluation's with its own.
func TestReportDetails(t *testing.T) {
	tr := reportTrace()
	for id, want := range map[string][]string{
		"run:sha256:" + hexOf("run"):         {"metrics", "gates, evaluation pass", "hyperparameters", "label"},
		"evaluation:sha256:" + hexOf("eval"): {"metrics", "gates", "verdict", "label"},
	} {
		ds, err := nodeDetails(tr, *tr.Node(id))
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, d := range ds[:len(want)] {
			got = append(got, d.Key)
		}
		if strings.Join(got, ",") != strings.Join(want, ",") {
			t.Errorf("nodeDetails(%s) keys start %v, want %v", id, got, want)
		}
	}
	ds, _ := nodeDetails(tr, *tr.Node("run:sha256:" + hexOf("run")))
	if got := strings.Join(ds[1].Lines, "; "); got != "auc >= 0.9: 0.93, passed; recall >= 0.8: not reported, failed" {
		t.Errorf("run's gates = %q", got)
	}
	if got := strings.Join(ds[0].Lines, "; "); got != "auc: 0.95; loss: 0.1" {
		t.Errorf("run's metrics = %q", got)
	}
}

// reportTrace is a small trace with long labels, a spec and a run whose
// labels repeat their kinds, two edges between the same nodes and an
// unverified node.
func reportTrace() *Trace {
	run, model, eval := "run:sha256:"+hexOf("run"), ModelID("sha256:"+hexOf("model")), "evaluation:sha256:"+hexOf("eval")
	spec, img, ds := "spec:sha256:"+hexOf("spec"), "image:sha256:"+hexOf("image"), "dataset:sha256:"+hexOf("ds")
	tr := &Trace{Model: "sha256:" + hexOf("model"), Artifacts: []Artifact{{Source: "registry.example.com/payments/fraud-detection", Digest: "sha256:" + hexOf("model"), Tags: []string{"e2e"}, SignatureStatus: "verified", SignatureKey: "sha256:" + hexOf("key")}},
		Nodes: []Node{
			{ID: spec, Kind: KindSpec, Label: "spec pipelines/fraud-detection/production/fraud.cue", Digest: "sha256:" + hexOf("spec")},
			{ID: ds, Kind: KindDataset, Label: "transactions", Digest: "sha256:" + hexOf("ds"), URI: "s3://payments-data/transactions/2026-11/region=eu-west-1/part-0000.parquet", Status: "rejected", Reason: "UNTRUSTED_KEY"},
			{ID: img, Kind: KindImage, Label: "registry.example.com/ml/train@sha256:" + hexOf("image"), Digest: "sha256:" + hexOf("image"), URI: "registry.example.com/ml/train@sha256:" + hexOf("image")},
			{ID: run, Kind: KindRun, Label: "run e2e", Digest: "sha256:" + hexOf("run"), Attrs: map[string]any{"pipeline": "fraud", "metrics": map[string]any{"loss": 0.1, "auc": 0.95}, "hyperparameters": map[string]any{"lr": 0.01}, "spec": map[string]any{"pipeline": map[string]any{"name": "fraud"}}}},
			{ID: model, Kind: KindModel, Label: "fraud:e2e", Digest: "sha256:" + hexOf("model")},
			{ID: eval, Kind: KindEvaluation, Label: "evaluation pass", Digest: "sha256:" + hexOf("eval"), Attrs: map[string]any{"verdict": "pass", "metrics": map[string]any{"auc": 0.93},
				"gates": []any{map[string]any{"metric": "auc", "condition": ">= 0.9", "value": 0.93, "passed": true}, map[string]any{"metric": "recall", "condition": ">= 0.8", "passed": false}}}},
		},
	}
	commit, dep := "commit:"+hexOf("commit")[:40], "deployment:sha256:"+hexOf("deploy")
	tr.Nodes = append(tr.Nodes,
		Node{ID: commit, Kind: KindCommit, Label: hexOf("commit")[:40], Digest: "gitCommit:" + hexOf("commit")[:40], URI: "git+https://git.example.com/payments/fraud-detection"},
		Node{ID: dep, Kind: KindDeployment, Label: "deployment prod/payments-ml", Digest: "sha256:" + hexOf("deploy"), Attrs: map[string]any{"environment": "prod", "namespace": "payments-ml", "inferenceService": "fraud"}})
	sortNodes(tr.Nodes)
	key, st := "sha256:"+hexOf("key"), "sha256:"+hexOf("run")
	for _, e := range [][3]string{{commit, run, EdgeSource}, {spec, run, EdgeSpec}, {ds, run, EdgeDataset}, {img, run, EdgeImage}, {run, model, EdgeProduced}, {model, eval, EdgeEvaluated}, {model, dep, EdgeDeployed}} {
		tr.Edges = append(tr.Edges, Edge{From: e[0], To: e[1], Kind: e[2], Artifact: tr.Model, StatementDigest: st, KeyID: key, Status: "verified"})
	}
	tr.Edges = append(tr.Edges, Edge{From: ds, To: run, Kind: EdgeDataset, Artifact: tr.Model, StatementDigest: "sha256:" + hexOf("other"), KeyID: "sha256:" + hexOf("evil"), Status: "rejected", Reason: "UNTRUSTED_KEY"})
	sortEdges(tr.Edges)
	return tr
}

// TestReportPage checks the page itself, without a browser: every edge
// an arrow with one badge, the edge table naming nodes by label, boxes
// as tall as their lines, no word doubled, nothing fetched, and the same
// bytes each time.
func TestReportPage(t *testing.T) {
	tr := reportTrace()
	page, err := Report(tr)
	if err != nil {
		t.Fatal(err)
	}
	if again, _ := Report(tr); !bytes.Equal(page, again) {
		t.Error("Report gives other bytes the second time")
	}
	checkNoFetch(t, page)
	checkPage(t, string(page), tr)
	g := layout(tr)
	for _, n := range tr.Nodes {
		b := g.Boxes[n.ID]
		if need := kindBase + lineH*len(b.Lines) + boxBottom; b.H < need {
			t.Errorf("box of %s is %d high, want at least %d for %d lines", n.ID, b.H, need, len(b.Lines))
		}
		for _, l := range b.Lines {
			if utf8.RuneCountInString(l) > labelChars {
				t.Errorf("box of %s has a line of %d runes, over %d: %q", n.ID, utf8.RuneCountInString(l), labelChars, l)
			}
		}
	}
	seen := map[[2]int]string{}
	for i := range tr.Edges {
		_, bx, by := g.edgePath(tr, i)
		if j, ok := seen[[2]int{bx, by}]; ok {
			t.Errorf("edges %s and %d have their badges at the same place", j, i)
		}
		seen[[2]int{bx, by}] = itoa(i)
	}
}

func itoa(i int) string { return fmt.Sprint(i) }

// checkNoFetch fails if the page loads anything: URIs shown as text are
// fine, and so are references inside the page (url(#arrow)).
func checkNoFetch(t *testing.T, page []byte) {
	t.Helper()
	for _, line := range strings.Split(string(page), "\n") {
		for _, bad := range []string{"<script", "<link", "@import", "src=", "href=", "url("} {
			if strings.Contains(strings.ReplaceAll(line, "url(#", ""), bad) {
				t.Errorf("report line fetches something (%s): %s", bad, line)
			}
		}
	}
	if !bytes.Contains(page, []byte(`content="default-src 'none';`)) {
		t.Error("report lacks its Content-Security-Policy")
	}
}

var (
	tagRE   = regexp.MustCompile(`<[^>]*>`)
	titleRE = regexp.MustCompile(`<title>([^<]*)</title>`)
	tspanRE = regexp.MustCompile(`<tspan[^>]*>([^<]*)</tspan>`)
)

// element returns the first element of the page that starts with open,
// up to the first close after it.
func element(page, open, close string) string {
	at := strings.Index(page, open)
	if at < 0 {
		return ""
	}
	end := strings.Index(page[at:], close)
	if end < 0 {
		return ""
	}
	return page[at : at+end+len(close)]
}

// checkPage checks the page (as written, or as Chromium's DOM): every
// node drawn with its whole label in its text or tooltip and in its
// details, no doubled word, no digest cut; every edge a path with an
// arrowhead, exactly one badge, and a table row naming its nodes by
// label.
func checkPage(t *testing.T, page string, tr *Trace) {
	t.Helper()
	for i, n := range tr.Nodes {
		g := element(page, `<g class="node`+map[bool]string{true: "", false: " rejected"}[n.Status == ""]+`" id="n`+itoa(i)+`" data-id="`+html.EscapeString(n.ID)+`"`, "</g>")
		if g == "" {
			t.Errorf("node %s is not drawn", n.ID)
			continue
		}
		title := ""
		if m := titleRE.FindStringSubmatch(g); m != nil {
			title = html.UnescapeString(m[1])
		}
		var lines []string
		for _, m := range tspanRE.FindAllStringSubmatch(g, -1) {
			lines = append(lines, html.UnescapeString(m[1]))
		}
		text := strings.Join(lines, "")
		if !strings.Contains(strings.ReplaceAll(text, " ", ""), strings.ReplaceAll(bareLabel(n), " ", "")) && !strings.Contains(title, n.Label) {
			t.Errorf("node %s: label %q is neither in its text %q nor in its tooltip %q", n.ID, n.Label, text, title)
		}
		if d := element(page, `<tr id="d`+itoa(i)+`">`, "</tr>"); !strings.Contains(html.UnescapeString(d), n.Label) {
			t.Errorf("node %s: details lack the label %q: %s", n.ID, n.Label, d)
		}
		for _, s := range []string{n.Kind + " " + strings.Join(lines, " "), title} {
			if w := doubledWord(s); w != "" {
				t.Errorf("node %s: %q doubles %q", n.ID, s, w)
			}
		}
		if c := cutDigest(text); c != "" {
			t.Errorf("node %s: digest cut in the middle, %q in %q", n.ID, c, text)
		}
	}
	for i, e := range tr.Edges {
		checkEdge(t, page, tr, i, e)
	}
	if got := strings.Count(page, `<g class="badge `); got != len(tr.Edges) {
		t.Errorf("%d badges drawn, want one per edge, %d", got, len(tr.Edges))
	}
}

func checkEdge(t *testing.T, page string, tr *Trace, i int, e Edge) {
	t.Helper()
	rejected := map[bool]string{true: "", false: " rejected"}[e.Status == "verified"]
	path := regexp.MustCompile(`<g class="edge` + rejected + `" id="e` + itoa(i) + `"[^>]*><path ([^>]*)>`).FindStringSubmatch(page)
	if path == nil {
		t.Errorf("edge %d (%s %s -> %s, %s) is not drawn", i, e.Kind, e.From, e.To, e.Status)
	} else if !strings.Contains(path[1], `marker-end="url(#arrow`) {
		t.Errorf("edge %d: path without an arrowhead: %s", i, path[1])
	}
	class := map[bool]string{true: "ok", false: "bad"}[e.Status == "verified"]
	if got := strings.Count(page, `data-edge="e`+itoa(i)+`"`); got != 1 {
		t.Errorf("edge %d has %d badges, want 1", i, got)
	} else if !strings.Contains(page, `<g class="badge `+class+`" data-edge="e`+itoa(i)+`"`) {
		t.Errorf("edge %d (%s): badge is not %q", i, e.Status, class)
	}
	row := html.UnescapeString(tagRE.ReplaceAllString(element(page, `<tr id="r`+itoa(i)+`">`, "</tr>"), "|"))
	from, to := kindLabel(*tr.Node(e.From)), kindLabel(*tr.Node(e.To))
	if !strings.Contains(row, "|"+from+"|") || !strings.Contains(row, "|"+to+"|") {
		t.Errorf("edge %d: table row %q does not name %q and %q", i, row, from, to)
	}
	for _, s := range []string{from, to} {
		if w := doubledWord(s); w != "" {
			t.Errorf("edge %d: %q doubles %q", i, s, w)
		}
	}
}

// probe is inserted, for the test only, into a copy of the page without
// its Content-Security-Policy: it records the document's width against
// the window's, and whether each node's text lies inside its box.
const probe = `<script>
const root = document.documentElement;
document.body.setAttribute("data-scroll-width", root.scrollWidth);
document.body.setAttribute("data-client-width", root.clientWidth);
for (const g of document.querySelectorAll("g.node")) {
  const r = g.querySelector("rect").getBBox();
  let fits = "yes";
  for (const t of g.querySelectorAll("text")) {
    const b = t.getBBox();
    if (b.x < r.x || b.y < r.y || b.x + b.width > r.x + r.width || b.y + b.height > r.y + r.height) fits = "no " + t.textContent;
  }
  g.setAttribute("data-fits", fits);
}
</script>
`

// chromium returns a function running headless Chromium on a page, or
// skips the test without it (fails with CAIRN_REQUIRE_CHROMIUM=1).
func chromium(t *testing.T) func(page string, args ...string) []byte {
	bin, err := exec.LookPath("chromium")
	if err != nil {
		if os.Getenv("CAIRN_REQUIRE_CHROMIUM") == "1" {
			t.Fatal("chromium is not installed and CAIRN_REQUIRE_CHROMIUM=1")
		}
		t.Skip("chromium is not installed; set CAIRN_REQUIRE_CHROMIUM=1 to fail instead")
	}
	return func(page string, args ...string) []byte {
		base := []string{"--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
			"--disable-background-networking", "--disable-component-update", "--disable-sync", "--hide-scrollbars",
			"--user-data-dir=" + t.TempDir()}
		cmd := exec.Command(bin, append(append(base, args...), "file://"+page)...)
		cmd.Dir = filepath.Dir(page)
		var out, errb bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errb
		if err := cmd.Run(); err != nil {
			t.Fatalf("chromium %v: %v\n%s", args, err, errb.String())
		}
		return out.Bytes()
	}
}

// TestReportChromium renders reports in headless Chromium 1400 px wide:
// a verified lineage, the same with an attacker's statements
// (--include-unverified: rejected edges, two edges between the same
// nodes, nodes only the attacker describes) and the attacker's model.
// The DOM must hold every node with its whole label, one badge and an
// arrowhead per edge, no doubled word, every node's text inside its box
// and no horizontal overflow; the screenshot must show every kind's
// colour over its boxes and nothing in the right margin.
func TestReportChromium(t *testing.T) {
	run := chromium(t)
	a := attackFixture(t)
	ctx := context.Background()
	for _, c := range []struct {
		name, model string
		o           QueryOptions
	}{{"ft", "ft", QueryOptions{}}, {"ft-unverified", "ft", QueryOptions{IncludeUnverified: true}}, {"evil-unverified", "evil", QueryOptions{IncludeUnverified: true}}} {
		t.Run(c.name, func(t *testing.T) {
			tr, err := a.attacked.Trace(ctx, a.refs[c.model].Digest, c.o)
			if err != nil {
				t.Fatal(err)
			}
			page, err := Report(tr)
			if err != nil {
				t.Fatal(err)
			}
			checkNoFetch(t, page)
			dir := t.TempDir()
			file, probed := filepath.Join(dir, "report.html"), filepath.Join(dir, "probe.html")
			csp := regexp.MustCompile(`<meta http-equiv="Content-Security-Policy"[^>]*>`)
			withProbe := strings.Replace(csp.ReplaceAllString(string(page), ""), "</body>", probe+"</body>", 1)
			if err := os.WriteFile(file, page, 0o644); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(probed, []byte(withProbe), 0o644); err != nil {
				t.Fatal(err)
			}
			dom := string(run(probed, "--window-size=1400,1000", "--dump-dom"))
			checkPage(t, dom, tr)
			checkProbe(t, dom, tr)
			shot := filepath.Join(dir, "shot.png")
			run(file, fmt.Sprintf("--window-size=1400,%d", 300+layout(tr).Height), "--screenshot="+shot)
			img := readPNG(t, shot)
			checkScreenshot(t, img, tr)
			checkRightMargin(t, img)
		})
	}
}

// checkProbe reads what the probe wrote into the DOM.
func checkProbe(t *testing.T, dom string, tr *Trace) {
	t.Helper()
	var scroll, client int
	m := regexp.MustCompile(`data-scroll-width="(\d+)" data-client-width="(\d+)"`).FindStringSubmatch(dom)
	if m == nil {
		t.Fatal("the probe did not run")
	}
	fmt.Sscan(m[1], &scroll)
	fmt.Sscan(m[2], &client)
	if client != 1400 || scroll > client {
		t.Errorf("page is %d px wide in a %d px window, want it to fit 1400 px", scroll, client)
	}
	for i, n := range tr.Nodes {
		g := element(dom, `id="n`+itoa(i)+`"`, ">")
		if !strings.Contains(g, `data-fits="yes"`) {
			t.Errorf("node %s: its text overflows its box: %s", n.ID, g)
		}
	}
}

func readPNG(t *testing.T, path string) goimage.Image {
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
	return img
}

// checkRightMargin fails if anything is painted in the right 16 px of
// the screenshot (the body's margin is 20 px): the page overflows.
func checkRightMargin(t *testing.T, img goimage.Image) {
	t.Helper()
	b := img.Bounds()
	if b.Dx() != 1400 {
		t.Errorf("screenshot is %d px wide, want 1400", b.Dx())
	}
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Max.X - 16; x < b.Max.X; x++ {
			if r, g, bl, _ := img.At(x, y).RGBA(); r>>8 < 250 || g>>8 < 250 || bl>>8 < 250 {
				t.Errorf("screenshot: pixel (%d,%d) painted in the right margin: the page overflows 1400 px", x, y)
				return
			}
		}
	}
}

// checkScreenshot checks that the box of every node is painted in its
// kind's colour over at least half the area the layout gives it (scaled
// down as the page fits the graph to the window's width, less the body's
// 20px margins).
func checkScreenshot(t *testing.T, img goimage.Image, tr *Trace) {
	t.Helper()
	g := layout(tr)
	bounds := img.Bounds()
	scale := min(1, float64(bounds.Dx()-40)/float64(g.Width))
	painted := map[[3]uint8]int{}
	for y := bounds.Min.Y; y < bounds.Max.Y; y++ {
		for x := bounds.Min.X; x < bounds.Max.X; x++ {
			cr, cg, cb, _ := img.At(x, y).RGBA()
			painted[[3]uint8{uint8(cr >> 8), uint8(cg >> 8), uint8(cb >> 8)}]++
		}
	}
	for kind, color := range kindColors {
		area := 0
		for _, n := range tr.Nodes {
			if b := g.Boxes[n.ID]; n.Kind == kind {
				area += b.W * b.H
			}
		}
		if area == 0 {
			continue
		}
		var r, gr, b uint8
		fmt.Sscanf(color, "#%02x%02x%02x", &r, &gr, &b)
		found := painted[[3]uint8{r, gr, b}]
		if want := int(float64(area) * scale * scale / 2); found < want {
			t.Errorf("screenshot: %d pixels of %s (%s), want at least %d", found, kind, color, want)
		}
	}
}
