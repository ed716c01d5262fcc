package sign

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/secure-systems-lab/go-securesystemslib/dsse"
	"github.com/sigstore/cosign/v2/pkg/oci"
	"github.com/sigstore/cosign/v2/pkg/oci/empty"
	"github.com/sigstore/cosign/v2/pkg/oci/mutate"
	"github.com/sigstore/cosign/v2/pkg/oci/static"
	"github.com/sigstore/sigstore/pkg/signature/payload"

	"cairn.dev/cairn/attest/lineage"
	cairnoci "cairn.dev/cairn/attest/oci"
	"cairn.dev/cairn/attest/registrytest"
)

const testPassword = "correct horse battery staple"

// testKeys are two key pairs made once (scrypt makes each take a while).
var testKeys struct {
	once sync.Once
	a, b *Signer
	aPEM []byte // a's encrypted private key
	aPub []byte // a's public key
	bPub []byte
	err  error
}

func keys(t testing.TB) (a, b *Signer) {
	t.Helper()
	testKeys.once.Do(func() {
		var bPriv []byte
		if testKeys.aPEM, testKeys.aPub, testKeys.err = GenerateKeyPair([]byte(testPassword)); testKeys.err != nil {
			return
		}
		if bPriv, testKeys.bPub, testKeys.err = GenerateKeyPair([]byte(testPassword)); testKeys.err != nil {
			return
		}
		if testKeys.a, testKeys.err = NewSigner("a.key", testKeys.aPEM, []byte(testPassword)); testKeys.err != nil {
			return
		}
		testKeys.b, testKeys.err = NewSigner("b.key", bPriv, []byte(testPassword))
	})
	if testKeys.err != nil {
		t.Fatal(testKeys.err)
	}
	return testKeys.a, testKeys.b
}

// pushModel pushes a small model whose weights hold content.
func pushModel(t testing.TB, ref cairnoci.Ref, content string, opts cairnoci.Options) cairnoci.Ref {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "model.safetensors"), []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "config.json"), []byte(`{"layers":2}`), 0o644); err != nil {
		t.Fatal(err)
	}
	res, err := cairnoci.Push(context.Background(), dir, ref, cairnoci.PushOptions{Options: opts})
	if err != nil {
		t.Fatal(err)
	}
	return res.Ref
}

func layoutRef(t testing.TB, s string) cairnoci.Ref {
	t.Helper()
	ref, err := cairnoci.ParseRef("oci:"+filepath.Join(t.TempDir(), s), "")
	if err != nil {
		t.Fatal(err)
	}
	return ref
}

