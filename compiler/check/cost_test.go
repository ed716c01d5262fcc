package check_test

import (
	"math"
	"reflect"
	"testing"
	"time"

	"cairn.dev/cairn/compiler/check"
	"cairn.dev/cairn/compiler/diag"
	"cairn.dev/cairn/compiler/ir"
)

// TestRunsPerMonth counts, by hand, the runs of schedules in the 30 days
// from 2026-01-01T00:00:00Z (a Thursday) to 2026-01-31T00:00:00Z, excluded.
func TestRunsPerMonth(t *testing.T) {
	for _, tc := range []struct {
		cron, tz string
		want     int
	}{
		// Mondays 5, 12, 19 and 26 January; 2 February is past the window.
		{"0 3 * * 1", "UTC", 4},
		// 1 to 30 January.
		{"30 2 * * *", "UTC", 30},
		// Midnight 1 January is the reference instant itself, counted;
		// midnight 31 January is the end, not counted.
		{"@daily", "UTC", 30},
		{"0 0 * * *", "", 30},
		// Thursday 1, Friday 2, then four full weeks of five days.
		{"0 12 * * 1-5", "UTC", 22},
		// 1 January 04:00 in New York is 09:00Z; 1 February is past.
		{"0 4 1 * *", "America/New_York", 1},
		// In Paris (UTC+1) the window runs from 1 January 01:00 to 31
		// January 01:00: 1 January at 06:15, 12:15 and 18:15, 2 to 30
		// January four times a day, and 31 January at 00:15 (30 January
		// 23:15Z): 3 + 29 × 4 + 1.
		{"15 */6 * * *", "Europe/Paris", 120},
		// 09:00 in Tokyo is midnight UTC: 1 January at the reference
		// instant, to 30 January; a time zone in the expression wins.
		{"CRON_TZ=Asia/Tokyo 0 9 * * *", "UTC", 30},
		// Every hour, from 00:59:59 (robfig/cron counts from the second
		// before the reference instant): 720 hours in 30 days.
		{"@every 1h", "UTC", 720},
		// 29 February: not in the window; 31 February: never.
		{"0 0 29 2 *", "UTC", 0},
		{"0 0 31 2 *", "UTC", 0},
	} {
		got, err := check.RunsPerMonth(&ir.Schedule{Cron: tc.cron, Timezone: tc.tz})
		if err != nil || got != tc.want {
			t.Errorf("RunsPerMonth(%q in %q) = %d, %v, want %d", tc.cron, tc.tz, got, err, tc.want)
		}
	}
	if got, err := check.RunsPerMonth(nil); got != 0 || err != nil {
		t.Errorf("RunsPerMonth(nil) = %d, %v, want 0", got, err)
	}
	for _, s := range []ir.Schedule{{Cron: "61 * * * *", Timezone: "UTC"}, {Cron: "@daily", Timezone: "Mars/Olympus"}, {Cron: "@daily", Timezone: "Local"}} {
		if _, err := check.RunsPerMonth(&s); err == nil {
			t.Errorf("RunsPerMonth(%+v) succeeded, want an error", s)
		}
	}
	if check.ReferenceTime.Format(time.RFC3339) != "2026-01-01T00:00:00Z" || check.MonthWindow != 720*time.Hour {
		t.Errorf("ReferenceTime = %v, want 2026-01-01T00:00:00Z", check.ReferenceTime)
	}
}

