package argo_test

import (
	"encoding/json"
	"reflect"
	"slices"
	"strings"
	"testing"

	wfv1 "github.com/argoproj/argo-workflows/v3/pkg/apis/workflow/v1alpha1"
	"sigs.k8s.io/yaml"

	"cairn.dev/cairn/compiler/ir"
	"cairn.dev/cairn/compiler/lower/argo"
	"cairn.dev/cairn/compiler/lower/kserve"
	"cairn.dev/cairn/compiler/lower/lowertest"
)

// served adds the serve block of examples/fraud to a pipeline.
func served(pl *ir.Pipeline) *ir.Pipeline {
	pl.Data["transactions"].Columns["hour"] = &ir.Column{Type: "int"}
	pl.Serve = &ir.Serve{
		Runtime: "kserve", Replicas: ir.Replicas{Min: 2, Max: 10}, CanaryPercent: 10,
		Resources: ir.Resources{CPU: "2", Memory: "4Gi"},
		Latency:   ir.Latency{P50: "20ms", P95: "50ms", P99: "120ms"}, MaxErrorRate: 0.005,
		Drift: &ir.Drift{Cron: "15 * * * *", Features: []string{"hour", "amount"}, Threshold: 0.2,
			Source: "s3://payments-data/live", Retrain: true},
	}
	return pl
}

func arg(t *testing.T, args []string, flag string) []string {
	t.Helper()
	var out []string
	for i, a := range args {
		if a == flag && i+1 < len(args) {
			out = append(out, args[i+1])
		}
	}
	if out == nil {
		t.Fatalf("no %s in %q", flag, args)
	}
	return out
}

func TestDeployTask(t *testing.T) {
	p, pl := project(), served(pipeline())
	wt := build(t, p, pl)
	var task *wfv1.DAGTask
	for i, tk := range tmpl(t, wt, argo.Entrypoint).DAG.Tasks {
		if tk.Name == argo.TaskDeploy {
			task = &tmpl(t, wt, argo.Entrypoint).DAG.Tasks[i]
		}
	}
	if task == nil || task.Depends != argo.TaskPack {
		t.Fatalf("deploy task = %+v, want one after pack", task)
	}
	if v := task.Arguments.Parameters[0].Value.String(); v != "{{tasks.pack.outputs.parameters.digest}}" {
		t.Errorf("deploy digest argument = %q, want pack's digest output", v)
	}
	c := tmpl(t, wt, argo.TaskDeploy).Container
	if !slices.Equal(c.Command, []string{"cairn", "step", "deploy"}) {
		t.Errorf("deploy command = %q", c.Command)
	}
	if got := arg(t, c.Args, "--require"); !slices.Equal(got, []string{argo.PredicateProvenance, argo.PredicateEvaluation}) {
		t.Errorf("--require = %q, want provenance and evaluation", got)
	}
	if got := arg(t, c.Args, "--public-key")[0]; got != argo.SigningMount+"/cosign.pub" {
		t.Errorf("--public-key = %q", got)
	}
	if len(c.VolumeMounts) != 1 || c.VolumeMounts[0].MountPath != argo.SigningMount {
		t.Errorf("deploy mounts %+v, want the signing secret", c.VolumeMounts)
	}
	// The manifest reaches the step intact after Kubernetes' expansion.
	raw := lowertest.KubeExpand(arg(t, c.Args, "--manifest")[0], nil)
	var isvc kserve.InferenceService
	if err := json.Unmarshal([]byte(raw), &isvc); err != nil {
		t.Fatalf("--manifest %s: %v", raw, err)
	}
	m := isvc.Spec.Predictor
	if *m.Model.StorageURI != kserve.StorageURI(pl.Model.Repository, kserve.DigestPlaceholder) || *m.CanaryTrafficPercent != 10 {
		t.Errorf("deploy manifest predictor = %+v, want the placeholder digest at 10%% canary", m)
	}

	// Without evaluation only the provenance is required.
	pl.Evaluate = nil
	c = tmpl(t, build(t, p, pl), argo.TaskDeploy).Container
	if got := arg(t, c.Args, "--require"); !slices.Equal(got, []string{argo.PredicateProvenance}) {
		t.Errorf("--require without evaluation = %q", got)
	}
	// Without serve there is no deploy task.
	pl.Serve = nil
	for _, tk := range tmpl(t, build(t, p, pl), argo.Entrypoint).DAG.Tasks {
		if tk.Name == argo.TaskDeploy {
			t.Error("a pipeline without serve has a deploy task")
		}
	}
}

