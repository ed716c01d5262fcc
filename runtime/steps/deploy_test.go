package steps

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"cairn.dev/cairn/attest/lineage"
	"cairn.dev/cairn/attest/oci"
	"cairn.dev/cairn/attest/sign"
)

// isvcManifest is an InferenceService as the compiled deploy task passes
// it: the model's digest written as the placeholder.
const isvcManifest = `{"apiVersion":"serving.kserve.io/v1beta1","kind":"InferenceService",
"metadata":{"name":"fraud","namespace":"payments-ml","labels":{"cairn.dev/pipeline":"fraud"}},
"spec":{"predictor":{"canaryTrafficPercent":10,"minReplicas":1,"maxReplicas":3,
"model":{"modelFormat":{"name":"sklearn"},"storageUri":"oci://registry.example.com/payments/fraud@` + DigestPlaceholder + `"}}}}`

// deployFixture packs and signs a model (as pack does) and returns deploy
// options for it, with the public key written to a file.
func deployFixture(t *testing.T, edit func(*PackOptions)) (DeployOptions, *sign.PublicKey) {
	t.Helper()
	po, pk := packFixture(t)
	if edit != nil {
		edit(&po)
	}
	res, err := Pack(context.Background(), po)
	if err != nil {
		t.Fatal(err)
	}
	return deployOptions(t, po, res.Digest, pk), pk
}

func deployOptions(t *testing.T, po PackOptions, digest string, pk *sign.PublicKey) DeployOptions {
	t.Helper()
	dir := t.TempDir()
	pub := filepath.Join(dir, "cosign.pub")
	pem, err := pk.PEM()
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(pub, pem, 0o644); err != nil {
		t.Fatal(err)
	}
	return DeployOptions{
		Repository: po.Repository, Digest: digest,
		PublicKeys: []string{pub},
		Require:    []string{lineage.PredicateSLSAProvenance, lineage.PredicateEvaluation},
		Key:        po.Key, Password: po.Password,
		Manifest:    []byte(isvcManifest),
		Environment: "cluster", GitCommit: strings.Repeat("d", 40), RunID: "run-1",
		Outputs: filepath.Join(dir, "outputs"), RunDir: filepath.Join(dir, "run"),
		Now: func() time.Time { return time.Date(2026, 11, 27, 6, 0, 0, 0, time.UTC) },
		Apply: func(context.Context, *unstructured.Unstructured) error {
			t.Error("Apply called")
			return nil
		},
	}
}

