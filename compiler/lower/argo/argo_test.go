package argo_test

import (
	"encoding/json"
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	wfv1 "github.com/argoproj/argo-workflows/v3/pkg/apis/workflow/v1alpha1"
	argotemplate "github.com/argoproj/argo-workflows/v3/util/template"
	kubeflow "github.com/kubeflow/mpi-operator/pkg/apis/kubeflow/v2beta1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
	"sigs.k8s.io/yaml"

	"cairn.dev/cairn/compiler/ir"
	"cairn.dev/cairn/compiler/ir/irtest"
	"cairn.dev/cairn/compiler/lower"
	"cairn.dev/cairn/compiler/lower/argo"
	"cairn.dev/cairn/compiler/lower/lowertest"
)

const (
	gpuLabel = irtest.GPULabel
	gpuTaint = irtest.GPUTaint
	spotKey  = irtest.SpotKey
	h100     = irtest.H100
)

func project() *ir.Project { return irtest.Project() }

// pipeline returns the fraud pipeline of examples/fraud as a compile fills
// it, training on one CPU pod.
func pipeline() *ir.Pipeline {
	pl := irtest.Pipeline("fraud")
	pl.Data["transactions"].Snapshot = "2026-11-23"
	pl.Features["build-features"].Command = []string{"python", "-m", "features.build", "--in", "$(CAIRN_INPUT_TRANSACTIONS)"}
	pl.Train.Command = []string{"python", "-m", "fraud.train", "--model-dir", "$(CAIRN_MODEL)"}
	pl.Train.Hyperparameters = map[string]json.RawMessage{"max_depth": json.RawMessage("8")}
	return pl
}

// mpi makes the pipeline train as an MPIJob of nodes × gpus H100s.
func mpi(pl *ir.Pipeline, nodes, gpus int) {
	pl.Train.Compute = ir.Compute{
		Kind:        ir.KindMPI,
		Nodes:       nodes,
		GPUsPerNode: gpus,
		GPUType:     h100,
		CPU:         "32",
		Memory:      "256Gi",
		MaxRuntime:  "1d12h",
		Retries:     2,
	}
}

func meta(p *ir.Project, pl *ir.Pipeline) lower.Meta {
	return lower.Meta{
		Annotations: map[string]string{lower.AnnotCompiler: "v0.1.0", lower.AnnotSpecDigest: "sha256:0000"},
		Labels: map[string]string{
			lower.LabelManagedBy: lower.ManagedByValue,
			lower.LabelProject:   p.Name,
			lower.LabelPipeline:  pl.Name,
		},
	}
}

func build(t *testing.T, p *ir.Project, pl *ir.Pipeline) *wfv1.WorkflowTemplate {
	t.Helper()
	wt, err := argo.WorkflowTemplate(p, pl, `{"spec":true}`, meta(p, pl))
	if err != nil {
		t.Fatalf("WorkflowTemplate(...) error: %v", err)
	}
	return wt
}

func tmpl(t *testing.T, wt *wfv1.WorkflowTemplate, name string) *wfv1.Template {
	t.Helper()
	for i := range wt.Spec.Templates {
		if wt.Spec.Templates[i].Name == name {
			return &wt.Spec.Templates[i]
		}
	}
	t.Fatalf("no template %q in the WorkflowTemplate", name)
	return nil
}

func TestTrainGPU(t *testing.T) {
	gpuTol := []corev1.Toleration{{Key: gpuTaint, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoSchedule}}
	for _, tc := range []struct {
		name    string
		gpus    int
		gpuType string
		wantGPU string // nvidia.com/gpu limit, "" for none
		wantSel map[string]string
		wantTol []corev1.Toleration
	}{
		{"cpu", 0, "", "", nil, nil},
		{"two gpus with type", 2, h100, "2", map[string]string{gpuLabel: h100}, gpuTol},
		{"one gpu without type", 1, "", "1", nil, gpuTol},
		{"eight gpus", 8, "NVIDIA-L4", "8", map[string]string{gpuLabel: "NVIDIA-L4"}, gpuTol},
	} {
		p, pl := project(), pipeline()
		pl.Train.Compute.GPUsPerNode = tc.gpus
		pl.Train.Compute.GPUType = tc.gpuType
		tr := tmpl(t, build(t, p, pl), argo.TaskTrain)
		if tr.Container == nil {
			t.Fatalf("%s: train template has no container", tc.name)
		}
		q, ok := tr.Container.Resources.Limits[lower.ResourceGPU]
		if got := q.String(); tc.wantGPU == "" && ok || tc.wantGPU != "" && got != tc.wantGPU {
			t.Errorf("%s: train limits[nvidia.com/gpu] = %s (set %v), want %q", tc.name, got, ok, tc.wantGPU)
		}
		if !reflect.DeepEqual(tr.NodeSelector, tc.wantSel) {
			t.Errorf("%s: train nodeSelector = %v, want %v", tc.name, tr.NodeSelector, tc.wantSel)
		}
		if !reflect.DeepEqual(tr.Tolerations, tc.wantTol) {
			t.Errorf("%s: train tolerations = %v, want %v", tc.name, tr.Tolerations, tc.wantTol)
		}
	}
}

