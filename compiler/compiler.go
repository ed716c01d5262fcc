// Package compiler turns a repository of CUE specs into Kubernetes
// manifests: it loads the specs with the embedded schemas, checks them,
// decodes them into the typed IR, lowers each pipeline to Argo Workflows
// and MPIJob objects, and renders deterministic YAML.
package compiler

import (
	"cmp"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"maps"
	"path"
	"slices"

	wfv1 "github.com/argoproj/argo-workflows/v3/pkg/apis/workflow/v1alpha1"

	"cairn.dev/cairn/compiler/check"
	"cairn.dev/cairn/compiler/diag"
	"cairn.dev/cairn/compiler/emit"
	"cairn.dev/cairn/compiler/internal/par"
	"cairn.dev/cairn/compiler/ir"
	"cairn.dev/cairn/compiler/load"
	"cairn.dev/cairn/compiler/lower"
	"cairn.dev/cairn/compiler/lower/argo"
	"cairn.dev/cairn/compiler/lower/kserve"
	"cairn.dev/cairn/compiler/lower/monitoring"
	"cairn.dev/cairn/compiler/lower/rbac"
)

// Version is the compiler's version, recorded on every object it emits.
const Version = "v0.1.0"

// Options says what to compile.
type Options struct {
	// Dir is the user's CUE module, or a folder in it.
	Dir string
	// Files, when not nil, holds the module's files by slash path instead
	// of the disk (a git tree); Dir is then where they appear to be.
	Files map[string][]byte
	// GitCommit, when set, is recorded on every object.
	GitCommit string
	// Dirty marks output compiled from uncommitted changes.
	Dirty bool
	// PosBase prefixes the file names in error positions (see
	// load.Config).
	PosBase string
}

// Pipeline is one compiled pipeline.
type Pipeline struct {
	Namespace  string
	Name       string
	SpecDigest string   // sha256:<hex> of the evaluated spec
	Files      []string // its files in Result.Files

	// Estimates (see check.EstimateCost): upper bounds, every step at its
	// maxRuntime, in GPU-hours and USD.
	GPUHoursPerRun float64 // nodes × gpusPerNode × training hours
	Priced         bool    // the price table prices the run; the costs are 0 otherwise
	CostPerRun     float64
	RunsPerMonth   int     // runs the schedule starts in 30 days; 0 unscheduled
	CostPerMonth   float64 // CostPerRun × RunsPerMonth
}

// Result is a compiled repository.
type Result struct {
	// Files maps slash paths, "<namespace>/<pipeline>/<file>" and the
	// kustomization.yaml files, to contents.
	Files map[string][]byte
	// Pipelines in namespace and name order.
	Pipelines []Pipeline
	// Warnings are the broken policy rules that policy.enforce makes
	// warnings, sorted by position; they do not fail the compile.
	Warnings diag.List

	owners map[string]*load.Instance // "<namespace>/<pipeline>" -> its package
}

// Locate returns where a compiled pipeline, or a value under it named by
// its path of field names and list indexes, is written in the specs.
func (r *Result) Locate(namespace, pipeline string, path ...any) diag.Pos {
	in := r.owners[namespace+"/"+pipeline]
	if in == nil {
		return diag.Pos{}
	}
	return in.Locate(append([]any{"pipelines", pipeline}, path...)...)
}

