package monitoring_test

import (
	"strings"
	"testing"

	"cairn.dev/cairn/compiler/ir"
	"cairn.dev/cairn/compiler/ir/irtest"
	"cairn.dev/cairn/compiler/lower"
	"cairn.dev/cairn/compiler/lower/monitoring"
)

func TestBuild(t *testing.T) {
	p, pl := irtest.Project(), irtest.Pipeline("fraud-scorer")
	if r, err := monitoring.Build(p, pl, lower.Meta{}); r != nil || err != nil {
		t.Errorf("Build(no serve) = %v, %v; want nothing", r, err)
	}
	pl.Serve = &ir.Serve{Latency: ir.Latency{P50: "20ms", P99: "1.5s"}, MaxErrorRate: 0.005}
	m := lower.Meta{Labels: map[string]string{lower.LabelPipeline: "fraud-scorer"}, Annotations: map[string]string{lower.AnnotSpecDigest: "sha256:00"}}
	r, err := monitoring.Build(p, pl, m)
	if err != nil {
		t.Fatal(err)
	}
	if r.APIVersion != monitoring.APIVersion || r.Kind != monitoring.Kind || r.Name != "fraud-scorer" || r.Namespace != p.Namespace {
		t.Errorf("object = %s %s %s/%s", r.APIVersion, r.Kind, r.Namespace, r.Name)
	}
	if r.Labels[lower.LabelPipeline] != "fraud-scorer" || r.Annotations[lower.AnnotSpecDigest] != "sha256:00" {
		t.Errorf("metadata = %v %v", r.Labels, r.Annotations)
	}
	rules := r.Spec.Groups[0].Rules
	want := map[string]string{
		"FraudScorerLatencyP50": `histogram_quantile(0.5, sum by (le) (rate(request_predict_seconds_bucket{model_name="fraud-scorer",namespace="payments-ml"}[5m]))) > 0.02`,
		"FraudScorerLatencyP99": `histogram_quantile(0.99, sum by (le) (rate(request_predict_seconds_bucket{model_name="fraud-scorer",namespace="payments-ml"}[5m]))) > 1.5`,
		"FraudScorerErrorRate":  `sum(rate(revision_app_request_count{namespace_name="payments-ml",response_code_class="5xx",service_name="fraud-scorer-predictor"}[5m])) / sum(rate(revision_app_request_count{namespace_name="payments-ml",service_name="fraud-scorer-predictor"}[5m])) > 0.005`,
	}
	if len(rules) != len(want) {
		t.Fatalf("%d rules, want %d (no p95 budget, no p95 alert)", len(rules), len(want))
	}
	for _, rl := range rules {
		if got := rl.Expr.String(); got != want[rl.Alert] {
			t.Errorf("%s expr = %s\nwant %s", rl.Alert, got, want[rl.Alert])
		}
		if rl.For == nil || string(*rl.For) != monitoring.For || rl.Labels["severity"] == "" || !strings.Contains(rl.Annotations["summary"], "fraud-scorer") {
			t.Errorf("%s = %+v", rl.Alert, rl)
		}
	}
}

func TestSeconds(t *testing.T) {
	for in, want := range map[string]float64{"50ms": 0.05, "120ms": 0.12, "1.5s": 1.5, "2s": 2, "0.3ms": 0.0003} {
		if got, err := monitoring.Seconds(in); err != nil || got != want {
			t.Errorf("Seconds(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "5", "ms", "fast", "-1s"} {
		if _, err := monitoring.Seconds(bad); err == nil {
			t.Errorf("Seconds(%q) succeeded", bad)
		}
	}
}