// TestNoGPUOutsideTraining: only training gets GPUs, a GPU node selector or
// the GPU toleration.
func TestNoGPUOutsideTraining(t *testing.T) {
	p, pl := project(), pipeline()
	pl.Train.Compute.GPUsPerNode = 2
	pl.Train.Compute.GPUType = h100
	pl.Train.Compute.Spot = true
	wt := build(t, p, pl)
	for _, tm := range wt.Spec.Templates {
		if tm.Name == argo.TaskTrain || tm.Container == nil {
			continue
		}
		if _, ok := tm.Container.Resources.Limits[lower.ResourceGPU]; ok {
			t.Errorf("template %s: limits have nvidia.com/gpu, want none", tm.Name)
		}
		if tm.NodeSelector != nil || tm.Tolerations != nil {
			t.Errorf("template %s: nodeSelector %v, tolerations %v, want none", tm.Name, tm.NodeSelector, tm.Tolerations)
		}
	}
}

func TestTrainSpot(t *testing.T) {
	three := "3"
	for _, tc := range []struct {
		name       string
		spot       bool
		gpus       int
		retries    int
		wantSel    map[string]string
		wantPolicy wfv1.RetryPolicy // "" for no retryStrategy
		wantExpr   string
	}{
		{"spot cpu", true, 0, 3, map[string]string{spotKey: "spot"}, wfv1.RetryPolicyAlways, argo.SpotRetryExpression},
		{"spot gpu", true, 2, 3, map[string]string{spotKey: "spot", gpuLabel: h100}, wfv1.RetryPolicyAlways, argo.SpotRetryExpression},
		{"on demand", false, 0, 3, nil, wfv1.RetryPolicyOnError, ""},
		{"on demand gpu", false, 2, 3, map[string]string{gpuLabel: h100}, wfv1.RetryPolicyOnError, ""},
		{"spot without retries", true, 0, 0, map[string]string{spotKey: "spot"}, "", ""},
		{"on demand without retries", false, 0, 0, nil, "", ""},
	} {
		p, pl := project(), pipeline()
		c := &pl.Train.Compute
		c.Spot, c.Retries, c.GPUsPerNode = tc.spot, tc.retries, tc.gpus
		if tc.gpus > 0 {
			c.GPUType = h100
		}
		tr := tmpl(t, build(t, p, pl), argo.TaskTrain)
		if !reflect.DeepEqual(tr.NodeSelector, tc.wantSel) {
			t.Errorf("%s: train nodeSelector = %v, want %v", tc.name, tr.NodeSelector, tc.wantSel)
		}
		rs := tr.RetryStrategy
		if tc.wantPolicy == "" {
			if rs != nil {
				t.Errorf("%s: train retryStrategy = %+v, want none", tc.name, *rs)
			}
			continue
		}
		if rs == nil {
			t.Errorf("%s: train retryStrategy = nil, want retryPolicy %s", tc.name, tc.wantPolicy)
			continue
		}
		if rs.RetryPolicy != tc.wantPolicy {
			t.Errorf("%s: retryStrategy.retryPolicy = %q, want %q", tc.name, rs.RetryPolicy, tc.wantPolicy)
		}
		if rs.Expression != tc.wantExpr {
			t.Errorf("%s: retryStrategy.expression = %q, want %q", tc.name, rs.Expression, tc.wantExpr)
		}
		if rs.Limit == nil || rs.Limit.String() != three {
			t.Errorf("%s: retryStrategy.limit = %v, want %s", tc.name, rs.Limit, three)
		}
		if b := rs.Backoff; b == nil || b.Duration != "1m" || b.Factor == nil || b.Factor.IntValue() != 2 {
			t.Errorf("%s: retryStrategy.backoff = %+v, want duration 1m, factor 2", tc.name, b)
		}
	}
}

// Regression test for a bug of commit 1f079c9, where the retry backoff set
// maxDuration "30m". In Argo, maxDuration bounds the whole retried step from
// the start of its first attempt, not the wait between attempts (that is
// backoff.cap): processNodeRetries (workflow/controller/operator.go in
// argo-workflows v3.7.18, lines 1019-1089) fails the node with "Max duration
// limit exceeded" when a retry comes more than 30 minutes after the first
// attempt started, and sets each retry's pod deadline to first start + 30m.
// A training of maxRuntime "4h" preempted after an hour was not retried, and
// one preempted after 10 minutes was retried and killed 20 minutes later.
// Fix: Backoff{Duration: "1m", Factor: 2, Cap: "30m"}, no maxDuration (or
// one of at least (retries+1) × maxRuntime).
func TestRetryBackoffAllowsLongRuns(t *testing.T) {
	for _, kind := range []string{ir.KindSingle, ir.KindMPI} {
		for _, spot := range []bool{true, false} {
			p, pl := project(), pipeline()
			if kind == ir.KindMPI {
				mpi(pl, 4, 8)
			}
			c := &pl.Train.Compute
			c.Spot, c.MaxRuntime = spot, "4h"
			rs := tmpl(t, build(t, p, pl), argo.TaskTrain).RetryStrategy
			if rs == nil || rs.Backoff == nil || rs.Backoff.MaxDuration == "" {
				continue
			}
			maxDur, err := wfv1.ParseStringToDuration(rs.Backoff.MaxDuration)
			if err != nil {
				t.Errorf("%s spot=%v: backoff.maxDuration %q: %v", kind, spot, rs.Backoff.MaxDuration, err)
				continue
			}
			runtime, _ := ir.ParseDuration(c.MaxRuntime)
			if want := time.Duration(c.Retries+1) * runtime; maxDur < want {
				t.Errorf("%s spot=%v: retryStrategy.backoff.maxDuration = %s, want unset or at least %s ((retries+1) × maxRuntime %s): Argo gives up retrying %s after the first attempt started", kind, spot, rs.Backoff.MaxDuration, want, c.MaxRuntime, maxDur)
			}
		}
	}
}