// Compile compiles every project under opts.Dir. A spec error is returned
// as a diag.List naming every problem with its position, warnings found
// along the way included (marked diag.Warning; List.Split separates them).
// Without errors, the warnings are in Result.Warnings.
func Compile(opts Options) (*Result, error) {
	insts, err := load.Load(load.Config{Dir: opts.Dir, Files: opts.Files, PosBase: opts.PosBase})
	var diags diag.List
	if err != nil {
		// Schema errors: check what could be evaluated too, so that
		// every problem is reported at once.
		var l diag.List
		if !errors.As(err, &l) || len(insts) == 0 {
			return nil, err
		}
		diags = l
	}
	res := &Result{Files: map[string][]byte{}, owners: map[string]*load.Instance{}}
	projects := checkAll(insts, res.owners, &diags)
	if err := diags.Err(); err != nil {
		return nil, err
	}
	res.Warnings = diags.Sorted()
	type job struct {
		p  *ir.Project
		pl *ir.Pipeline
	}
	var jobs []job
	for _, p := range projects {
		for _, name := range ir.SortedKeys(p.Pipelines) {
			jobs = append(jobs, job{p, p.Pipelines[name]})
		}
	}
	// Pipelines lower independently: spread them over the CPUs, each
	// writing its own slot, then merge in order.
	type result struct {
		pr    Pipeline
		files map[string][]byte
		err   error
	}
	results := make([]result, len(jobs))
	par.Each(len(jobs), par.None, func(_ struct{}, i int) {
		files := map[string][]byte{}
		pr, err := compilePipeline(jobs[i].p, jobs[i].pl, opts, files)
		results[i] = result{pr, files, err}
	})
	for _, r := range results {
		if r.err != nil {
			return nil, r.err
		}
		res.Pipelines = append(res.Pipelines, r.pr)
		for name, data := range r.files {
			res.Files[name] = data
		}
	}
	slices.SortFunc(res.Pipelines, func(a, b Pipeline) int {
		return cmp.Or(cmp.Compare(a.Namespace, b.Namespace), cmp.Compare(a.Name, b.Name))
	})
	emit.AddKustomizations(res.Files)
	return res, nil
}

// checkAll decodes and checks every project, damaged ones included, adding
// the problems to diags, and returns those that may be compiled: neither
// damaged nor failing a check. owners gets the package of each of their
// pipelines, by "<namespace>/<pipeline>".
func checkAll(insts []*load.Instance, owners map[string]*load.Instance, diags *diag.List) []*ir.Project {
	var projects []*ir.Project
	var placed []check.Placed // every intact project, for the namespace rules
	for _, in := range insts {
		var p ir.Project
		if err := in.Decode(&p); err != nil {
			// The schema bounds every value the IR holds; this is a
			// value that escaped them.
			if !in.Damaged() {
				diags.Add(in.Locate(), load.ProjectField, "value out of range for the compiler: %v", err)
			}
			continue
		}
		found := check.Project(&p, in)
		*diags = append(*diags, found...)
		if in.Damaged() {
			continue // checked, never compiled; its quota sums would be wrong
		}
		placed = append(placed, check.Placed{Project: &p, Loc: in, Dir: in.Dir})
		if found.HasErrors() {
			continue
		}
		for _, name := range ir.SortedKeys(p.Pipelines) {
			key := p.Namespace + "/" + name
			if prev, dup := owners[key]; dup {
				diags.Add(in.Locate("pipelines", name), load.FormatPath([]string{load.ProjectField, "pipelines", name}),
					"pipeline %s is also declared in package %s (%s)", key, prev.Dir, prev.Locate("pipelines", name))
				continue
			}
			owners[key] = in
		}
		projects = append(projects, &p)
	}
	// Rules over the projects sharing a namespace, across packages.
	*diags = append(*diags, check.Namespaces(placed)...)
	return projects
}

// SpecJSON returns the canonical JSON of a pipeline's evaluated spec: the
// project's settings and the pipeline. Its digest is the spec digest.
func SpecJSON(p *ir.Project, pl *ir.Pipeline) string {
	settings := *p
	settings.Pipelines = nil
	return lower.CanonicalJSON(struct {
		Project  ir.Project   `json:"project"`
		Pipeline *ir.Pipeline `json:"pipeline"`
	}{settings, pl})
}

// Digest returns "sha256:<hex>" of s.
func Digest(s string) string {
	sum := sha256.Sum256([]byte(s))
	return "sha256:" + hex.EncodeToString(sum[:])
}

