package audit

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"

	"cairn.dev/cairn/attest/lineage"
	"cairn.dev/cairn/attest/oci"
	"cairn.dev/cairn/attest/sign"
)

// The attack fixture's datasets, feature and base model.
var (
	rawSet      = lineage.Dataset{Name: "raw", URI: "s3://data/raw", Digest: "sha256:" + hexOf("raw")}
	cleanSet    = lineage.Dataset{Name: "clean", URI: "s3://data/clean", Digest: "sha256:" + hexOf("clean")}
	poisonSet   = lineage.Dataset{Name: "poison", URI: "s3://evil/poison", Digest: "sha256:" + hexOf("poison")}
	realFeature = lineage.Feature{Step: "prep", Output: "table", URI: "s3://features/table", Digest: "sha256:" + hexOf("feature")}
	// extBase is a base model that is not indexed: its node is described
	// by the provenance that names it.
	extBase = "sha256:" + hexOf("external base")
)

// attack is a verified lineage indexed twice: control without the
// attacker's statements, attacked with them.
type attack struct {
	refs              map[string]oci.Ref
	control, attacked *DB
}

// attackFixture builds, in the default store:
//
//	base: trained on raw
//	ft:   fine-tuned from base on clean (a snapshot derived from raw), deployed
//	ext:  trained on raw and a feature, fine-tuned from extBase (not indexed)
//	dup:  trained on raw, evaluated and deployed
//
// all signed by the trusted key, and indexes them (control). Then an
// attacker adds statements signed by an untrusted key: on ft another
// evaluation and deployment; on dup copies of dup's own provenance,
// evaluation and deployment; and a model "evil" (signed by the trusted
// key) whose provenance and dataset snapshots name the digests of the
// real commit, spec, datasets, feature, image and base model with other
// URIs and names. The attacked index holds it all, the attacker's model
// indexed first.
func attackFixture(t *testing.T) *attack {
	t.Helper()
	good, evil := signers(t)
	root := t.TempDir()
	at := func(s string) oci.Ref {
		r, err := oci.ParseRef(s, root)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	refs := map[string]oci.Ref{}
	refs["base"] = train(t, at("base:v1"), good, training{run: "base-run", datasets: []lineage.Dataset{rawSet}, lr: 0.01})
	refs["ft"] = train(t, at("ft:v1"), good, training{run: "ft-run", datasets: []lineage.Dataset{cleanSet},
		derived: map[string][]string{"clean": {rawSet.URI}}, base: refs["base"].Digest, lr: 0.02})
	deploy(t, refs["ft"], good, "prod")
	refs["ext"] = train(t, at("ext:v1"), good, training{run: "ext-run", datasets: []lineage.Dataset{rawSet},
		features: []lineage.Feature{realFeature}, base: extBase, lr: 0.03})
	dup := training{run: "dup-run", datasets: []lineage.Dataset{rawSet}, lr: 0.04}
	refs["dup"] = train(t, at("dup:v1"), good, dup)
	deploy(t, refs["dup"], good, "prod")
	a := &attack{refs: refs}
	a.control = indexSources(t, filepath.Join(root, "control.db"), localModels(t, root, ""), good)

	attestRaw(t, refs["ft"], evil, lineage.PredicateEvaluation, evaluationJSON(t, "ft-run", 0.5))
	deploy(t, refs["ft"], evil, "evil")
	attestRaw(t, refs["dup"], evil, lineage.PredicateSLSAProvenance, provenanceJSON(t, dup))
	attestRaw(t, refs["dup"], evil, lineage.PredicateEvaluation, evaluationJSON(t, dup.run, 0.9+dup.lr))
	deploy(t, refs["dup"], evil, "prod")
	refs["evil"] = attackerModel(t, at("evil:v1"))
	a.attacked = indexSources(t, filepath.Join(root, "attacked.db"), localModels(t, root, "evil"), good)
	return a
}

// attackerModel pushes a model signed by the trusted key whose
// statements the untrusted key signs.
func attackerModel(t *testing.T, ref oci.Ref) oci.Ref {
	t.Helper()
	good, evil := signers(t)
	m := pushModel(t, ref, "weights of evil", oci.Options{})
	byDigest := m
	byDigest.Tag = ""
	if _, err := sign.Sign(context.Background(), byDigest, good, oci.Options{}); err != nil {
		t.Fatal(err)
	}
	p, err := lineage.TrainingProvenance(lineage.TrainingInput{
		Pipeline: "evil", RunID: "evil-run", Repository: "https://evil.example/specs",
		GitCommit: hexOf("commit ft-run")[:40], SpecDigest: "sha256:" + hexOf("spec ft-run"), SpecPath: "evil.cue",
		Datasets: []lineage.Dataset{
			{Name: "evil-raw", URI: "s3://evil/raw", Digest: rawSet.Digest, DerivedFrom: []string{"s3://evil/parent"}},
			{Name: "evil-clean", URI: "s3://evil/clean", Digest: cleanSet.Digest}, poisonSet},
		Features:  []lineage.Feature{{Step: "evil", Output: "table", URI: "s3://evil/features", Digest: realFeature.Digest}},
		Image:     "evil.example/train@sha256:" + hexOf("image"),
		BaseModel: &lineage.Artifact{Ref: "evil.example/base", Digest: extBase},
	})
	if err != nil {
		t.Fatal(err)
	}
	attestRaw(t, m, evil, lineage.PredicateSLSAProvenance, mustJSON(t, p))
	for _, d := range []lineage.Dataset{{Name: "evil-raw", URI: "s3://evil/raw", Digest: rawSet.Digest},
		{Name: "evil-clean", URI: "s3://evil/clean", Digest: cleanSet.Digest}, poisonSet} {
		s := lineage.DatasetSnapshot{Name: d.Name, URI: d.URI, SnapshotID: "evil-snapshot-padded-to-win", Format: "evil-format-padded-to-win",
			Digest: lineage.DigestSet{"sha256": strings.TrimPrefix(d.Digest, "sha256:")}, Files: 9, Bytes: 99999, Rows: 999999,
			Sensitivity: lineage.Sensitivity{PII: true}, DerivedFrom: []string{"s3://evil/parent"}}
		attestRaw(t, m, evil, lineage.PredicateDatasetSnapshot, mustJSON(t, s))
	}
	deploy(t, m, evil, "evil")
	return m
}

func attestRaw(t testing.TB, m oci.Ref, s *sign.Signer, predicateType string, pred []byte) {
	t.Helper()
	byDigest := m
	byDigest.Tag = ""
	if _, err := sign.Attest(context.Background(), byDigest, s, predicateType, pred, oci.Options{}); err != nil {
		t.Fatal(err)
	}
}

// localModels lists the layouts of the default store, first among them
// the one named first (if any).
func localModels(t testing.TB, root, first string) []oci.Ref {
	t.Helper()
	refs, err := oci.LocalModels(root)
	if err != nil {
		t.Fatal(err)
	}
	sort.SliceStable(refs, func(i, j int) bool { return refs[i].Repository == first && refs[j].Repository != first })
	return refs
}

// indexSources indexes the sources in order, one artifact at a time, and
// reopens the index read-only.
func indexSources(t testing.TB, path string, sources []oci.Ref, key *sign.Signer) *DB {
	t.Helper()
	db, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Index(context.Background(), sources, Options{Keys: keyFor(t, key), Concurrency: 1}); err != nil {
		t.Fatal(err)
	}
	db.Close()
	ro, err := OpenReadOnly(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ro.Close() })
	return ro
}