func TestActiveDeadlineSeconds(t *testing.T) {
	for _, tc := range []struct {
		maxRuntime string
		want       int
	}{
		{"4h", 14400},
		{"1d12h", 129600},
		{"90s", 90},
		{"1d2h3m4s", 93784},
	} {
		p, pl := project(), pipeline()
		pl.Train.Compute.MaxRuntime = tc.maxRuntime
		pl.Features["build-features"].MaxRuntime = tc.maxRuntime
		pl.Evaluate.MaxRuntime = tc.maxRuntime
		wt := build(t, p, pl)
		for _, name := range []string{argo.TaskTrain, argo.FeatureTask("build-features"), argo.TaskEvaluate} {
			ad := tmpl(t, wt, name).ActiveDeadlineSeconds
			if ad == nil || ad.IntValue() != tc.want {
				t.Errorf("template %s with maxRuntime %q: activeDeadlineSeconds = %v, want %d", name, tc.maxRuntime, ad, tc.want)
			}
		}
		// The MPIJob carries the deadline too.
		mpi(pl, 2, 4)
		pl.Train.Compute.MaxRuntime = tc.maxRuntime
		wt = build(t, p, pl)
		tr := tmpl(t, wt, argo.TaskTrain)
		if ad := tr.ActiveDeadlineSeconds; ad == nil || ad.IntValue() != tc.want {
			t.Errorf("MPI train with maxRuntime %q: activeDeadlineSeconds = %v, want %d", tc.maxRuntime, ad, tc.want)
		}
		job := mpiJob(t, tr)
		if ad := job.Spec.RunPolicy.ActiveDeadlineSeconds; ad == nil || *ad != int64(tc.want) {
			t.Errorf("MPIJob with maxRuntime %q: runPolicy.activeDeadlineSeconds = %v, want %d", tc.maxRuntime, deref(ad), tc.want)
		}
	}
}

func TestBadMaxRuntime(t *testing.T) {
	p, pl := project(), pipeline()
	pl.Train.Compute.MaxRuntime = "forever"
	if _, err := argo.WorkflowTemplate(p, pl, "{}", meta(p, pl)); err == nil || !strings.Contains(err.Error(), `"forever"`) {
		t.Errorf("WorkflowTemplate with maxRuntime \"forever\" error = %v, want one naming \"forever\"", err)
	}
}

// deref shows what a pointer field holds.
func deref[T any](p *T) any {
	if p == nil {
		return nil
	}
	return *p
}

// mpiJob parses the manifest of the MPI train template.
func mpiJob(t *testing.T, tr *wfv1.Template) *kubeflow.MPIJob {
	t.Helper()
	if tr.Resource == nil {
		t.Fatalf("train template has no resource, want an MPIJob resource template")
	}
	var job kubeflow.MPIJob
	if err := yaml.UnmarshalStrict([]byte(tr.Resource.Manifest), &job); err != nil {
		t.Fatalf("parsing the MPIJob manifest: %v\n%s", err, tr.Resource.Manifest)
	}
	return &job
}