func compilePipeline(p *ir.Project, pl *ir.Pipeline, opts Options, files map[string][]byte) (Pipeline, error) {
	spec := SpecJSON(p, pl)
	digest := Digest(spec)
	meta := lower.Meta{
		Annotations: map[string]string{
			lower.AnnotCompiler:   Version,
			lower.AnnotSpecDigest: digest,
		},
		Labels: map[string]string{},
	}
	if opts.GitCommit != "" {
		meta.Annotations[lower.AnnotGitCommit] = opts.GitCommit
		if opts.Dirty {
			meta.Annotations[lower.AnnotGitDirty] = "true"
		}
	}
	for k, v := range p.Labels {
		meta.Labels[k] = v
	}
	for k, v := range pl.Labels {
		meta.Labels[k] = v
	}
	meta.Labels[lower.LabelManagedBy] = lower.ManagedByValue
	meta.Labels[lower.LabelPartOf] = p.Name
	meta.Labels[lower.LabelProject] = p.Name
	meta.Labels[lower.LabelPipeline] = pl.Name

	est, err := check.EstimateCost(p, pl)
	if err != nil {
		return Pipeline{}, fmt.Errorf("estimating the cost of pipeline %q: %w", pl.Name, err)
	}
	objs, err := argo.Lower(p, pl, spec, meta)
	if err != nil {
		return Pipeline{}, err
	}
	served, err := serving(p, pl, meta)
	if err != nil {
		return Pipeline{}, err
	}
	objs = append(objs, served...)
	objs = append(objs, rbac.Build(p, pl, meta)...)
	// Estimates and the PII approval annotate the WorkflowTemplate alone.
	template := map[string]string{lower.AnnotGPUHoursPerRun: check.FormatAmount(est.GPUHours)}
	if est.Priced {
		template[lower.AnnotCostPerRun] = check.FormatAmount(est.CostPerRun)
		template[lower.AnnotCostPerMonth] = check.FormatAmount(est.CostPerMonth)
	}
	if approver := check.PIIApprover(p, pl); approver != "" {
		template[lower.AnnotPIIApprover] = approver
	}
	for _, o := range objs {
		if wt, ok := o.Value.(*wfv1.WorkflowTemplate); ok {
			if wt.Annotations == nil {
				wt.Annotations = map[string]string{}
			}
			maps.Copy(wt.Annotations, template)
		}
	}
	out := Pipeline{
		Namespace: p.Namespace, Name: pl.Name, SpecDigest: digest,
		GPUHoursPerRun: est.GPUHours, Priced: est.Priced,
		CostPerRun: est.CostPerRun, RunsPerMonth: est.RunsPerMonth, CostPerMonth: est.CostPerMonth,
	}
	for _, o := range objs {
		data, err := emit.YAML(o.Value)
		if err != nil {
			return Pipeline{}, fmt.Errorf("rendering %s of pipeline %q: %w", o.File, pl.Name, err)
		}
		name := path.Join(p.Namespace, pl.Name, o.File)
		files[name] = data
		out.Files = append(out.Files, name)
	}
	return out, nil
}

// serving returns a served pipeline's objects besides the Argo ones: the
// InferenceService when the spec pins the served digest (for GitOps
// promotion; otherwise the deploy task applies it) and the PrometheusRule.
func serving(p *ir.Project, pl *ir.Pipeline, meta lower.Meta) ([]lower.Object, error) {
	s := pl.Serve
	if s == nil {
		return nil, nil
	}
	var objs []lower.Object
	if s.Digest != "" {
		isvc, err := kserve.Build(p, pl, meta, s.Digest, false)
		if err != nil {
			return nil, fmt.Errorf("lowering pipeline %q to an InferenceService: %w", pl.Name, err)
		}
		objs = append(objs, lower.Object{File: kserve.File, Value: isvc})
	}
	rule, err := monitoring.Build(p, pl, meta)
	if err != nil {
		return nil, fmt.Errorf("lowering pipeline %q to a PrometheusRule: %w", pl.Name, err)
	}
	objs = append(objs, lower.Object{File: monitoring.File, Value: rule})
	return objs, nil
}
