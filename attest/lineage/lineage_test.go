package lineage

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	slsa1 "github.com/in-toto/in-toto-golang/in_toto/slsa_provenance/v1"
)

// The inputs of the examples in docs/lineage.md.

const (
	exampleModel  = "registry.example.com/payments/fraud-detection"
	exampleDigest = "sha256:3b1f0c9a4d2e8f7b6a5c4d3e2f1a0b9c8d7e6f5a4b3c2d1e0f9a8b7c6d5e4f3a"
)

func exampleTraining() TrainingInput {
	return TrainingInput{
		Project:         "payments",
		Namespace:       "payments-ml",
		Pipeline:        "fraud-detection",
		SpecPath:        "teams/payments/fraud.cue",
		Repository:      "https://github.com/example/ml-specs",
		GitCommit:       "9f2c4e1b7a3d5c6e8f0a1b2c3d4e5f6a7b8c9d0e",
		SpecDigest:      "sha256:5d41402abc4b2a76b9719d911017c592ae2b6c0e7f1a3d5b8c9e0f1a2b3c4d5e",
		CompilerVersion: "0.5.0",
		Datasets: []Dataset{
			{Name: "transactions", URI: "s3://payments-data/transactions/", Snapshot: "2024-06-01",
				Digest: "sha256:ffc0e7873c6358b04e17303c6b099d90f970fc40f7e217c03614e57ff8a19371"},
			{Name: "chargebacks", URI: "s3://payments-data/chargebacks/",
				Digest: "sha256:0b1c2d3e4f5a6b7c8d9e0f1a2b3c4d5e6f7a8b9c0d1e2f3a4b5c6d7e8f9a0b1c"},
		},
		Features: []Feature{{
			Step: "build-features", Output: "features",
			URI:    "s3://ml-runs/payments-ml/fraud-detection/6f1c2e0a-7b3d-4c5e-9f8a-1b2c3d4e5f6a/features/build-features/features",
			Digest: "sha256:c0ffee00c0ffee00c0ffee00c0ffee00c0ffee00c0ffee00c0ffee00c0ffee00",
		}},
		Image:           "registry.example.com/payments/fraud-train@sha256:1111111111111111111111111111111111111111111111111111111111111111",
		BaseModel:       &Artifact{Ref: "registry.example.com/payments/fraud-base@sha256:2222222222222222222222222222222222222222222222222222222222222222"},
		Hyperparameters: map[string]any{"learning_rate": 0.05, "max_depth": 6, "n_estimators": 400},
		Metrics:         map[string]float64{"auc": 0.947, "logloss": 0.182},
		RunID:           "6f1c2e0a-7b3d-4c5e-9f8a-1b2c3d4e5f6a",
		Started:         time.Date(2024, 6, 2, 3, 0, 5, 0, time.UTC),
		Finished:        time.Date(2024, 6, 2, 4, 12, 47, 0, time.FixedZone("CEST", 2*3600)).Add(2 * time.Hour),
	}
}

func exampleEvaluation() EvaluationInput {
	return EvaluationInput{
		Pipeline: "fraud-detection",
		RunID:    "6f1c2e0a-7b3d-4c5e-9f8a-1b2c3d4e5f6a",
		Datasets: []Dataset{{Name: "holdout", URI: "s3://payments-data/holdout/", Snapshot: "2024-06-01",
			Digest: "sha256:d4e5f6a7b8c9d0e1f2a3b4c5d6e7f8a9b0c1d2e3f4a5b6c7d8e9f0a1b2c3d4e5"}},
		Image:    "registry.example.com/payments/fraud-eval@sha256:3333333333333333333333333333333333333333333333333333333333333333",
		Metrics:  map[string]float64{"auc": 0.947, "precision": 0.91, "recall": 0.78},
		Gates:    map[string]string{"auc": ">= 0.92", "recall": ">= 0.75"},
		Finished: time.Date(2024, 6, 2, 4, 20, 11, 0, time.UTC),
	}
}