func TestMPIResourceTemplate(t *testing.T) {
	for _, tc := range []struct{ nodes, gpus int }{{1, 1}, {2, 8}, {4, 2}, {16, 8}} {
		name := fmt.Sprintf("%d×%d", tc.nodes, tc.gpus)
		p, pl := project(), pipeline()
		mpi(pl, tc.nodes, tc.gpus)
		tr := tmpl(t, build(t, p, pl), argo.TaskTrain)
		if tr.Container != nil {
			t.Errorf("%s: MPI train template has a container, want a resource only", name)
		}
		r := tr.Resource
		if r == nil {
			t.Fatalf("%s: MPI train template has no resource", name)
		}
		if r.Action != "create" {
			t.Errorf("%s: resource.action = %q, want %q", name, r.Action, "create")
		}
		if !r.SetOwnerReference {
			t.Errorf("%s: resource.setOwnerReference = false, want true", name)
		}
		if r.SuccessCondition != "status.replicaStatuses.Launcher.succeeded == 1" {
			t.Errorf("%s: resource.successCondition = %q, want %q", name, r.SuccessCondition, "status.replicaStatuses.Launcher.succeeded == 1")
		}
		if r.FailureCondition != "status.replicaStatuses.Launcher.failed > 0" {
			t.Errorf("%s: resource.failureCondition = %q, want %q", name, r.FailureCondition, "status.replicaStatuses.Launcher.failed > 0")
		}

		job := mpiJob(t, tr)
		if job.APIVersion != "kubeflow.org/v2beta1" || job.Kind != "MPIJob" {
			t.Errorf("%s: manifest apiVersion, kind = %q, %q, want kubeflow.org/v2beta1, MPIJob", name, job.APIVersion, job.Kind)
		}
		if job.GenerateName != "{{workflow.name}}-" || job.Name != "" {
			t.Errorf("%s: manifest name, generateName = %q, %q, want \"\", \"{{workflow.name}}-\"", name, job.Name, job.GenerateName)
		}
		if job.Namespace != "payments-ml" {
			t.Errorf("%s: manifest namespace = %q, want payments-ml", name, job.Namespace)
		}
		if s := job.Spec.SlotsPerWorker; s == nil || int(*s) != tc.gpus {
			t.Errorf("%s: slotsPerWorker = %v, want %d (gpusPerNode)", name, deref(s), tc.gpus)
		}
		rp := job.Spec.RunPolicy
		if rp.CleanPodPolicy == nil || *rp.CleanPodPolicy != kubeflow.CleanPodPolicyRunning {
			t.Errorf("%s: runPolicy.cleanPodPolicy = %v, want Running", name, rp.CleanPodPolicy)
		}
		// Argo's retryStrategy (limit = retries) retries with a new MPIJob.
		if rp.BackoffLimit == nil || *rp.BackoffLimit != 0 {
			t.Errorf("%s: runPolicy.backoffLimit = %v, want 0", name, deref(rp.BackoffLimit))
		}
		if rs := tr.RetryStrategy; rs == nil || rs.Limit == nil || rs.Limit.IntValue() != 2 {
			t.Errorf("%s: retryStrategy = %+v, want limit 2 (retries)", name, rs)
		}
		if rp.ActiveDeadlineSeconds == nil || *rp.ActiveDeadlineSeconds != 129600 {
			t.Errorf("%s: runPolicy.activeDeadlineSeconds = %v, want 129600 (1d12h)", name, deref(rp.ActiveDeadlineSeconds))
		}

		launcher := job.Spec.MPIReplicaSpecs[kubeflow.MPIReplicaTypeLauncher]
		worker := job.Spec.MPIReplicaSpecs[kubeflow.MPIReplicaTypeWorker]
		if launcher == nil || worker == nil {
			t.Fatalf("%s: mpiReplicaSpecs = %v, want Launcher and Worker", name, job.Spec.MPIReplicaSpecs)
		}
		if launcher.Replicas == nil || *launcher.Replicas != 1 {
			t.Errorf("%s: launcher replicas = %v, want 1", name, deref(launcher.Replicas))
		}
		if worker.Replicas == nil || int(*worker.Replicas) != tc.nodes {
			t.Errorf("%s: worker replicas = %v, want %d (nodes)", name, deref(worker.Replicas), tc.nodes)
		}
		for role, rs := range map[string]*kubeflow.ReplicaSpec{"launcher": launcher, "worker": worker} {
			if got := rs.Template.Labels[lower.LabelWorkflow]; got != "{{workflow.name}}" {
				t.Errorf("%s: %s pod label %s = %q, want {{workflow.name}}", name, role, lower.LabelWorkflow, got)
			}
			if n := len(rs.Template.Spec.Containers); n != 1 {
				t.Fatalf("%s: %s has %d containers, want 1", name, role, n)
			}
		}
		wq, ok := worker.Template.Spec.Containers[0].Resources.Limits[lower.ResourceGPU]
		if !ok || wq.String() != strconv.Itoa(tc.gpus) {
			t.Errorf("%s: worker limits[nvidia.com/gpu] = %s (set %v), want %d", name, wq.String(), ok, tc.gpus)
		}
		if q, ok := launcher.Template.Spec.Containers[0].Resources.Limits[lower.ResourceGPU]; ok {
			t.Errorf("%s: launcher limits[nvidia.com/gpu] = %s, want none", name, q.String())
		}
		if got := worker.Template.Spec.NodeSelector[gpuLabel]; got != h100 {
			t.Errorf("%s: worker nodeSelector[%s] = %q, want %q", name, gpuLabel, got, h100)
		}
		if launcher.Template.Spec.NodeSelector != nil || launcher.Template.Spec.Tolerations != nil {
			t.Errorf("%s: launcher nodeSelector, tolerations = %v, %v, want none off spot", name, launcher.Template.Spec.NodeSelector, launcher.Template.Spec.Tolerations)
		}

		cmd := launcher.Template.Spec.Containers[0].Command
		want := []string{"mpirun", "-np", strconv.Itoa(tc.nodes * tc.gpus)}
		if len(cmd) < 3 || !reflect.DeepEqual(cmd[:3], want) {
			t.Errorf("%s: launcher command starts %q, want %q", name, cmd, want)
		}
		if n := len(pl.Train.Command); len(cmd) < n || !reflect.DeepEqual(cmd[len(cmd)-n:], pl.Train.Command) {
			t.Errorf("%s: launcher command = %q, want it to end with the training command %q", name, cmd, pl.Train.Command)
		}
	}
}

func TestMPISpotLauncher(t *testing.T) {
	p, pl := project(), pipeline()
	mpi(pl, 2, 8)
	pl.Train.Compute.Spot = true
	tr := tmpl(t, build(t, p, pl), argo.TaskTrain)
	if rs := tr.RetryStrategy; rs == nil || rs.RetryPolicy != wfv1.RetryPolicyAlways || rs.Expression != "" {
		t.Errorf("MPI spot retryStrategy = %+v, want retryPolicy Always without expression", rs)
	}
	job := mpiJob(t, tr)
	l := job.Spec.MPIReplicaSpecs[kubeflow.MPIReplicaTypeLauncher].Template.Spec
	w := job.Spec.MPIReplicaSpecs[kubeflow.MPIReplicaTypeWorker].Template.Spec
	if want := map[string]string{spotKey: "spot"}; !reflect.DeepEqual(l.NodeSelector, want) {
		t.Errorf("MPI spot launcher nodeSelector = %v, want %v", l.NodeSelector, want)
	}
	if want := map[string]string{spotKey: "spot", gpuLabel: h100}; !reflect.DeepEqual(w.NodeSelector, want) {
		t.Errorf("MPI spot worker nodeSelector = %v, want %v", w.NodeSelector, want)
	}
}

