package audit

import (
	"context"
	"path/filepath"
	"testing"

	"cairn.dev/cairn/attest/lineage"
	"cairn.dev/cairn/attest/oci"
	"cairn.dev/cairn/attest/registrytest"
	"cairn.dev/cairn/attest/sign"
)

// TestRegistry indexes a repository of the CNCF distribution registry
// (Debian's docker-registry; skipped when missing unless
// CAIRN_REQUIRE_REGISTRY=1): a base model and a model fine-tuned from it,
// one signed by another key too, then traces and re-indexes.
func TestRegistry(t *testing.T) {
	srv := registrytest.Start(t)
	good, evil := signers(t)
	ctx := context.Background()
	ref := func(s string) oci.Ref {
		r, err := oci.ParseRef(srv.Host+"/ml/"+s, "")
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	raw := lineage.Dataset{Name: "raw", URI: "s3://data/raw", Digest: "sha256:" + hexOf("raw")}
	base := train(t, ref("base:v1"), good, training{run: "reg-base", datasets: []lineage.Dataset{raw}, lr: 0.1})
	ft := train(t, ref("ft:v1"), good, training{run: "reg-ft", datasets: []lineage.Dataset{raw}, base: base.Digest, lr: 0.2})
	byDigest := ft
	byDigest.Tag = ""
	if _, err := sign.Sign(ctx, byDigest, evil, oci.Options{}); err != nil {
		t.Fatal(err)
	}
	db, err := Open(filepath.Join(t.TempDir(), "audit.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	sources := []oci.Ref{ref("base"), ref("ft")}
	st, err := db.Index(ctx, sources, Options{Keys: keyFor(t, good)})
	if err != nil {
		t.Fatal(err)
	}
	if st.Artifacts != 2 || st.Verified != 2 || st.Rejected != 1 {
		t.Errorf("Index = %+v, want 2 artifacts verified, 1 entry rejected (the other key's signature)", st)
	}
	if st, err = db.Index(ctx, sources, Options{Keys: keyFor(t, good)}); err != nil || st.Unchanged != 2 {
		t.Errorf("re-Index = %+v, %v; want 2 unchanged", st, err)
	}
	digest, err := db.ResolveModel(ctx, srv.Host+"/ml/ft:v1", "")
	if err != nil || digest != ft.Digest {
		t.Fatalf("ResolveModel = %s, %v; want %s", digest, err, ft.Digest)
	}
	tr, err := db.Trace(ctx, digest, QueryOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if tr.Node(ModelID(base.Digest)) == nil || tr.Node("commit:"+hexOf("commit reg-base")[:40]) == nil {
		t.Errorf("Trace(ft) lacks the base model or its commit: %+v", tr.Nodes)
	}
	ps, err := db.Unsigned(ctx)
	if err != nil || len(ps) != 1 || ps[0].Reason != string(sign.ReasonUntrustedKey) || ps[0].Source != srv.Host+"/ml/ft" {
		t.Errorf("Unsigned = %+v, %v; want ft's UNTRUSTED_KEY signature", ps, err)
	}
	raw2, _, err := db.Export(ctx, digest, QueryOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := VerifyBundle(bytesReader(raw2), keyFor(t, good)); err != nil {
		t.Errorf("VerifyBundle of a model with two signatures: %v", err)
	}
}
