package audit

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"cairn.dev/cairn/attest/lineage"
	"cairn.dev/cairn/attest/oci"
	"cairn.dev/cairn/attest/sign"
)

var testKeys struct {
	once       sync.Once
	good, evil *sign.Signer
	err        error
}

// signers returns the trusted signer and another one.
func signers(t testing.TB) (good, evil *sign.Signer) {
	t.Helper()
	testKeys.once.Do(func() {
		mk := func(name string) *sign.Signer {
			priv, _, err := sign.GenerateKeyPair([]byte("pw"))
			if err != nil {
				testKeys.err = err
				return nil
			}
			s, err := sign.NewSigner(name, priv, []byte("pw"))
			if err != nil {
				testKeys.err = err
			}
			return s
		}
		testKeys.good, testKeys.evil = mk("good.key"), mk("evil.key")
	})
	if testKeys.err != nil {
		t.Fatal(testKeys.err)
	}
	return testKeys.good, testKeys.evil
}

// pushModel pushes a one-file model into ref (with its tag) and returns
// the reference by digest (tag kept).
func pushModel(t testing.TB, ref oci.Ref, content string, opts oci.Options) oci.Ref {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "model.safetensors"), []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	res, err := oci.Push(context.Background(), dir, ref, oci.PushOptions{Options: opts, Name: "m"})
	if err != nil {
		t.Fatal(err)
	}
	return res.Ref
}