func exampleSnapshot() SnapshotInput {
	return SnapshotInput{
		Name: "transactions", URI: "s3://payments-data/transactions/", Snapshot: "2024-06-01", Format: "parquet",
		Files: []File{
			{Path: "part-00001.parquet", Digest: "sha256:b5bb9d8014a0f9b1d61e21e796d78dccdf1352f23cd32812f4850b878ae4944c", Size: 52428800},
			{Path: "part-00000.parquet", Digest: "sha256:7d865e959b2466918c9863afca942d0fb89d7c9ac0c99bafc3749504ded97730", Size: 52428800},
		},
		Rows: 1843211,
		Columns: map[string]Column{
			"amount":      {Type: "float"},
			"card_number": {Type: "string", PII: true},
			"merchant_id": {Type: "string"},
			"is_fraud":    {Type: "bool"},
			"ts":          {Type: "timestamp"},
		},
		DerivedFrom: []string{"bigquery://payments-prod/ledger.transactions"},
		Captured:    time.Date(2024, 6, 2, 3, 1, 2, 0, time.UTC),
	}
}

// docPath is the page whose JSON examples TestDocExamples checks.
var docPath = filepath.Join("..", "..", "docs", "lineage.md")

// exampleRE matches a JSON block of docs/lineage.md that follows a
// "<!-- example: NAME -->" line.
var exampleRE = regexp.MustCompile("(?s)(<!-- example: ([a-z-]+) -->\\s*```json\\n)(.*?)(```)")

// docExamples returns the JSON examples of docs/lineage.md by name.
func docExamples(t *testing.T) map[string][]byte {
	t.Helper()
	raw, err := os.ReadFile(docPath)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]byte{}
	for _, m := range exampleRE.FindAllSubmatch(raw, -1) {
		out[string(m[2])] = m[3]
	}
	return out
}

// updateDocExamples rewrites the JSON examples of docs/lineage.md.
func updateDocExamples(t *testing.T, examples map[string][]byte) {
	t.Helper()
	raw, err := os.ReadFile(docPath)
	if err != nil {
		t.Fatal(err)
	}
	raw = exampleRE.ReplaceAllFunc(raw, func(b []byte) []byte {
		m := exampleRE.FindSubmatch(b)
		if e, ok := examples[string(m[2])]; ok {
			return append(append(append([]byte{}, m[1]...), e...), m[4]...)
		}
		return b
	})
	if err := os.WriteFile(docPath, raw, 0o644); err != nil {
		t.Fatal(err)
	}
}

func indent(t *testing.T, v any) []byte {
	t.Helper()
	raw, err := marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := json.Indent(&buf, raw, "", "  "); err != nil {
		t.Fatal(err)
	}
	buf.WriteByte('\n')
	return buf.Bytes()
}

// TestDocExamples checks that the statements docs/lineage.md shows are
// what the constructors make from the inputs above, byte for byte
// (indented), and that they parse back.
func TestDocExamples(t *testing.T) {
	prov, err := TrainingProvenance(exampleTraining())
	if err != nil {
		t.Fatal(err)
	}
	eval, err := NewEvaluation(exampleEvaluation())
	if err != nil {
		t.Fatal(err)
	}
	snap, err := NewDatasetSnapshot(exampleSnapshot())
	if err != nil {
		t.Fatal(err)
	}
	made := map[string][]byte{}
	for name, c := range map[string]struct {
		typ  string
		pred any
	}{
		"training":         {PredicateSLSAProvenance, prov},
		"evaluation":       {PredicateEvaluation, eval},
		"dataset-snapshot": {PredicateDatasetSnapshot, snap},
	} {
		st, err := NewStatement(exampleModel, exampleDigest, c.typ, c.pred)
		if err != nil {
			t.Fatal(err)
		}
		made[name] = indent(t, st)
		raw, _ := st.Marshal()
		back, err := ParseStatement(raw)
		if err != nil {
			t.Fatalf("ParseStatement(%s) = %v", name, err)
		}
		if _, err := DecodePredicate(back.PredicateType, back.Predicate); err != nil {
			t.Errorf("DecodePredicate(%s) = %v", name, err)
		}
	}
	if os.Getenv("CAIRN_UPDATE") == "1" {
		updateDocExamples(t, made)
	}
	// The provenance names the snapshot's content digest.
	if got := prov.Dependencies(RoleDataset)[1].Digest; got["sha256"] != snap.Digest["sha256"] {
		t.Errorf("the example provenance names transactions as %v, its snapshot has digest %v", got, snap.Digest)
	}
	docs := docExamples(t)
	for _, name := range slices.Sorted(maps.Keys(made)) {
		want, ok := docs[name]
		if !ok {
			t.Errorf("docs/lineage.md has no example %q", name)
			continue
		}
		if !bytes.Equal(made[name], want) {
			t.Errorf("example %s: docs/lineage.md shows\n%s\nthe constructor makes\n%s\n(CAIRN_UPDATE=1 rewrites the page's examples)", name, want, made[name])
		}
	}
}