// TestEstimateCost computes, by hand, the estimates of the fixture's fraud
// pipeline (features: 2 CPUs for 2h; evaluation: 1 CPU for 2h; scheduled
// "0 3 * * 1", 4 runs a month) and of variants.
func TestEstimateCost(t *testing.T) {
	near := func(a, b float64) bool { return math.Abs(a-b) <= 1e-9*math.Max(1, math.Abs(b)) }
	for _, tc := range []struct {
		name   string
		mutate func(p *ir.Project, pl *ir.Pipeline)
		want   check.Estimate
	}{
		{"no prices", func(p *ir.Project, pl *ir.Pipeline) {
			gpus(pl, ir.KindMPI, 2, 8) // 16 GPUs × 4h
		}, check.Estimate{GPUHours: 64, MissingGPUPrice: true, MissingCPUPrice: true, RunsPerMonth: 4}},
		{"GPU prices only", func(p *ir.Project, pl *ir.Pipeline) {
			p.Policy.Prices.GPUHour[h100] = 2.5
			gpus(pl, ir.KindMPI, 2, 8)
		}, check.Estimate{GPUHours: 64, MissingCPUPrice: true, RunsPerMonth: 4}},
		{"cpu", func(p *ir.Project, pl *ir.Pipeline) {
			// Training 4 CPUs × 24h × 0.05 = 4.80; steps (2 × 2h + 1 ×
			// 2h) × 0.05 = 0.30.
			p.Policy.Prices.CPUHour = floatp(0.05)
		}, check.Estimate{Priced: true, TrainCost: 4.8, StepsCost: 0.3, CostPerRun: 5.1, RunsPerMonth: 4, CostPerMonth: 20.4}},
		{"milli-CPUs", func(p *ir.Project, pl *ir.Pipeline) {
			p.Policy.Prices.CPUHour = floatp(0.05)
			pl.Train.Compute.CPU = "500m" // 0.5 × 24h × 0.05 = 0.60
			pl.Schedule = nil
		}, check.Estimate{Priced: true, TrainCost: 0.6, StepsCost: 0.3, CostPerRun: 0.9}},
		{"examples/fraud", func(p *ir.Project, pl *ir.Pipeline) {
			// One spot L4 and 8 CPUs for 4h at 60% off:
			// (0.8 + 8 × 0.04) × 4 × 0.4 = 1.792; steps 6 CPU-hours ×
			// 0.04 = 0.24.
			p.Policy.Prices = ir.Prices{GPUHour: map[string]float64{"NVIDIA-L4": 0.8}, CPUHour: floatp(0.04), SpotDiscount: 0.6}
			c := &pl.Train.Compute
			c.GPUsPerNode, c.GPUType, c.CPU, c.Spot, c.MaxRuntime = 1, "NVIDIA-L4", "8", true, "4h"
		}, check.Estimate{GPUHours: 4, Priced: true, TrainCost: 1.792, StepsCost: 0.24, CostPerRun: 2.032, RunsPerMonth: 4, CostPerMonth: 8.128}},
		{"examples/bert-pretrain", func(p *ir.Project, pl *ir.Pipeline) {
			// 2 nodes × (8 × 2.5 + 96 × 0.04) × 72h = 3432.96, no other
			// step, unscheduled.
			p.Policy.Prices = ir.Prices{GPUHour: map[string]float64{h100: 2.5}, CPUHour: floatp(0.04)}
			gpus(pl, ir.KindMPI, 2, 8)
			pl.Train.Compute.CPU, pl.Train.Compute.MaxRuntime = "96", "72h"
			pl.Features, pl.Evaluate, pl.Schedule = nil, nil, nil
		}, check.Estimate{GPUHours: 1152, Priced: true, TrainCost: 3432.96, CostPerRun: 3432.96}},
		{"spot free", func(p *ir.Project, pl *ir.Pipeline) {
			// A discount of 1 makes even an infinite price free.
			p.Policy.Prices = ir.Prices{GPUHour: map[string]float64{h100: 1e300}, CPUHour: floatp(0), SpotDiscount: 1}
			gpus(pl, ir.KindMPI, 512, 16)
			pl.Train.Compute.Spot, pl.Train.Compute.MaxRuntime = true, "10000d"
		}, check.Estimate{GPUHours: 512 * 16 * 240000, Priced: true, RunsPerMonth: 4}},
		{"GPUs without a type", func(p *ir.Project, pl *ir.Pipeline) {
			p.Policy.Prices = ir.Prices{GPUHour: map[string]float64{"": 1}, CPUHour: floatp(0)}
			pl.Train.Compute.GPUsPerNode = 1
		}, check.Estimate{GPUHours: 24, MissingGPUPrice: true, RunsPerMonth: 4}},
	} {
		p := project()
		pl := fraud(p)
		tc.mutate(p, pl)
		got, err := check.EstimateCost(p, pl)
		if err != nil {
			t.Errorf("%s: EstimateCost: %v", tc.name, err)
			continue
		}
		w := tc.want
		if !near(got.GPUHours, w.GPUHours) || got.Priced != w.Priced || got.MissingGPUPrice != w.MissingGPUPrice || got.MissingCPUPrice != w.MissingCPUPrice ||
			!near(got.TrainCost, w.TrainCost) || !near(got.StepsCost, w.StepsCost) || !near(got.CostPerRun, w.CostPerRun) ||
			got.RunsPerMonth != w.RunsPerMonth || !near(got.CostPerMonth, w.CostPerMonth) {
			t.Errorf("%s: EstimateCost = %+v, want %+v", tc.name, got, w)
		}
	}

	p := project()
	fraud(p).Train.Compute.MaxRuntime = "soon"
	if _, err := check.EstimateCost(p, fraud(p)); err == nil {
		t.Error("EstimateCost with maxRuntime \"soon\" succeeded, want an error")
	}
}

