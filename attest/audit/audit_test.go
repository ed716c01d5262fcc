package audit

import (
	"archive/tar"
	"bytes"
	"context"
	"io"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"cairn.dev/cairn/attest/oci"
	"cairn.dev/cairn/attest/sign"
)

// indexed builds the lineage fixture and indexes it.
func indexed(t *testing.T) (*DB, map[string]oci.Ref, string) {
	t.Helper()
	root := t.TempDir()
	refs := lineageFixture(t, root)
	good, _ := signers(t)
	path := filepath.Join(root, DefaultPath)
	db, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	st := indexRoot(t, db, root, keyFor(t, good))
	if want := len(refs); st.Artifacts != want || st.Verified != want {
		t.Errorf("Index: %+v, want %d artifacts verified", st, want)
	}
	db.Close()
	ro, err := OpenReadOnly(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ro.Close() })
	return ro, refs, root
}

func nodeIDs(tr *Trace) map[string]Node {
	m := map[string]Node{}
	for _, n := range tr.Nodes {
		m[n.ID] = n
	}
	return m
}

func TestTraceTransitive(t *testing.T) {
	db, refs, _ := indexed(t)
	ctx := context.Background()
	tr, err := db.Trace(ctx, refs["ft"].Digest, QueryOptions{})
	if err != nil {
		t.Fatal(err)
	}
	ids := nodeIDs(tr)
	for _, want := range []string{
		ModelID(refs["ft"].Digest), ModelID(refs["base"].Digest),
		"commit:" + hexOf("commit ft-run")[:40], "commit:" + hexOf("commit base-run")[:40],
		"spec:sha256:" + hexOf("spec ft-run"), "spec:sha256:" + hexOf("spec base-run"),
		"dataset:sha256:" + hexOf("clean"), "dataset:sha256:" + hexOf("raw"), "dataset:s3://data/raw",
		"image:sha256:" + hexOf("image"),
	} {
		if _, ok := ids[want]; !ok {
			t.Errorf("Trace(ft) lacks node %s", want)
		}
	}
	kinds := map[string]int{}
	for _, n := range tr.Nodes {
		kinds[n.Kind]++
	}
	if kinds[KindRun] != 2 || kinds[KindEvaluation] != 1 || kinds[KindDeployment] != 1 {
		t.Errorf("Trace(ft) kinds = %v, want 2 runs, 1 evaluation, 1 deployment", kinds)
	}
	for _, n := range tr.Nodes {
		if n.Kind == KindDeployment && (n.Attrs["environment"] != "prod" || n.Attrs["inferenceService"] != "fraud") {
			t.Errorf("deployment node attrs = %v", n.Attrs)
		}
	}
	good, _ := signers(t)
	for _, e := range tr.Edges {
		if e.Status != "verified" || e.KeyID != good.KeyID() || !strings.HasPrefix(e.StatementDigest, "sha256:") {
			t.Errorf("edge %+v: want verified, signed by %s, with a statement digest", e, good.KeyID())
		}
	}
	// The unrelated model is not in ft's lineage.
	if _, ok := ids[ModelID(refs["unrelated"].Digest)]; ok {
		t.Error("Trace(ft) holds the unrelated model")
	}
}