// jsonLabels looks a condition's key up in an object's JSON the way Argo's
// executor does with gjson (workflow/executor/resource.go): a dotted path.
type jsonLabels map[string]any

func (j jsonLabels) lookup(key string) (any, bool) {
	var v any = map[string]any(j)
	for _, k := range strings.Split(key, ".") {
		m, ok := v.(map[string]any)
		if !ok {
			return nil, false
		}
		if v, ok = m[k]; !ok {
			return nil, false
		}
	}
	return v, true
}
func (j jsonLabels) Has(key string) bool { _, ok := j.lookup(key); return ok }
func (j jsonLabels) Get(key string) string {
	v, _ := j.Lookup(key)
	return v
}
func (j jsonLabels) Lookup(key string) (string, bool) {
	v, ok := j.lookup(key)
	if !ok || v == nil {
		return "", ok
	}
	return fmt.Sprint(v), true
}

// matches evaluates a resource condition against an MPIJob status as
// Argo's executor does: labels.Parse, then every requirement against the
// object's JSON.
func matches(t *testing.T, cond string, status kubeflow.JobStatus) bool {
	t.Helper()
	sel, err := labels.Parse(cond)
	if err != nil {
		t.Fatalf("labels.Parse(%q): %v", cond, err)
	}
	data, err := json.Marshal(kubeflow.MPIJob{Status: status})
	if err != nil {
		t.Fatal(err)
	}
	var obj map[string]any
	if err := json.Unmarshal(data, &obj); err != nil {
		t.Fatal(err)
	}
	reqs, _ := sel.Requirements()
	for _, r := range reqs {
		if !r.Matches(jsonLabels(obj)) {
			return false
		}
	}
	return true
}

func launcherStatus(s kubeflow.ReplicaStatus) kubeflow.JobStatus {
	return kubeflow.JobStatus{ReplicaStatuses: map[kubeflow.MPIReplicaType]*kubeflow.ReplicaStatus{kubeflow.MPIReplicaTypeLauncher: &s}}
}

// TestMPIConditions evaluates the resource template's conditions against
// the statuses mpi-operator writes.
func TestMPIConditions(t *testing.T) {
	for _, tc := range []struct {
		name                  string
		status                kubeflow.JobStatus
		wantSuccess, wantFail bool
	}{
		{"created", kubeflow.JobStatus{}, false, false},
		{"running", launcherStatus(kubeflow.ReplicaStatus{Active: 1}), false, false},
		{"succeeded", launcherStatus(kubeflow.ReplicaStatus{Succeeded: 1}), true, false},
		{"failed", launcherStatus(kubeflow.ReplicaStatus{Failed: 3}), false, true},
	} {
		if got := matches(t, argo.MPISuccessCondition, tc.status); got != tc.wantSuccess {
			t.Errorf("%s: success condition %q = %v, want %v", tc.name, argo.MPISuccessCondition, got, tc.wantSuccess)
		}
		if got := matches(t, argo.MPIFailureCondition, tc.status); got != tc.wantFail {
			t.Errorf("%s: failure condition %q = %v, want %v", tc.name, argo.MPIFailureCondition, got, tc.wantFail)
		}
	}
}

// Regression test for a bug of commit 1f079c9, where the MPIJob also retried
// its launcher itself (runPolicy.backoffLimit = retries). mpi-operator v0.8.0
// reports the launcher Job's count of failed pods as
// replicaStatuses.Launcher.failed while that Job is still retrying
// (pkg/controller/mpi_job_controller.go:1114), so a launcher pod lost to a
// spot preemption or an eviction met the failure condition "failed > 0" at
// once: Argo failed the step and, with its own retryStrategy, created a
// second MPIJob while the first (owned by the workflow, so not deleted)
// started a new launcher and kept its GPU workers; up to (retries+1)²
// attempts, two at a time. Fix: one layer retries. Either backoffLimit 0
// (a failed launcher fails the MPIJob, cleanPodPolicy Running frees its
// workers, Argo's retryStrategy creates the next one), or no Argo retry for
// MPI and a failure condition on the MPIJob's Failed condition.
func TestMPIFailureConditionWaitsForJobRetries(t *testing.T) {
	p, pl := project(), pipeline()
	mpi(pl, 2, 8)
	pl.Train.Compute.Spot = true
	tr := tmpl(t, build(t, p, pl), argo.TaskTrain)
	job := mpiJob(t, tr)
	bl := job.Spec.RunPolicy.BackoffLimit
	if bl == nil || *bl == 0 {
		return // the MPIJob does not retry by itself
	}
	// One launcher pod failed, the launcher Job has started the next one.
	retrying := launcherStatus(kubeflow.ReplicaStatus{Failed: 1, Active: 1})
	if matches(t, tr.Resource.FailureCondition, retrying) {
		t.Errorf("failure condition %q is met while the MPIJob (backoffLimit %d) still retries its launcher: Argo fails the step (retryStrategy %v) and may start a second MPIJob beside the first", tr.Resource.FailureCondition, *bl, tr.RetryStrategy != nil)
	}
}

// userStrings are strings a user may write that hold Argo's tag syntax.
var userStrings = []string{"{{workflow.name}}", "{{", "a{{b}}c", "{{{", "{{workflow.uid}}", "--fmt={{.Tag}}", "$(CAIRN_MODEL)/{{x}}"}

