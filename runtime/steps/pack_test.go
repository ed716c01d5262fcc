package steps

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/registry"

	"cairn.dev/cairn/attest/lineage"
	"cairn.dev/cairn/attest/oci"
	"cairn.dev/cairn/attest/sign"
)

// packFixture writes a key pair, a model folder, a metrics file and a
// feature output in a run folder, and returns options packing them into
// an OCI layout.
func packFixture(t *testing.T) (PackOptions, *sign.PublicKey) {
	t.Helper()
	dir := t.TempDir()
	priv, pub, err := sign.GenerateKeyPair([]byte("pw"))
	if err != nil {
		t.Fatal(err)
	}
	write := func(name, data string) string {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	key := write("cosign.key", string(priv))
	pk, err := sign.ParsePublicKey("cosign.pub", pub)
	if err != nil {
		t.Fatal(err)
	}
	write("run/model/model.json", `{"weights": [0.1, 0.2]}`)
	write("run/features/build/features/train.csv", "a,b\n1,2\n")
	metrics := write("run/evaluation/metrics.json", `{"auc": 0.95, "precision": 0.9}`)
	var o PackOptions
	spec := `{"project": {"name": "payments", "namespace": "payments-ml"},
	"pipeline": {"name": "fraud",
		"data": {"transactions": {"uri": "s3://payments-data/tx", "snapshot": "2026-11", "derivedFrom": ["bigquery://payments/ledger"]}},
		"features": {"build": {"outputs": ["features"]}},
		"train": {"image": "registry.example.com/train@sha256:` + strings.Repeat("a", 64) + `", "hyperparameters": {"learning_rate": 0.1}, "inputs": ["features"]},
		"evaluate": {"image": "registry.example.com/train:1", "inputs": ["features"], "gates": {"auc": ">= 0.9"}},
		"model": {"name": "fraud", "format": "custom"}}}`
	if err := json.Unmarshal([]byte(spec), &o.Spec); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal([]byte(spec), &o.SpecJSON); err != nil {
		t.Fatal(err)
	}
	o.ModelDir = filepath.Join(dir, "run", "model")
	o.RunDir = filepath.Join(dir, "run")
	o.Repository = "oci:" + filepath.Join(dir, "layout")
	o.RunID = "run-1"
	o.Started = time.Date(2026, 11, 27, 5, 0, 0, 0, time.UTC)
	o.Now = func() time.Time { return o.Started.Add(time.Minute) }
	o.Key, o.Password, o.Metrics = key, []byte("pw"), metrics
	o.DatasetDigests = map[string]string{"transactions": "sha256:" + strings.Repeat("b", 64)}
	o.SpecDigest = "sha256:" + strings.Repeat("c", 64)
	o.GitCommit = strings.Repeat("d", 40)
	return o, pk
}

func TestPack(t *testing.T) {
	ctx := context.Background()
	o, pk := packFixture(t)
	res, err := Pack(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	latest, err := oci.ParseRef(o.Repository+":latest", "")
	if err != nil {
		t.Fatal(err)
	}
	rep, err := sign.Verify(ctx, latest, []*sign.PublicKey{pk}, sign.VerifyOptions{Require: []string{lineage.PredicateSLSAProvenance, lineage.PredicateEvaluation}}, oci.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if !rep.OK || rep.Digest != res.Digest {
		t.Fatalf("Verify(latest) OK = %v, digest %s; want a verified model %s", rep.OK, rep.Digest, res.Digest)
	}
	var prov *lineage.Provenance
	for _, e := range rep.Entries {
		if p, ok := e.Predicate.(*lineage.Provenance); ok && e.Status == sign.StatusVerified {
			prov = p
		}
	}
	if prov == nil {
		t.Fatal("no verified provenance")
	}
	deps := map[string]lineage.ResourceDescriptor{}
	for _, d := range prov.BuildDefinition.ResolvedDependencies {
		deps[d.Name] = d
	}
	for name, want := range map[string]string{
		"git":          "gitCommit=" + o.GitCommit,
		"spec":         "sha256=" + strings.Repeat("c", 64),
		"transactions": "sha256=" + strings.Repeat("b", 64),
		"image":        "sha256=" + strings.Repeat("a", 64),
	} {
		alg, hex, _ := strings.Cut(want, "=")
		if got := deps[name].Digest[alg]; got != hex {
			t.Errorf("provenance dependency %s digest %s = %q, want %q", name, alg, got, hex)
		}
	}
	if got := deps["transactions"].Annotations[lineage.AnnotationDerivedFrom]; !reflect.DeepEqual(got, []any{"bigquery://payments/ledger"}) {
		t.Errorf("dataset dependency derived-from = %v, want the spec's derivedFrom", got)
	}
	if f := deps["build/features"]; len(f.Digest["sha256"]) != 64 {
		t.Errorf("feature output dependency = %+v, want its content digest (the run folder is local)", f)
	}
	if s, _ := prov.BuildDefinition.ExternalParameters["spec"].(map[string]any); s == nil || s["pipeline"].(map[string]any)["name"] != "fraud" {
		t.Errorf("externalParameters.spec = %v, want the compiled spec", prov.BuildDefinition.ExternalParameters["spec"])
	}
	md := prov.RunDetails.Metadata
	if md.InvocationID != "run-1" || !md.StartedOn.Equal(o.Started) || !md.FinishedOn.Equal(o.Started.Add(time.Minute)) {
		t.Errorf("run metadata = %+v, want run-1 from %s for a minute", md, o.Started)
	}
	var metrics map[string]any
	for _, b := range prov.RunDetails.Byproducts {
		if b.Name == "metrics" {
			metrics = b.Annotations
		}
	}
	if metrics["auc"] != 0.95 {
		t.Errorf("provenance metrics = %v, want auc 0.95", metrics)
	}
	if res.Verdict != lineage.VerdictPass {
		t.Errorf("verdict = %q, want pass", res.Verdict)
	}
	out := t.TempDir()
	if err := res.WritePackOutputs(out); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(filepath.Join(out, "digest")); string(b) != res.Digest {
		t.Errorf("outputs/digest = %q, want %q", b, res.Digest)
	}
}

// TestPackRefuses: a wrong password, a dataset without its digest or a
// missing model folder fail the step, and no model is tagged latest.
func TestPackRefuses(t *testing.T) {
	ctx := context.Background()
	for name, edit := range map[string]func(*PackOptions){
		"wrong password":  func(o *PackOptions) { o.Password = []byte("nope") },
		"no dataset":      func(o *PackOptions) { o.DatasetDigests = nil },
		"no model folder": func(o *PackOptions) { o.ModelDir += "-missing" },
		"no run id":       func(o *PackOptions) { o.RunID = "" },
		"bad git commit":  func(o *PackOptions) { o.GitCommit = "main" },
		"missing metrics": func(o *PackOptions) { o.Metrics += ".missing" },
	} {
		t.Run(name, func(t *testing.T) {
			o, _ := packFixture(t)
			edit(&o)
			if _, err := Pack(ctx, o); err == nil {
				t.Fatal("Pack succeeded, want an error")
			}
			latest, _ := oci.ParseRef(o.Repository+":latest", "")
			if _, err := oci.Inspect(ctx, latest, oci.Options{}); err == nil {
				t.Error("a failed Pack tagged a model latest")
			}
			if tags := storeTags(t, o.Repository, oci.Options{}); len(tags) > 0 {
				t.Errorf("a Pack refused for its inputs stored tags %v, want nothing pushed", tags)
			}
		})
	}
}

// storeTags lists the tags of a repository ("" when it does not exist).
func storeTags(t *testing.T, repository string, opts oci.Options) []string {
	t.Helper()
	ref, err := oci.ParseRef(repository+":x", "")
	if err != nil {
		t.Fatal(err)
	}
	if ref.IsLayout() {
		if _, err := os.Stat(ref.Layout); os.IsNotExist(err) {
			return nil
		}
	}
	store, err := oci.OpenStore(ref, opts)
	if err != nil {
		t.Fatal(err)
	}
	tags, err := store.Tags(context.Background())
	if errors.Is(err, oci.ErrNotFound) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, tg := range tags {
		names = append(names, tg.Name)
	}
	return names
}

// TestPackNonFiniteMetrics: metrics that are not finite numbers, gated or
// not, stop pack before the push: the error names the metric, and the
// store holds nothing (no model, no .sig, no .att, no latest).
func TestPackNonFiniteMetrics(t *testing.T) {
	for name, metrics := range map[string]string{
		"infinity gated":   `{"auc": Infinity, "precision": 0.9}`,
		"overflow gated":   `{"auc": 1e999, "precision": 0.9}`,
		"minus infinity":   `{"auc": 0.95, "precision": -Infinity}`,
		"nan ungated":      `{"auc": 0.95, "precision": NaN}`,
		"nan gated":        `{"auc": NaN}`,
		"nan nested":       `{"auc": 0.95, "eval": {"loss": NaN}}`,
		"overflow ungated": `{"auc": 0.95, "loss": -1e400}`,
	} {
		t.Run(name, func(t *testing.T) {
			o, _ := packFixture(t)
			if err := os.WriteFile(o.Metrics, []byte(metrics), 0o644); err != nil {
				t.Fatal(err)
			}
			_, err := Pack(context.Background(), o)
			if err == nil || !strings.Contains(err.Error(), "not a finite number") || !strings.Contains(err.Error(), "metrics file "+o.Metrics+": line 1") {
				t.Errorf("Pack with metrics %s: error %v, want the metric and file named, not a finite number", metrics, err)
			}
			if tags := storeTags(t, o.Repository, oci.Options{}); len(tags) > 0 {
				t.Errorf("Pack with metrics %s stored tags %v, want nothing pushed", metrics, tags)
			}
		})
	}
}

// TestPackAttestFailsAfterPush: a registry that refuses the attestations
// (the .att manifest) fails pack after the model is pushed; the model is
// left unsigned (no .sig) and not tagged latest.
func TestPackAttestFailsAfterPush(t *testing.T) {
	inner := registry.New(registry.Logger(log.New(io.Discard, "", 0)))
	var refused atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPut && strings.Contains(r.URL.Path, "/manifests/") && strings.HasSuffix(r.URL.Path, ".att") {
			refused.Add(1)
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusForbidden)
			io.WriteString(w, `{"errors":[{"code":"DENIED","message":"attestations are refused here"}]}`)
			return
		}
		inner.ServeHTTP(w, r)
	}))
	defer srv.Close()
	o, _ := packFixture(t)
	o.Repository = strings.TrimPrefix(srv.URL, "http://") + "/payments/fraud"
	o.Registry = oci.Options{Insecure: true}
	_, err := Pack(context.Background(), o)
	if err == nil || !strings.Contains(err.Error(), "attestations are refused here") {
		t.Fatalf("Pack to a registry refusing attestations: error %v, want the registry's refusal", err)
	}
	if refused.Load() == 0 {
		t.Fatal("no attestation was written: the failure was not after the push")
	}
	tags := storeTags(t, o.Repository, o.Registry)
	if !slices.Contains(tags, "run-1") {
		t.Errorf("tags %v: want the pushed model tagged run-1 (the failure came after the push)", tags)
	}
	for _, tg := range tags {
		if strings.HasSuffix(tg, ".sig") || tg == oci.DefaultTag {
			t.Errorf("tags %v: a Pack whose attestations failed left %s", tags, tg)
		}
	}
}
