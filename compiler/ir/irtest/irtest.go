// Package irtest builds IR values for tests: a project and a pipeline with
// every field a compile fills from the schema's defaults, modelled on
// examples/fraud, for each test to adjust.
package irtest

import (
	"encoding/json"

	"cairn.dev/cairn/compiler/ir"
)

// Cluster settings and a GPU type the fixtures use.
const (
	GPULabel = "nvidia.com/gpu.product"
	GPUTaint = "nvidia.com/gpu"
	SpotKey  = "karpenter.sh/capacity-type"
	H100     = "NVIDIA-H100-80GB-HBM3"
)

// Project returns the payments project without pipelines.
func Project() *ir.Project {
	return &ir.Project{
		Name:           "payments",
		Namespace:      "payments-ml",
		ModelRegistry:  "registry.example.com/payments",
		ServiceAccount: "cairn-pipeline",
		PlatformImage:  "ghcr.io/cairn-dev/cairn:v0.1.0",
		Storage:        ir.Storage{Root: "s3://payments-ml-artifacts/cairn"},
		Signing:        ir.Signing{Secret: "cairn-signing-key"},
		Cluster: ir.Cluster{
			GPUTypeLabel: GPULabel,
			GPUTaint:     GPUTaint,
			SpotSelector: map[string]string{SpotKey: "spot"},
		},
		Policy: ir.Policy{
			AllowSpot: true,
			Prices:    ir.Prices{GPUHour: map[string]float64{}},
		},
		Labels: map[string]string{},
	}
}

// Pipeline returns the fraud pipeline, named name: one dataset, a feature
// step reading it, training on one CPU pod, evaluation with an AUC gate.
func Pipeline(name string) *ir.Pipeline {
	return &ir.Pipeline{
		Name: name,
		Data: map[string]*ir.Dataset{
			"transactions": {
				Name:        "transactions",
				URI:         "s3://payments-data/transactions/2026-11",
				Format:      "parquet",
				DerivedFrom: []string{},
				Columns:     map[string]*ir.Column{"amount": {Type: "float"}},
				Checks:      ir.DataChecks{Ranges: map[string]*ir.Range{}},
			},
		},
		Features: map[string]*ir.FeatureStep{
			"build-features": {
				Name:       "build-features",
				Image:      "registry.example.com/payments/features:1.4.2",
				Command:    []string{"python", "-m", "features.build"},
				Env:        map[string]string{},
				Inputs:     []string{"transactions"},
				Outputs:    []string{"features"},
				Resources:  ir.Resources{CPU: "2", Memory: "8Gi"},
				MaxRuntime: "2h",
			},
		},
		Train: ir.Train{
			Image:           "registry.example.com/payments/train:1.4.2",
			Command:         []string{"python", "-m", "fraud.train"},
			Env:             map[string]string{},
			Hyperparameters: map[string]json.RawMessage{},
			Inputs:          []string{"features"},
			Compute: ir.Compute{
				Kind: ir.KindSingle, Nodes: 1, CPU: "4", Memory: "16Gi",
				MaxRuntime: "24h", Retries: 3,
			},
		},
		Evaluate: &ir.Evaluate{
			Image:      "registry.example.com/payments/train:1.4.2",
			Command:    []string{"python", "-m", "fraud.evaluate"},
			Env:        map[string]string{},
			Inputs:     []string{"features"},
			Gates:      map[string]string{"auc": ">= 0.92"},
			Resources:  ir.Resources{CPU: "1", Memory: "2Gi"},
			MaxRuntime: "2h",
		},
		Model:  ir.Model{Name: name, Repository: "registry.example.com/payments/" + name, Format: "xgboost"},
		Labels: map[string]string{},
	}
}