// views is what an index shows of one model: its trace, its report and
// the trace of its evidence bundle.
type views struct {
	trace, bundle *Trace
	report        []byte
}

func viewsOf(t *testing.T, db *DB, digest string) views {
	t.Helper()
	ctx := context.Background()
	tr, err := db.Trace(ctx, digest, QueryOptions{})
	if err != nil {
		t.Fatal(err)
	}
	page, err := Report(tr)
	if err != nil {
		t.Fatal(err)
	}
	raw, _, err := db.Export(ctx, digest, QueryOptions{})
	if err != nil {
		t.Fatal(err)
	}
	_, files := tarFiles(t, raw)
	var bt Trace
	if err := json.Unmarshal(files[BundleTrace], &bt); err != nil {
		t.Fatal(err)
	}
	return views{trace: tr, bundle: &bt, report: page}
}

// pick returns, as JSON, the nodes a selector names (a node id, or
// "kind=K": every node of kind K), and the edges into and out of them.
func pick(t *testing.T, tr *Trace, sel string) (nodes, edges string) {
	t.Helper()
	ids := map[string]bool{}
	var ns []Node
	for _, n := range tr.Nodes {
		if n.ID == sel || "kind="+n.Kind == sel {
			ids[n.ID] = true
			ns = append(ns, n)
		}
	}
	var es []Edge
	for _, e := range tr.Edges {
		if ids[e.From] || ids[e.To] {
			es = append(es, e)
		}
	}
	if len(ns) == 0 {
		return "", string(mustJSON(t, es))
	}
	return string(mustJSON(t, ns)), string(mustJSON(t, es))
}