func TestUsesAndTamper(t *testing.T) {
	db, refs, _ := indexed(t)
	ctx := context.Background()
	want := []string{"base", "donor", "ft"}
	for _, q := range []string{"s3://data/raw", "sha256:" + hexOf("raw")} {
		uses, err := db.Uses(ctx, q, QueryOptions{})
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, u := range uses {
			got = append(got, label(refs, u.Model))
		}
		sort.Strings(got)
		if strings.Join(got, " ") != strings.Join(want, " ") {
			t.Errorf("Uses(%s) = %v, want %v", q, got, want)
		}
	}
	uses, err := db.Uses(ctx, "s3://data/clean", QueryOptions{})
	if err != nil || len(uses) != 1 || uses[0].Model != refs["ft"].Digest {
		t.Errorf("Uses(clean) = %+v, %v; want ft", uses, err)
	}

	problems, err := db.Unsigned(ctx)
	if err != nil {
		t.Fatal(err)
	}
	reasons := map[string][]string{}
	for _, p := range problems {
		reasons[label(refs, p.Digest)] = append(reasons[label(refs, p.Digest)], p.Reason)
	}
	for _, c := range tamperCases {
		name := "tampered:" + c.name
		if !contains(reasons[name], string(c.reason)) {
			t.Errorf("Unsigned: %s has reasons %v, want %s", name, reasons[name], c.reason)
		}
		tr, err := db.Trace(ctx, refs[name].Digest, QueryOptions{})
		switch {
		case c.signatureBad && err == nil:
			t.Errorf("Trace(%s) succeeded; a model without a verified signature must not be traced", name)
		case !c.signatureBad && err != nil:
			t.Errorf("Trace(%s): %v", name, err)
		case !c.signatureBad:
			for _, n := range tr.Nodes {
				if n.Kind == KindRun || n.Kind == KindDataset {
					t.Errorf("Trace(%s) holds %s from a statement that did not verify", name, n.ID)
				}
			}
		}
		// With --include-unverified the rejected statements show, marked.
		if tr, err := db.Trace(ctx, refs[name].Digest, QueryOptions{IncludeUnverified: true}); err != nil {
			t.Errorf("Trace(%s, include unverified): %v", name, err)
		} else {
			for _, e := range tr.Edges {
				if e.Status != "verified" && e.Reason == "" {
					t.Errorf("Trace(%s): unverified edge without a reason: %+v", name, e)
				}
			}
		}
	}
	for _, n := range []string{"base", "ft", "donor", "unrelated"} {
		if len(reasons[n]) > 0 {
			t.Errorf("Unsigned lists %s: %v", n, reasons[n])
		}
	}
	// With --include-unverified the blast radius grows to models whose
	// lineage did not verify, each marked with its reason.
	all, err := db.Uses(ctx, "s3://data/raw", QueryOptions{IncludeUnverified: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(all) <= len(want) {
		t.Errorf("Uses(raw, include unverified) = %d models, want more than %d", len(all), len(want))
	}
	for _, u := range all {
		if strings.HasPrefix(label(refs, u.Model), "tampered:") && label(refs, u.Model) != "tampered:donor" && u.Status == "verified" {
			t.Errorf("Uses(raw, include unverified): %s marked verified", label(refs, u.Model))
		}
	}
}

func contains(s []string, x string) bool {
	for _, y := range s {
		if y == x {
			return true
		}
	}
	return false
}

func TestDiffAndQuery(t *testing.T) {
	db, refs, _ := indexed(t)
	ctx := context.Background()
	changes, err := db.Diff(ctx, refs["base"].Digest, refs["ft"].Digest, QueryOptions{})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]Change{}
	for _, c := range changes {
		got[c.Field] = c
	}
	for _, f := range []string{"base-model", "commit", "spec", "spec.pipeline.train.hyperparameters.lr", "dataset.raw", "dataset.clean", "hyperparameter.lr", "metric.auc", "evaluation.metric.auc"} {
		if _, ok := got[f]; !ok {
			t.Errorf("Diff(base, ft) lacks %s: %+v", f, changes)
		}
	}
	if _, ok := got["signer"]; ok {
		t.Errorf("Diff(base, ft) reports a signer change: %+v", got["signer"])
	}
	if _, ok := got["spec.pipeline.train.image"]; ok {
		t.Errorf("Diff(base, ft) reports an unchanged spec field: %+v", got["spec.pipeline.train.image"])
	}
	if got["base-model"].B != refs["base"].Digest {
		t.Errorf("Diff base-model = %+v, want B = %s", got["base-model"], refs["base"].Digest)
	}

	rows, err := db.Query(ctx, `SELECT kind, count(*) AS n FROM nodes GROUP BY kind ORDER BY kind`)
	if err != nil {
		t.Fatal(err)
	}
	if len(rows.Columns) != 2 || len(rows.Rows) < 8 {
		t.Errorf("Query: %+v", rows)
	}
	for _, q := range []string{`DELETE FROM nodes`, `INSERT INTO meta VALUES ('x', 'y')`, `DROP TABLE edges`} {
		if _, err := db.Query(ctx, q); err == nil {
			t.Errorf("Query(%q) succeeded on the read-only index", q)
		}
	}
}

func TestIncremental(t *testing.T) {
	root := t.TempDir()
	refs := lineageFixture(t, root)
	good, evil := signers(t)
	db, err := Open(filepath.Join(root, DefaultPath))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	indexRoot(t, db, root, keyFor(t, good))
	st := indexRoot(t, db, root, keyFor(t, good))
	if st.Verified != 0 || st.Unchanged != len(refs) {
		t.Errorf("second Index = %+v, want all %d unchanged", st, len(refs))
	}
	// A new attestation changes the .att manifest: only that model is
	// read again.
	deploy(t, refs["base"], good, "staging")
	st = indexRoot(t, db, root, keyFor(t, good))
	if st.Verified != 1 || st.Unchanged != len(refs)-1 {
		t.Errorf("Index after a deployment = %+v, want 1 verified", st)
	}
	tr, err := db.Trace(context.Background(), refs["base"].Digest, QueryOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if n := nodeIDs(tr); len(n) == 0 || !hasKind(tr, KindDeployment) {
		t.Errorf("Trace(base) after reindex has no deployment")
	}
	// Other keys: everything is verified again.
	st = indexRoot(t, db, root, []*sign.PublicKey{good.PublicKey(), evil.PublicKey()})
	if st.Verified != len(refs) {
		t.Errorf("Index with other keys = %+v, want all verified again", st)
	}
}

func hasKind(tr *Trace, k string) bool {
	for _, n := range tr.Nodes {
		if n.Kind == k {
			return true
		}
	}
	return false
}

func TestBundle(t *testing.T) {
	db, refs, _ := indexed(t)
	ctx := context.Background()
	good, evil := signers(t)
	raw, n, err := db.Export(ctx, refs["ft"].Digest, QueryOptions{})
	if err != nil {
		t.Fatal(err)
	}
	again, _, _ := db.Export(ctx, refs["ft"].Digest, QueryOptions{})
	if !bytes.Equal(raw, again) {
		t.Error("Export is not deterministic")
	}
	res, err := VerifyBundle(bytes.NewReader(raw), keyFor(t, good))
	if err != nil {
		t.Fatal(err)
	}
	if res.Files != n || len(res.Models) != 2 || res.Signatures != 2 || res.Statements < 5 {
		t.Errorf("VerifyBundle = %+v (%d files)", res, n)
	}
	if _, err := VerifyBundle(bytes.NewReader(raw), keyFor(t, evil)); err == nil {
		t.Error("VerifyBundle with another key succeeded")
	}
	// Flip bytes of the tar in turn (headers, contents, padding, trailer):
	// every byte of the first and last 2 KiB, every 11th elsewhere.
	// Verification fails every time.
	for i := range raw {
		if i >= 2048 && i < len(raw)-2048 && i%11 != 0 {
			continue
		}
		edited := append([]byte(nil), raw...)
		edited[i] ^= 0x01
		if _, err := VerifyBundle(bytes.NewReader(edited), keyFor(t, good)); err == nil {
			t.Fatalf("VerifyBundle succeeded with byte %d of %d flipped", i, len(raw))
		}
	}
	// Flip one byte of each file in turn, writing the tar anew: the
	// file's content no longer matches SHA256SUMS, or SHA256SUMS no longer
	// matches the files.
	names, _ := tarFiles(t, raw)
	for _, name := range names {
		for _, at := range []int{0, -1} {
			edited := editTar(t, raw, name, at)
			if _, err := VerifyBundle(bytes.NewReader(edited), keyFor(t, good)); err == nil {
				t.Errorf("VerifyBundle succeeded with a byte of %s flipped (offset %d)", name, at)
			}
		}
	}
}

func tarFiles(t *testing.T, raw []byte) ([]string, map[string][]byte) {
	t.Helper()
	tr := tar.NewReader(bytes.NewReader(raw))
	files := map[string][]byte{}
	var names []string
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(tr)
		files[h.Name] = b
		names = append(names, h.Name)
	}
	return names, files
}

// editTar rewrites the tar with one byte of a file flipped (at, or from
// the end when negative, or the middle byte when -1).
func editTar(t *testing.T, raw []byte, name string, at int) []byte {
	t.Helper()
	names, files := tarFiles(t, raw)
	for _, n := range names {
		b := append([]byte(nil), files[n]...)
		if n == name && len(b) > 0 {
			i := at
			if i < 0 {
				i = len(b) / 2
			}
			b[i] ^= 0x01
		}
		files[n] = b
	}
	out, err := writeTar(names, files)
	if err != nil {
		t.Fatal(err)
	}
	return out
}
