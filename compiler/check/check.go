// Package check applies the rules of a spec that CUE cannot state: references
// between steps, metric gates, cron schedules, compute shapes, name limits
// and the project's policy (policy.go), whose rules policy.enforce may make
// warnings. It also estimates what runs use and cost (cost.go). Every
// problem is reported with the position the offending value is written at.
package check

import (
	"fmt"
	"strings"
	"time"
	_ "time/tzdata" // time zones without the host's database

	"github.com/robfig/cron/v3"

	"cairn.dev/cairn/compiler/diag"
	"cairn.dev/cairn/compiler/ir"
	"cairn.dev/cairn/compiler/load"
	"cairn.dev/cairn/schemas"
)

// Locator says where a value of the project, named by its path of field
// names (strings) and list indexes (ints), is written.
type Locator interface {
	Locate(path ...any) diag.Pos
}

// MaxK8sName is the longest Kubernetes label value and DNS label.
const MaxK8sName = 63

// CronSuffixLen is the longest suffix Argo adds to a CronWorkflow's name to
// name a workflow: "-" and a Unix time in seconds.
const CronSuffixLen = 11

// WorkerName returns the longest pod name of an MPIJob worker of the named
// pipeline with the given number of nodes, with the workflow named the
// longest way Argo names it.
func WorkerName(pipeline string, nodes int) string {
	wf := pipeline + "-" + strings.Repeat("9", CronSuffixLen-1)
	return fmt.Sprintf("%s-xxxxx-worker-%d", wf, nodes-1)
}

// Damage is implemented by the Locator of a project that failed schema
// validation, whose decoded form holds only its valid parts; the checks
// skip what it reports, so that each problem is reported once, by the
// schema, and no check runs on a value that is not there.
type Damage interface {
	// Damaged reports whether the project failed validation at the value
	// at path, at a value under it or at one of its ancestors.
	Damaged(path ...any) bool
	// Lost reports whether the value at path or one of its ancestors
	// failed validation, so that the decoded project may lack it.
	Lost(path ...any) bool
	// LostChild reports whether a field of the struct at path, whatever
	// its name, is lost (or the struct itself): a map entry the decoded
	// project may lack.
	LostChild(path ...any) bool
}

// intact is the Damage of a project that passed validation.
type intact struct{}

func (intact) Damaged(...any) bool   { return false }
func (intact) Lost(...any) bool      { return false }
func (intact) LostChild(...any) bool { return false }

type checker struct {
	loc   Locator
	dmg   Damage
	p     *ir.Project
	diags diag.List
}

// damaged reports whether any of the paths is damaged.
func (c *checker) damaged(paths ...[]any) bool {
	for _, p := range paths {
		if c.dmg.Damaged(p...) {
			return true
		}
	}
	return false
}

func (c *checker) errorf(path []any, format string, args ...any) {
	if c.damaged(path) {
		return
	}
	c.diags = append(c.diags, diag.Diagnostic{
		Pos:  c.loc.Locate(path...),
		Path: cuePath(path),
		Msg:  fmt.Sprintf(format, args...),
	})
}

// violation reports a broken policy rule with the severity the project's
// policy.enforce gives the rule.
func (c *checker) violation(rule string, path []any, format string, args ...any) {
	if c.damaged(path, at("policy"), at("namespace")) {
		return
	}
	c.diags = append(c.diags, diag.Diagnostic{
		Pos:      c.loc.Locate(path...),
		Path:     cuePath(path),
		Msg:      fmt.Sprintf(format, args...),
		Severity: RuleSeverity(c.p, rule),
	})
}

func cuePath(path []any) string {
	elems := []string{load.ProjectField}
	for _, e := range path {
		elems = append(elems, fmt.Sprint(e))
	}
	return load.FormatPath(elems)
}

func at(path ...any) []any { return path }

