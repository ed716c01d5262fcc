package check

import (
	"fmt"
	"math"
	"strings"

	"cairn.dev/cairn/compiler/diag"
	"cairn.dev/cairn/compiler/ir"
)

// Policy rules, the keys of policy.enforce.
const (
	RuleGPUQuota = "gpu-quota" // policy.maxGPUsPerRun, policy.gpuQuota
	RuleBudget   = "budget"    // policy.budget and the prices it needs
	RuleDigests  = "digests"   // policy.requireDigests
	RuleSpot     = "spot"      // policy.allowSpot, policy.requireSpot
	RulePII      = "pii"       // policy.pii
)

// Rules lists the policy rules.
var Rules = []string{RuleGPUQuota, RuleBudget, RuleDigests, RuleSpot, RulePII}

// RuleSeverity returns the severity the project's policy.enforce gives a
// rule: diag.Warning for "warning", diag.Error otherwise (the default).
func RuleSeverity(p *ir.Project, rule string) diag.Severity {
	if p.Policy.Enforce[rule] == ir.SeverityWarning {
		return diag.Warning
	}
	return diag.Error
}

// overBudget reports whether cost is over limit, allowing for the rounding
// of floating point (a cost equal to its limit on paper is within it).
func overBudget(cost, limit float64) bool {
	return cost > limit+1e-9*math.Max(1, math.Abs(limit))
}

// budget checks a pipeline's estimated cost against policy.budget. The
// missing cpuHour price is reported once per project by budgetPrices.
func (c *checker) budget(p *ir.Project, pl *ir.Pipeline, sub func(...any) []any) {
	b := p.Policy.Budget
	if b.PerRun == nil && b.PerMonth == nil || c.damaged(sub()) {
		return
	}
	e, err := EstimateCost(p, pl)
	if err != nil {
		return // the value at fault is reported on its own
	}
	cp := pl.Train.Compute
	if e.MissingGPUPrice {
		if cp.GPUType == "" {
			c.violation(RuleBudget, sub("train", "compute", "gpusPerNode"), "policy: training uses %d GPUs of no compute.gpuType, so policy.prices.gpuHour cannot price them for policy.budget", cp.GPUs())
		} else {
			c.violation(RuleBudget, sub("train", "compute", "gpuType"), "policy: no price for GPU type %q in policy.prices.gpuHour, needed to check policy.budget", cp.GPUType)
		}
	}
	if !e.Priced {
		return
	}
	if b.PerRun != nil && overBudget(e.CostPerRun, *b.PerRun) {
		c.violation(RuleBudget, sub(), "policy: a run may cost %s USD (every step at its maxRuntime: training %s, other steps %s), over policy.budget.perRun %g",
			FormatAmount(e.CostPerRun), FormatAmount(e.TrainCost), FormatAmount(e.StepsCost), *b.PerRun)
	}
	if b.PerMonth != nil && overBudget(e.CostPerMonth, *b.PerMonth) {
		c.violation(RuleBudget, sub("schedule", "cron"), "policy: the schedule starts %d runs in 30 days at up to %s USD each, %s USD, over policy.budget.perMonth %g",
			e.RunsPerMonth, FormatAmount(e.CostPerRun), FormatAmount(e.CostPerMonth), *b.PerMonth)
	}
}

// budgetPrices reports, once per project, a budget that cannot be checked
// because the price table has no CPU price.
func (c *checker) budgetPrices(p *ir.Project) {
	b := p.Policy.Budget
	if (b.PerRun == nil && b.PerMonth == nil) || p.Policy.Prices.CPUHour != nil || len(p.Pipelines) == 0 {
		return
	}
	c.violation(RuleBudget, at("policy", "budget"), "policy: policy.prices.cpuHour is not set, needed to check policy.budget (every step uses CPUs)")
}

// piiPath returns the path, within the dataset, of the mark that makes it
// hold personal data: pii, or the pii of its first marked column; nil when
// it holds none.
func piiPath(d *ir.Dataset) []any {
	if d.PII {
		return at("pii")
	}
	for _, col := range ir.SortedKeys(d.Columns) {
		if d.Columns[col].PII {
			return at("columns", col, "pii")
		}
	}
	return nil
}

