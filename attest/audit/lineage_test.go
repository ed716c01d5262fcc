package audit

import (
	"encoding/json"
	"strings"
	"testing"

	"cairn.dev/cairn/attest/lineage"
	"cairn.dev/cairn/attest/sign"
)

// TestLineageOf turns a provenance whose dataset dependency carries a
// derivedFrom annotation, and a deployment, into nodes and edges.
func TestLineageOf(t *testing.T) {
	model := "sha256:" + strings.Repeat("a", 64)
	p, err := lineage.TrainingProvenance(lineage.TrainingInput{
		Pipeline: "p", RunID: "r1", GitCommit: strings.Repeat("c", 40),
		Datasets: []lineage.Dataset{{Name: "clean", URI: "s3://clean", Digest: "sha256:" + strings.Repeat("d", 64)}},
		Image:    "img@sha256:" + strings.Repeat("e", 64),
	})
	if err != nil {
		t.Fatal(err)
	}
	p.BuildDefinition.ResolvedDependencies[1].Annotations["cairn.dev/derived-from"] = []any{"s3://raw"}
	st, err := lineage.NewStatement("m", model, lineage.PredicateSLSAProvenance, p)
	if err != nil {
		t.Fatal(err)
	}
	dep, err := lineage.NewStatement("m", model, lineage.PredicateDeployment, json.RawMessage(`{"environment":"prod","namespace":"ns","extra":{"k":1}}`))
	if err != nil {
		t.Fatal(err)
	}
	v := &verified{found: found{name: "m", digest: model, tags: []string{"v1"}}, rep: &sign.Report{Entries: []sign.Entry{
		{Kind: sign.KindAttestation, Status: sign.StatusVerified, Statement: st, StatementDigest: "sha256:" + strings.Repeat("1", 64), KeyID: "k"},
		{Kind: sign.KindAttestation, Status: sign.StatusRejected, Reason: sign.ReasonSubjectMismatch, Statement: dep, StatementDigest: "sha256:" + strings.Repeat("2", 64), KeyID: "k"},
	}}}
	g := lineageOf(v)
	var edges []string
	for _, e := range g.edges {
		edges = append(edges, e.Kind+" "+e.From+" "+e.To+" "+e.Status+" "+e.Reason)
	}
	run := "run:sha256:" + strings.Repeat("1", 64)
	for _, want := range []string{
		"source commit:" + strings.Repeat("c", 40) + " " + run + " verified ",
		"dataset dataset:sha256:" + strings.Repeat("d", 64) + " " + run + " verified ",
		"derived-from dataset:s3://raw dataset:sha256:" + strings.Repeat("d", 64) + " verified ",
		"image image:sha256:" + strings.Repeat("e", 64) + " " + run + " verified ",
		"produced " + run + " model:" + model + " verified ",
		"deployed model:" + model + " deployment:sha256:" + strings.Repeat("2", 64) + " rejected SUBJECT_MISMATCH",
	} {
		if !contains(edges, want) {
			t.Errorf("lineageOf lacks edge %q; has\n%s", want, strings.Join(edges, "\n"))
		}
	}
	for _, n := range g.nodes {
		if n.Kind == KindDeployment && (n.Label != "deployment prod/ns" || n.Attrs["extra"] == nil) {
			t.Errorf("deployment node = %+v, want every field of the predicate", n)
		}
	}
}