func provenanceFor(t testing.TB, run string) []byte {
	t.Helper()
	p, err := lineage.TrainingProvenance(lineage.TrainingInput{
		Pipeline:  "fraud",
		SpecPath:  "fraud.cue",
		GitCommit: strings.Repeat("a", 40),
		Datasets:  []lineage.Dataset{{Name: "tx", URI: "s3://data/tx/", Digest: "sha256:" + strings.Repeat("b", 64)}},
		Image:     "registry.example.com/train@sha256:" + strings.Repeat("c", 64),
		RunID:     run,
	})
	if err != nil {
		t.Fatal(err)
	}
	raw, err := json.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

func evaluationFor(t testing.TB) []byte {
	t.Helper()
	e, err := lineage.NewEvaluation(lineage.EvaluationInput{Pipeline: "fraud", Metrics: map[string]float64{"auc": 0.95}, Gates: map[string]string{"auc": ">= 0.9"}})
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := json.Marshal(e)
	return raw
}

// entries returns the kind/status/reason of each entry, for messages and
// comparisons.
func entries(r *Report) string {
	var out []string
	for _, e := range r.Entries {
		s := string(e.Kind) + ":" + string(e.Status)
		if e.Reason != "" {
			s += ":" + string(e.Reason)
		}
		out = append(out, s)
	}
	return strings.Join(out, " ")
}

func TestKeys(t *testing.T) {
	a, _ := keys(t)
	if !bytes.HasPrefix(testKeys.aPEM, []byte("-----BEGIN ENCRYPTED SIGSTORE PRIVATE KEY-----\n")) {
		t.Errorf("private key PEM starts %q", testKeys.aPEM[:50])
	}
	if !bytes.HasPrefix(testKeys.aPub, []byte("-----BEGIN PUBLIC KEY-----\n")) {
		t.Errorf("public key PEM starts %q", testKeys.aPub[:30])
	}
	dir := t.TempDir()
	write := func(name string, data []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, data, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	keyFile := write("a.key", testKeys.aPEM)
	pubFile := write("a.pub", testKeys.aPub)

	pubs, err := LoadPublicKeys(pubFile, pubFile)
	if err != nil {
		t.Fatal(err)
	}
	if len(pubs) != 1 || pubs[0].KeyID() != a.KeyID() || !strings.HasPrefix(a.KeyID(), "sha256:") || len(a.KeyID()) != 71 {
		t.Errorf("LoadPublicKeys = %d keys, id %s; signer id %s", len(pubs), pubs[0].KeyID(), a.KeyID())
	}
	if pem, _ := a.PublicKey().PEM(); !bytes.Equal(pem, testKeys.aPub) {
		t.Errorf("signer's public key PEM differs from the generated one")
	}

	for _, c := range []struct {
		name, path, password, want string
		is                         error
	}{
		{"wrong password", keyFile, "nope", "key " + keyFile + ": wrong password", ErrWrongPassword},
		{"missing", filepath.Join(dir, "none.key"), testPassword, "none.key", fs.ErrNotExist},
		{"public key", pubFile, testPassword, "a public key; signing needs the private key", nil},
		{"not a key", write("junk.key", []byte("hello\n")), testPassword, "not a PEM-encoded key", nil},
		{"other PEM", write("rsa.key", []byte("-----BEGIN RSA PRIVATE KEY-----\nAAAA\n-----END RSA PRIVATE KEY-----\n")), testPassword, `type "RSA PRIVATE KEY", not a cosign private key`, nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := LoadPrivateKey(c.path, []byte(c.password))
			if err == nil || !strings.Contains(err.Error(), c.want) || c.is != nil && !errors.Is(err, c.is) {
				t.Fatalf("LoadPrivateKey(%s) = %v, want %q", c.path, err, c.want)
			}
			if strings.Contains(err.Error(), "PRIVATE KEY-----") || strings.Contains(err.Error(), c.password) && c.password != "" {
				t.Errorf("the error shows key material or the password: %v", err)
			}
		})
	}
	if _, err := LoadPublicKeys(keyFile); err == nil || !strings.Contains(err.Error(), "a private key; verifying needs the public key") {
		t.Errorf("LoadPublicKeys(private key) = %v", err)
	}
	if _, err := LoadPublicKeys(write("junk.pub", []byte("-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n"))); err == nil || !strings.Contains(err.Error(), "junk.pub: not a public key") {
		t.Errorf("LoadPublicKeys(junk) = %v", err)
	}
	// An empty password is a password like any other.
	priv, _, err := GenerateKeyPair(nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := NewSigner("empty.key", priv, nil); err != nil {
		t.Errorf("empty password: %v", err)
	}
	if _, err := NewSigner("empty.key", priv, []byte("x")); !errors.Is(err, ErrWrongPassword) {
		t.Errorf("empty-password key with a password: %v", err)
	}
}

// TestPayloadIsCosigns checks that the simple-signing payload is, byte
// for byte, the one cosign's own payload package makes.
func TestPayloadIsCosigns(t *testing.T) {
	a, _ := keys(t)
	d, err := name.NewDigest("127.0.0.1:5000/ml/fraud@sha256:" + strings.Repeat("ab", 32))
	if err != nil {
		t.Fatal(err)
	}
	want, err := payload.Cosign{Image: d}.MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	ref := cairnoci.Ref{Registry: "127.0.0.1:5000", Repository: "ml/fraud"}
	h, _ := v1.NewHash(d.DigestStr())
	sig, err := a.signPayload(identity(ref), h)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := sig.Payload()
	if !bytes.Equal(got, want) {
		t.Errorf("payload = %s\ncosign's = %s", got, want)
	}
}

func TestIdentity(t *testing.T) {
	for in, want := range map[string]string{
		"127.0.0.1:5000/ml/fraud:v1": "127.0.0.1:5000/ml/fraud",
		"team/bert:v2":               "team/bert",
		"oci:/tmp/My Models:v1":      "my-models",
		"oci:/tmp/__":                "model",
	} {
		ref, err := cairnoci.ParseRef(in, "")
		if err != nil {
			t.Fatal(err)
		}
		if got := identity(ref); got != want {
			t.Errorf("identity(%s) = %q, want %q", in, got, want)
		}
	}
}

// roundTrip signs and attests a model, verifies it, and checks that doing
// it again adds nothing.
func roundTrip(t *testing.T, ref cairnoci.Ref, opts cairnoci.Options) {
	ctx := context.Background()
	a, _ := keys(t)
	model := pushModel(t, ref, "weights of "+ref.String(), opts)
	store, err := cairnoci.OpenStore(model, opts)
	if err != nil {
		t.Fatal(err)
	}
	digest, _ := v1.NewHash(model.Digest)

	sig, err := Sign(ctx, model, a, opts)
	if err != nil {
		t.Fatal(err)
	}
	if !sig.Added || sig.Tag != "sha256-"+digest.Hex+".sig" || sig.KeyID != a.KeyID() {
		t.Errorf("Sign = %+v", sig)
	}
	prov := provenanceFor(t, "run-1")
	att, err := Attest(ctx, model, a, lineage.PredicateSLSAProvenance, prov, opts)
	if err != nil {
		t.Fatal(err)
	}
	if !att.Added || att.Tag != "sha256-"+digest.Hex+".att" {
		t.Errorf("Attest = %+v", att)
	}
	if _, err := Attest(ctx, model, a, lineage.PredicateEvaluation, evaluationFor(t), opts); err != nil {
		t.Fatal(err)
	}

	// Again: same content, same key: nothing is added, the tags stay.
	sig2, err := Sign(ctx, model, a, opts)
	if err != nil {
		t.Fatal(err)
	}
	att2, err := Attest(ctx, model, a, lineage.PredicateSLSAProvenance, prov, opts)
	if err != nil {
		t.Fatal(err)
	}
	if sig2.Added || att2.Added || sig2.Digest != sig.Digest || att2.Digest != att.Digest {
		t.Errorf("signing and attesting again: Added %v %v, digests %s %s (were %s %s)", sig2.Added, att2.Added, sig2.Digest, att2.Digest, sig.Digest, att.Digest)
	}
	_, sigLayers, _, err := readLayers(ctx, store, sig.Tag, 4)
	if err != nil {
		t.Fatal(err)
	}
	_, attLayers, _, err := readLayers(ctx, store, att.Tag, 4)
	if err != nil {
		t.Fatal(err)
	}
	if len(sigLayers) != 1 || len(attLayers) != 2 {
		t.Errorf("stored %d signatures and %d attestations, want 1 and 2", len(sigLayers), len(attLayers))
	}
	if got := attLayers[0].desc.Annotations[AnnotationPredicateType]; got != lineage.PredicateSLSAProvenance {
		t.Errorf("attestation layer annotated predicateType %q", got)
	}

	keysA := []*PublicKey{a.PublicKey()}
	rep, err := Verify(ctx, model, keysA, VerifyOptions{Require: []string{lineage.PredicateSLSAProvenance, lineage.PredicateEvaluation}}, opts)
	if err != nil {
		t.Fatal(err)
	}
	if !rep.OK || entries(rep) != "signature:verified attestation:verified attestation:verified" {
		t.Fatalf("Verify = ok %v, %s", rep.OK, entries(rep))
	}
	e := rep.Verified(lineage.PredicateSLSAProvenance)[0]
	if e.KeyID != a.KeyID() || e.EnvelopeDigest != att.Digest || e.StatementDigest != att.StatementDigest || rep.Digest != model.Digest {
		t.Errorf("provenance entry %+v; attest said %+v", e, att)
	}
	if !e.Statement.HasSubject(model.Digest) || e.Statement.Type != lineage.StatementType {
		t.Errorf("statement %+v", e.Statement)
	}
	p, ok := e.Predicate.(*lineage.Provenance)
	if !ok || p.RunDetails.Metadata.InvocationID != "run-1" {
		t.Errorf("predicate = %#v", e.Predicate)
	}
	if got := layerDigest(e.Envelope); got != e.EnvelopeDigest {
		t.Errorf("envelope bytes have digest %s, entry says %s", got, e.EnvelopeDigest)
	}
	raw, _ := envelopePayload(e.Envelope)
	if layerDigest(raw) != e.StatementDigest {
		t.Error("statement digest is not the digest of the envelope's payload")
	}

	// A tag resolves to the same digest.
	byTag := model
	byTag.Digest = ""
	rep2, err := Verify(ctx, byTag, keysA, VerifyOptions{}, opts)
	if err != nil || !rep2.OK || rep2.Digest != model.Digest {
		t.Errorf("Verify by tag = %+v, %v", rep2, err)
	}
}

func TestRoundTripLayout(t *testing.T) {
	roundTrip(t, layoutRef(t, "layout"), cairnoci.Options{})
}

func TestRoundTripRegistry(t *testing.T) {
	reg := registrytest.Start(t)
	ref, err := cairnoci.ParseRef(reg.Host+"/ml/fraud:v1", "")
	if err != nil {
		t.Fatal(err)
	}
	roundTrip(t, ref, cairnoci.Options{Insecure: true})
}

// rewrite replaces the image under tag with the layers edit returns,
// through the store, as an attacker with push access could.
func rewrite(t *testing.T, store cairnoci.Store, tag string, edit func([]oci.Signature) []oci.Signature) {
	t.Helper()
	ctx := context.Background()
	_, layers, _, err := readLayers(ctx, store, tag, 4)
	if err != nil {
		t.Fatal(err)
	}
	var sigs []oci.Signature
	for _, l := range layers {
		s, err := signatureOf(l)
		if err != nil {
			t.Fatal(err)
		}
		sigs = append(sigs, s)
	}
	img, err := mutate.AppendSignatures(empty.Signatures(), false, edit(sigs)...)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cairnoci.WriteImage(ctx, store, img, tag, cairnoci.Options{}); err != nil {
		t.Fatal(err)
	}
}

// layerParts returns a signature's payload, base64 signature and
// annotations.
func layerParts(t *testing.T, s oci.Signature) ([]byte, string, map[string]string) {
	t.Helper()
	p, _ := s.Payload()
	b64, _ := s.Base64Signature()
	ann, _ := s.Annotations()
	delete(ann, AnnotationSignature)
	return p, b64, ann
}

func rebuild(t *testing.T, p []byte, b64 string, mt string, ann map[string]string) oci.Signature {
	t.Helper()
	s, err := static.NewSignature(p, b64, static.WithLayerMediaType(types.MediaType(mt)), static.WithAnnotations(ann))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestTamper writes tampered signatures and attestations into a layout
// and checks that each is rejected with its reason.
func TestTamper(t *testing.T) {
	ctx := context.Background()
	a, b := keys(t)
	keysA := []*PublicKey{a.PublicKey()}
	opts := cairnoci.Options{}

	// fixture returns a signed and attested model, and another one (the
	// victim's sibling) signed and attested with the same key.
	type fixture struct {
		model, other    cairnoci.Ref
		store, oStore   cairnoci.Store
		digest, oDigest v1.Hash
	}
	setup := func(t *testing.T) fixture {
		var f fixture
		f.model = pushModel(t, layoutRef(t, "model"), "model weights", opts)
		f.other = pushModel(t, layoutRef(t, "other"), "other weights", opts)
		for _, m := range []cairnoci.Ref{f.model, f.other} {
			if _, err := Sign(ctx, m, a, opts); err != nil {
				t.Fatal(err)
			}
			if _, err := Attest(ctx, m, a, lineage.PredicateSLSAProvenance, provenanceFor(t, m.Layout), opts); err != nil {
				t.Fatal(err)
			}
		}
		f.store, _ = cairnoci.OpenStore(f.model, opts)
		f.oStore, _ = cairnoci.OpenStore(f.other, opts)
		f.digest, _ = v1.NewHash(f.model.Digest)
		f.oDigest, _ = v1.NewHash(f.other.Digest)
		return f
	}
	otherLayers := func(t *testing.T, f fixture, tag string) []oci.Signature {
		_, ls, _, err := readLayers(ctx, f.oStore, tag, 4)
		if err != nil {
			t.Fatal(err)
		}
		var out []oci.Signature
		for _, l := range ls {
			s, _ := signatureOf(l)
			out = append(out, s)
		}
		return out
	}
	// attach signs a statement with key k and appends it to the model's
	// attestations, annotated as ann says.
	attachStatement := func(t *testing.T, f fixture, k *Signer, st *lineage.Statement, annotate string) {
		att, _, err := k.signStatement(st)
		if err != nil {
			t.Fatal(err)
		}
		if annotate != "" {
			p, b64, ann := layerParts(t, att)
			ann[AnnotationPredicateType] = annotate
			att = rebuild(t, p, b64, "application/vnd.dsse.envelope.v1+json", ann)
		}
		if _, err := attach(ctx, f.store, AttestationTag(f.digest), []oci.Signature{att}, nil, opts); err != nil {
			t.Fatal(err)
		}
	}

	for _, c := range []struct {
		name    string
		tamper  func(t *testing.T, f fixture)
		require []string
		want    string // entries
		wantMsg string
	}{{
		name:   "intact",
		tamper: func(t *testing.T, f fixture) {},
		want:   "signature:verified attestation:verified",
	}, {
		name: "signature payload edited",
		tamper: func(t *testing.T, f fixture) {
			rewrite(t, f.store, SignatureTag(f.digest), func(s []oci.Signature) []oci.Signature {
				p, b64, ann := layerParts(t, s[0])
				p = bytes.Replace(p, []byte(`"docker-reference":"model"`), []byte(`"docker-reference":"evil"`), 1)
				return []oci.Signature{rebuild(t, p, b64, "application/vnd.dev.cosign.simplesigning.v1+json", ann)}
			})
		},
		want:    "signature:rejected:SIG_INVALID attestation:verified",
		wantMsg: "does not verify under key " + a.KeyID(),
	}, {
		name: "signature moved to another digest by editing the payload",
		tamper: func(t *testing.T, f fixture) {
			rewrite(t, f.store, SignatureTag(f.digest), func([]oci.Signature) []oci.Signature {
				p, b64, ann := layerParts(t, otherLayers(t, f, SignatureTag(f.oDigest))[0])
				p = bytes.Replace(p, []byte(f.oDigest.Hex), []byte(f.digest.Hex), 1)
				return []oci.Signature{rebuild(t, p, b64, "application/vnd.dev.cosign.simplesigning.v1+json", ann)}
			})
		},
		want: "signature:rejected:SIG_INVALID attestation:verified",
	}, {
		name: "signature bytes swapped",
		tamper: func(t *testing.T, f fixture) {
			_, otherB64, _ := layerParts(t, otherLayers(t, f, SignatureTag(f.oDigest))[0])
			rewrite(t, f.store, SignatureTag(f.digest), func(s []oci.Signature) []oci.Signature {
				p, _, ann := layerParts(t, s[0])
				return []oci.Signature{rebuild(t, p, otherB64, "application/vnd.dev.cosign.simplesigning.v1+json", ann)}
			})
		},
		want: "signature:rejected:SIG_INVALID attestation:verified",
	}, {
		name: "signed by another key",
		tamper: func(t *testing.T, f fixture) {
			rewrite(t, f.store, SignatureTag(f.digest), func([]oci.Signature) []oci.Signature { return nil })
			if _, err := Sign(ctx, f.model, b, opts); err != nil {
				t.Fatal(err)
			}
			if _, err := Attest(ctx, f.model, b, lineage.PredicateEvaluation, evaluationFor(t), opts); err != nil {
				t.Fatal(err)
			}
		},
		want:    "signature:rejected:UNTRUSTED_KEY attestation:verified attestation:rejected:UNTRUSTED_KEY",
		wantMsg: "signed by key " + b.KeyID() + ", which is not trusted",
	}, {
		name: "signature replayed from another model",
		tamper: func(t *testing.T, f fixture) {
			rewrite(t, f.store, SignatureTag(f.digest), func([]oci.Signature) []oci.Signature {
				return otherLayers(t, f, SignatureTag(f.oDigest))
			})
		},
		want:    "signature:rejected:SUBJECT_MISMATCH attestation:verified",
		wantMsg: "the payload names digest " + "sha256:",
	}, {
		name: "attestation replayed from another model's .att",
		tamper: func(t *testing.T, f fixture) {
			rewrite(t, f.store, AttestationTag(f.digest), func([]oci.Signature) []oci.Signature {
				return otherLayers(t, f, AttestationTag(f.oDigest))
			})
		},
		require: []string{lineage.PredicateSLSAProvenance},
		want:    "signature:verified attestation:rejected:SUBJECT_MISMATCH attestation:missing:NO_PROVENANCE",
		wantMsg: "not the artifact's",
	}, {
		name: "statement edited inside the envelope",
		tamper: func(t *testing.T, f fixture) {
			rewrite(t, f.store, AttestationTag(f.digest), func(s []oci.Signature) []oci.Signature {
				env, b64, ann := layerParts(t, s[0])
				var e dsse.Envelope
				json.Unmarshal(env, &e)
				st, _ := e.DecodeB64Payload()
				st = bytes.Replace(st, []byte(`"pipeline":"fraud"`), []byte(`"pipeline":"fraud2"`), 1)
				e.Payload = base64.StdEncoding.EncodeToString(st)
				env, _ = json.Marshal(e)
				return []oci.Signature{rebuild(t, env, b64, "application/vnd.dsse.envelope.v1+json", ann)}
			})
		},
		want: "signature:verified attestation:rejected:SIG_INVALID",
	}, {
		name: "truncated envelope",
		tamper: func(t *testing.T, f fixture) {
			rewrite(t, f.store, AttestationTag(f.digest), func(s []oci.Signature) []oci.Signature {
				env, b64, ann := layerParts(t, s[0])
				return []oci.Signature{rebuild(t, env[:len(env)/2], b64, "application/vnd.dsse.envelope.v1+json", ann)}
			})
		},
		require: []string{lineage.PredicateSLSAProvenance},
		want:    "signature:verified attestation:rejected:MALFORMED attestation:missing:NO_PROVENANCE",
		wantMsg: "decoding the DSSE envelope",
	}, {
		name: "statement of a type not accepted",
		tamper: func(t *testing.T, f fixture) {
			st, err := lineage.NewStatement("model", f.model.Digest, "https://example.com/other/v1", []byte(`{"x":1}`))
			if err != nil {
				t.Fatal(err)
			}
			attachStatement(t, f, a, st, "")
		},
		want:    "signature:verified attestation:verified attestation:rejected:WRONG_TYPE",
		wantMsg: "predicate type https://example.com/other/v1 is not accepted",
	}, {
		name: "statement relabelled as provenance",
		tamper: func(t *testing.T, f fixture) {
			rewrite(t, f.store, AttestationTag(f.digest), func([]oci.Signature) []oci.Signature { return nil })
			st, err := lineage.NewStatement("model", f.model.Digest, lineage.PredicateEvaluation, evaluationFor(t))
			if err != nil {
				t.Fatal(err)
			}
			attachStatement(t, f, a, st, lineage.PredicateSLSAProvenance)
		},
		require: []string{lineage.PredicateSLSAProvenance},
		want:    "signature:verified attestation:rejected:WRONG_TYPE attestation:missing:NO_PROVENANCE",
		wantMsg: "annotated https://slsa.dev/provenance/v1, but the signed statement is of type https://cairn.dev/evaluation/v1",
	}, {
		name: "statement about another digest",
		tamper: func(t *testing.T, f fixture) {
			st, err := lineage.NewStatement("model", f.other.Digest, lineage.PredicateEvaluation, evaluationFor(t))
			if err != nil {
				t.Fatal(err)
			}
			attachStatement(t, f, a, st, "")
		},
		require: []string{lineage.PredicateEvaluation},
		want:    "signature:verified attestation:verified attestation:rejected:SUBJECT_MISMATCH attestation:missing:NO_PROVENANCE",
		wantMsg: "the statement is about [" + "sha256:",
	}, {
		name: "predicate that does not decode",
		tamper: func(t *testing.T, f fixture) {
			st, err := lineage.NewStatement("model", f.model.Digest, lineage.PredicateEvaluation, []byte(`{"pipeline":"p","verdict":"maybe"}`))
			if err != nil {
				t.Fatal(err)
			}
			attachStatement(t, f, a, st, "")
		},
		want:    "signature:verified attestation:verified attestation:rejected:MALFORMED",
		wantMsg: `verdict "maybe"`,
	}, {
		name: "unsigned",
		tamper: func(t *testing.T, f fixture) {
			rewrite(t, f.store, SignatureTag(f.digest), func([]oci.Signature) []oci.Signature { return nil })
		},
		want: "attestation:verified signature:missing:NO_SIGNATURE",
	}, {
		name:    "no provenance",
		tamper:  func(t *testing.T, f fixture) {},
		require: []string{lineage.PredicateDatasetSnapshot},
		want:    "signature:verified attestation:verified attestation:missing:NO_PROVENANCE",
		wantMsg: "no verified statement of type https://cairn.dev/dataset-snapshot/v1",
	}, {
		name: "signature tag on an index",
		tamper: func(t *testing.T, f fixture) {
			raw := []byte(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[]}`)
			h, n, _ := v1.SHA256(bytes.NewReader(raw))
			desc := v1.Descriptor{MediaType: "application/vnd.oci.image.index.v1+json", Digest: h, Size: n}
			if err := f.store.PutManifest(ctx, desc, raw); err != nil {
				t.Fatal(err)
			}
			if err := f.store.Tag(ctx, SignatureTag(f.digest), desc); err != nil {
				t.Fatal(err)
			}
		},
		want:    "attestation:verified signature:rejected:MALFORMED",
		wantMsg: "want an image manifest",
	}, {
		name: "signature layer of the wrong media type",
		tamper: func(t *testing.T, f fixture) {
			rewrite(t, f.store, SignatureTag(f.digest), func(s []oci.Signature) []oci.Signature {
				p, b64, ann := layerParts(t, s[0])
				return []oci.Signature{rebuild(t, p, b64, "application/octet-stream", ann)}
			})
		},
		want: "signature:rejected:MALFORMED attestation:verified",
	}} {
		t.Run(c.name, func(t *testing.T) {
			f := setup(t)
			c.tamper(t, f)
			rep, err := Verify(ctx, f.model, keysA, VerifyOptions{Require: c.require}, opts)
			if err != nil {
				t.Fatal(err)
			}
			if got := entries(rep); got != c.want {
				t.Errorf("Verify = %s\nwant        %s", got, c.want)
			}
			wantOK := !strings.Contains(c.want, "missing") && strings.HasPrefix(c.want, "signature:verified")
			if rep.OK != wantOK {
				t.Errorf("Verify: ok = %v, want %v", rep.OK, wantOK)
			}
			if c.wantMsg != "" {
				found := false
				for _, e := range rep.Entries {
					found = found || e.Status != StatusVerified && strings.Contains(e.Message, c.wantMsg)
				}
				if !found {
					msgs, _ := json.MarshalIndent(rep.Entries, "", "  ")
					t.Errorf("no rejection says %q:\n%s", c.wantMsg, msgs)
				}
			}
			for _, e := range rep.Entries {
				if e.Status != StatusVerified && e.Predicate != nil {
					t.Errorf("a rejected entry carries a decoded predicate: %+v", e)
				}
			}
		})
	}
}

func TestErrors(t *testing.T) {
	ctx := context.Background()
	a, _ := keys(t)
	model := pushModel(t, layoutRef(t, "m"), "w", cairnoci.Options{})
	missing := model
	missing.Digest, missing.Tag = "", "nope"
	if _, err := Sign(ctx, missing, a, cairnoci.Options{}); err == nil || !strings.Contains(err.Error(), ":nope") || !errors.Is(err, cairnoci.ErrNotFound) {
		t.Errorf("Sign(missing tag) = %v", err)
	}
	if _, err := Verify(ctx, missing, []*PublicKey{a.PublicKey()}, VerifyOptions{}, cairnoci.Options{}); err == nil || !errors.Is(err, cairnoci.ErrNotFound) {
		t.Errorf("Verify(missing tag) = %v", err)
	}
	if _, err := Verify(ctx, model, nil, VerifyOptions{}, cairnoci.Options{}); err == nil || !strings.Contains(err.Error(), "no public key") {
		t.Errorf("Verify(no keys) = %v", err)
	}
	if _, err := Verify(ctx, model, []*PublicKey{a.PublicKey()}, VerifyOptions{Require: []string{"slsa"}}, cairnoci.Options{}); err == nil || !strings.Contains(err.Error(), `predicate type "slsa"`) {
		t.Errorf("Verify(--require slsa) = %v", err)
	}
	for _, c := range []struct{ typ, pred, want string }{
		{"provenance", `{}`, "want an absolute URI"},
		{lineage.PredicateSLSAProvenance, `{"buildDefinition":{}}`, "no buildDefinition.buildType"},
		{"https://example.com/x", `[]`, "not a JSON object"},
		{"https://example.com/x", `{"a":`, "not JSON"},
	} {
		if _, err := Attest(ctx, model, a, c.typ, []byte(c.pred), cairnoci.Options{}); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Attest(%s, %s) = %v, want %q", c.typ, c.pred, err, c.want)
		}
	}
	// A signature image that cannot be read back whole is not rewritten.
	store, _ := cairnoci.OpenStore(model, cairnoci.Options{})
	if _, err := Sign(ctx, model, a, cairnoci.Options{}); err != nil {
		t.Fatal(err)
	}
	digest, _ := v1.NewHash(model.Digest)
	_, layers, _, _ := readLayers(ctx, store, SignatureTag(digest), 1)
	blob := filepath.Join(model.Layout, "blobs", "sha256", layers[0].desc.Digest.Hex)
	if err := os.WriteFile(blob, []byte("garbage"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Sign(ctx, model, a, cairnoci.Options{}); err == nil || !strings.Contains(err.Error(), "refusing to rewrite it") {
		t.Errorf("Sign over a corrupt .sig = %v", err)
	}
	rep, err := Verify(ctx, model, []*PublicKey{a.PublicKey()}, VerifyOptions{}, cairnoci.Options{})
	if err != nil || entries(rep) != "signature:rejected:MALFORMED" || !strings.Contains(rep.Entries[0].Message, "content has digest") {
		t.Errorf("Verify over a corrupt blob = %s, %v", entries(rep), err)
	}
}
