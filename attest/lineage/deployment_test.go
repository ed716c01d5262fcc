package lineage

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
)

func deploymentInput() DeploymentInput {
	return DeploymentInput{
		Environment: "cluster", Namespace: "payments-ml", InferenceService: "fraud",
		ModelDigest:   "sha256:" + strings.Repeat("a", 64),
		StorageURI:    "oci://registry.example.com/payments/fraud@sha256:" + strings.Repeat("a", 64),
		CanaryPercent: 10, Pipeline: "fraud", RunID: "run-1", GitCommit: strings.Repeat("d", 40),
		DeployedOn: time.Date(2026, 11, 27, 6, 0, 0, 0, time.FixedZone("CET", 3600)),
	}
}

func TestNewDeployment(t *testing.T) {
	d, err := NewDeployment(deploymentInput())
	if err != nil {
		t.Fatal(err)
	}
	if d.DeployedOn.Location() != time.UTC || d.DeployedOn.Hour() != 5 {
		t.Errorf("DeployedOn = %v, want 05:00 UTC", d.DeployedOn)
	}
	st, err := NewStatement("registry.example.com/payments/fraud", d.ModelDigest, PredicateDeployment, d)
	if err != nil {
		t.Fatal(err)
	}
	if !st.HasSubject(d.ModelDigest) {
		t.Errorf("statement subjects %v, want %s", st.SubjectDigests(), d.ModelDigest)
	}
	raw, _ := json.Marshal(d)
	got, err := DecodePredicate(PredicateDeployment, raw)
	if err != nil {
		t.Fatal(err)
	}
	if g := got.(*Deployment); *g != *d {
		t.Errorf("DecodePredicate = %+v, want %+v", g, d)
	}
	for _, want := range []string{`"environment":"cluster"`, `"inferenceService":"fraud"`, `"canaryPercent":10`, `"deployedOn":"2026-11-27T05:00:00Z"`} {
		if !strings.Contains(string(raw), want) {
			t.Errorf("deployment JSON %s lacks %s", raw, want)
		}
	}
}

func TestNewDeploymentRefuses(t *testing.T) {
	for name, edit := range map[string]func(*DeploymentInput){
		"environment":      func(in *DeploymentInput) { in.Environment = "" },
		"namespace":        func(in *DeploymentInput) { in.Namespace = "" },
		"InferenceService": func(in *DeploymentInput) { in.InferenceService = "" },
		"model digest":     func(in *DeploymentInput) { in.ModelDigest = "sha256:abc" },
		"canary percent":   func(in *DeploymentInput) { in.CanaryPercent = 101 },
		"time":             func(in *DeploymentInput) { in.DeployedOn = time.Time{} },
	} {
		in := deploymentInput()
		edit(&in)
		if _, err := NewDeployment(in); err == nil || !strings.Contains(err.Error(), name) {
			t.Errorf("NewDeployment without a good %s: err = %v, want one naming it", name, err)
		}
	}
	if _, err := DecodePredicate(PredicateDeployment, []byte(`{"environment":"cluster"}`)); err == nil {
		t.Error("a deployment without namespace decoded")
	}
}