// readsPII reports whether a pipeline reads a dataset holding personal
// data.
func readsPII(pl *ir.Pipeline) bool {
	for _, d := range pl.Data {
		if d.HoldsPII() {
			return true
		}
	}
	return false
}

// piiApprover reports, once per project, pipelines reading personal data in
// an approved namespace when no approver is named.
func (c *checker) piiApprover(p *ir.Project) {
	i := indexOf(p.Policy.PII.Namespaces, p.Namespace)
	if i < 0 || p.Policy.PII.Approver != "" {
		return
	}
	var readers []string
	for _, name := range ir.SortedKeys(p.Pipelines) {
		if readsPII(p.Pipelines[name]) {
			readers = append(readers, name)
		}
	}
	if len(readers) == 0 {
		return
	}
	c.violation(RulePII, at("policy", "pii", "namespaces", i), "policy: namespace %q reads personal data (pipelines %s), but policy.pii.approver names no approver", p.Namespace, strings.Join(readers, ", "))
}

// PIIApprover returns the approver to record on a pipeline's
// WorkflowTemplate: policy.pii.approver when the pipeline reads personal
// data in a namespace policy.pii.namespaces lists, "" otherwise.
func PIIApprover(p *ir.Project, pl *ir.Pipeline) string {
	if !readsPII(pl) || !contains(p.Policy.PII.Namespaces, p.Namespace) {
		return ""
	}
	return p.Policy.PII.Approver
}

// Placed is a checked project with the package it comes from.
type Placed struct {
	Project *ir.Project
	Loc     Locator
	Dir     string // the package folder, for messages
}

// Namespaces checks the rules that span every project of a namespace, in
// whatever package it is declared: policy.gpuQuota. The GPUs of the
// namespace's pipelines are added up in the order of projects given (the
// compiler gives packages in folder order), pipelines in name order, and
// the pipeline that takes the sum over the smallest quota any of the
// namespace's projects sets is reported, with the severity that project's
// policy gives rule "gpu-quota".
func Namespaces(projects []Placed) diag.List {
	var order []string
	byNS := map[string][]Placed{}
	for _, pp := range projects {
		ns := pp.Project.Namespace
		if _, ok := byNS[ns]; !ok {
			order = append(order, ns)
		}
		byNS[ns] = append(byNS[ns], pp)
	}
	var diags diag.List
	for _, ns := range order {
		members := byNS[ns]
		var quota *Placed
		for i := range members {
			q := members[i].Project.Policy.GPUQuota
			if q != nil && (quota == nil || *q < *quota.Project.Policy.GPUQuota) {
				quota = &members[i]
			}
		}
		if quota == nil {
			continue
		}
		limit := *quota.Project.Policy.GPUQuota
		total := 0
		for _, m := range members {
			for _, name := range ir.SortedKeys(m.Project.Pipelines) {
				total += m.Project.Pipelines[name].Train.Compute.GPUs()
			}
		}
		sum := 0
	members:
		for _, m := range members {
			for _, name := range ir.SortedKeys(m.Project.Pipelines) {
				gpus := m.Project.Pipelines[name].Train.Compute.GPUs()
				if sum+gpus <= limit {
					sum += gpus
					continue
				}
				path := at("pipelines", name, "train", "compute")
				from := ""
				if quota.Dir != m.Dir {
					from = fmt.Sprintf(" (set in package %s)", quota.Dir)
				}
				diags = append(diags, diag.Diagnostic{
					Pos:      m.Loc.Locate(path...),
					Path:     cuePath(path),
					Msg:      fmt.Sprintf("policy: pipeline %q brings the GPUs requested at once in namespace %q to %d (%d before it), over policy.gpuQuota %d%s; its pipelines request %d in all", name, ns, sum+gpus, sum, limit, from, total),
					Severity: RuleSeverity(quota.Project, RuleGPUQuota),
				})
				break members
			}
		}
	}
	return diags.Sorted()
}

// FormatAmount formats GPU-hours and USD amounts as the annotations and
// messages write them: fixed, two decimals.
func FormatAmount(x float64) string {
	return fmt.Sprintf("%.2f", x)
}