// TestUnverifiedStatementCannotRewriteLineage: statements signed by an
// untrusted key that name the digests of a verified lineage's nodes with
// other URIs, names and attributes change nothing of what trace, the
// report and the evidence bundle's trace show of that lineage: each node
// and its edges are as in the index without the attacker's statements.
func TestUnverifiedStatementCannotRewriteLineage(t *testing.T) {
	a := attackFixture(t)
	cases := []struct {
		name, model, sel string
		absent           bool
	}{
		{"dataset uri and name", "base", "dataset:" + rawSet.Digest, false},
		{"dataset uri and name, through a base model", "ft", "dataset:" + rawSet.Digest, false},
		{"dataset uri and name, with a feature", "ext", "dataset:" + rawSet.Digest, false},
		{"dataset derivedFrom and attributes over a verified snapshot", "ft", "dataset:" + cleanSet.Digest, false},
		{"dataset derived-from parent", "ft", "dataset:s3://evil/parent", true},
		{"dataset derived-from parent of raw", "base", "dataset:s3://evil/parent", true},
		{"dataset uri node", "ft", "dataset:" + rawSet.URI, false},
		{"commit uri", "ft", "commit:" + hexOf("commit ft-run")[:40], false},
		{"spec uri and label", "ft", "spec:sha256:" + hexOf("spec ft-run"), false},
		{"image uri and label", "ext", "image:sha256:" + hexOf("image"), false},
		{"feature uri and label", "ext", "feature:" + realFeature.Digest, false},
		{"base model uri and label", "ext", ModelID(extBase), false},
		{"indexed base model", "ft", "kind=model", false},
		{"run, its statement signed again by another key", "dup", "kind=run", false},
		{"evaluation, its statement signed again by another key", "dup", "kind=evaluation", false},
		{"deployment, its statement signed again by another key", "dup", "kind=deployment", false},
		{"evaluation added by another key", "ft", "kind=evaluation", false},
		{"deployment added by another key", "ft", "kind=deployment", false},
	}
	control, attacked := map[string]views{}, map[string]views{}
	for _, m := range []string{"base", "ft", "ext", "dup"} {
		control[m] = viewsOf(t, a.control, a.refs[m].Digest)
		attacked[m] = viewsOf(t, a.attacked, a.refs[m].Digest)
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			want, got := control[c.model], attacked[c.model]
			wantNodes, wantEdges := pick(t, want.trace, c.sel)
			if (wantNodes == "") != c.absent {
				t.Fatalf("control Trace(%s) node %s: %q (fixture broken)", c.model, c.sel, wantNodes)
			}
			for _, v := range []struct {
				what string
				tr   *Trace
			}{{"Trace", got.trace}, {"Export's trace.json", got.bundle}} {
				gotNodes, gotEdges := pick(t, v.tr, c.sel)
				if gotNodes != wantNodes {
					t.Errorf("%s(%s) node %s = %s\nwant %s", v.what, c.model, c.sel, gotNodes, wantNodes)
				}
				if gotEdges != wantEdges {
					t.Errorf("%s(%s) edges of %s = %s\nwant %s", v.what, c.model, c.sel, gotEdges, wantEdges)
				}
			}
			if !bytes.Equal(got.report, want.report) {
				t.Errorf("Report(%s) differs from the report without the attacker's statements", c.model)
			}
		})
	}
	t.Run("whole trace and diff", func(t *testing.T) {
		for m := range control {
			if g, w := mustJSON(t, attacked[m].trace), mustJSON(t, control[m].trace); !bytes.Equal(g, w) {
				t.Errorf("Trace(%s) = %s\nwant %s", m, g, w)
			}
		}
		ctx := context.Background()
		for _, p := range [][2]string{{"base", "ft"}, {"ext", "dup"}} {
			want, err := a.control.Diff(ctx, a.refs[p[0]].Digest, a.refs[p[1]].Digest, QueryOptions{})
			if err != nil {
				t.Fatal(err)
			}
			got, err := a.attacked.Diff(ctx, a.refs[p[0]].Digest, a.refs[p[1]].Digest, QueryOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if g, w := mustJSON(t, got), mustJSON(t, want); !bytes.Equal(g, w) {
				t.Errorf("Diff(%s, %s) = %s\nwant %s", p[0], p[1], g, w)
			}
		}
	})
}

