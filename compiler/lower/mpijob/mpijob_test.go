package mpijob_test

import (
	"reflect"
	"strconv"
	"strings"
	"testing"

	kubeflow "github.com/kubeflow/mpi-operator/pkg/apis/kubeflow/v2beta1"
	"github.com/kubeflow/mpi-operator/pkg/apis/kubeflow/validation"
	corev1 "k8s.io/api/core/v1"

	"cairn.dev/cairn/compiler/check"
	"cairn.dev/cairn/compiler/ir"
	"cairn.dev/cairn/compiler/ir/irtest"
	"cairn.dev/cairn/compiler/lower"
	"cairn.dev/cairn/compiler/lower/mpijob"
)

const (
	gpuLabel = irtest.GPULabel
	gpuTaint = irtest.GPUTaint
	spotKey  = irtest.SpotKey
	h100     = irtest.H100
)

// project returns an LLM research project as a compile fills it.
func project() *ir.Project {
	p := irtest.Project()
	p.Name, p.Namespace, p.ModelRegistry = "llm", "llm-research", "registry.example.com/llm"
	p.Storage.Root = "s3://cairn-artifacts"
	return p
}

// pipeline returns a pipeline training on nodes × gpus H100s with MPI.
func pipeline(name string, nodes, gpus int) *ir.Pipeline {
	return &ir.Pipeline{
		Name:     name,
		Data:     map[string]*ir.Dataset{},
		Features: map[string]*ir.FeatureStep{},
		Train: ir.Train{
			Image:   "registry.example.com/llm/pretrain:2.0",
			Command: []string{"python", "pretrain.py", "--run={{workflow.name}}"},
			Env:     map[string]string{"NCCL_DEBUG": "INFO"},
			Inputs:  []string{},
			Compute: ir.Compute{
				Kind:        ir.KindMPI,
				Nodes:       nodes,
				GPUsPerNode: gpus,
				GPUType:     h100,
				CPU:         "96",
				Memory:      "1Ti",
				MaxRuntime:  "4h",
				Retries:     3,
			},
		},
		Model:  ir.Model{Name: name, Repository: "registry.example.com/llm/" + name, Format: "safetensors"},
		Labels: map[string]string{},
	}
}

var env = []corev1.EnvVar{
	{Name: "CAIRN_PIPELINE", Value: "bert"},
	{Name: "CAIRN_RUN_DIR", Value: lower.RunDir},
	{Name: "NCCL_DEBUG", Value: "INFO"},
}

var meta = lower.Meta{
	Annotations: map[string]string{lower.AnnotSpecDigest: "sha256:0000"},
	Labels:      map[string]string{lower.LabelManagedBy: lower.ManagedByValue},
}

// deref shows what a pointer field holds.
func deref[T any](p *T) any {
	if p == nil {
		return nil
	}
	return *p
}

func TestRanks(t *testing.T) {
	for _, tc := range []struct{ nodes, gpus, want int }{
		{1, 1, 1}, {2, 8, 16}, {4, 2, 8}, {512, 16, 8192},
	} {
		c := ir.Compute{Kind: ir.KindMPI, Nodes: tc.nodes, GPUsPerNode: tc.gpus}
		if got := mpijob.Ranks(c); got != tc.want {
			t.Errorf("Ranks(%d nodes × %d GPUs) = %d, want %d", tc.nodes, tc.gpus, got, tc.want)
		}
	}
}

func TestLauncherCommand(t *testing.T) {
	for _, tc := range []struct {
		nodes, gpus int
		env         []corev1.EnvVar
		command     []string
		want        []string
	}{
		{2, 8, nil, []string{"python", "train.py"},
			[]string{"mpirun", "-np", "16", "--bind-to", "none", "--map-by", "slot", "python", "train.py"}},
		{4, 2, env, []string{"train"},
			[]string{"mpirun", "-np", "8", "--bind-to", "none", "--map-by", "slot", "-x", "CAIRN_PIPELINE", "-x", "CAIRN_RUN_DIR", "-x", "NCCL_DEBUG", "train"}},
		{1, 1, nil, []string{"echo", "$(CAIRN_LB){workflow.name}}"}, // escaped by the caller
			[]string{"mpirun", "-np", "1", "--bind-to", "none", "--map-by", "slot", "echo", "$(CAIRN_LB){workflow.name}}"}},
	} {
		c := ir.Compute{Kind: ir.KindMPI, Nodes: tc.nodes, GPUsPerNode: tc.gpus}
		if got := mpijob.LauncherCommand(c, tc.env, tc.command); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("LauncherCommand(%d×%d, env, %q) = %q, want %q", tc.nodes, tc.gpus, tc.command, got, tc.want)
		}
	}
}

