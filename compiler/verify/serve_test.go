package verify_test

import (
	"testing"

	"cairn.dev/cairn/compiler/verify"
)

const (
	recsysISVC = "shop-ml/recsys/inferenceservice.yaml"
	fraudRule  = "payments-ml/fraud/prometheusrule.yaml"
	fraudDrift = "payments-ml/fraud/drift-cronworkflow.yaml"
	recsysRule = "shop-ml/recsys/prometheusrule.yaml"
)

// TestServingObjects: the InferenceService is strictly decoded into
// Cairn's typed KServe definitions, the PrometheusRule into the Prometheus
// Operator's Go types, and the drift CronWorkflow (with the Workflow its
// retrain step creates) goes through Argo's checks.
func TestServingObjects(t *testing.T) {
	isvc := "InferenceService shop-ml/recsys"
	files := edit(t, recsysISVC, "      storageUri:", "      storageURL:")
	want(t, verify.Files(files), recsysISVC, isvc, "spec.predictor.model.storageURL", verify.CheckSchema, "unknown field")
	files = edit(t, recsysISVC, "    maxReplicas: 4\n", "    maxReplicas: four\n")
	want(t, verify.Files(files), recsysISVC, isvc, "spec.predictor.maxReplicas", verify.CheckSchema, "cannot unmarshal string")
	files = edit(t, recsysISVC, `cpu: "1"`, `cpu: "1 core"`)
	want(t, verify.Files(files), recsysISVC, isvc, "", verify.CheckSchema, "quantities must match")

	rule := "PrometheusRule payments-ml/fraud"
	files = edit(t, fraudRule, "    - alert: FraudLatencyP50\n", "    - alert: FraudLatencyP50\n      severity: high\n")
	want(t, verify.Files(files), fraudRule, rule, "spec.groups[0].rules[0].severity", verify.CheckSchema, "unknown field")
	// Kubernetes' object metadata rules hold for the new kinds too.
	files = edit(t, recsysRule, "  name: recsys\n", "  name: Recsys\n")
	want(t, verify.Files(files), recsysRule, "PrometheusRule shop-ml/Recsys", "metadata.name", verify.CheckMetadata, "")

	// Argo's validator checks the drift CronWorkflow.
	files = edit(t, fraudDrift, "        - depends: drift.Failed\n", "        - depends: drifts.Failed\n")
	probs := verify.Files(files)
	if len(probs) == 0 {
		t.Error("a retrain task depending on a missing task passed")
	}
}