func TestDeployLocal(t *testing.T) {
	ctx := context.Background()
	o, pk := deployFixture(t, nil)
	o.Local, o.Environment = true, "local"
	res, err := Deploy(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Written) != 2 || res.Applied {
		t.Errorf("Deploy wrote %v, applied %v; want the outputs and run folders, no apply", res.Written, res.Applied)
	}
	for _, p := range []string{filepath.Join(o.Outputs, InferenceServiceFile), filepath.Join(o.RunDir, InferenceServiceFile)} {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		for _, want := range []string{"storageUri: oci://registry.example.com/payments/fraud@" + o.Digest, "canaryTrafficPercent: 10", "kind: InferenceService"} {
			if !strings.Contains(string(b), want) {
				t.Errorf("%s lacks %q:\n%s", p, want, b)
			}
		}
		if strings.Contains(string(b), DigestPlaceholder) {
			t.Errorf("%s still holds the placeholder digest", p)
		}
	}
	if b, _ := os.ReadFile(filepath.Join(o.Outputs, StorageURIFile)); string(b) != "oci://registry.example.com/payments/fraud@"+o.Digest {
		t.Errorf("outputs/storage-uri = %q", b)
	}
	// The deployment statement verifies, with the signature and lineage.
	ref, _ := oci.ParseRef(o.Repository+"@"+o.Digest, "")
	rep, err := sign.Verify(ctx, ref, []*sign.PublicKey{pk}, sign.VerifyOptions{Require: []string{lineage.PredicateDeployment}}, oci.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if !rep.OK {
		t.Fatalf("Verify after deploy: %+v", rep.Entries)
	}
	dep := rep.Verified(lineage.PredicateDeployment)
	if len(dep) != 1 {
		t.Fatalf("%d verified deployment statements, want 1", len(dep))
	}
	d, ok := dep[0].Predicate.(*lineage.Deployment)
	if !ok {
		t.Fatalf("deployment predicate is %T", dep[0].Predicate)
	}
	want := lineage.Deployment{
		Environment: "local", Namespace: "payments-ml", InferenceService: "fraud", ModelDigest: o.Digest,
		StorageURI: "oci://registry.example.com/payments/fraud@" + o.Digest, CanaryPercent: 10,
		Pipeline: "fraud", RunID: "run-1", GitCommit: strings.Repeat("d", 40), DeployedOn: o.Now(),
	}
	if *d != want {
		t.Errorf("deployment = %+v\nwant %+v", *d, want)
	}
	if !dep[0].Statement.HasSubject(o.Digest) {
		t.Errorf("deployment statement subjects %v, want the model %s", dep[0].Statement.SubjectDigests(), o.Digest)
	}
}

func TestDeployApplies(t *testing.T) {
	o, _ := deployFixture(t, nil)
	var applied *unstructured.Unstructured
	o.Apply = func(_ context.Context, obj *unstructured.Unstructured) error {
		applied = obj
		return nil
	}
	res, err := Deploy(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	if !res.Applied || applied == nil || len(res.Written) != 0 {
		t.Fatalf("Deploy applied %v (%v), wrote %v; want an apply and no files", res.Applied, applied != nil, res.Written)
	}
	uri, _, _ := unstructured.NestedString(applied.Object, "spec", "predictor", "model", "storageUri")
	if uri != "oci://registry.example.com/payments/fraud@"+o.Digest {
		t.Errorf("applied storageUri = %q", uri)
	}
	if res.Deployment.Environment != "cluster" || res.Deployment.CanaryPercent != 10 {
		t.Errorf("deployment = %+v", res.Deployment)
	}
}

// TestDeployRefuses: a model that does not verify is refused before
// anything is applied or written, and no deployment is attested.
func TestDeployRefuses(t *testing.T) {
	ctx := context.Background()
	cases := map[string]struct {
		options func(t *testing.T) DeployOptions
		want    string
	}{
		"unsigned": {func(t *testing.T) DeployOptions {
			po, pk := packFixture(t)
			ref, _ := oci.ParseRef(po.Repository+":run-1", "")
			pushed, err := oci.Push(ctx, po.ModelDir, ref, oci.PushOptions{Name: "fraud", Format: "custom"})
			if err != nil {
				t.Fatal(err)
			}
			return deployOptions(t, po, pushed.Descriptor.Digest.String(), pk)
		}, "NO_SIGNATURE"},
		"signed without provenance": {func(t *testing.T) DeployOptions {
			po, pk := packFixture(t)
			ref, _ := oci.ParseRef(po.Repository+":run-1", "")
			pushed, err := oci.Push(ctx, po.ModelDir, ref, oci.PushOptions{Name: "fraud", Format: "custom"})
			if err != nil {
				t.Fatal(err)
			}
			signer, err := sign.LoadPrivateKey(po.Key, po.Password)
			if err != nil {
				t.Fatal(err)
			}
			ref.Tag, ref.Digest = "", pushed.Descriptor.Digest.String()
			if _, err := sign.Sign(ctx, ref, signer, oci.Options{}); err != nil {
				t.Fatal(err)
			}
			return deployOptions(t, po, ref.Digest, pk)
		}, "NO_PROVENANCE"},
		"provenance by another key": {func(t *testing.T) DeployOptions {
			o, _ := deployFixture(t, nil)
			// Trust only a key that signed neither the model nor its lineage.
			_, pub, err := sign.GenerateKeyPair([]byte("x"))
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(o.PublicKeys[0], pub, 0o644); err != nil {
				t.Fatal(err)
			}
			return o
		}, "UNTRUSTED_KEY"},
		"failed evaluation": {func(t *testing.T) DeployOptions {
			o, _ := deployFixture(t, func(po *PackOptions) {
				if err := os.WriteFile(po.Metrics, []byte(`{"auc": 0.5}`), 0o644); err != nil {
					t.Fatal(err)
				}
			})
			return o
		}, `evaluation verdict "fail"`},
		"manifest without placeholder": {func(t *testing.T) DeployOptions {
			o, _ := deployFixture(t, nil)
			o.Manifest = []byte(strings.ReplaceAll(isvcManifest, DigestPlaceholder, "sha256:"+strings.Repeat("e", 64)))
			return o
		}, "does not pull the model by digest"},
		"bad digest": {func(t *testing.T) DeployOptions {
			o, _ := deployFixture(t, nil)
			o.Digest = "latest"
			return o
		}, "want sha256:"},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			o := c.options(t)
			o.Local = true
			res, err := Deploy(ctx, o)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("Deploy = %v, want an error with %q", err, c.want)
			}
			if res != nil && (len(res.Written) > 0 || res.Applied || res.Deployment != nil) {
				t.Errorf("a refused Deploy wrote %v, applied %v, attested %v", res.Written, res.Applied, res.Deployment)
			}
			if _, err := os.Stat(filepath.Join(o.Outputs, InferenceServiceFile)); err == nil {
				t.Error("a refused Deploy wrote the manifest")
			}
		})
	}
}

func TestInferenceServiceManifest(t *testing.T) {
	d := "sha256:" + strings.Repeat("a", 64)
	obj, err := inferenceService([]byte(isvcManifest), d)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(obj.Object)
	if !strings.Contains(string(b), "fraud@"+d) {
		t.Errorf("manifest %s lacks the digest", b)
	}
	for _, bad := range []string{"", "{", `{"apiVersion":"v1","kind":"Pod","metadata":{"name":"x","namespace":"y"}}`} {
		if _, err := inferenceService([]byte(bad), d); err == nil {
			t.Errorf("inferenceService(%q) succeeded", bad)
		}
	}
}