func TestBuild(t *testing.T) {
	for _, tc := range []struct{ nodes, gpus int }{{1, 1}, {2, 8}, {16, 4}} {
		p, pl := project(), pipeline("bert", tc.nodes, tc.gpus)
		job, err := mpijob.Build(p, pl, meta)
		if err != nil {
			t.Fatalf("Build(%d×%d) error: %v", tc.nodes, tc.gpus, err)
		}
		name := strconv.Itoa(tc.nodes) + "×" + strconv.Itoa(tc.gpus)
		if job.APIVersion != "kubeflow.org/v2beta1" || job.Kind != "MPIJob" {
			t.Errorf("%s: apiVersion, kind = %q, %q, want kubeflow.org/v2beta1, MPIJob", name, job.APIVersion, job.Kind)
		}
		if job.GenerateName != "{{workflow.name}}-" || job.Namespace != "llm-research" {
			t.Errorf("%s: generateName, namespace = %q, %q, want {{workflow.name}}-, llm-research", name, job.GenerateName, job.Namespace)
		}
		if !reflect.DeepEqual(job.Labels, meta.Labels) || !reflect.DeepEqual(job.Annotations, meta.Annotations) {
			t.Errorf("%s: labels, annotations = %v, %v, want %v, %v", name, job.Labels, job.Annotations, meta.Labels, meta.Annotations)
		}
		s := job.Spec
		if s.SlotsPerWorker == nil || int(*s.SlotsPerWorker) != tc.gpus {
			t.Errorf("%s: slotsPerWorker = %v, want %d", name, deref(s.SlotsPerWorker), tc.gpus)
		}
		if s.SSHAuthMountPath != "/home/mpiuser/.ssh" || s.MPIImplementation != kubeflow.MPIImplementationOpenMPI {
			t.Errorf("%s: sshAuthMountPath, mpiImplementation = %q, %q, want /home/mpiuser/.ssh, OpenMPI", name, s.SSHAuthMountPath, s.MPIImplementation)
		}
		if s.LauncherCreationPolicy != kubeflow.LauncherCreationPolicyWaitForWorkersReady {
			t.Errorf("%s: launcherCreationPolicy = %q, want WaitForWorkersReady", name, s.LauncherCreationPolicy)
		}
		rp := s.RunPolicy
		if rp.CleanPodPolicy == nil || *rp.CleanPodPolicy != kubeflow.CleanPodPolicyRunning {
			t.Errorf("%s: cleanPodPolicy = %v, want Running", name, rp.CleanPodPolicy)
		}
		// Argo's retryStrategy retries the step with a new MPIJob; the job
		// does not retry its launcher itself (see
		// TestMPIFailureConditionWaitsForJobRetries in compiler/lower/argo).
		if rp.BackoffLimit == nil || *rp.BackoffLimit != 0 {
			t.Errorf("%s: backoffLimit = %v, want 0", name, deref(rp.BackoffLimit))
		}
		if rp.ActiveDeadlineSeconds == nil || *rp.ActiveDeadlineSeconds != 14400 {
			t.Errorf("%s: activeDeadlineSeconds = %v, want 14400", name, deref(rp.ActiveDeadlineSeconds))
		}

		l := s.MPIReplicaSpecs[kubeflow.MPIReplicaTypeLauncher]
		w := s.MPIReplicaSpecs[kubeflow.MPIReplicaTypeWorker]
		if l == nil || w == nil {
			t.Fatalf("%s: replica specs = %v, want Launcher and Worker", name, s.MPIReplicaSpecs)
		}
		if *l.Replicas != 1 || int(*w.Replicas) != tc.nodes {
			t.Errorf("%s: launcher, worker replicas = %d, %d, want 1, %d", name, *l.Replicas, *w.Replicas, tc.nodes)
		}
		if l.RestartPolicy != kubeflow.RestartPolicyOnFailure || w.RestartPolicy != kubeflow.RestartPolicyNever {
			t.Errorf("%s: launcher, worker restartPolicy = %q, %q, want OnFailure, Never", name, l.RestartPolicy, w.RestartPolicy)
		}
		for role, rs := range map[string]*kubeflow.ReplicaSpec{"launcher": l, "worker": w} {
			ps := rs.Template.Spec
			want := map[string]string{lower.LabelWorkflow: "{{workflow.name}}", lower.LabelPipeline: "bert", lower.LabelStep: "train"}
			if !reflect.DeepEqual(rs.Template.Labels, want) {
				t.Errorf("%s: %s pod labels = %v, want %v", name, role, rs.Template.Labels, want)
			}
			if ps.ServiceAccountName != "cairn-pipeline" {
				t.Errorf("%s: %s serviceAccountName = %q, want cairn-pipeline", name, role, ps.ServiceAccountName)
			}
			if sc := ps.SecurityContext; sc == nil || sc.RunAsUser == nil || *sc.RunAsUser != 1000 || sc.RunAsNonRoot == nil || !*sc.RunAsNonRoot {
				t.Errorf("%s: %s pod securityContext = %+v, want non-root uid 1000", name, role, sc)
			}
			if len(ps.Containers) != 1 || ps.Containers[0].Image != pl.Train.Image {
				t.Errorf("%s: %s containers = %+v, want one running %s", name, role, ps.Containers, pl.Train.Image)
			}
		}
		lc, wc := l.Template.Spec.Containers[0], w.Template.Spec.Containers[0]
		var esc lower.Escaper
		command := esc.Strings(pl.Train.Command)
		env := esc.Env(lower.TrainEnv(pl, &esc))
		if want := mpijob.LauncherCommand(pl.Train.Compute, env, command); !reflect.DeepEqual(lc.Command, want) {
			t.Errorf("%s: launcher command = %q, want %q", name, lc.Command, want)
		}
		if got, want := lc.Command[len(lc.Command)-1], "--run=$(CAIRN_LB){workflow.name}}"; got != want {
			t.Errorf("%s: launcher command ends %q, want %q (escaped)", name, got, want)
		}
		if len(lc.Env) == 0 || lc.Env[0] != (corev1.EnvVar{Name: lower.BraceVar, Value: "{"}) {
			t.Errorf("%s: launcher env = %v, want %s={ first", name, lc.Env, lower.BraceVar)
		}
		if lc.Command[2] != strconv.Itoa(tc.nodes*tc.gpus) {
			t.Errorf("%s: launcher mpirun -np %s, want %d", name, lc.Command[2], tc.nodes*tc.gpus)
		}
		if !reflect.DeepEqual(lc.Env, env) || wc.Env != nil {
			t.Errorf("%s: launcher, worker env = %v, %v, want %v, none", name, lc.Env, wc.Env, env)
		}
		if !reflect.DeepEqual(wc.Command, mpijob.WorkerCommand) {
			t.Errorf("%s: worker command = %q, want %q", name, wc.Command, mpijob.WorkerCommand)
		}
		if q, ok := wc.Resources.Limits[lower.ResourceGPU]; !ok || q.Value() != int64(tc.gpus) {
			t.Errorf("%s: worker limits[nvidia.com/gpu] = %s, want %d", name, q.String(), tc.gpus)
		}
		if q, ok := lc.Resources.Limits[lower.ResourceGPU]; ok {
			t.Errorf("%s: launcher limits[nvidia.com/gpu] = %s, want none", name, q.String())
		}
		if got := wc.Resources.Limits[corev1.ResourceMemory]; got.String() != "1Ti" {
			t.Errorf("%s: worker memory limit = %s, want 1Ti", name, got.String())
		}
		if want := map[string]string{gpuLabel: h100}; !reflect.DeepEqual(w.Template.Spec.NodeSelector, want) {
			t.Errorf("%s: worker nodeSelector = %v, want %v", name, w.Template.Spec.NodeSelector, want)
		}
		if want := []corev1.Toleration{{Key: gpuTaint, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoSchedule}}; !reflect.DeepEqual(w.Template.Spec.Tolerations, want) {
			t.Errorf("%s: worker tolerations = %v, want %v", name, w.Template.Spec.Tolerations, want)
		}
		if l.Template.Spec.NodeSelector != nil || l.Template.Spec.Tolerations != nil {
			t.Errorf("%s: launcher placement = %v, %v, want none", name, l.Template.Spec.NodeSelector, l.Template.Spec.Tolerations)
		}

		// mpi-operator accepts the job once Kubernetes has named it.
		job.Name = pl.Name + "-1767225600-abcde"
		if errs := validation.ValidateMPIJob(job); len(errs) > 0 {
			t.Errorf("%s: mpi-operator's ValidateMPIJob: %v", name, errs.ToAggregate())
		}
	}
}