// userStringsPipeline returns a pipeline whose commands, environments,
// column names, gates and hyperparameters hold Argo's tag syntax. (Dataset
// URIs cannot: #URI excludes "{", "}" and "$".)
func userStringsPipeline() *ir.Pipeline {
	pl := pipeline()
	d := pl.Data["transactions"]
	d.Columns["{{workflow.name}}"] = &ir.Column{Type: "int"}
	d.Checks.Ranges["{{workflow.name}}"] = &ir.Range{}
	f := pl.Features["build-features"]
	f.Command = append([]string{"sh", "-c"}, userStrings...)
	f.Env = map[string]string{"TMPL": "{{workflow.name}}", "OPEN": "{{", "MID": "a{{b}}c", "TRIPLE": "{{{", "REF": "$(CAIRN_INPUT_TRANSACTIONS)/{{x}}"}
	pl.Train.Command = append([]string{"train"}, userStrings...)
	pl.Train.Env = map[string]string{"TMPL": "{{workflow.uid}}", "PLAIN": "x"}
	pl.Train.Hyperparameters["{{workflow.name}}"] = json.RawMessage(`"{{workflow.uid}}"`)
	pl.Evaluate.Command = []string{"eval", "a{{b}}c"}
	pl.Evaluate.Env = map[string]string{"OPEN": "{{"}
	pl.Evaluate.Gates["{{workflow.name}}"] = ">= 1"
	return pl
}

func envMap(env []corev1.EnvVar) map[string]string {
	m := map[string]string{}
	for _, e := range env {
		m[e.Name] = e.Value
	}
	return m
}

// TestUserStringsEscaped: every user string reaches the WorkflowTemplate
// through the Escaper (commands, environments) or JSONArg (JSON
// arguments), and a container whose strings needed it defines CAIRN_LB
// first.
func TestUserStringsEscaped(t *testing.T) {
	p, pl := project(), userStringsPipeline()
	wt := build(t, p, pl)
	for _, tc := range []struct {
		task    string
		command []string
		env     map[string]string
	}{
		{argo.FeatureTask("build-features"), pl.Features["build-features"].Command, pl.Features["build-features"].Env},
		{argo.TaskTrain, pl.Train.Command, pl.Train.Env},
		{argo.TaskEvaluate, pl.Evaluate.Command, pl.Evaluate.Env},
	} {
		c := tmpl(t, wt, tc.task).Container
		var esc lower.Escaper
		if want := esc.Strings(tc.command); !reflect.DeepEqual(c.Command, want) {
			t.Errorf("%s: command = %q, want %q", tc.task, c.Command, want)
		}
		got := envMap(c.Env)
		for k, v := range tc.env {
			if want := esc.String(v); got[k] != want {
				t.Errorf("%s: env %s = %q, want %q", tc.task, k, got[k], want)
			}
		}
		if len(c.Env) == 0 || c.Env[0] != (corev1.EnvVar{Name: lower.BraceVar, Value: "{"}) {
			t.Errorf("%s: env starts %v, want %s={ first", tc.task, c.Env[:min(1, len(c.Env))], lower.BraceVar)
		}
		if got["CAIRN_RUN_DIR"] != lower.RunDir {
			t.Errorf("%s: env CAIRN_RUN_DIR = %q, want %q (Cairn's placeholders unescaped)", tc.task, got["CAIRN_RUN_DIR"], lower.RunDir)
		}
	}
	// A container without braces gets no CAIRN_LB.
	plain := build(t, project(), pipeline())
	for _, tm := range plain.Spec.Templates {
		if tm.Container != nil && envMap(tm.Container.Env)[lower.BraceVar] != "" {
			t.Errorf("%s: env has %s without braces to escape", tm.Name, lower.BraceVar)
		}
	}
	v := tmpl(t, wt, argo.ValidateTask("transactions")).Container
	if i := indexOf(v.Args, "--spec"); i < 0 || v.Args[i+1] != lower.JSONArg(pl.Data["transactions"]) {
		t.Errorf("validate-data args = %q, want --spec %s", v.Args, lower.JSONArg(pl.Data["transactions"]))
	}
	g := tmpl(t, wt, argo.TaskGate).Container
	if i := indexOf(g.Args, "--gates"); i < 0 || g.Args[i+1] != lower.JSONArg(pl.Evaluate.Gates) {
		t.Errorf("gate args = %q, want --gates %s", g.Args, lower.JSONArg(pl.Evaluate.Gates))
	}
}

// argoVars are the variables Argo knows when it substitutes a step.
var argoVars = map[string]any{
	"workflow.name":                "wf-x",
	"workflow.uid":                 "uid-1",
	"workflow.namespace":           "payments-ml",
	"workflow.parameters.run-root": "s3://root",
}

// substitute runs Argo's own substitution over a template's JSON as its
// controller does: common.SubstituteParams replaces twice and
// substitutePodParams once more (argo-workflows v3.7.18). The first pass
// here is strict: every tag must resolve.
func substitute(t *testing.T, tm *wfv1.Template) *wfv1.Template {
	t.Helper()
	data, err := json.Marshal(tm)
	if err != nil {
		t.Fatal(err)
	}
	s := string(data)
	for pass := 1; pass <= 3; pass++ {
		tt, err := argotemplate.NewTemplate(s)
		if err != nil {
			t.Fatalf("template %s, pass %d: NewTemplate: %v", tm.Name, pass, err)
		}
		if s, err = tt.Replace(argoVars, pass > 1); err != nil {
			t.Fatalf("template %s, pass %d: Replace: %v", tm.Name, pass, err)
		}
	}
	var out wfv1.Template
	if err := json.Unmarshal([]byte(s), &out); err != nil {
		t.Fatalf("template %s after substitution: %v\n%s", tm.Name, err, s)
	}
	return &out
}