func TestTrainingProvenance(t *testing.T) {
	p, err := TrainingProvenance(exampleTraining())
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, d := range p.BuildDefinition.ResolvedDependencies {
		names = append(names, d.Name+"="+d.Annotations[AnnotationRole].(string))
	}
	want := "git=source spec=spec chargebacks=dataset transactions=dataset build-features/features=feature image=image base-model=base-model"
	if got := strings.Join(names, " "); got != want {
		t.Errorf("resolved dependencies = %s, want %s", got, want)
	}
	if got := p.RunDetails.Metadata.FinishedOn.Location(); got != time.UTC {
		t.Errorf("finishedOn in %v, want UTC", got)
	}
	if got := p.Dependencies(RoleDataset)[1].Annotations[AnnotationSnapshot]; got != "2024-06-01" {
		t.Errorf("transactions snapshot = %v, want 2024-06-01", got)
	}
	if got := p.BuildDefinition.ResolvedDependencies[0].Digest["gitCommit"]; got != exampleTraining().GitCommit {
		t.Errorf("git digest = %q", got)
	}

	// The same input gives the same bytes, whatever the order of the
	// datasets.
	in := exampleTraining()
	in.Datasets[0], in.Datasets[1] = in.Datasets[1], in.Datasets[0]
	p2, err := TrainingProvenance(in)
	if err != nil {
		t.Fatal(err)
	}
	if a, b := indent(t, p), indent(t, p2); !bytes.Equal(a, b) {
		t.Errorf("the order of datasets changed the provenance:\n%s\n%s", a, b)
	}

	// It decodes into in-toto's own SLSA v1 Go types (what cosign
	// verify-attestation uses).
	var theirs slsa1.ProvenancePredicate
	if err := json.Unmarshal(indent(t, p), &theirs); err != nil {
		t.Fatalf("decoding into in-toto-golang's slsa1.ProvenancePredicate: %v", err)
	}
	if theirs.BuildDefinition.BuildType != BuildTypeTraining || len(theirs.BuildDefinition.ResolvedDependencies) != 7 ||
		theirs.RunDetails.BuildMetadata.InvocationID != in.RunID || theirs.RunDetails.Builder.ID != DefaultBuilderID {
		t.Errorf("in-toto-golang reads %+v", theirs)
	}
}

func TestTrainingProvenanceErrors(t *testing.T) {
	for _, c := range []struct {
		name string
		edit func(*TrainingInput)
		want string
	}{
		{"no pipeline", func(in *TrainingInput) { in.Pipeline = "" }, "no pipeline"},
		{"no run id", func(in *TrainingInput) { in.RunID = "" }, "no run id"},
		{"bad commit", func(in *TrainingInput) { in.GitCommit = "HEAD" }, `git commit "HEAD"`},
		{"bad spec digest", func(in *TrainingInput) { in.SpecDigest = "sha256:abc" }, "sha256 wants 64 hex digits"},
		{"dataset without digest", func(in *TrainingInput) { in.Datasets[0].Digest = "" }, "dataset transactions: content digest"},
		{"dataset twice", func(in *TrainingInput) { in.Datasets[1].Name = "transactions" }, `dataset "transactions": listed twice`},
		{"base model by tag", func(in *TrainingInput) { in.BaseModel = &Artifact{Ref: "m:v1"} }, "base model: m:v1: no digest"},
		{"finished first", func(in *TrainingInput) { in.Finished = in.Started.Add(-time.Minute) }, "finished"},
		{"digest disagrees", func(in *TrainingInput) { in.ImageDigest = "sha256:" + strings.Repeat("9", 64) }, "names digest"},
	} {
		t.Run(c.name, func(t *testing.T) {
			in := exampleTraining()
			c.edit(&in)
			_, err := TrainingProvenance(in)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("TrainingProvenance = %v, want an error containing %q", err, c.want)
			}
		})
	}
}