// TestUsesIgnoresUnverifiedStatements: uses of the real datasets' URIs
// and digests finds the models it finds without the attacker's
// statements, and the attacker's URIs reach no model by default.
func TestUsesIgnoresUnverifiedStatements(t *testing.T) {
	a := attackFixture(t)
	ctx := context.Background()
	wantModels := map[string][]string{
		rawSet.URI: {"base", "dup", "ext", "ft"}, rawSet.Digest: {"base", "dup", "ext", "ft"},
		cleanSet.URI: {"ft"}, cleanSet.Digest: {"ft"},
	}
	for q, models := range wantModels {
		want, err := a.control.Uses(ctx, q, QueryOptions{})
		if err != nil {
			t.Fatal(err)
		}
		got, err := a.attacked.Uses(ctx, q, QueryOptions{})
		if err != nil {
			t.Errorf("Uses(%s): %v", q, err)
			continue
		}
		var names []string
		for _, u := range got {
			names = append(names, label(a.refs, u.Model))
		}
		sort.Strings(names)
		if !slices.Equal(names, models) {
			t.Errorf("Uses(%s) = %v, want %v", q, names, models)
		}
		if g, w := mustJSON(t, got), mustJSON(t, want); !bytes.Equal(g, w) {
			t.Errorf("Uses(%s) = %s\nwant %s", q, g, w)
		}
	}
	for _, q := range []string{"s3://evil/raw", "s3://evil/clean", poisonSet.URI, poisonSet.Digest, "s3://evil/parent"} {
		if uses, err := a.attacked.Uses(ctx, q, QueryOptions{}); err == nil && len(uses) > 0 {
			t.Errorf("Uses(%s) = %+v; an unverified statement's URI reaches models", q, uses)
		}
	}
}

// nodeJSON is a trace's node as JSON fields, or nil.
func nodeJSON(t *testing.T, tr *Trace, id string) map[string]any {
	t.Helper()
	n := tr.Node(id)
	if n == nil {
		return nil
	}
	var m map[string]any
	if err := json.Unmarshal(mustJSON(t, n), &m); err != nil {
		t.Fatal(err)
	}
	return m
}