func mustJSON(t testing.TB, v any) []byte {
	t.Helper()
	raw, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

// training describes one model's provenance.
type training struct {
	run      string
	datasets []lineage.Dataset
	derived  map[string][]string // dataset name -> derivedFrom URIs (a snapshot statement)
	base     string              // base model digest
	features []lineage.Feature
	lr       float64
}

func hexOf(s string) string {
	return strings.TrimPrefix(sha256Hex([]byte(s)), "sha256:")
}

// provenance returns the SLSA provenance predicate of a training.
func provenanceJSON(t testing.TB, tr training) []byte {
	t.Helper()
	in := lineage.TrainingInput{
		Project: "payments", Namespace: "ml", Pipeline: "fraud", SpecPath: "fraud.cue",
		Repository: "https://example.com/specs", GitCommit: hexOf("commit " + tr.run)[:40],
		SpecDigest: "sha256:" + hexOf("spec "+tr.run), Datasets: tr.datasets, Features: tr.features,
		Image:           "registry.example.com/train@sha256:" + hexOf("image"),
		Hyperparameters: map[string]any{"lr": tr.lr, "epochs": 3},
		Metrics:         map[string]float64{"auc": 0.9 + tr.lr},
		RunID:           tr.run,
		Spec: map[string]any{"pipeline": map[string]any{
			"name":  "fraud",
			"train": map[string]any{"image": "registry.example.com/train", "hyperparameters": map[string]any{"lr": tr.lr}},
		}},
	}
	if tr.base != "" {
		in.BaseModel = &lineage.Artifact{Ref: "base", Digest: tr.base}
	}
	p, err := lineage.TrainingProvenance(in)
	if err != nil {
		t.Fatal(err)
	}
	return mustJSON(t, p)
}

// train pushes, signs and attests a model: provenance, an evaluation,
// and one dataset-snapshot statement per derived dataset.
func train(t testing.TB, ref oci.Ref, signer *sign.Signer, tr training) oci.Ref {
	t.Helper()
	ctx := context.Background()
	m := pushModel(t, ref, "weights of "+tr.run, oci.Options{})
	byDigest := m
	byDigest.Tag = ""
	if _, err := sign.Sign(ctx, byDigest, signer, oci.Options{}); err != nil {
		t.Fatal(err)
	}
	if _, err := sign.Attest(ctx, byDigest, signer, lineage.PredicateSLSAProvenance, provenanceJSON(t, tr), oci.Options{}); err != nil {
		t.Fatal(err)
	}
	if _, err := sign.Attest(ctx, byDigest, signer, lineage.PredicateEvaluation, evaluationJSON(t, tr.run, 0.9+tr.lr), oci.Options{}); err != nil {
		t.Fatal(err)
	}
	for _, d := range tr.datasets {
		from, ok := tr.derived[d.Name]
		if !ok {
			continue
		}
		s := lineage.DatasetSnapshot{Name: d.Name, URI: d.URI, Digest: lineage.DigestSet{"sha256": strings.TrimPrefix(d.Digest, "sha256:")}, Files: 1, Rows: 10, DerivedFrom: from}
		if _, err := sign.Attest(ctx, byDigest, signer, lineage.PredicateDatasetSnapshot, mustJSON(t, s), oci.Options{}); err != nil {
			t.Fatal(err)
		}
	}
	return m
}

// evaluationJSON is the evaluation predicate of a run, gated on auc >= 0.9.
func evaluationJSON(t testing.TB, run string, auc float64) []byte {
	t.Helper()
	e, err := lineage.NewEvaluation(lineage.EvaluationInput{Pipeline: "fraud", RunID: run, Metrics: map[string]float64{"auc": auc}, Gates: map[string]string{"auc": ">= 0.9"}})
	if err != nil {
		t.Fatal(err)
	}
	return mustJSON(t, e)
}

// deploy attests a deployment of the model.
func deploy(t testing.TB, m oci.Ref, signer *sign.Signer, env string) {
	t.Helper()
	byDigest := m
	byDigest.Tag = ""
	pred := map[string]any{"environment": env, "namespace": "payments-ml", "inferenceService": "fraud", "modelDigest": m.Digest, "canaryPercent": 10, "gitCommit": hexOf("deploy")[:40], "deployedOn": "2026-11-27T00:00:00Z"}
	if _, err := sign.Attest(context.Background(), byDigest, signer, lineage.PredicateDeployment, mustJSON(t, pred), oci.Options{}); err != nil {
		t.Fatal(err)
	}
}

// image is a signature or attestation image read back from a store.
type image struct {
	manifest v1.Manifest
	layers   [][]byte
}

func readImage(t testing.TB, store oci.Store, tag string) image {
	t.Helper()
	ctx := context.Background()
	_, raw, err := store.GetManifest(ctx, tag)
	if err != nil {
		t.Fatal(err)
	}
	var im image
	if err := json.Unmarshal(raw, &im.manifest); err != nil {
		t.Fatal(err)
	}
	for _, l := range im.manifest.Layers {
		rc, err := store.GetBlob(ctx, l)
		if err != nil {
			t.Fatal(err)
		}
		var b bytes.Buffer
		b.ReadFrom(rc)
		rc.Close()
		im.layers = append(im.layers, b.Bytes())
	}
	return im
}

// writeImage stores an image's layers and manifest and points tag at it.
func writeImage(t testing.TB, store oci.Store, tag string, im image) {
	t.Helper()
	ctx := context.Background()
	for i, content := range im.layers {
		h, n, _ := v1.SHA256(bytes.NewReader(content))
		im.manifest.Layers[i].Digest, im.manifest.Layers[i].Size = h, n
		d := im.manifest.Layers[i]
		if err := store.PutBlob(ctx, d, blobOpener(content)); err != nil {
			t.Fatal(err)
		}
	}
	raw := mustJSON(t, im.manifest)
	h, n, _ := v1.SHA256(bytes.NewReader(raw))
	desc := v1.Descriptor{MediaType: "application/vnd.oci.image.manifest.v1+json", Digest: h, Size: n}
	if err := store.PutManifest(ctx, desc, raw); err != nil {
		t.Fatal(err)
	}
	if err := store.Tag(ctx, tag, desc); err != nil {
		t.Fatal(err)
	}
}

func hashOf(t testing.TB, d string) v1.Hash {
	t.Helper()
	h, err := v1.NewHash(d)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// tamperCase is a model whose signature or statements were tampered
// with, and the reason the index must give.
type tamperCase struct {
	name   string
	reason sign.Reason
	// signatureBad: the model has no verified signature.
	signatureBad bool
}

var tamperCases = []tamperCase{
	{"payload-edited", sign.ReasonSigInvalid, true},
	{"signature-swapped", sign.ReasonSigInvalid, true},
	{"another-key", sign.ReasonUntrustedKey, true},
	{"replayed-attestation", sign.ReasonSubjectMismatch, false},
	{"statement-edited", sign.ReasonSigInvalid, false},
	{"truncated-envelope", sign.ReasonMalformed, false},
	{"wrong-type", sign.ReasonWrongType, false},
	{"other-subject", sign.ReasonSubjectMismatch, false},
}

// lineageFixture builds, in the default store under root:
//
//	base:  trained on raw (s3://data/raw)
//	ft:    fine-tuned from base on clean, which is derived from raw;
//	       evaluated and deployed
//	donor: trained on raw, in the layout "tampered"
//	tampered:<case>: one model per tamper case, all trained on raw
//
// and returns the references by name.
func lineageFixture(t testing.TB, root string) map[string]oci.Ref {
	t.Helper()
	good, evil := signers(t)
	ctx := context.Background()
	refs := map[string]oci.Ref{}
	at := func(s string) oci.Ref {
		r, err := oci.ParseRef(s, root)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	raw := lineage.Dataset{Name: "raw", URI: "s3://data/raw", Digest: "sha256:" + hexOf("raw")}
	clean := lineage.Dataset{Name: "clean", URI: "s3://data/clean", Digest: "sha256:" + hexOf("clean")}
	refs["base"] = train(t, at("base:v1"), good, training{run: "base-run", datasets: []lineage.Dataset{raw}, lr: 0.01})
	refs["ft"] = train(t, at("ft:v1"), good, training{run: "ft-run", datasets: []lineage.Dataset{clean},
		derived: map[string][]string{"clean": {raw.URI}}, base: refs["base"].Digest, lr: 0.02})
	deploy(t, refs["ft"], good, "prod")
	refs["unrelated"] = train(t, at("unrelated:v1"), good, training{run: "unrelated-run",
		datasets: []lineage.Dataset{{Name: "other", URI: "s3://data/other", Digest: "sha256:" + hexOf("other")}}, lr: 0.03})
	refs["donor"] = train(t, at("tampered:donor"), good, training{run: "donor-run", datasets: []lineage.Dataset{raw}, lr: 0.04})
	store, err := oci.OpenStore(at("tampered"), oci.Options{})
	if err != nil {
		t.Fatal(err)
	}
	donor := hashOf(t, refs["donor"].Digest)
	donorSig := readImage(t, store, sign.SignatureTag(donor))
	donorAtt := readImage(t, store, sign.AttestationTag(donor))
	for _, c := range tamperCases {
		tr := training{run: c.name + "-run", datasets: []lineage.Dataset{raw}, lr: 0.05}
		var m oci.Ref
		switch c.name {
		case "another-key":
			m = train(t, at("tampered:"+c.name), evil, tr)
			byDigest := m
			byDigest.Tag = ""
			// The provenance is attested with the trusted key; only the
			// signature is another key's.
			if _, err := sign.Attest(ctx, byDigest, good, lineage.PredicateSLSAProvenance, provenanceJSON(t, tr), oci.Options{}); err != nil {
				t.Fatal(err)
			}
		case "replayed-attestation":
			m = pushModel(t, at("tampered:"+c.name), "weights of "+c.name, oci.Options{})
			byDigest := m
			byDigest.Tag = ""
			if _, err := sign.Sign(ctx, byDigest, good, oci.Options{}); err != nil {
				t.Fatal(err)
			}
			writeImage(t, store, sign.AttestationTag(hashOf(t, m.Digest)), donorAtt)
		case "wrong-type":
			m = pushModel(t, at("tampered:"+c.name), "weights of "+c.name, oci.Options{})
			byDigest := m
			byDigest.Tag = ""
			if _, err := sign.Sign(ctx, byDigest, good, oci.Options{}); err != nil {
				t.Fatal(err)
			}
			if _, err := sign.Attest(ctx, byDigest, good, "https://example.com/provenance/v9", provenanceJSON(t, tr), oci.Options{}); err != nil {
				t.Fatal(err)
			}
		default:
			m = train(t, at("tampered:"+c.name), good, tr)
		}
		h := hashOf(t, m.Digest)
		switch c.name {
		case "payload-edited":
			im := readImage(t, store, sign.SignatureTag(h))
			im.layers[0] = bytes.Replace(im.layers[0], []byte(`"docker-reference":"tampered"`), []byte(`"docker-reference":"evil"`), 1)
			writeImage(t, store, sign.SignatureTag(h), im)
		case "signature-swapped":
			im := readImage(t, store, sign.SignatureTag(h))
			im.manifest.Layers[0].Annotations[sign.AnnotationSignature] = donorSig.manifest.Layers[0].Annotations[sign.AnnotationSignature]
			writeImage(t, store, sign.SignatureTag(h), im)
		case "statement-edited":
			im := readImage(t, store, sign.AttestationTag(h))
			var env map[string]any
			json.Unmarshal(im.layers[0], &env)
			st := envelopeStatement(im.layers[0])
			st = bytes.Replace(st, []byte(`"pipeline":"fraud"`), []byte(`"pipeline":"fraud2"`), 1)
			env["payload"] = b64(st)
			im.layers[0] = mustJSON(t, env)
			writeImage(t, store, sign.AttestationTag(h), im)
		case "truncated-envelope":
			im := readImage(t, store, sign.AttestationTag(h))
			im.layers[0] = im.layers[0][:len(im.layers[0])/2]
			writeImage(t, store, sign.AttestationTag(h), im)
		case "other-subject":
			// The model's own provenance is dropped; a statement about
			// the donor, signed by the trusted key, takes its place.
			im := readImage(t, store, sign.AttestationTag(h))
			im.manifest.Layers = append(im.manifest.Layers[1:], donorAtt.manifest.Layers[0])
			im.layers = append(im.layers[1:], donorAtt.layers[0])
			writeImage(t, store, sign.AttestationTag(h), im)
		}
		refs["tampered:"+c.name] = m
	}
	return refs
}

func keyFor(t testing.TB, s *sign.Signer) []*sign.PublicKey {
	t.Helper()
	return []*sign.PublicKey{s.PublicKey()}
}

func indexRoot(t testing.TB, db *DB, root string, keys []*sign.PublicKey) *Stats {
	t.Helper()
	refs, err := oci.LocalModels(root)
	if err != nil {
		t.Fatal(err)
	}
	st, err := db.Index(context.Background(), refs, Options{Keys: keys})
	if err != nil {
		t.Fatal(err)
	}
	return st
}

func label(refs map[string]oci.Ref, digest string) string {
	for k, r := range refs {
		if r.Digest == digest {
			return k
		}
	}
	return fmt.Sprintf("?%s", digest)
}

func b64(b []byte) string { return base64.StdEncoding.EncodeToString(b) }

func blobOpener(b []byte) func() (io.ReadCloser, error) {
	return func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(b)), nil }
}