func TestNewEvaluation(t *testing.T) {
	e, err := NewEvaluation(exampleEvaluation())
	if err != nil {
		t.Fatal(err)
	}
	if e.Verdict != VerdictPass || len(e.Gates) != 2 || !e.Gates[0].Passed || e.Gates[0].Metric != "auc" || *e.Gates[1].Value != 0.78 {
		t.Errorf("evaluation = %+v", e)
	}
	in := exampleEvaluation()
	in.Gates["f1"] = "> 0.5" // not reported
	in.Gates["recall"] = ">= 0.8"
	e, err = NewEvaluation(in)
	if err != nil {
		t.Fatal(err)
	}
	if e.Verdict != VerdictFail || e.Gates[1].Metric != "f1" || e.Gates[1].Value != nil || e.Gates[1].Passed || e.Gates[2].Passed {
		t.Errorf("failing evaluation = %s", indent(t, e))
	}
	in.Gates["auc"] = "about 0.9"
	if _, err := NewEvaluation(in); err == nil || !strings.Contains(err.Error(), "metric auc: gate") {
		t.Errorf("bad gate: err = %v", err)
	}
}

func TestContentDigestMatchesSha256sum(t *testing.T) {
	dir := t.TempDir()
	files := map[string]string{"b.csv": "b\n", "a/x.parquet": "x", "a b.txt": "spaces", "Z.csv": "upper", "a/é.csv": "utf-8"}
	var in []File
	for p, content := range files {
		full := filepath.Join(dir, filepath.FromSlash(p))
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		in = append(in, File{Path: p, Digest: "sha256:" + sha256hex(content), Size: int64(len(content))})
	}
	got, manifest, err := ContentDigest(in)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(string(manifest), sha256hex("upper")+"  Z.csv\n") {
		t.Errorf("manifest does not start with Z.csv (bytewise order):\n%s", manifest)
	}
	if _, err := exec.LookPath("sha256sum"); err != nil {
		t.Skip("sha256sum not installed")
	}
	cmd := exec.Command("sh", "-c", `find . -type f -printf '%P\n' | LC_ALL=C sort | xargs -d '\n' sha256sum`)
	cmd.Dir = dir
	out, err := cmd.Output()
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(out, manifest) {
		t.Errorf("sha256sum writes\n%s\nContentDigest's manifest is\n%s", out, manifest)
	}
	if want := "sha256:" + sha256hex(string(out)); got != want {
		t.Errorf("ContentDigest = %s, want %s", got, want)
	}

	for _, bad := range [][]File{
		nil,
		{{Path: "", Digest: "sha256:" + sha256hex("")}},
		{{Path: "a", Digest: "md5:abc"}},
		{{Path: "a", Digest: sha256hex("")}, {Path: "a", Digest: sha256hex("")}},
	} {
		if _, _, err := ContentDigest(bad); err == nil {
			t.Errorf("ContentDigest(%v) succeeded", bad)
		}
	}
}

func TestDatasetSnapshot(t *testing.T) {
	s, err := NewDatasetSnapshot(exampleSnapshot())
	if err != nil {
		t.Fatal(err)
	}
	if !s.Sensitivity.PII || strings.Join(s.Sensitivity.PIIColumns, ",") != "card_number" || s.Files != 2 || s.Bytes != 2*52428800 {
		t.Errorf("snapshot = %s", indent(t, s))
	}
	// The schema digest is over sorted keys: it does not depend on the
	// map, and changes with any column.
	cols := exampleSnapshot().Columns
	d1, _ := SchemaDigest(cols)
	raw, _ := marshal(cols)
	if want := "sha256:" + sha256hex(string(raw)); d1 != want || !strings.HasPrefix(string(raw), `{"amount":{"nullable":false,"pii":false,"type":"float"},`) {
		t.Errorf("SchemaDigest = %s over %s", d1, raw)
	}
	cols["amount"] = Column{Type: "int"}
	if d2, _ := SchemaDigest(cols); d2 == d1 {
		t.Error("changing a column's type kept the schema digest")
	}
	in := exampleSnapshot()
	in.Rows = -1
	in.Files = nil
	_, err = NewDatasetSnapshot(in)
	if err == nil || !strings.Contains(err.Error(), "negative") || !strings.Contains(err.Error(), "no files") {
		t.Errorf("bad snapshot: err = %v", err)
	}
}