// run returns what the program of a container gets: its command and
// environment after Kubernetes' expansion (each env value sees the
// variables defined before it).
func run(c corev1.Container) ([]string, map[string]string) {
	vars := map[string]string{}
	for _, e := range c.Env {
		if e.ValueFrom == nil {
			vars[e.Name] = lowertest.KubeExpand(e.Value, vars)
		}
	}
	var cmd []string
	for _, a := range c.Command {
		cmd = append(cmd, lowertest.KubeExpand(a, vars))
	}
	for _, a := range c.Args {
		cmd = append(cmd, lowertest.KubeExpand(a, vars))
	}
	return cmd, vars
}

// TestArgoSubstitution compiles user strings holding Argo's tag syntax,
// runs Argo's own template substitution (util/template) over the templates
// three times, as its controller does, then Kubernetes' $(VAR) expansion,
// and checks that each program gets exactly the user's strings, while
// Cairn's own placeholders are substituted.
func TestArgoSubstitution(t *testing.T) {
	p, pl := project(), userStringsPipeline()
	wt := build(t, p, pl)
	for _, tc := range []struct {
		task    string
		command []string
		env     map[string]string
	}{
		{argo.FeatureTask("build-features"), pl.Features["build-features"].Command, pl.Features["build-features"].Env},
		{argo.TaskTrain, pl.Train.Command, pl.Train.Env},
		{argo.TaskEvaluate, pl.Evaluate.Command, pl.Evaluate.Env},
	} {
		c := substitute(t, tmpl(t, wt, tc.task)).Container
		cmd, env := run(*c)
		// What Kubernetes would give for the user's own strings.
		want := func(s string) string { return lowertest.KubeExpand(s, env) }
		for i, a := range tc.command {
			if i >= len(cmd) || cmd[i] != want(a) {
				t.Errorf("%s: after Argo and Kubernetes, command = %q, want %q", tc.task, cmd, tc.command)
				break
			}
		}
		for k, v := range tc.env {
			if env[k] != want(v) {
				t.Errorf("%s: after Argo and Kubernetes, env %s = %q, want %q", tc.task, k, env[k], want(v))
			}
		}
		if got, want := env["CAIRN_RUN_DIR"], "s3://root/uid-1"; got != want {
			t.Errorf("%s: after Argo, env CAIRN_RUN_DIR = %q, want %q", tc.task, got, want)
		}
		if got, want := env["CAIRN_INPUT_FEATURES"], "s3://root/uid-1/features/build-features/features"; tc.task != argo.FeatureTask("build-features") && got != want {
			t.Errorf("%s: after Argo, env CAIRN_INPUT_FEATURES = %q, want %q", tc.task, got, want)
		}
	}
	// The user's {{workflow.uid}} really is the text, not the uid.
	c := substitute(t, tmpl(t, wt, argo.TaskTrain)).Container
	if _, env := run(*c); env["TMPL"] != "{{workflow.uid}}" {
		t.Errorf("train env TMPL = %q, want {{workflow.uid}}", env["TMPL"])
	}

	// JSON arguments decode to the user's values.
	v := substitute(t, tmpl(t, wt, argo.ValidateTask("transactions"))).Container
	args, _ := run(*v)
	var d ir.Dataset
	if i := indexOf(args, "--spec"); i < 0 || json.Unmarshal([]byte(args[i+1]), &d) != nil || !reflect.DeepEqual(&d, pl.Data["transactions"]) {
		t.Errorf("validate-data after Argo and Kubernetes: args %q, want --spec decoding to %+v", args, *pl.Data["transactions"])
	}
	g := substitute(t, tmpl(t, wt, argo.TaskGate)).Container
	args, _ = run(*g)
	var gates map[string]string
	if i := indexOf(args, "--gates"); i < 0 || json.Unmarshal([]byte(args[i+1]), &gates) != nil || !reflect.DeepEqual(gates, pl.Evaluate.Gates) {
		t.Errorf("gate after Argo and Kubernetes: args %q, want --gates decoding to %v", args, pl.Evaluate.Gates)
	}
	_, env := run(*c)
	var hp map[string]any
	if err := json.Unmarshal([]byte(env["CAIRN_HPARAMS"]), &hp); err != nil || hp["{{workflow.name}}"] != "{{workflow.uid}}" {
		t.Errorf("train CAIRN_HPARAMS after Argo and Kubernetes = %q, want {{workflow.name}}: {{workflow.uid}} among them", env["CAIRN_HPARAMS"])
	}

	// MPI: the manifest's placeholders are substituted, and the launcher's
	// program gets the user's strings.
	mpi(pl, 2, 4)
	tr := substitute(t, tmpl(t, build(t, p, pl), argo.TaskTrain))
	var job kubeflow.MPIJob
	if err := yaml.Unmarshal([]byte(tr.Resource.Manifest), &job); err != nil {
		t.Fatalf("MPIJob manifest after Argo: %v\n%s", err, tr.Resource.Manifest)
	}
	if job.GenerateName != "wf-x-" {
		t.Errorf("MPIJob generateName after Argo = %q, want %q", job.GenerateName, "wf-x-")
	}
	lcmd, lenv := run(job.Spec.MPIReplicaSpecs[kubeflow.MPIReplicaTypeLauncher].Template.Spec.Containers[0])
	n := len(pl.Train.Command)
	var wantCmd []string
	for _, a := range pl.Train.Command {
		wantCmd = append(wantCmd, lowertest.KubeExpand(a, lenv))
	}
	if len(lcmd) < n || !reflect.DeepEqual(lcmd[len(lcmd)-n:], wantCmd) {
		t.Errorf("MPI launcher after Argo and Kubernetes: command = %q, want it to end with %q", lcmd, wantCmd)
	}
	if lenv["TMPL"] != "{{workflow.uid}}" || lenv["CAIRN_RUN_DIR"] != "s3://root/uid-1" {
		t.Errorf("MPI launcher after Argo and Kubernetes: env TMPL, CAIRN_RUN_DIR = %q, %q, want {{workflow.uid}}, s3://root/uid-1", lenv["TMPL"], lenv["CAIRN_RUN_DIR"])
	}
}