// Project checks a project and returns every problem found, errors and
// warnings (policy rules that policy.enforce makes warnings), or nil. The
// project fails to compile when the list holds an error: use its Err
// method, or Split.
//
// When loc is also a Damage, the project failed schema validation and p
// holds its valid parts: the checks that would read a damaged value are
// skipped.
func Project(p *ir.Project, loc Locator) diag.List {
	dmg, ok := loc.(Damage)
	if !ok {
		dmg = intact{}
	}
	c := &checker{loc: loc, dmg: dmg, p: p}
	c.image(p, at("platformImage"), p.PlatformImage)
	for _, name := range ir.SortedKeys(p.Pipelines) {
		c.pipeline(p, name, p.Pipelines[name])
	}
	c.budgetPrices(p)
	c.piiApprover(p)
	return c.diags.Sorted()
}

// pipeline checks the pipeline declared under name (its name, unless the
// project is damaged there).
func (c *checker) pipeline(p *ir.Project, name string, pl *ir.Pipeline) {
	base := at("pipelines", name)
	sub := func(elems ...any) []any { return append(append([]any{}, base...), elems...) }
	c.steps(p, pl, sub)
	c.cycles(pl, sub)
	c.compute(p, pl, sub)
	c.datasets(p, pl, sub)
	c.schedules(pl, sub)
	c.budget(p, pl, sub)
}

// steps checks the steps' references, images, run times and gates.
func (c *checker) steps(p *ir.Project, pl *ir.Pipeline, sub func(...any) []any) {
	// Names steps can read: datasets and feature outputs, each once.
	declared := map[string]string{}
	for _, name := range ir.SortedKeys(pl.Data) {
		declared[name] = "dataset " + name
	}
	for _, step := range ir.SortedKeys(pl.Features) {
		for i, out := range pl.Features[step].Outputs {
			if prev, dup := declared[out]; dup {
				c.errorf(sub("features", step, "outputs", i), "output %q is already declared by %s", out, prev)
				continue
			}
			declared[out] = "feature step " + step
		}
	}
	sources := pl.Sources()
	sourcesLost := c.sourcesLost(pl, sub)
	refs := func(path []any, inputs []string) {
		for i, in := range inputs {
			if _, ok := sources[in]; !ok && !sourcesLost {
				c.errorf(append(append([]any{}, path...), i), "reference to undeclared input %q: want a dataset or a feature output (%s)", in, strings.Join(ir.SortedKeys(sources), ", "))
			}
		}
	}
	for _, name := range ir.SortedKeys(pl.Data) {
		if in := pl.Data[name].Ingest; in != nil {
			c.image(p, sub("data", name, "ingest", "image"), in.Image)
			c.duration(sub("data", name, "ingest", "maxRuntime"), in.MaxRuntime)
		}
	}
	for _, step := range ir.SortedKeys(pl.Features) {
		f := pl.Features[step]
		refs(sub("features", step, "inputs"), f.Inputs)
		c.image(p, sub("features", step, "image"), f.Image)
		c.duration(sub("features", step, "maxRuntime"), f.MaxRuntime)
		for i, in := range f.Inputs {
			if s, ok := sources[in]; ok && s.Feature == step {
				c.errorf(sub("features", step, "inputs", i), "feature step %q reads its own output %q", step, in)
			}
		}
	}
	refs(sub("train", "inputs"), pl.Train.Inputs)
	c.image(p, sub("train", "image"), pl.Train.Image)
	if e := pl.Evaluate; e != nil {
		refs(sub("evaluate", "inputs"), e.Inputs)
		c.image(p, sub("evaluate", "image"), e.Image)
		c.duration(sub("evaluate", "maxRuntime"), e.MaxRuntime)
		for _, metric := range ir.SortedKeys(e.Gates) {
			c.gate(sub("evaluate", "gates", metric), e.Gates[metric])
		}
	}
}

// gate checks a gate expression; the error says what a gate looks like.
func (c *checker) gate(path []any, expr string) {
	_, err := schemas.ParseGate(expr)
	if err == nil {
		return
	}
	msg := err.Error()
	if !strings.Contains(msg, "OPERATOR") {
		msg += `: want OPERATOR NUMBER such as ">= 0.9", with OPERATOR one of ` + GateOperators
	}
	c.errorf(path, "%s", msg)
}

// GateOperators lists the operators of a gate, as schemas.ParseGate takes
// them.
const GateOperators = ">=, >, <=, <, =="

