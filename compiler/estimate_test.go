package compiler_test

import (
	"fmt"
	"path/filepath"
	"testing"

	"cairn.dev/cairn/compiler"
)

// TestExampleEstimates: Result.Pipelines carries each pipeline's estimates,
// computed by hand in docs/policy.md, and the examples compile without
// policy warnings.
func TestExampleEstimates(t *testing.T) {
	for _, tc := range []struct {
		example string
		want    compiler.Pipeline
	}{
		// 1 spot L4 + 8 CPUs for 4h at 60% off: (0.8 + 0.32) × 4 × 0.4 =
		// 1.792; ingest 1 CPU × 0.5h, features 2 CPUs × 2h and evaluation
		// 1 CPU × 2h at 0.04: 0.26; Mondays in January: 4 runs.
		{"fraud", compiler.Pipeline{Namespace: "payments-ml", Name: "fraud", GPUHoursPerRun: 4, Priced: true, CostPerRun: 2.052, RunsPerMonth: 4, CostPerMonth: 8.208}},
		// 2 × (8 × 2.5 + 96 × 0.04) × 2h + ingest 1 CPU × 0.5h × 0.04,
		// unscheduled.
		{"bert-pretrain", compiler.Pipeline{Namespace: "nlp-research", Name: "bert-pretrain", GPUHoursPerRun: 32, Priced: true, CostPerRun: 95.38}},
		// No price table; daily at 02:30.
		{"recsys", compiler.Pipeline{Namespace: "shop-ml", Name: "recsys", RunsPerMonth: 30}},
	} {
		res, err := compiler.Compile(compiler.Options{Dir: filepath.Join("..", "examples", tc.example)})
		if err != nil {
			t.Fatalf("%s: %v", tc.example, err)
		}
		if len(res.Warnings) > 0 {
			t.Errorf("%s: warnings %v", tc.example, res.Warnings)
		}
		if len(res.Pipelines) != 1 {
			t.Fatalf("%s: %d pipelines, want 1", tc.example, len(res.Pipelines))
		}
		got, w := res.Pipelines[0], tc.want
		show := func(p compiler.Pipeline) string {
			return fmt.Sprintf("%s/%s %.6f GPU-h, priced %v, %.6f USD/run, %d runs, %.6f USD/month", p.Namespace, p.Name, p.GPUHoursPerRun, p.Priced, p.CostPerRun, p.RunsPerMonth, p.CostPerMonth)
		}
		if show(got) != show(w) {
			t.Errorf("%s: got %s, want %s", tc.example, show(got), show(w))
		}
	}
}