func TestFormatAmount(t *testing.T) {
	for _, tc := range []struct {
		in   float64
		want string
	}{{0, "0.00"}, {2.032, "2.03"}, {8.128, "8.13"}, {3432.96, "3432.96"}, {1152, "1152.00"}, {1e7 / 3, "3333333.33"}} {
		if got := check.FormatAmount(tc.in); got != tc.want {
			t.Errorf("FormatAmount(%v) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

// fileLocator places every value of a project in one file.
type fileLocator string

func (f fileLocator) Locate(path ...any) diag.Pos {
	return diag.Pos{File: string(f), Line: 10 + len(path), Col: 3}
}

// TestNamespaces: the GPUs of every pipeline of a namespace, across
// packages, are held to the smallest policy.gpuQuota of its projects, and
// the pipeline that takes them over is reported, where it is written.
func TestNamespaces(t *testing.T) {
	// team builds a project of namespace ns with pipelines of the given
	// GPUs (8 a node), in package dir.
	team := func(name, ns string, quota *int, pipelines map[string]int) *ir.Project {
		p := project()
		p.Name, p.Namespace = name, ns
		p.Policy.GPUQuota = quota
		p.Pipelines = map[string]*ir.Pipeline{}
		for n, g := range pipelines {
			pl := pipeline(n)
			gpus(pl, ir.KindMPI, g/8, 8)
			p.Pipelines[n] = pl
		}
		return p
	}
	placed := func(ps ...*ir.Project) []check.Placed {
		var out []check.Placed
		for _, p := range ps {
			out = append(out, check.Placed{Project: p, Loc: fileLocator(p.Name + "/spec.cue"), Dir: p.Name})
		}
		return out
	}
	for _, tc := range []struct {
		name     string
		projects []check.Placed
		want     diag.List
	}{
		{"under quota", placed(
			team("a", "ml", intp(40), map[string]int{"x": 8}),
			team("b", "ml", nil, map[string]int{"y": 8, "z": 16}),
		), nil},
		{"at quota", placed(
			team("a", "ml", intp(32), map[string]int{"x": 8}),
			team("b", "ml", nil, map[string]int{"y": 8, "z": 16}),
		), nil},
		{"over quota in another package", placed(
			team("a", "ml", intp(16), map[string]int{"x": 8}),
			team("b", "ml", nil, map[string]int{"y": 8, "z": 16}),
		), diag.List{{
			Pos:  diag.Pos{File: "b/spec.cue", Line: 14, Col: 3},
			Path: "project.pipelines.z.train.compute",
			Msg:  `policy: pipeline "z" brings the GPUs requested at once in namespace "ml" to 32 (16 before it), over policy.gpuQuota 16 (set in package a); its pipelines request 32 in all`,
		}}},
		{"the smallest quota", placed(
			team("a", "ml", intp(64), map[string]int{"x": 8}),
			team("b", "ml", intp(8), map[string]int{"y": 8, "z": 16}),
		), diag.List{{
			Pos:  diag.Pos{File: "b/spec.cue", Line: 14, Col: 3},
			Path: "project.pipelines.y.train.compute",
			Msg:  `policy: pipeline "y" brings the GPUs requested at once in namespace "ml" to 16 (8 before it), over policy.gpuQuota 8; its pipelines request 32 in all`,
		}}},
		{"other namespaces do not count", placed(
			team("a", "ml", intp(16), map[string]int{"x": 16}),
			team("b", "research", nil, map[string]int{"y": 64}),
		), nil},
		{"one pipeline over", placed(
			team("a", "ml", intp(8), map[string]int{"x": 16}),
		), diag.List{{
			Pos:  diag.Pos{File: "a/spec.cue", Line: 14, Col: 3},
			Path: "project.pipelines.x.train.compute",
			Msg:  `policy: pipeline "x" brings the GPUs requested at once in namespace "ml" to 16 (0 before it), over policy.gpuQuota 8; its pipelines request 16 in all`,
		}}},
	} {
		got := check.Namespaces(tc.projects)
		if got.Error() != tc.want.Error() || len(got) != len(tc.want) {
			t.Errorf("%s: Namespaces =\n%v\nwant\n%v", tc.name, got, tc.want)
			continue
		}
		for i := range got {
			if !reflect.DeepEqual(got[i], tc.want[i]) {
				t.Errorf("%s: Namespaces[%d] = %+v, want %+v", tc.name, i, got[i], tc.want[i])
			}
		}
	}

	// The severity is that of the project setting the quota.
	a := team("a", "ml", intp(8), map[string]int{"x": 16})
	a.Policy.Enforce[check.RuleGPUQuota] = "warning"
	b := team("b", "ml", nil, nil)
	b.Policy.Enforce[check.RuleGPUQuota] = "error"
	got := check.Namespaces(placed(a, b))
	if len(got) != 1 || got[0].Severity != diag.Warning || got.Err() != nil {
		t.Errorf("Namespaces with rule gpu-quota a warning = %+v, want one warning", got)
	}
}