func TestBuildSpot(t *testing.T) {
	p, pl := project(), pipeline("bert", 2, 8)
	p.Cluster.SpotTaint = "cloud.example.com/spot"
	pl.Train.Compute.Spot = true
	job, err := mpijob.Build(p, pl, meta)
	if err != nil {
		t.Fatal(err)
	}
	spotTol := corev1.Toleration{Key: "cloud.example.com/spot", Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoSchedule}
	gpuTol := corev1.Toleration{Key: gpuTaint, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoSchedule}
	l := job.Spec.MPIReplicaSpecs[kubeflow.MPIReplicaTypeLauncher].Template.Spec
	w := job.Spec.MPIReplicaSpecs[kubeflow.MPIReplicaTypeWorker].Template.Spec
	if want := map[string]string{spotKey: "spot"}; !reflect.DeepEqual(l.NodeSelector, want) {
		t.Errorf("spot launcher nodeSelector = %v, want %v", l.NodeSelector, want)
	}
	if want := []corev1.Toleration{spotTol}; !reflect.DeepEqual(l.Tolerations, want) {
		t.Errorf("spot launcher tolerations = %v, want %v", l.Tolerations, want)
	}
	if want := map[string]string{spotKey: "spot", gpuLabel: h100}; !reflect.DeepEqual(w.NodeSelector, want) {
		t.Errorf("spot worker nodeSelector = %v, want %v", w.NodeSelector, want)
	}
	if want := []corev1.Toleration{spotTol, gpuTol}; !reflect.DeepEqual(w.Tolerations, want) {
		t.Errorf("spot worker tolerations = %v, want %v", w.Tolerations, want)
	}
}

