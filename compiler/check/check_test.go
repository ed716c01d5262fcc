package check_test

import (
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"

	"cairn.dev/cairn/compiler/check"
	"cairn.dev/cairn/compiler/diag"
	"cairn.dev/cairn/compiler/ir"
)

// fakeLocator places every value in spec.cue and records what was asked.
type fakeLocator struct{ calls [][]any }

func (f *fakeLocator) Locate(path ...any) diag.Pos {
	f.calls = append(f.calls, append([]any(nil), path...))
	return diag.Pos{File: "spec.cue", Line: 10 + len(path), Col: 3}
}

const h100 = "NVIDIA-H100-80GB-HBM3"

func project() *ir.Project {
	return &ir.Project{
		Name:           "payments",
		Namespace:      "payments-ml",
		ModelRegistry:  "registry.example.com/payments",
		ServiceAccount: "cairn-pipeline",
		PlatformImage:  "ghcr.io/cairn-dev/cairn:v0.1.0",
		Storage:        ir.Storage{Root: "s3://payments-ml-artifacts/cairn"},
		Signing:        ir.Signing{Secret: "cairn-signing-key"},
		Cluster: ir.Cluster{
			GPUTypeLabel: "nvidia.com/gpu.product",
			GPUTaint:     "nvidia.com/gpu",
			SpotSelector: map[string]string{"karpenter.sh/capacity-type": "spot"},
		},
		Policy: ir.Policy{
			AllowSpot:    true,
			PIIPipelines: []string{},
			GPUPrices:    map[string]float64{},
		},
		Labels:    map[string]string{},
		Pipelines: map[string]*ir.Pipeline{"fraud": pipeline("fraud")},
	}
}