// datasets checks the datasets' ranges and personal data.
func (c *checker) datasets(p *ir.Project, pl *ir.Pipeline, sub func(...any) []any) {
	for _, name := range ir.SortedKeys(pl.Data) {
		d := pl.Data[name]
		for _, col := range ir.SortedKeys(d.Checks.Ranges) {
			r := d.Checks.Ranges[col]
			path := sub("data", name, "checks", "ranges", col)
			if len(d.Columns) > 0 && !c.damaged(sub("data", name, "columns")) {
				if cd, ok := d.Columns[col]; !ok {
					c.errorf(path, "range on undeclared column %q", col)
				} else if cd.Type != "int" && cd.Type != "float" {
					c.errorf(path, "range on column %q of type %s: ranges apply to int and float columns", col, cd.Type)
				}
			}
			if r.Min != nil && r.Max != nil && *r.Min > *r.Max {
				c.errorf(path, "empty range: min %v is greater than max %v", *r.Min, *r.Max)
			}
		}
		if path := piiPath(d); path != nil && !contains(p.Policy.PII.Namespaces, p.Namespace) {
			c.violation(RulePII, sub(append([]any{"data", name}, path...)...), "policy: dataset %q holds personal data and namespace %q is not in policy.pii.namespaces", name, p.Namespace)
		}
	}
}

// schedules checks the retraining schedule and serving's drift check.
func (c *checker) schedules(pl *ir.Pipeline, sub func(...any) []any) {
	if s := pl.Schedule; s != nil {
		if _, err := cron.ParseStandard(s.Cron); err != nil {
			c.errorf(sub("schedule", "cron"), "bad schedule %q: %v", s.Cron, err)
		}
		if _, err := loadLocation(s.Timezone); err != nil || s.Timezone == "" || s.Timezone == "Local" {
			c.errorf(sub("schedule", "timezone"), "unknown time zone %q: want an IANA name such as \"UTC\" or \"Europe/Paris\"", s.Timezone)
		}
	}
	s := pl.Serve
	if s == nil {
		return
	}
	if s.ModelFormat == "" && (pl.Model.Format == "custom" || pl.Model.Format == "gguf") && !c.damaged(sub("model", "format")) {
		c.errorf(sub("serve"), "model format %q has no KServe model format: set serve.modelFormat to a format your ServingRuntime declares", pl.Model.Format)
	}
	if s.Drift == nil {
		return
	}
	if _, err := cron.ParseStandard(s.Drift.Cron); err != nil {
		c.errorf(sub("serve", "drift", "cron"), "bad schedule %q: %v", s.Drift.Cron, err)
	}
	for i, f := range s.Drift.Features {
		found := false
		for _, d := range pl.Data {
			if d.Columns[f] != nil {
				found = true
			}
		}
		if !found && !c.columnsLost(pl, sub) {
			c.errorf(sub("serve", "drift", "features", i), "drift feature %q is not a column of any dataset of the pipeline", f)
		}
	}
}

func (c *checker) compute(p *ir.Project, pl *ir.Pipeline, sub func(...any) []any) {
	cp := pl.Train.Compute
	path := sub("train", "compute")
	c.duration(sub("train", "compute", "maxRuntime"), cp.MaxRuntime)
	if cp.Kind == ir.KindMPI {
		if cp.GPUsPerNode < 1 {
			c.errorf(sub("train", "compute", "gpusPerNode"), "compute.kind \"mpi\" needs gpusPerNode >= 1: MPI ranks are one per GPU")
		}
		if n := WorkerName(pl.Name, cp.Nodes); len(n) > MaxK8sName {
			c.errorf(sub(), "pipeline name %q is too long for an MPI job of %d nodes: worker pod names such as %q would be %d characters, over Kubernetes' %d; shorten it by %d", pl.Name, cp.Nodes, n, len(n), MaxK8sName, len(n)-MaxK8sName)
		}
	}
	if cp.GPUType != "" && cp.GPUsPerNode == 0 && !c.damaged(sub("train", "compute", "gpusPerNode")) {
		c.errorf(sub("train", "compute", "gpuType"), "gpuType %q is set but gpusPerNode is 0", cp.GPUType)
	}
	if cp.Spot && !p.Policy.AllowSpot {
		c.violation(RuleSpot, sub("train", "compute", "spot"), "policy: spot compute is not allowed in this project (policy.allowSpot is false)")
	}
	if p.Policy.RequireSpot && !cp.Spot && !pl.Train.Critical && !c.damaged(sub("train", "critical")) {
		c.violation(RuleSpot, sub("train", "compute", "spot"), "policy: training must run on spot nodes (policy.requireSpot): set compute.spot, or mark the training critical (train.critical)")
	}
	if m := p.Policy.MaxGPUsPerRun; m != nil && cp.GPUs() > *m {
		c.violation(RuleGPUQuota, path, "policy: training uses %d GPUs (%d nodes × %d), over policy.maxGPUsPerRun %d", cp.GPUs(), cp.Nodes, cp.GPUsPerNode, *m)
	}
}