// TestArgoExpandsUnescaped is the negative control: the same substitution
// does expand a user's string that is not escaped.
func TestArgoExpandsUnescaped(t *testing.T) {
	tm := &wfv1.Template{Name: "x", Container: &corev1.Container{Command: []string{"echo", "{{workflow.name}}", "a{{workflow.uid}}c"}}}
	got := substitute(t, tm).Container.Command
	if want := []string{"echo", "wf-x", "auid-1c"}; !reflect.DeepEqual(got, want) {
		t.Errorf("Argo substitution of unescaped %q = %q, want %q", tm.Container.Command, got, want)
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

func TestDAG(t *testing.T) {
	p, pl := project(), pipeline()
	wt := build(t, p, pl)
	if wt.Spec.Entrypoint != argo.Entrypoint {
		t.Errorf("entrypoint = %q, want %q", wt.Spec.Entrypoint, argo.Entrypoint)
	}
	main := tmpl(t, wt, argo.Entrypoint)
	got := map[string]string{}
	for _, task := range main.DAG.Tasks {
		got[task.Name] = task.Depends
	}
	want := map[string]string{
		"validate-transactions":  "",
		"feature-build-features": "validate-transactions",
		"train":                  "feature-build-features",
		"evaluate":               "feature-build-features && train",
		"gate":                   "evaluate",
		"pack":                   "gate && validate-transactions",
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("DAG depends = %v, want %v", got, want)
	}
}

// TestIngest checks that a dataset with an ingest step gets a task writing
// the run's copy, that the data checks run on that copy after it, and that
// every reader is given the copy rather than the source URI.
func TestIngest(t *testing.T) {
	p, pl := project(), pipeline()
	pl.Data["transactions"].Ingest = &ir.IngestStep{
		Image:      "registry.example.com/gen@sha256:" + strings.Repeat("a", 64),
		Command:    []string{"python3", "gen.py", "--out", "$(CAIRN_OUTPUT_TRANSACTIONS)", "{{x}}"},
		Resources:  ir.Resources{CPU: "1", Memory: "1Gi"},
		MaxRuntime: "30m",
	}
	wt := build(t, p, pl)
	copyURI := lower.RunDir + "/data/transactions"

	in := tmpl(t, wt, argo.IngestTask("transactions"))
	env := map[string]string{}
	for _, e := range in.Container.Env {
		env[e.Name] = e.Value
	}
	if env["CAIRN_OUTPUT_TRANSACTIONS"] != copyURI {
		t.Errorf("ingest env CAIRN_OUTPUT_TRANSACTIONS = %q, want %q", env["CAIRN_OUTPUT_TRANSACTIONS"], copyURI)
	}
	if in.ActiveDeadlineSeconds == nil || in.ActiveDeadlineSeconds.IntValue() != 1800 {
		t.Errorf("ingest activeDeadlineSeconds = %v, want 1800", in.ActiveDeadlineSeconds)
	}
	if got := strings.Join(in.Container.Command, " "); strings.Contains(got, "{{x}}") {
		t.Errorf("ingest command %q holds an unescaped {{", got)
	}

	v := tmpl(t, wt, argo.ValidateTask("transactions"))
	if n := len(v.Container.Args); n < 2 || v.Container.Args[n-2] != "--path" || v.Container.Args[n-1] != copyURI {
		t.Errorf("validate-data args = %q, want them to end with --path %s", v.Container.Args, copyURI)
	}
	f := tmpl(t, wt, argo.FeatureTask("build-features"))
	for _, e := range f.Container.Env {
		if e.Name == "CAIRN_INPUT_TRANSACTIONS" && e.Value != copyURI {
			t.Errorf("feature env CAIRN_INPUT_TRANSACTIONS = %q, want the run's copy %q", e.Value, copyURI)
		}
	}
	deps := map[string]string{}
	for _, task := range tmpl(t, wt, argo.Entrypoint).DAG.Tasks {
		deps[task.Name] = task.Depends
	}
	if deps["ingest-transactions"] != "" || deps["validate-transactions"] != "ingest-transactions" {
		t.Errorf("depends: ingest %q, validate %q; want none and ingest-transactions", deps["ingest-transactions"], deps["validate-transactions"])
	}
}