func pipeline(name string) *ir.Pipeline {
	minRows := int64(1000)
	return &ir.Pipeline{
		Name: name,
		Data: map[string]*ir.Dataset{
			"transactions": {
				Name:        "transactions",
				URI:         "s3://payments-data/transactions/2026-11",
				Format:      "parquet",
				DerivedFrom: []string{},
				Columns: map[string]*ir.Column{
					"amount":  {Type: "float"},
					"card_id": {Type: "string", PII: true},
				},
				Checks: ir.DataChecks{MinRows: &minRows, Ranges: map[string]*ir.Range{}},
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
			Gates:      map[string]string{"auc": ">= 0.92", "loss": "<0.3"},
			Resources:  ir.Resources{CPU: "1", Memory: "2Gi"},
			MaxRuntime: "2h",
		},
		Model:    ir.Model{Name: name, Repository: "registry.example.com/payments/" + name, Format: "xgboost"},
		Schedule: &ir.Schedule{Cron: "0 3 * * 1", Timezone: "UTC", ConcurrencyPolicy: "Forbid"},
		Labels:   map[string]string{},
	}
}

func gpus(pl *ir.Pipeline, kind string, nodes, perNode int) {
	c := &pl.Train.Compute
	c.Kind, c.Nodes, c.GPUsPerNode, c.GPUType, c.MaxRuntime = kind, nodes, perNode, h100, "4h"
}

func intp(n int) *int                  { return &n }
func floatp(f float64) *float64        { return &f }
func fraud(p *ir.Project) *ir.Pipeline { return p.Pipelines["fraud"] }

// want is a diagnostic a case expects: its CUE path and a part of its
// message.
type want struct{ path, msg string }

// run checks the project and returns its diagnostics.
func run(t *testing.T, p *ir.Project) (diag.List, *fakeLocator) {
	t.Helper()
	loc := &fakeLocator{}
	err := check.Project(p, loc)
	if err == nil {
		return nil, loc
	}
	var l diag.List
	if !errors.As(err, &l) {
		t.Fatalf("check.Project error %T (%v), want a diag.List", err, err)
	}
	for _, d := range l {
		if d.Pos.File != "spec.cue" || d.Pos.Line <= 10 {
			t.Errorf("diagnostic %q has position %v, want one from the Locator", d.Msg, d.Pos)
		}
	}
	return l, loc
}

func matchAll(t *testing.T, name string, got diag.List, wants []want) {
	t.Helper()
	used := make([]bool, len(got))
outer:
	for _, w := range wants {
		for i, d := range got {
			if !used[i] && d.Path == w.path && strings.Contains(d.Msg, w.msg) {
				used[i] = true
				continue outer
			}
		}
		t.Errorf("%s: check.Project = %v, want a diagnostic at %s containing %q", name, got, w.path, w.msg)
	}
	for i, d := range got {
		if !used[i] {
			t.Errorf("%s: check.Project gave the unexpected diagnostic %s: %s", name, d.Path, d.Msg)
		}
	}
}

const pl = "project.pipelines.fraud."

func TestProject(t *testing.T) {
	for _, tc := range []struct {
		name   string
		mutate func(p *ir.Project)
		want   []want
	}{
		{"valid", func(p *ir.Project) {}, nil},
		{"valid mpi", func(p *ir.Project) { gpus(fraud(p), ir.KindMPI, 4, 8) }, nil},

		// References.
		{"undeclared train input", func(p *ir.Project) {
			fraud(p).Train.Inputs = []string{"features", "labels"}
		}, []want{{pl + "train.inputs.1", `reference to undeclared input "labels": want a dataset or a feature output (features, transactions)`}}},
		{"undeclared feature input", func(p *ir.Project) {
			fraud(p).Features["build-features"].Inputs = []string{"transactons"}
		}, []want{{pl + `features."build-features".inputs.0`, `undeclared input "transactons"`}}},
		{"undeclared evaluate input", func(p *ir.Project) {
			fraud(p).Evaluate.Inputs = []string{"features", "holdout"}
		}, []want{{pl + "evaluate.inputs.1", `undeclared input "holdout"`}}},
		{"feature reads its own output", func(p *ir.Project) {
			f := fraud(p).Features["build-features"]
			f.Inputs = append(f.Inputs, "features")
		}, []want{{pl + `features."build-features".inputs.1`, `feature step "build-features" reads its own output "features"`}}},
		{"cycle", func(p *ir.Project) {
			pl := fraud(p)
			pl.Features["a"] = &ir.FeatureStep{Name: "a", Image: "img:1", Command: []string{"a"}, Inputs: []string{"bout"}, Outputs: []string{"aout"}, Resources: ir.Resources{CPU: "1", Memory: "1Gi"}, MaxRuntime: "1h"}
			pl.Features["b"] = &ir.FeatureStep{Name: "b", Image: "img:1", Command: []string{"b"}, Inputs: []string{"aout"}, Outputs: []string{"bout"}, Resources: ir.Resources{CPU: "1", Memory: "1Gi"}, MaxRuntime: "1h"}
		}, []want{{pl + "features.a.inputs", "feature steps form a cycle: a → b → a"}}},
		{"three-step cycle", func(p *ir.Project) {
			pl := fraud(p)
			for _, s := range []struct{ name, in, out string }{{"x", "zout", "xout"}, {"y", "xout", "yout"}, {"z", "yout", "zout"}} {
				pl.Features[s.name] = &ir.FeatureStep{Name: s.name, Image: "img:1", Command: []string{"c"}, Inputs: []string{s.in}, Outputs: []string{s.out}, Resources: ir.Resources{CPU: "1", Memory: "1Gi"}, MaxRuntime: "1h"}
			}
		}, []want{{pl + "features.x.inputs", "feature steps form a cycle: x → z → y → x"}}},

		// Duplicate outputs.
		{"output named like a dataset", func(p *ir.Project) {
			fraud(p).Features["build-features"].Outputs = []string{"features", "transactions"}
		}, []want{{pl + `features."build-features".outputs.1`, `output "transactions" is already declared by dataset transactions`}}},
		{"output of two steps", func(p *ir.Project) {
			fraud(p).Features["more"] = &ir.FeatureStep{Name: "more", Image: "img:1", Command: []string{"m"}, Inputs: []string{"transactions"}, Outputs: []string{"features"}, Resources: ir.Resources{CPU: "1", Memory: "1Gi"}, MaxRuntime: "1h"}
		}, []want{{pl + "features.more.outputs.0", `output "features" is already declared by feature step build-features`}}},

		// Gates.
		{"gate without operator", func(p *ir.Project) {
			fraud(p).Evaluate.Gates["auc"] = "about 0.9"
		}, []want{{pl + "evaluate.gates.auc", `gate "about 0.9": want OPERATOR NUMBER`}}},
		{"gate without number", func(p *ir.Project) {
			fraud(p).Evaluate.Gates["auc"] = ">= high"
		}, []want{{pl + "evaluate.gates.auc", `gate ">= high": "high" is not a number`}}},
		{"gates not finite", func(p *ir.Project) {
			fraud(p).Evaluate.Gates = map[string]string{"a": ">= NaN", "b": "< +Inf", "c": "== 0x10", "d": ">"}
		}, []want{
			{pl + "evaluate.gates.a", "is not a number"},
			{pl + "evaluate.gates.b", "is not a number"},
			{pl + "evaluate.gates.c", "is not a number"},
			{pl + "evaluate.gates.d", "is not a number"},
		}},

		// Schedules.
		{"bad cron", func(p *ir.Project) {
			fraud(p).Schedule.Cron = "61 * * * *"
		}, []want{{pl + "schedule.cron", `bad schedule "61 * * * *"`}}},
		{"cron with six fields", func(p *ir.Project) {
			fraud(p).Schedule.Cron = "0 0 3 * * 1"
		}, []want{{pl + "schedule.cron", `bad schedule "0 0 3 * * 1"`}}},
		{"cron descriptor", func(p *ir.Project) { fraud(p).Schedule.Cron = "@weekly" }, nil},
		{"unknown time zone", func(p *ir.Project) {
			fraud(p).Schedule.Timezone = "Mars/Olympus_Mons"
		}, []want{{pl + "schedule.timezone", `unknown time zone "Mars/Olympus_Mons"`}}},
		{"local time zone", func(p *ir.Project) {
			fraud(p).Schedule.Timezone = "Local"
		}, []want{{pl + "schedule.timezone", `unknown time zone "Local"`}}},
		{"named time zone", func(p *ir.Project) { fraud(p).Schedule.Timezone = "Europe/Paris" }, nil},
		{"bad drift cron", func(p *ir.Project) {
			fraud(p).Serve = &ir.Serve{Runtime: "kserve", Drift: &ir.Drift{Cron: "every hour", Source: "s3://x"}}
		}, []want{{pl + "serve.drift.cron", `bad schedule "every hour"`}}},

		// Compute.
		{"mpi without gpus", func(p *ir.Project) {
			gpus(fraud(p), ir.KindMPI, 2, 0)
			fraud(p).Train.Compute.GPUType = ""
		}, []want{{pl + "train.compute.gpusPerNode", `compute.kind "mpi" needs gpusPerNode >= 1`}}},
		{"gpuType without gpus", func(p *ir.Project) {
			fraud(p).Train.Compute.GPUType = h100
		}, []want{{pl + "train.compute.gpuType", `gpuType "NVIDIA-H100-80GB-HBM3" is set but gpusPerNode is 0`}}},
		{"bad durations", func(p *ir.Project) {
			fraud(p).Features["build-features"].MaxRuntime = "2 hours"
			fraud(p).Train.Compute.MaxRuntime = "0s"
			fraud(p).Evaluate.MaxRuntime = "1h1d"
		}, []want{
			{pl + `features."build-features".maxRuntime`, `duration "2 hours"`},
			{pl + "train.compute.maxRuntime", `duration "0s" must be positive`},
			{pl + "evaluate.maxRuntime", `duration "1h1d"`},
		}},

		// Data checks.
		{"range on undeclared column", func(p *ir.Project) {
			fraud(p).Data["transactions"].Checks.Ranges["amont"] = &ir.Range{Min: floatp(0)}
		}, []want{{pl + "data.transactions.checks.ranges.amont", `range on undeclared column "amont"`}}},
		{"range on a string column", func(p *ir.Project) {
			fraud(p).Data["transactions"].Checks.Ranges["card_id"] = &ir.Range{Min: floatp(0)}
		}, []want{{pl + "data.transactions.checks.ranges.card_id", `range on column "card_id" of type string`}}},
		{"empty range", func(p *ir.Project) {
			fraud(p).Data["transactions"].Checks.Ranges["amount"] = &ir.Range{Min: floatp(10), Max: floatp(1)}
		}, []want{{pl + "data.transactions.checks.ranges.amount", "empty range: min 10 is greater than max 1"}}},

		// Policy.
		{"requireDigests", func(p *ir.Project) {
			p.Policy.RequireDigests = true
		}, []want{
			{pl + `features."build-features".image`, `policy: image "registry.example.com/payments/features:1.4.2" is not pinned by digest`},
			{pl + "train.image", `image "registry.example.com/payments/train:1.4.2" is not pinned by digest`},
			{pl + "evaluate.image", `image "registry.example.com/payments/train:1.4.2" is not pinned by digest`},
		}},
		{"requireDigests with digests", func(p *ir.Project) {
			p.Policy.RequireDigests = true
			d := "@sha256:" + strings.Repeat("ab", 32)
			fraud(p).Features["build-features"].Image += d
			fraud(p).Train.Image += d
			fraud(p).Evaluate.Image = "registry.example.com/payments/eval" + d
		}, nil},
		{"spot not allowed", func(p *ir.Project) {
			p.Policy.AllowSpot = false
			fraud(p).Train.Compute.Spot = true
		}, []want{{pl + "train.compute.spot", "policy: spot compute is not allowed in this project (policy.allowSpot is false)"}}},
		{"spot allowed", func(p *ir.Project) { fraud(p).Train.Compute.Spot = true }, nil},
		{"over maxGPUsPerRun", func(p *ir.Project) {
			p.Policy.MaxGPUsPerRun = intp(8)
			gpus(fraud(p), ir.KindMPI, 2, 8)
		}, []want{{pl + "train.compute", "policy: training uses 16 GPUs (2 nodes × 8), over policy.maxGPUsPerRun 8"}}},
		{"at maxGPUsPerRun", func(p *ir.Project) {
			p.Policy.MaxGPUsPerRun = intp(16)
			gpus(fraud(p), ir.KindMPI, 2, 8)
		}, nil},
		{"maxGPUsPerRun 0 on cpu", func(p *ir.Project) { p.Policy.MaxGPUsPerRun = intp(0) }, nil},
		{"over maxRunCost", func(p *ir.Project) {
			p.Policy.GPUPrices[h100] = 4
			p.Policy.MaxRunCost = floatp(100)
			gpus(fraud(p), ir.KindMPI, 2, 8) // 16 GPUs × 4h × 4 USD = 256 USD
		}, []want{{pl + "train.compute", "policy: a run may cost 256.00 USD (16 GPUs × 4h × 4 USD/h), over policy.maxRunCost 100"}}},
		{"at maxRunCost", func(p *ir.Project) {
			p.Policy.GPUPrices[h100] = 0.1
			p.Policy.MaxRunCost = floatp(6.4)
			gpus(fraud(p), ir.KindMPI, 2, 8) // 16 × 4h × 0.1 = 6.4 (not exactly, in floating point)
		}, nil},
		{"maxRunCost without price", func(p *ir.Project) {
			p.Policy.GPUPrices["NVIDIA-L4"] = 0.8
			p.Policy.MaxRunCost = floatp(100)
			gpus(fraud(p), ir.KindSingle, 1, 2)
		}, []want{{pl + "train.compute", `policy: no price for GPU type "NVIDIA-H100-80GB-HBM3" in policy.gpuPrices, needed to check policy.maxRunCost`}}},
		{"maxRunCost on cpu", func(p *ir.Project) { p.Policy.MaxRunCost = floatp(0) }, nil},
		{"maxRunCost with bad maxRuntime", func(p *ir.Project) {
			p.Policy.MaxRunCost = floatp(1)
			gpus(fraud(p), ir.KindSingle, 1, 2)
			fraud(p).Train.Compute.MaxRuntime = "soon"
		}, []want{{pl + "train.compute.maxRuntime", `duration "soon"`}}},
		{"pii not allowed", func(p *ir.Project) {
			fraud(p).Data["transactions"].PII = true
		}, []want{{pl + "data.transactions.pii", `policy: dataset "transactions" holds personal data and pipeline "fraud" is not in policy.piiPipelines`}}},
		{"pii allowed", func(p *ir.Project) {
			fraud(p).Data["transactions"].PII = true
			p.Policy.PIIPipelines = []string{"fraud"}
		}, nil},

		// Several problems are all reported.
		{"several", func(p *ir.Project) {
			fraud(p).Train.Inputs = []string{"nope"}
			fraud(p).Schedule.Cron = "bad"
			p.Policy.AllowSpot = false
			fraud(p).Train.Compute.Spot = true
		}, []want{
			{pl + "train.inputs.0", `undeclared input "nope"`},
			{pl + "schedule.cron", `bad schedule "bad"`},
			{pl + "train.compute.spot", "policy: spot compute is not allowed"},
		}},
	} {
		p := project()
		tc.mutate(p)
		got, _ := run(t, p)
		matchAll(t, tc.name, got, tc.want)
	}
}

// TestLocate: diagnostics are placed where the Locator says the value is,
// named by field names and list indexes.
func TestLocate(t *testing.T) {
	p := project()
	fraud(p).Train.Inputs = []string{"features", "labels"}
	got, loc := run(t, p)
	if len(got) != 1 {
		t.Fatalf("check.Project = %v, want one diagnostic", got)
	}
	if want := []any{"pipelines", "fraud", "train", "inputs", 1}; !reflect.DeepEqual(loc.calls, [][]any{want}) {
		t.Errorf("Locate calls = %v, want [%v]", loc.calls, want)
	}
	if want := (diag.Pos{File: "spec.cue", Line: 15, Col: 3}); got[0].Pos != want {
		t.Errorf("diagnostic position = %v, want %v", got[0].Pos, want)
	}
}

// Regression test for a bug of commit 1f079c9: a maxRuntime too long for a
// time.Duration wrapped around in ir.ParseDuration, "213504d" read as
// 25m26s, so the cost of a run was computed on 25 minutes and
// policy.maxRunCost was bypassed (the schema's #Duration accepts the
// string). The run must be refused: maxRuntime too long, or over the cost.
func TestMaxRunCostHugeMaxRuntime(t *testing.T) {
	for _, maxRuntime := range []string{"213504d", "18446744074s"} {
		p := project()
		p.Policy.GPUPrices[h100] = 4
		p.Policy.MaxRunCost = floatp(100)
		gpus(fraud(p), ir.KindMPI, 2, 8)
		fraud(p).Train.Compute.MaxRuntime = maxRuntime
		got, _ := run(t, p)
		if len(got) == 0 {
			t.Errorf("check.Project with 16 H100s at 4 USD/h for maxRuntime %q and policy.maxRunCost 100 = no diagnostics, want the run refused (maxRuntime too long, or over maxRunCost)", maxRuntime)
		}
	}
}

func TestWorkerName(t *testing.T) {
	for _, tc := range []struct {
		pipeline string
		nodes    int
		want     string
	}{
		{"bert", 1, "bert-9999999999-xxxxx-worker-0"},
		{"bert", 4, "bert-9999999999-xxxxx-worker-3"},
		{"bert", 512, "bert-9999999999-xxxxx-worker-511"},
	} {
		if got := check.WorkerName(tc.pipeline, tc.nodes); got != tc.want {
			t.Errorf("WorkerName(%q, %d) = %q, want %q", tc.pipeline, tc.nodes, got, tc.want)
		}
	}
	for _, tc := range []struct{ nameLen, nodes, wantLen int }{
		{35, 512, 63},
		{36, 512, 64},
		{37, 1, 63},
		{40, 1, 66},
		{36, 100, 63},
		{40, 512, 68},
	} {
		name := "p" + strings.Repeat("x", tc.nameLen-1)
		if got := check.WorkerName(name, tc.nodes); len(got) != tc.wantLen {
			t.Errorf("len(WorkerName(%d chars, %d)) = %d (%q), want %d", tc.nameLen, tc.nodes, len(got), got, tc.wantLen)
		}
	}
}

// TestMPINameLimit: the checker refuses an MPI pipeline whose worker pod
// names would pass 63 characters, naming the length, and accepts one at 63.
func TestMPINameLimit(t *testing.T) {
	for _, tc := range []struct {
		nameLen, nodes int
		kind           string
		wantMsg        string // "" for no diagnostic
	}{
		{35, 512, ir.KindMPI, ""},
		{36, 512, ir.KindMPI, "would be 64 characters, over Kubernetes' 63; shorten it by 1"},
		{40, 512, ir.KindMPI, "would be 68 characters, over Kubernetes' 63; shorten it by 5"},
		{37, 1, ir.KindMPI, ""},
		{38, 1, ir.KindMPI, "would be 64 characters"},
		{40, 1, ir.KindSingle, ""}, // no MPI workers
	} {
		name := "p" + strings.Repeat("x", tc.nameLen-1)
		p := project()
		pl := pipeline(name)
		gpus(pl, tc.kind, tc.nodes, 8)
		p.Pipelines = map[string]*ir.Pipeline{name: pl}
		got, loc := run(t, p)
		if tc.wantMsg == "" {
			if len(got) != 0 {
				t.Errorf("check.Project(%d-char %s pipeline, %d nodes) = %v, want no diagnostics", tc.nameLen, tc.kind, tc.nodes, got)
			}
			continue
		}
		if len(got) != 1 || got[0].Path != "project.pipelines."+name || !strings.Contains(got[0].Msg, tc.wantMsg) ||
			!strings.Contains(got[0].Msg, check.WorkerName(name, tc.nodes)) {
			t.Errorf("check.Project(%d-char %s pipeline, %d nodes) = %v, want one diagnostic at project.pipelines.%s containing %q and the worker name", tc.nameLen, tc.kind, tc.nodes, got, name, tc.wantMsg)
		}
		if want := [][]any{{"pipelines", name}}; !reflect.DeepEqual(loc.calls, want) {
			t.Errorf("Locate calls = %v, want %v", loc.calls, want)
		}
	}
}

// TestPipelinesChecked: every pipeline of the project is checked.
func TestPipelinesChecked(t *testing.T) {
	p := project()
	other := pipeline("churn")
	other.Train.Inputs = []string{"missing"}
	p.Pipelines["churn"] = other
	fraud(p).Train.Inputs = []string{"missing"}
	got, _ := run(t, p)
	matchAll(t, "two pipelines", got, []want{
		{"project.pipelines.churn.train.inputs.0", `undeclared input "missing"`},
		{pl + "train.inputs.0", `undeclared input "missing"`},
	})
}
