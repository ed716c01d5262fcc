package check_test

import (
	"errors"
	"reflect"
	"strings"
	"testing"

	"cairn.dev/cairn/compiler/check"
	"cairn.dev/cairn/compiler/diag"
	"cairn.dev/cairn/compiler/ir"
	"cairn.dev/cairn/compiler/ir/irtest"
)

// fakeLocator places every value in spec.cue and records what was asked.
type fakeLocator struct{ calls [][]any }

func (f *fakeLocator) Locate(path ...any) diag.Pos {
	f.calls = append(f.calls, append([]any(nil), path...))
	return diag.Pos{File: "spec.cue", Line: 10 + len(path), Col: 3}
}

const h100 = irtest.H100

func project() *ir.Project {
	p := irtest.Project()
	// The fraud pipeline reads a pii column.
	p.Policy.PII = ir.PII{Namespaces: []string{"payments-ml"}, Approver: "privacy@example.com"}
	p.Policy.Enforce = map[string]string{}
	p.Pipelines = map[string]*ir.Pipeline{"fraud": pipeline("fraud")}
	return p
}

func pipeline(name string) *ir.Pipeline {
	pl := irtest.Pipeline(name)
	minRows := int64(1000)
	d := pl.Data["transactions"]
	d.Columns["card_id"] = &ir.Column{Type: "string", PII: true}
	d.Checks.MinRows = &minRows
	pl.Evaluate.Gates["loss"] = "<0.3"
	pl.Schedule = &ir.Schedule{Cron: "0 3 * * 1", Timezone: "UTC", ConcurrencyPolicy: "Forbid"}
	return pl
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

// run checks the project and returns its diagnostics, errors and warnings.
func run(t *testing.T, p *ir.Project) (diag.List, *fakeLocator) {
	t.Helper()
	loc := &fakeLocator{}
	l := check.Project(p, loc)
	if err := l.Err(); err != nil {
		var back diag.List
		if !errors.As(err, &back) || len(back) != len(l) {
			t.Fatalf("check.Project(...).Err() = %T (%v), want the whole diag.List", err, err)
		}
	}
	for _, d := range l {
		if d.Pos.File != "spec.cue" || d.Pos.Line <= 10 {
			t.Errorf("diagnostic %q has position %v, want one from the Locator", d.Msg, d.Pos)
		}
	}
	return l, loc
}

// matchAll checks that got holds errors matching wants and nothing else.
func matchAll(t *testing.T, name string, got diag.List, wants []want) {
	t.Helper()
	matchSeverity(t, name, got, wants, nil)
}

// matchSeverity checks that got holds errors matching errs and warnings
// matching warns, and nothing else.
func matchSeverity(t *testing.T, name string, got diag.List, errs, warns []want) {
	t.Helper()
	gotErrs, gotWarns := got.Split()
	match(t, name+" (errors)", gotErrs, errs)
	match(t, name+" (warnings)", gotWarns, warns)
}

func match(t *testing.T, name string, got diag.List, wants []want) {
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

		// Policy: digests.
		{"requireDigests", func(p *ir.Project) {
			p.Policy.RequireDigests = true
			p.PlatformImage += "@sha256:" + strings.Repeat("cd", 32)
		}, []want{
			{pl + `features."build-features".image`, `policy: image "registry.example.com/payments/features:1.4.2" is not pinned by digest`},
			{pl + "train.image", `image "registry.example.com/payments/train:1.4.2" is not pinned by digest`},
			{pl + "evaluate.image", `image "registry.example.com/payments/train:1.4.2" is not pinned by digest`},
		}},
		{"requireDigests with digests", func(p *ir.Project) {
			p.Policy.RequireDigests = true
			d := "@sha256:" + strings.Repeat("ab", 32)
			p.PlatformImage += d
			fraud(p).Features["build-features"].Image += d
			fraud(p).Train.Image += d
			fraud(p).Evaluate.Image = "registry.example.com/payments/eval" + d
		}, nil},
		{"requireDigests platformImage", func(p *ir.Project) {
			p.Policy.RequireDigests = true
			d := "@sha256:" + strings.Repeat("ab", 32)
			fraud(p).Features["build-features"].Image += d
			fraud(p).Train.Image += d
			fraud(p).Evaluate.Image += d
		}, []want{{"project.platformImage", `policy: platformImage "ghcr.io/cairn-dev/cairn:v0.1.0" is not pinned by digest (policy.requireDigests): set project.platformImage to "ghcr.io/cairn-dev/cairn:v0.1.0@sha256:<hex>"; ` + "`crane digest ghcr.io/cairn-dev/cairn:v0.1.0`" + ` prints it`}}},

		// Policy: spot.
		{"spot not allowed", func(p *ir.Project) {
			p.Policy.AllowSpot = false
			fraud(p).Train.Compute.Spot = true
		}, []want{{pl + "train.compute.spot", "policy: spot compute is not allowed in this project (policy.allowSpot is false)"}}},
		{"spot allowed", func(p *ir.Project) { fraud(p).Train.Compute.Spot = true }, nil},
		{"requireSpot on demand", func(p *ir.Project) {
			p.Policy.RequireSpot = true
		}, []want{{pl + "train.compute.spot", "policy: training must run on spot nodes (policy.requireSpot): set compute.spot, or mark the training critical (train.critical)"}}},
		{"requireSpot on spot", func(p *ir.Project) {
			p.Policy.RequireSpot = true
			fraud(p).Train.Compute.Spot = true
		}, nil},
		{"requireSpot critical", func(p *ir.Project) {
			p.Policy.RequireSpot = true
			fraud(p).Train.Critical = true
		}, nil},

		// Policy: GPUs of one run (the namespace quota is TestNamespaces').
		{"over maxGPUsPerRun", func(p *ir.Project) {
			p.Policy.MaxGPUsPerRun = intp(8)
			gpus(fraud(p), ir.KindMPI, 2, 8)
		}, []want{{pl + "train.compute", "policy: training uses 16 GPUs (2 nodes × 8), over policy.maxGPUsPerRun 8"}}},
		{"at maxGPUsPerRun", func(p *ir.Project) {
			p.Policy.MaxGPUsPerRun = intp(16)
			gpus(fraud(p), ir.KindMPI, 2, 8)
		}, nil},
		{"maxGPUsPerRun 0 on cpu", func(p *ir.Project) { p.Policy.MaxGPUsPerRun = intp(0) }, nil},
		{"gpuQuota is not a project rule", func(p *ir.Project) {
			p.Policy.GPUQuota = intp(8)
			gpus(fraud(p), ir.KindMPI, 2, 8)
		}, nil},

		// Policy: budget. 16 H100 at 4 USD/h and 4 CPUs at 0.05 USD/h for
		// 4h: 2 × (8 × 4 + 4 × 0.05) × 4 = 257.60; features 2 CPUs × 2h ×
		// 0.05 = 0.20; evaluation 1 CPU × 2h × 0.05 = 0.10.
		{"over budget.perRun", func(p *ir.Project) {
			priced(p, 4, 0.05)
			p.Policy.Budget.PerRun = floatp(100)
			gpus(fraud(p), ir.KindMPI, 2, 8)
		}, []want{{"project.pipelines.fraud", "policy: a run may cost 257.90 USD (every step at its maxRuntime: training 257.60, other steps 0.30), over policy.budget.perRun 100"}}},
		{"spot discount", func(p *ir.Project) {
			priced(p, 4, 0.05)
			p.Policy.Prices.SpotDiscount = 0.75
			p.Policy.Budget.PerRun = floatp(60)
			gpus(fraud(p), ir.KindMPI, 2, 8)
			fraud(p).Train.Compute.Spot = true // 257.60 / 4 = 64.40
		}, []want{{"project.pipelines.fraud", "policy: a run may cost 64.70 USD (every step at its maxRuntime: training 64.40, other steps 0.30), over policy.budget.perRun 60"}}},
		{"at budget.perRun", func(p *ir.Project) {
			priced(p, 0.1, 0)
			p.Policy.Budget.PerRun = floatp(6.4)
			gpus(fraud(p), ir.KindMPI, 2, 8) // 16 × 4h × 0.1 = 6.4 (not exactly, in floating point)
		}, nil},
		{"over budget.perMonth", func(p *ir.Project) {
			priced(p, 4, 0.05)
			p.Policy.Budget.PerMonth = floatp(1000)
			gpus(fraud(p), ir.KindMPI, 2, 8) // "0 3 * * 1": 4 runs
		}, []want{{pl + "schedule.cron", "policy: the schedule starts 4 runs in 30 days at up to 257.90 USD each, 1031.60 USD, over policy.budget.perMonth 1000"}}},
		{"budget.perMonth unscheduled", func(p *ir.Project) {
			priced(p, 4, 0.05)
			p.Policy.Budget.PerMonth = floatp(0)
			gpus(fraud(p), ir.KindMPI, 2, 8)
			fraud(p).Schedule = nil
		}, nil},
		{"budget without GPU price", func(p *ir.Project) {
			priced(p, 0, 0.05)
			delete(p.Policy.Prices.GPUHour, h100)
			p.Policy.Prices.GPUHour["NVIDIA-L4"] = 0.8
			p.Policy.Budget.PerRun = floatp(100)
			gpus(fraud(p), ir.KindSingle, 1, 2)
		}, []want{{pl + "train.compute.gpuType", `policy: no price for GPU type "NVIDIA-H100-80GB-HBM3" in policy.prices.gpuHour, needed to check policy.budget`}}},
		{"budget without GPU type", func(p *ir.Project) {
			priced(p, 4, 0.05)
			p.Policy.Budget.PerMonth = floatp(100)
			fraud(p).Train.Compute.GPUsPerNode = 2
		}, []want{{pl + "train.compute.gpusPerNode", "policy: training uses 2 GPUs of no compute.gpuType, so policy.prices.gpuHour cannot price them for policy.budget"}}},
		{"budget without CPU price", func(p *ir.Project) {
			p.Policy.Prices.GPUHour[h100] = 4
			p.Policy.Budget.PerRun = floatp(100)
			gpus(fraud(p), ir.KindSingle, 1, 2)
		}, []want{{"project.policy.budget", "policy: policy.prices.cpuHour is not set, needed to check policy.budget (every step uses CPUs)"}}},
		{"budget on cpu", func(p *ir.Project) {
			priced(p, 0, 0.05)
			p.Policy.Budget.PerRun = floatp(10) // 4 × 24h × 0.05 + 0.30 = 5.10
		}, nil},
		{"no budget without prices", func(p *ir.Project) { gpus(fraud(p), ir.KindMPI, 2, 8) }, nil},
		{"budget with bad maxRuntime", func(p *ir.Project) {
			priced(p, 4, 0.05)
			p.Policy.Budget.PerRun = floatp(1)
			gpus(fraud(p), ir.KindSingle, 1, 2)
			fraud(p).Train.Compute.MaxRuntime = "soon"
		}, []want{{pl + "train.compute.maxRuntime", `duration "soon"`}}},

		// Policy: personal data. The fixture reads the pii column card_id
		// in its approved namespace.
		{"pii column in a namespace not listed", func(p *ir.Project) {
			p.Policy.PII.Namespaces = []string{"risk"}
		}, []want{{pl + "data.transactions.columns.card_id.pii", `policy: dataset "transactions" holds personal data and namespace "payments-ml" is not in policy.pii.namespaces`}}},
		{"pii dataset in a namespace not listed", func(p *ir.Project) {
			p.Policy.PII = ir.PII{}
			fraud(p).Data["transactions"].PII = true
		}, []want{{pl + "data.transactions.pii", `policy: dataset "transactions" holds personal data and namespace "payments-ml" is not in policy.pii.namespaces`}}},
		{"pii without approver", func(p *ir.Project) {
			p.Policy.PII = ir.PII{Namespaces: []string{"risk", "payments-ml"}}
			p.Pipelines["churn"] = pipeline("churn")
		}, []want{{"project.policy.pii.namespaces.1", `policy: namespace "payments-ml" reads personal data (pipelines churn, fraud), but policy.pii.approver names no approver`}}},
		{"no pii", func(p *ir.Project) {
			p.Policy.PII = ir.PII{}
			fraud(p).Data["transactions"].Columns["card_id"].PII = false
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

// priced sets a price table: gpu USD an H100 hour, cpu USD a CPU hour.
func priced(p *ir.Project, gpu, cpu float64) {
	p.Policy.Prices.GPUHour[h100] = gpu
	p.Policy.Prices.CPUHour = floatp(cpu)
}

// TestSeverity: policy.enforce makes a rule's violations warnings, which do
// not fail the check; other rules and other errors keep failing it.
func TestSeverity(t *testing.T) {
	for _, tc := range []struct {
		name        string
		mutate      func(p *ir.Project)
		errs, warns []want
		wantFailing bool
	}{
		{"digests warning", func(p *ir.Project) {
			p.Policy.RequireDigests = true
			p.Policy.Enforce[check.RuleDigests] = "warning"
			p.PlatformImage += "@sha256:" + strings.Repeat("cd", 32)
			fraud(p).Features["build-features"].Image += "@sha256:" + strings.Repeat("cd", 32)
			fraud(p).Evaluate.Image += "@sha256:" + strings.Repeat("cd", 32)
		}, nil, []want{{pl + "train.image", "is not pinned by digest"}}, false},
		{"digests error", func(p *ir.Project) {
			p.Policy.RequireDigests = true
			p.Policy.Enforce[check.RuleDigests] = "error"
			p.PlatformImage += "@sha256:" + strings.Repeat("cd", 32)
			fraud(p).Features["build-features"].Image += "@sha256:" + strings.Repeat("cd", 32)
			fraud(p).Evaluate.Image += "@sha256:" + strings.Repeat("cd", 32)
		}, []want{{pl + "train.image", "is not pinned by digest"}}, nil, true},
		{"each rule its own severity", func(p *ir.Project) {
			p.Policy.Enforce[check.RuleSpot] = "warning"
			p.Policy.Enforce[check.RuleBudget] = "warning"
			p.Policy.Enforce[check.RulePII] = "warning"
			p.Policy.RequireSpot = true
			p.Policy.MaxGPUsPerRun = intp(1)
			gpus(fraud(p), ir.KindSingle, 1, 2)
			p.Policy.Budget.PerRun = floatp(1)
			p.Policy.PII.Namespaces = nil
		}, []want{
			{pl + "train.compute", "over policy.maxGPUsPerRun 1"},
		}, []want{
			{pl + "train.compute.spot", "policy.requireSpot"},
			{pl + "train.compute.gpuType", "no price for GPU type"},
			{"project.policy.budget", "policy.prices.cpuHour is not set"},
			{pl + "data.transactions.columns.card_id.pii", "is not in policy.pii.namespaces"},
		}, true},
		{"warnings with another error", func(p *ir.Project) {
			p.Policy.Enforce[check.RuleSpot] = "warning"
			p.Policy.RequireSpot = true
			fraud(p).Train.Inputs = []string{"nope"}
		}, []want{{pl + "train.inputs.0", `undeclared input "nope"`}}, []want{{pl + "train.compute.spot", "policy.requireSpot"}}, true},
	} {
		p := project()
		tc.mutate(p)
		got, _ := run(t, p)
		matchSeverity(t, tc.name, got, tc.errs, tc.warns)
		if failing := got.Err() != nil; failing != tc.wantFailing {
			t.Errorf("%s: check.Project(...).Err() != nil is %v, want %v", tc.name, failing, tc.wantFailing)
		}
		if err := got.Err(); err != nil && !strings.Contains("\n"+err.Error(), "\nwarning: ") && len(tc.warns) > 0 && len(tc.errs) > 0 {
			t.Errorf("%s: the error does not list the warnings, marked: %v", tc.name, err)
		}
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
// 25m26s, so the cost of a run was computed on 25 minutes and the cost cap
// (then policy.maxRunCost, now policy.budget.perRun) was bypassed (the
// schema's #Duration accepts the string). The run must be refused:
// maxRuntime too long, or over the budget.
func TestBudgetHugeMaxRuntime(t *testing.T) {
	for _, maxRuntime := range []string{"213504d", "18446744074s"} {
		p := project()
		priced(p, 4, 0)
		p.Policy.Budget.PerRun = floatp(100)
		gpus(fraud(p), ir.KindMPI, 2, 8)
		fraud(p).Train.Compute.MaxRuntime = maxRuntime
		got, _ := run(t, p)
		if got.Err() == nil {
			t.Errorf("check.Project with 16 H100s at 4 USD/h for maxRuntime %q and policy.budget.perRun 100 = %v, want the run refused (maxRuntime too long, or over the budget)", maxRuntime, got)
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

// damagedLocator is a fakeLocator of a project that failed the schema at
// the given paths (as the loader reports them, relative to the project).
type damagedLocator struct {
	fakeLocator
	broken [][]any
}

func (d *damagedLocator) Damaged(path ...any) bool {
	for _, b := range d.broken {
		n := min(len(b), len(path))
		if reflect.DeepEqual(b[:n], path[:n]) {
			return true
		}
	}
	return false
}

func (d *damagedLocator) LostChild(path ...any) bool {
	for _, b := range d.broken {
		n := min(len(b), len(path))
		if len(b) <= len(path)+1 && reflect.DeepEqual(b[:n], path[:n]) {
			return true
		}
	}
	return false
}

func (d *damagedLocator) Lost(path ...any) bool {
	for _, b := range d.broken {
		if len(b) <= len(path) && reflect.DeepEqual(b, path[:len(b)]) {
			return true
		}
	}
	return false
}

// TestProjectDamaged checks that the checks of a damaged project skip the
// values that failed the schema, and what depends on them, and check the
// rest.
func TestProjectDamaged(t *testing.T) {
	p := project()
	pl := fraud(p)
	pl.Schedule.Cron = "61 * * * *"                         // checked: not damaged
	pl.Train.Compute.MaxRuntime = ""                        // damaged: left out
	delete(pl.Data, "transactions")                         // damaged: so inputs are not checked
	p.Policy.AllowSpot, pl.Train.Compute.Spot = false, true // the policy is damaged
	loc := &damagedLocator{broken: [][]any{
		{"pipelines", "fraud", "train", "compute", "maxRuntime"},
		{"pipelines", "fraud", "data", "transactions"},
		{"policy", "allowSpot"},
	}}
	got := check.Project(p, loc)
	matchAll(t, "damaged", got, []want{{"project.pipelines.fraud.schedule.cron", `bad schedule "61 * * * *"`}})
}