func (c *checker) image(p *ir.Project, path []any, image string) {
	if !p.Policy.RequireDigests || strings.Contains(image, "@sha256:") {
		return
	}
	how := fmt.Sprintf("pin it as %q; `crane digest %s` prints it", image+"@sha256:<hex>", image)
	if len(path) == 1 && path[0] == "platformImage" {
		how = fmt.Sprintf("set project.platformImage to %q; `crane digest %s` prints it", image+"@sha256:<hex>", image)
		c.violation(RuleDigests, path, "policy: platformImage %q is not pinned by digest (policy.requireDigests): %s", image, how)
		return
	}
	c.violation(RuleDigests, path, "policy: image %q is not pinned by digest (policy.requireDigests): %s", image, how)
}

func (c *checker) duration(path []any, s string) (time.Duration, bool) {
	d, err := ir.ParseDuration(s)
	if err != nil {
		c.errorf(path, "%v", err)
		return 0, false
	}
	return d, true
}

// sourcesLost reports whether the names a pipeline's steps may read are
// incomplete in a damaged project: a dataset, or a feature step's outputs,
// left out of it.
func (c *checker) sourcesLost(pl *ir.Pipeline, sub func(...any) []any) bool {
	if c.dmg.LostChild(sub("data")...) || c.dmg.LostChild(sub("features")...) {
		return true
	}
	for step := range pl.Features {
		if c.dmg.Lost(sub("features", step, "outputs")...) {
			return true
		}
	}
	return false
}

// columnsLost reports whether the columns of a pipeline's datasets are
// incomplete in a damaged project.
func (c *checker) columnsLost(pl *ir.Pipeline, sub func(...any) []any) bool {
	if c.dmg.LostChild(sub("data")...) {
		return true
	}
	for name := range pl.Data {
		if c.dmg.Lost(sub("data", name, "columns")...) {
			return true
		}
	}
	return false
}

// cycles reports feature steps that depend on themselves.
func (c *checker) cycles(pl *ir.Pipeline, sub func(...any) []any) {
	sources := pl.Sources()
	const (
		unvisited = iota
		active
		done
	)
	state := map[string]int{}
	var stack []string
	var visit func(step string) bool
	visit = func(step string) bool {
		switch state[step] {
		case active:
			i := indexOf(stack, step)
			cycle := append(append([]string{}, stack[i:]...), step)
			c.errorf(sub("features", step, "inputs"), "feature steps form a cycle: %s", strings.Join(cycle, " → "))
			return false
		case done:
			return true
		}
		state[step] = active
		stack = append(stack, step)
		for _, in := range pl.Features[step].Inputs {
			if s, ok := sources[in]; ok && s.Feature != "" && s.Feature != step {
				if !visit(s.Feature) {
					state[step] = done
					stack = stack[:len(stack)-1]
					return false
				}
			}
		}
		stack = stack[:len(stack)-1]
		state[step] = done
		return true
	}
	for _, step := range ir.SortedKeys(pl.Features) {
		if state[step] == unvisited {
			visit(step)
		}
	}
}

func indexOf(s []string, x string) int {
	for i, v := range s {
		if v == x {
			return i
		}
	}
	return -1
}

func contains(s []string, x string) bool { return indexOf(s, x) >= 0 }