// TestUnverifiedOnlySourceShowsMarked: where an unverified statement is
// the only one describing a node of a lineage, --include-unverified
// shows the node as that statement describes it, marked with its status
// and reason; by default it is not shown.
func TestUnverifiedOnlySourceShowsMarked(t *testing.T) {
	a := attackFixture(t)
	ctx := context.Background()
	model := a.refs["evil"].Digest
	tr, err := a.attacked.Trace(ctx, model, QueryOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(tr.Nodes) != 1 || len(tr.Edges) != 0 {
		t.Errorf("Trace(evil) = %d nodes, %d edges; want the model alone", len(tr.Nodes), len(tr.Edges))
	}
	all, err := a.attacked.Trace(ctx, model, QueryOptions{IncludeUnverified: true})
	if err != nil {
		t.Fatal(err)
	}
	marked := []struct{ id, uri, label string }{
		{"dataset:" + poisonSet.Digest, poisonSet.URI, "poison"},
		{"dataset:" + rawSet.Digest, "s3://evil/raw", "evil-raw"},
		{"dataset:s3://evil/parent", "s3://evil/parent", "s3://evil/parent"},
		{"commit:" + hexOf("commit ft-run")[:40], "git+https://evil.example/specs", hexOf("commit ft-run")[:40]},
		{"image:sha256:" + hexOf("image"), "evil.example/train@sha256:" + hexOf("image"), "evil.example/train@sha256:" + hexOf("image")},
		{ModelID(extBase), "evil.example/base", "evil.example/base"},
	}
	for _, w := range marked {
		n := nodeJSON(t, all, w.id)
		if n == nil {
			t.Errorf("Trace(evil, include unverified) lacks %s", w.id)
			continue
		}
		if n["uri"] != w.uri || n["label"] != w.label || n["status"] != "rejected" || n["reason"] != string(sign.ReasonUntrustedKey) {
			t.Errorf("Trace(evil, include unverified) node %s = %v; want uri %q, label %q, status rejected, reason %s", w.id, n, w.uri, w.label, sign.ReasonUntrustedKey)
		}
	}
	// A verified statement of the lineage (ft's snapshot, whose
	// derived-from edge into clean the trace follows) wins over the
	// attacker's.
	if n := nodeJSON(t, all, "dataset:"+cleanSet.Digest); n == nil || n["uri"] != cleanSet.URI || n["status"] != nil {
		t.Errorf("Trace(evil, include unverified) node clean = %v; want the verified description, unmarked", n)
	}
	uses, err := a.attacked.Uses(ctx, poisonSet.URI, QueryOptions{IncludeUnverified: true})
	if err != nil || len(uses) != 1 || uses[0].Model != model || uses[0].Status != string(sign.ReasonUntrustedKey) {
		t.Errorf("Uses(poison, include unverified) = %+v, %v; want the evil model marked %s", uses, err, sign.ReasonUntrustedKey)
	}
	// In the verified lineage, --include-unverified shows the attacker's
	// edges, marked, and keeps the verified descriptions.
	ft, err := a.attacked.Trace(ctx, a.refs["ft"].Digest, QueryOptions{IncludeUnverified: true})
	if err != nil {
		t.Fatal(err)
	}
	if n := nodeJSON(t, ft, "dataset:"+rawSet.Digest); n == nil || n["uri"] != rawSet.URI || n["label"] != "raw" || n["status"] != nil {
		t.Errorf("Trace(ft, include unverified) node raw = %v; want the verified description", n)
	}
	if n := nodeJSON(t, ft, "dataset:s3://evil/parent"); n == nil || n["status"] != "rejected" {
		t.Errorf("Trace(ft, include unverified) node s3://evil/parent = %v; want it marked rejected", n)
	}
}

// forgeBundle rewrites one JSON file of a bundle with edit, recomputes
// SHA256SUMS and writes the tar anew, as a forger would.
func forgeBundle(t *testing.T, raw []byte, name string, edit func(v any), v any) []byte {
	t.Helper()
	names, files := tarFiles(t, raw)
	if err := json.Unmarshal(files[name], v); err != nil {
		t.Fatal(err)
	}
	edit(v)
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	files[name] = b
	var sums bytes.Buffer
	for _, n := range names[1:] {
		fmt.Fprintf(&sums, "%s  %s\n", strings.TrimPrefix(sha256Hex(files[n]), "sha256:"), n)
	}
	files[BundleSums] = sums.Bytes()
	out, err := writeTar(names, files)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func forgeTrace(t *testing.T, raw []byte, edit func(*Trace)) []byte {
	t.Helper()
	return forgeBundle(t, raw, BundleTrace, func(v any) { edit(v.(*Trace)) }, &Trace{})
}

func edgeOf(t *testing.T, tr *Trace, kind string) int {
	t.Helper()
	for i, e := range tr.Edges {
		if e.Kind == kind && e.Status == string(sign.StatusVerified) {
			return i
		}
	}
	t.Fatalf("trace has no verified %s edge", kind)
	return -1
}

func nodeOf(t *testing.T, tr *Trace, id string) int {
	t.Helper()
	for i, n := range tr.Nodes {
		if n.ID == id {
			return i
		}
	}
	t.Fatalf("trace has no node %s", id)
	return -1
}

// traceForgery edits trace.json; the error must name want.
type traceForgery struct {
	name string
	edit func(tr *Trace)
	want string
}

// traceForgeries are the forgeries of ft's trace.json.
func traceForgeries(t *testing.T) []traceForgery {
	rawID, cleanID := "dataset:"+rawSet.Digest, "dataset:"+cleanSet.Digest
	madeUp := "run:sha256:" + hexOf("made up")
	return []traceForgery{
		{"edge redirected to a made-up node", func(tr *Trace) {
			tr.Edges[edgeOf(t, tr, EdgeDataset)].To = madeUp
			tr.Nodes = append(tr.Nodes, Node{ID: madeUp, Kind: KindRun, Label: "run made-up"})
		}, madeUp},
		{"edge redirected to another node", func(tr *Trace) { tr.Edges[edgeOf(t, tr, EdgeDerivedFrom)].To = rawID }, EdgeDerivedFrom},
		{"node removed", func(tr *Trace) { tr.Nodes = slices.Delete(tr.Nodes, nodeOf(t, tr, rawID), nodeOf(t, tr, rawID)+1) }, rawID},
		{"node and its edges removed", func(tr *Trace) {
			tr.Nodes = slices.Delete(tr.Nodes, nodeOf(t, tr, rawID), nodeOf(t, tr, rawID)+1)
			tr.Edges = slices.DeleteFunc(tr.Edges, func(e Edge) bool { return e.From == rawID || e.To == rawID })
		}, rawID},
		{"edge removed", func(tr *Trace) { i := edgeOf(t, tr, EdgeDerivedFrom); tr.Edges = slices.Delete(tr.Edges, i, i+1) }, EdgeDerivedFrom},
		{"node uri changed", func(tr *Trace) { tr.Nodes[nodeOf(t, tr, rawID)].URI = "s3://evil/raw" }, "s3://evil/raw"},
		{"node label changed", func(tr *Trace) { tr.Nodes[nodeOf(t, tr, cleanID)].Label = "evil-clean" }, "evil-clean"},
		{"node digest changed", func(tr *Trace) { tr.Nodes[nodeOf(t, tr, cleanID)].Digest = poisonSet.Digest }, cleanID},
		{"node attribute changed", func(tr *Trace) {
			n := &tr.Nodes[nodeOf(t, tr, cleanID)]
			n.Attrs["rows"] = 1.0
		}, cleanID},
		{"extra node added", func(tr *Trace) {
			tr.Nodes = append(tr.Nodes, Node{ID: "dataset:s3://evil/extra", Kind: KindDataset, Label: "extra", URI: "s3://evil/extra"})
		}, "dataset:s3://evil/extra"},
		{"extra edge added", func(tr *Trace) {
			e := tr.Edges[edgeOf(t, tr, EdgeDataset)]
			e.From = cleanID
			tr.Edges = append(tr.Edges, e)
		}, cleanID},
		{"node kind changed", func(tr *Trace) { tr.Nodes[nodeOf(t, tr, rawID)].Kind = KindFeature }, rawID},
		{"edge kind changed", func(tr *Trace) { tr.Edges[edgeOf(t, tr, EdgeDataset)].Kind = EdgeFeature }, EdgeFeature},
		{"edge status changed", func(tr *Trace) {
			e := &tr.Edges[edgeOf(t, tr, EdgeSource)]
			e.Status, e.Reason = string(sign.StatusRejected), string(sign.ReasonSigInvalid)
		}, EdgeSource},
		{"evaluation verdict changed", func(tr *Trace) {
			for i := range tr.Nodes {
				if tr.Nodes[i].Kind == KindEvaluation {
					tr.Nodes[i].Attrs["verdict"] = "fail"
					tr.Nodes[i].Label = "evaluation fail"
				}
			}
		}, "evaluation:"},
		{"artifact signature key changed", func(tr *Trace) { tr.Artifacts[0].SignatureKey = "sha256:" + hexOf("another key") }, "sha256:" + hexOf("another key")},
	}
}

// TestVerifyBundleRejectsForgedTrace: a trace.json edited (edges
// redirected, nodes and edges removed or added, URIs, labels, kinds,
// attributes and statuses changed) with SHA256SUMS recomputed, so that
// only the trace rebuilt from the bundle's statements can tell, fails
// verification with a message naming the difference; the honest bundles
// verify.
func TestVerifyBundleRejectsForgedTrace(t *testing.T) {
	a := attackFixture(t)
	ctx := context.Background()
	good, _ := signers(t)
	ft := a.refs["ft"].Digest
	raw, _, err := a.attacked.Export(ctx, ft, QueryOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := VerifyBundle(bytes.NewReader(raw), keyFor(t, good)); err != nil {
		t.Fatalf("VerifyBundle(honest): %v", err)
	}
	if _, err := VerifyBundle(bytes.NewReader(forgeTrace(t, raw, func(*Trace) {})), keyFor(t, good)); err != nil {
		t.Fatalf("VerifyBundle(honest, rewritten as is): %v", err)
	}
	for _, f := range traceForgeries(t) {
		t.Run(f.name, func(t *testing.T) {
			_, err := VerifyBundle(bytes.NewReader(forgeTrace(t, raw, f.edit)), keyFor(t, good))
			if err == nil {
				t.Fatalf("VerifyBundle succeeded with trace.json forged (%s)", f.name)
			}
			if !strings.Contains(err.Error(), BundleTrace) || !strings.Contains(err.Error(), f.want) {
				t.Errorf("VerifyBundle error = %q; want it to name %s and %q", err, BundleTrace, f.want)
			}
		})
	}
	t.Run("include unverified", func(t *testing.T) {
		all, _, err := a.attacked.Export(ctx, ft, QueryOptions{IncludeUnverified: true})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := VerifyBundle(bytes.NewReader(all), keyFor(t, good)); err != nil {
			t.Fatalf("VerifyBundle(honest, include unverified): %v", err)
		}
		// Dropping the marked edges leaves a trace that is neither of the
		// two the bundle's statements give.
		forged := forgeTrace(t, all, func(tr *Trace) {
			tr.Edges = slices.DeleteFunc(tr.Edges, func(e Edge) bool { return e.Status != string(sign.StatusVerified) })
		})
		if _, err := VerifyBundle(bytes.NewReader(forged), keyFor(t, good)); err == nil {
			t.Error("VerifyBundle succeeded with the unverified edges dropped from trace.json")
		}
		// Claiming the bundle traces verified edges only, without them.
		flipped := forgeBundle(t, all, BundleIndex, func(v any) { delete(*v.(*map[string]any), "includeUnverified") }, &map[string]any{})
		if _, err := VerifyBundle(bytes.NewReader(flipped), keyFor(t, good)); err == nil {
			t.Error("VerifyBundle succeeded with bundle.json claiming a verified-only trace")
		}
	})
}
