package sign

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/sigstore/cosign/v2/pkg/oci"

	"cairn.dev/cairn/attest/lineage"
	cairnoci "cairn.dev/cairn/attest/oci"
	"cairn.dev/cairn/attest/registrytest"
)

// BenchmarkSignAttest signs one model and attests its provenance, in
// process, without writing to a store: the simple-signing payload and its
// signature, then the statement, its DSSE envelope and signature.
func BenchmarkSignAttest(b *testing.B) {
	a, _ := keys(b)
	prov := provenanceFor(b, "run")
	ref := cairnoci.Ref{Registry: "registry.example.com", Repository: "ml/fraud"}
	digest, _ := v1.NewHash("sha256:" + fmt.Sprintf("%064x", 42))
	b.ResetTimer()
	for b.Loop() {
		if _, err := a.signPayload(identity(ref), digest); err != nil {
			b.Fatal(err)
		}
		st, err := lineage.NewStatement(identity(ref), digest.String(), lineage.PredicateSLSAProvenance, json.RawMessage(prov))
		if err != nil {
			b.Fatal(err)
		}
		if _, _, err := a.signStatement(st); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkSignAttestLayout is Sign then Attest of a fresh model, each in
// its own OCI layout as in the default store: resolving the tag, signing,
// and writing the .sig and .att images and tags (the model's push is not
// timed).
func BenchmarkSignAttestLayout(b *testing.B) {
	ctx := context.Background()
	a, _ := keys(b)
	prov := provenanceFor(b, "run")
	models := make([]cairnoci.Ref, b.N)
	for i := range models {
		ref := layoutRef(b, "bench")
		ref.Tag = "v1"
		models[i] = pushModel(b, ref, fmt.Sprintf("weights %d", i), cairnoci.Options{})
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := Sign(ctx, models[i], a, cairnoci.Options{}); err != nil {
			b.Fatal(err)
		}
		if _, err := Attest(ctx, models[i], a, lineage.PredicateSLSAProvenance, prov, cairnoci.Options{}); err != nil {
			b.Fatal(err)
		}
	}
}

// signedModel pushes a model to ref and signs it and attests provenance,
// evaluation and a dataset snapshot.
func signedModel(b *testing.B, ref cairnoci.Ref, opts cairnoci.Options) cairnoci.Ref {
	ctx := context.Background()
	a, _ := keys(b)
	model := pushModel(b, ref, "weights", opts)
	if _, err := Sign(ctx, model, a, opts); err != nil {
		b.Fatal(err)
	}
	snap, err := lineage.NewDatasetSnapshot(lineage.SnapshotInput{Name: "tx", URI: "s3://d/tx/", Rows: 10,
		Files: []lineage.File{{Path: "a.parquet", Digest: fmt.Sprintf("sha256:%064x", 1)}}})
	if err != nil {
		b.Fatal(err)
	}
	snapJSON, _ := json.Marshal(snap)
	for typ, pred := range map[string][]byte{
		lineage.PredicateSLSAProvenance:  provenanceFor(b, "run"),
		lineage.PredicateEvaluation:      evaluationFor(b),
		lineage.PredicateDatasetSnapshot: snapJSON,
	} {
		if _, err := Attest(ctx, model, a, typ, pred, opts); err != nil {
			b.Fatal(err)
		}
	}
	return model
}

func benchVerify(b *testing.B, model cairnoci.Ref, opts cairnoci.Options, want int) {
	a, _ := keys(b)
	ctx := context.Background()
	keys := []*PublicKey{a.PublicKey()}
	vo := VerifyOptions{Require: []string{lineage.PredicateSLSAProvenance}}
	b.ResetTimer()
	for b.Loop() {
		rep, err := Verify(ctx, model, keys, vo, opts)
		if err != nil {
			b.Fatal(err)
		}
		if !rep.OK || len(rep.Verified("")) != want {
			b.Fatalf("Verify = %s", entries(rep))
		}
	}
}

// BenchmarkVerify verifies one model (a signature and three statements)
// in an OCI layout.
func BenchmarkVerify(b *testing.B) {
	benchVerify(b, signedModel(b, layoutRef(b, "bench"), cairnoci.Options{}), cairnoci.Options{}, 3)
}

// BenchmarkVerifyRegistry verifies the same model in the registry server.
func BenchmarkVerifyRegistry(b *testing.B) {
	reg := registrytest.Start(b)
	ref, _ := cairnoci.ParseRef(reg.Host+"/ml/fraud:v1", "")
	opts := cairnoci.Options{Insecure: true}
	benchVerify(b, signedModel(b, ref, opts), opts, 3)
}

// BenchmarkVerify1000Attestations verifies a model carrying 1,000
// statements (cosign's limit of layers per image), in an OCI layout.
func BenchmarkVerify1000Attestations(b *testing.B) {
	ctx := context.Background()
	a, _ := keys(b)
	model := pushModel(b, layoutRef(b, "bench"), "weights", cairnoci.Options{})
	if _, err := Sign(ctx, model, a, cairnoci.Options{}); err != nil {
		b.Fatal(err)
	}
	store, _ := cairnoci.OpenStore(model, cairnoci.Options{})
	digest, _ := v1.NewHash(model.Digest)
	var atts []oci.Signature
	for i := range 1000 {
		st, err := lineage.NewStatement("bench", model.Digest, lineage.PredicateSLSAProvenance, json.RawMessage(provenanceFor(b, fmt.Sprint("run-", i))))
		if err != nil {
			b.Fatal(err)
		}
		att, _, err := a.signStatement(st)
		if err != nil {
			b.Fatal(err)
		}
		atts = append(atts, att)
	}
	if _, err := attach(ctx, store, AttestationTag(digest), atts, nil, cairnoci.Options{}); err != nil {
		b.Fatal(err)
	}
	benchVerify(b, model, cairnoci.Options{}, 1000)
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/1000, "ns/attestation")
}

// BenchmarkCosignCLI runs the real cosign CLI's sign (a fresh artifact
// each time) and verify of one artifact in the registry server, next to
// Cairn's Sign and Verify of the same artifacts in process.
func BenchmarkCosignCLI(b *testing.B) {
	c := newCosign(b)
	reg := registrytest.Start(b)
	ctx := context.Background()
	opts := cairnoci.Options{Insecure: true}
	a, _ := keys(b)
	fresh := func(b *testing.B, name string) []cairnoci.Ref {
		refs := make([]cairnoci.Ref, b.N)
		for i := range refs {
			ref, _ := cairnoci.ParseRef(fmt.Sprintf("%s/ml/%s:v%d", reg.Host, name, i), "")
			refs[i] = pushModel(b, ref, fmt.Sprintf("%s %d", name, i), opts)
		}
		b.ResetTimer()
		return refs
	}
	cosignName := func(r cairnoci.Ref) string { return r.Registry + "/" + r.Repository + "@" + r.Digest }
	b.Run("cosign-sign", func(b *testing.B) {
		for _, r := range fresh(b, "cosign-sign") {
			c.mustRun("sign", "--key", c.key("cosign.key"), "--tlog-upload=false", "--allow-http-registry", "--yes", cosignName(r))
		}
	})
	b.Run("cairn-sign", func(b *testing.B) {
		for _, r := range fresh(b, "cairn-sign") {
			if _, err := Sign(ctx, r, a, opts); err != nil {
				b.Fatal(err)
			}
		}
	})
	ref, _ := cairnoci.ParseRef(reg.Host+"/ml/verify:v1", "")
	model := pushModel(b, ref, "verify", opts)
	if _, err := Sign(ctx, model, a, opts); err != nil {
		b.Fatal(err)
	}
	b.Run("cosign-verify", func(b *testing.B) {
		for b.Loop() {
			c.mustRun("verify", "--key", c.key("cosign.pub"), "--insecure-ignore-tlog", "--allow-http-registry", cosignName(model))
		}
	})
	b.Run("cairn-verify", func(b *testing.B) {
		keys := []*PublicKey{a.PublicKey()}
		for b.Loop() {
			rep, err := Verify(ctx, model, keys, VerifyOptions{}, opts)
			if err != nil || !rep.OK {
				b.Fatalf("Verify = %v, %v", rep, err)
			}
		}
	})
}