func TestDriftCronWorkflow(t *testing.T) {
	p, pl := project(), served(pipeline())
	cw, err := argo.DriftCronWorkflow(p, pl, meta(p, pl))
	if err != nil {
		t.Fatal(err)
	}
	if cw.Name != "fraud-drift" || !slices.Equal(cw.Spec.Schedules, []string{"15 * * * *"}) || cw.Spec.ConcurrencyPolicy != wfv1.ForbidConcurrent {
		t.Errorf("drift CronWorkflow %s, schedules %v, policy %s", cw.Name, cw.Spec.Schedules, cw.Spec.ConcurrencyPolicy)
	}
	if cw.Labels["cairn.dev/pipeline"] != "fraud" || cw.Annotations["cairn.dev/spec-digest"] == "" {
		t.Errorf("drift CronWorkflow metadata = %v %v, want the pipeline's labels and annotations", cw.Labels, cw.Annotations)
	}
	var drift, retrain *wfv1.Template
	for i := range cw.Spec.WorkflowSpec.Templates {
		switch tp := &cw.Spec.WorkflowSpec.Templates[i]; tp.Name {
		case argo.TaskDrift:
			drift = tp
		case argo.TaskRetrain:
			retrain = tp
		}
	}
	if drift == nil || retrain == nil {
		t.Fatal("drift or retrain template missing")
	}
	args := drift.Container.Args
	for flag, want := range map[string]string{
		"--reference": "s3://payments-data/transactions/2026-11", "--current": "s3://payments-data/live",
		"--threshold": "0.2", "--features": "amount,hour",
	} {
		if got := arg(t, args, flag)[0]; got != want {
			t.Errorf("drift %s = %q, want %q", flag, got, want)
		}
	}
	tasks := cw.Spec.WorkflowSpec.Templates[0].DAG.Tasks
	if len(tasks) != 2 || tasks[1].Depends != "drift.Failed" || !strings.Contains(tasks[1].When, "tasks.drift.outputs.parameters.drifted") {
		t.Errorf("drift DAG = %+v, want retrain after a failed drift step that found drift", tasks)
	}
	r := retrain.Resource
	var wf wfv1.Workflow
	if err := yaml.UnmarshalStrict([]byte(r.Manifest), &wf); err != nil {
		t.Fatal(err)
	}
	if r.Action != "create" || wf.Spec.WorkflowTemplateRef == nil || wf.Spec.WorkflowTemplateRef.Name != "fraud" || wf.GenerateName != "fraud-retrain-" || wf.Namespace != p.Namespace {
		t.Errorf("retrain = %s %+v, want a Workflow created from the fraud WorkflowTemplate", r.Action, wf)
	}

	pl.Serve.Drift.Retrain = false
	cw, err = argo.DriftCronWorkflow(p, pl, meta(p, pl))
	if err != nil {
		t.Fatal(err)
	}
	if n := len(cw.Spec.WorkflowSpec.Templates); n != 2 {
		t.Errorf("without retrain: %d templates, want main and drift", n)
	}
	objs, err := argo.Lower(p, pl, "{}", meta(p, pl))
	if err != nil {
		t.Fatal(err)
	}
	var files []string
	for _, o := range objs {
		files = append(files, o.File)
	}
	if !reflect.DeepEqual(files, []string{argo.FileTemplate, argo.FileDriftCron}) {
		t.Errorf("Lower files = %v", files)
	}
}

func TestDriftReference(t *testing.T) {
	pl := served(pipeline())
	pl.Data["aaa"] = &ir.Dataset{Name: "aaa", URI: "s3://a", Columns: map[string]*ir.Column{"amount": {}}}
	if d := argo.DriftReference(pl); d.Name != "transactions" {
		t.Errorf("DriftReference = %s, want the dataset holding every feature", d.Name)
	}
	pl.Serve.Drift.Features = []string{"nowhere"}
	if d := argo.DriftReference(pl); d.Name != "aaa" {
		t.Errorf("DriftReference = %s, want the first dataset", d.Name)
	}
}