func TestBuildErrors(t *testing.T) {
	for _, tc := range []struct {
		name    string
		mutate  func(*ir.Compute)
		wantErr string
	}{
		{"single", func(c *ir.Compute) { c.Kind = ir.KindSingle }, `training compute is "single", not "mpi"`},
		{"bad maxRuntime", func(c *ir.Compute) { c.MaxRuntime = "4 hours" }, "train.compute.maxRuntime"},
		{"bad cpu", func(c *ir.Compute) { c.CPU = "lots" }, `cpu "lots"`},
		{"bad memory", func(c *ir.Compute) { c.Memory = "1TB!" }, `memory "1TB!"`},
	} {
		p, pl := project(), pipeline("bert", 2, 8)
		tc.mutate(&pl.Train.Compute)
		if _, err := mpijob.Build(p, pl, meta); err == nil || !strings.Contains(err.Error(), tc.wantErr) {
			t.Errorf("%s: Build error = %v, want one containing %q", tc.name, err, tc.wantErr)
		}
	}
}

// TestWorkerNameMatchesOperator checks check.WorkerName against
// mpi-operator's own validation of the longest worker host name: for the
// longest workflow name Argo gives a cron run ("<pipeline>-<unix time>") and
// the 5 characters Kubernetes adds to generateName, a 35-character pipeline
// of 512 nodes fits, a 36-character one does not.
func TestWorkerNameMatchesOperator(t *testing.T) {
	for _, tc := range []struct {
		nameLen, nodes int
		wantOK         bool
	}{
		{35, 512, true},
		{36, 512, false},
		{37, 1, true}, // "-worker-0"
		{38, 1, false},
		{36, 100, true}, // "-worker-99"
		{37, 100, false},
	} {
		name := "p" + strings.Repeat("a", tc.nameLen-1)
		p, pl := project(), pipeline(name, tc.nodes, 8)
		job, err := mpijob.Build(p, pl, meta)
		if err != nil {
			t.Fatal(err)
		}
		job.Name = name + "-9999999999-abcde" // generateName "{{workflow.name}}-" filled in
		opErrs := validation.ValidateMPIJob(job)
		worker := check.WorkerName(name, tc.nodes)
		if got := len(worker) <= check.MaxK8sName; got != tc.wantOK {
			t.Errorf("WorkerName(%d chars, %d) = %q (%d chars), fits %v, want %v", tc.nameLen, tc.nodes, worker, len(worker), got, tc.wantOK)
		}
		if got := len(opErrs) == 0; got != tc.wantOK {
			t.Errorf("ValidateMPIJob(%d-char pipeline, %d nodes) = %v, valid %v, want %v", tc.nameLen, tc.nodes, opErrs, got, tc.wantOK)
		}
		if want := job.Name + "-worker-" + strconv.Itoa(tc.nodes-1); len(worker) != len(want) {
			t.Errorf("WorkerName(%d chars, %d) = %q, want the length of %q", tc.nameLen, tc.nodes, worker, want)
		}
	}
}