func TestStatement(t *testing.T) {
	st, err := NewStatement("m", exampleDigest, "https://example.com/custom/v1", []byte(`{ "b": 1,  "a": "<&>" }`))
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := st.Marshal()
	want := `{"_type":"https://in-toto.io/Statement/v1","subject":[{"name":"m","digest":{"sha256":"` + strings.TrimPrefix(exampleDigest, "sha256:") + `"}}],"predicateType":"https://example.com/custom/v1","predicate":{"b":1,"a":"<&>"}}`
	if string(raw) != want {
		t.Errorf("Marshal = %s\nwant %s", raw, want)
	}
	if !st.HasSubject(exampleDigest) || st.HasSubject("sha256:"+strings.Repeat("0", 64)) {
		t.Error("HasSubject")
	}
	for _, c := range []struct{ name, digest, typ, pred, want string }{
		{"m", "sha256:xyz", "https://a/b", `{}`, "not lower-case hex"},
		{"m", exampleDigest, "slsaprovenance", `{}`, "want an absolute URI"},
		{"m", exampleDigest, "https://a/b", `[1]`, "not a JSON object"},
		{"m", exampleDigest, "https://a/b", `{`, "not JSON"},
	} {
		if _, err := NewStatement(c.name, c.digest, c.typ, []byte(c.pred)); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("NewStatement(%q, %q, %s) = %v, want %q", c.digest, c.typ, c.pred, err, c.want)
		}
	}
	for _, c := range []struct{ raw, want string }{
		{`{"_type":"https://in-toto.io/Statement/v1","subject":[{"digest":{"sha256":"ab"}}],"predicateType":"x","predicate":{}}`, ""},
		{`{"_type":"https://in-toto.io/Statement/v0.1","subject":[{"digest":{"sha256":"ab"}}],"predicateType":"x","predicate":{}}`, ""},
		{`{"_type":"https://in-toto.io/Statement/v2","subject":[{"digest":{"sha256":"ab"}}],"predicateType":"x","predicate":{}}`, "_type"},
		{`{"_type":"https://in-toto.io/Statement/v1","subject":[],"predicateType":"x","predicate":{}}`, "no subject"},
		{`{"_type":"https://in-toto.io/Statement/v1","subject":[{"name":"n"}],"predicateType":"x","predicate":{}}`, "no digest"},
		{`{"_type":"https://in-toto.io/Statement/v1","subject":[{"digest":{"sha256":"ab"}}],"predicate":{}}`, "no predicateType"},
		{`{"_type":"https://in-toto.io/Statement/v1","subject":[{"digest":{"sha256":"ab"}}],"predicateType":"x","predicate":null}`, "not a JSON object"},
		{`{"_type":"https://in-toto.io/Statement/v1","subject":[{"digest":{"sha256":"ab"}}],"predicateType":"x","predicate":{}} {}`, "data after"},
		{`{"_type":"https://in-toto.io/Statement/v1","subj`, "decoding"},
	} {
		_, err := ParseStatement([]byte(c.raw))
		if (c.want == "") != (err == nil) || err != nil && !strings.Contains(err.Error(), c.want) {
			t.Errorf("ParseStatement(%s) = %v, want %q", c.raw, err, c.want)
		}
	}
	// Known predicates are checked against their Go types.
	if _, err := DecodePredicate(PredicateEvaluation, []byte(`{"pipeline":"p","verdict":"maybe","metrics":{},"gates":[]}`)); err == nil || !strings.Contains(err.Error(), "verdict") {
		t.Errorf("bad verdict: %v", err)
	}
	if _, err := DecodePredicate(PredicateSLSAProvenance, []byte(`{"buildDefinition":{"buildType":"x"},"runDetails":{"builder":{}}}`)); err == nil {
		t.Error("provenance without builder id decoded")
	}
	if _, err := DecodePredicate(PredicateDatasetSnapshot, []byte(`{"name":"d","uri":"u","rows":"many"}`)); err == nil {
		t.Error("rows as a string decoded")
	}
	if p, err := DecodePredicate("https://example.com/other", []byte(`{"x":1}`)); p != nil || err != nil {
		t.Errorf("unknown type: %v, %v", p, err)
	}
	if !IsKnownType(PredicateDeployment) {
		t.Error("the deployment type is not known")
	}
}

func sha256hex(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}

// TestProvenanceUnpinnedImage: a project that does not pin images gets
// the training image recorded by tag, marked unpinned, with no digest.
func TestProvenanceUnpinnedImage(t *testing.T) {
	p, err := TrainingProvenance(TrainingInput{Pipeline: "recsys", RunID: "r1", Image: "registry.example.com/shop/recsys:2.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	deps := p.BuildDefinition.ResolvedDependencies
	if len(deps) != 1 {
		t.Fatalf("dependencies = %+v, want the image alone", deps)
	}
	d := deps[0]
	if d.URI != "registry.example.com/shop/recsys:2.0.1" || len(d.Digest) != 0 || d.Annotations[AnnotationPinned] != false || d.Annotations[AnnotationRole] != RoleImage {
		t.Errorf("image dependency = %+v, want the tag, no digest, pinned false, role image", d)
	}
}
