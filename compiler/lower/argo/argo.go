// Package argo lowers a pipeline to Argo Workflows objects: a
// WorkflowTemplate whose DAG validates the data, computes features, trains
// (in a pod or as an MPIJob), evaluates, gates and packs the model, and a
// CronWorkflow when the pipeline has a schedule.
package argo

import (
	"fmt"
	"sort"
	"strings"

	wfv1 "github.com/argoproj/argo-workflows/v3/pkg/apis/workflow/v1alpha1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"cairn.dev/cairn/compiler/emit"
	"cairn.dev/cairn/compiler/ir"
	"cairn.dev/cairn/compiler/lower"
	"cairn.dev/cairn/compiler/lower/mpijob"
)

// Names of tasks and templates, and the paths platform steps write their
// outputs to.
const (
	Entrypoint     = "main"
	TaskTrain      = "train"
	TaskEvaluate   = "evaluate"
	TaskGate       = "gate"
	TaskPack       = "pack"
	OutputsDir     = "/tmp/cairn/outputs"
	SigningMount   = "/var/run/cairn/signing"
	signingVolume  = "signing-key"
	ParamDigest    = "digest"
	APIVersion     = "argoproj.io/v1alpha1"
	KindTemplate   = "WorkflowTemplate"
	KindCron       = "CronWorkflow"
	FileTemplate   = "workflowtemplate.yaml"
	FileCron       = "cronworkflow.yaml"
	platformCPU    = "500m"
	platformMemory = "1Gi"
)

// MPI resource template conditions, as Argo evaluates them against the
// MPIJob's status.
const (
	MPISuccessCondition = "status.replicaStatuses.Launcher.succeeded == 1"
	MPIFailureCondition = "status.replicaStatuses.Launcher.failed > 0"
)

// SpotRetryExpression retries preempted pods: errors (the pod or node went
// away) and kills by SIGKILL or SIGTERM, not failures of the program.
const SpotRetryExpression = "lastRetry.status == 'Error' || (lastRetry.status == 'Failed' && asInt(lastRetry.exitCode) in [137, 143])"

// ValidateTask names the data-validation task of a dataset.
func ValidateTask(dataset string) string { return "validate-" + dataset }

// IngestTask names the task writing a run's copy of a dataset.
func IngestTask(dataset string) string { return "ingest-" + dataset }

// FeatureTask names the task of a feature step.
func FeatureTask(step string) string { return "feature-" + step }

// Lower returns the pipeline's Argo objects. specJSON is the pipeline's
// evaluated spec, passed to the platform steps.
func Lower(p *ir.Project, pl *ir.Pipeline, specJSON string, meta lower.Meta) ([]lower.Object, error) {
	wt, err := WorkflowTemplate(p, pl, specJSON, meta)
	if err != nil {
		return nil, err
	}
	objs := []lower.Object{{File: FileTemplate, Value: wt}}
	if pl.Schedule != nil {
		objs = append(objs, lower.Object{File: FileCron, Value: CronWorkflow(p, pl, meta)})
	}
	if pl.Serve != nil && pl.Serve.Drift != nil {
		cw, err := DriftCronWorkflow(p, pl, meta)
		if err != nil {
			return nil, fmt.Errorf("lowering pipeline %q to a drift CronWorkflow: %w", pl.Name, err)
		}
		objs = append(objs, lower.Object{File: FileDriftCron, Value: cw})
	}
	return objs, nil
}

type builder struct {
	p        *ir.Project
	pl       *ir.Pipeline
	specJSON string
	meta     lower.Meta
	tasks    []wfv1.DAGTask
	tmpls    []wfv1.Template
}

// WorkflowTemplate builds the pipeline's WorkflowTemplate.
func WorkflowTemplate(p *ir.Project, pl *ir.Pipeline, specJSON string, meta lower.Meta) (*wfv1.WorkflowTemplate, error) {
	b := &builder{p: p, pl: pl, specJSON: specJSON, meta: meta}
	if err := b.build(); err != nil {
		return nil, fmt.Errorf("lowering pipeline %q to a WorkflowTemplate: %w", pl.Name, err)
	}
	tmpls := append([]wfv1.Template{{Name: Entrypoint, DAG: &wfv1.DAGTemplate{Tasks: b.tasks}}}, b.tmpls...)
	root := strings.TrimSuffix(p.Storage.Root, "/") + "/" + p.Namespace + "/" + pl.Name
	wt := &wfv1.WorkflowTemplate{
		TypeMeta:   metav1.TypeMeta{APIVersion: APIVersion, Kind: KindTemplate},
		ObjectMeta: objectMeta(p, pl, meta),
		Spec: wfv1.WorkflowSpec{
			Entrypoint:         Entrypoint,
			ServiceAccountName: lower.ServiceAccount(p, pl),
			SecurityContext:    lower.PodSecurity(),
			Arguments: wfv1.Arguments{Parameters: []wfv1.Parameter{{
				Name:        lower.ParamRunRoot,
				Value:       wfv1.AnyStringPtr(root),
				Description: wfv1.AnyStringPtr("URI under which each run writes its outputs, one folder per workflow uid"),
			}, {
				Name:        lower.ParamModelRepository,
				Value:       wfv1.AnyStringPtr(pl.Model.Repository),
				Description: wfv1.AnyStringPtr("Where pack stores the model: a registry repository, or oci:PATH for an OCI image layout"),
			}}},
			WorkflowMetadata: &wfv1.WorkflowMetadata{Labels: map[string]string{
				lower.LabelPipeline: pl.Name,
				lower.LabelProject:  p.Name,
			}},
			PodMetadata: &wfv1.Metadata{Labels: map[string]string{
				lower.LabelPipeline: pl.Name,
				lower.LabelProject:  p.Name,
			}},
			Volumes: []corev1.Volume{{
				Name:         signingVolume,
				VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: p.Signing.Secret}},
			}},
			Templates: tmpls,
		},
	}
	return wt, nil
}

func objectMeta(p *ir.Project, pl *ir.Pipeline, meta lower.Meta) metav1.ObjectMeta {
	ann := map[string]string{}
	for k, v := range meta.Annotations {
		ann[k] = v
	}
	if pl.Description != "" {
		ann["workflows.argoproj.io/description"] = pl.Description
	}
	return metav1.ObjectMeta{Name: pl.Name, Namespace: p.Namespace, Labels: meta.Labels, Annotations: ann}
}

func (b *builder) add(task wfv1.DAGTask, tmpl wfv1.Template) {
	task.Template = tmpl.Name
	b.tasks = append(b.tasks, task)
	b.tmpls = append(b.tmpls, tmpl)
}

// depends joins task names into an Argo depends expression.
func depends(names []string) string {
	seen := map[string]bool{}
	var uniq []string
	for _, n := range names {
		if !seen[n] {
			seen[n] = true
			uniq = append(uniq, n)
		}
	}
	sort.Strings(uniq)
	return strings.Join(uniq, " && ")
}

// producers returns the tasks producing the named inputs.
func (b *builder) producers(inputs []string) []string {
	src := b.pl.Sources()
	var out []string
	for _, in := range inputs {
		s := src[in]
		if s.Dataset != "" {
			out = append(out, ValidateTask(s.Dataset))
		} else if s.Feature != "" {
			out = append(out, FeatureTask(s.Feature))
		}
	}
	return out
}

func (b *builder) build() error {
	pl := b.pl
	for _, name := range ir.SortedKeys(pl.Data) {
		if d := pl.Data[name]; d.Ingest != nil {
			if err := b.ingest(d); err != nil {
				return err
			}
		}
		if err := b.validate(pl.Data[name]); err != nil {
			return err
		}
	}
	for _, name := range ir.SortedKeys(pl.Features) {
		if err := b.feature(pl.Features[name]); err != nil {
			return err
		}
	}
	if err := b.train(); err != nil {
		return err
	}
	last := TaskTrain
	if pl.Evaluate != nil {
		if err := b.evaluate(); err != nil {
			return err
		}
		if err := b.gate(); err != nil {
			return err
		}
		last = TaskGate
	}
	if err := b.pack(last); err != nil {
		return err
	}
	if pl.Serve != nil {
		return b.deploy()
	}
	return nil
}

func (b *builder) platformContainer(step string, args []string) (*corev1.Container, error) {
	res, err := lower.Resources(platformCPU, platformMemory, 0)
	if err != nil {
		return nil, err
	}
	return &corev1.Container{
		Name:            "main",
		Image:           b.p.PlatformImage,
		Command:         []string{"cairn", "step", step},
		Args:            args,
		Env:             []corev1.EnvVar{{Name: "CAIRN_PIPELINE", Value: b.pl.Name}, {Name: "CAIRN_RUN_DIR", Value: lower.RunDir}},
		Resources:       res,
		SecurityContext: lower.ContainerSecurity(),
	}, nil
}

func stepMeta(step string) wfv1.Metadata {
	return wfv1.Metadata{Labels: map[string]string{lower.LabelStep: step}}
}

func deadline(s string) (*intstr.IntOrString, error) {
	sec, err := lower.Seconds(s)
	if err != nil {
		return nil, err
	}
	v := intstr.FromInt(int(sec))
	return &v, nil
}

func (b *builder) validate(d *ir.Dataset) error {
	args := []string{
		"--dataset", d.Name,
		"--spec", lower.JSONArg(d),
		"--outputs", OutputsDir,
	}
	task := wfv1.DAGTask{Name: ValidateTask(d.Name)}
	if d.Ingest != nil {
		args = append(args, "--path", lower.DataURI(d.Name))
		task.Depends = IngestTask(d.Name)
	}
	c, err := b.platformContainer("validate-data", args)
	if err != nil {
		return err
	}
	name := task.Name
	b.add(task, wfv1.Template{
		Name:      name,
		Metadata:  stepMeta("validate-data"),
		Container: c,
		Outputs: wfv1.Outputs{Parameters: []wfv1.Parameter{{
			Name:      ParamDigest,
			ValueFrom: &wfv1.ValueFrom{Path: OutputsDir + "/" + ParamDigest},
		}}},
	})
	return nil
}

// userStep describes a step running the user's image and command.
type userStep struct {
	what       string // for errors: "feature step \"x\"", "evaluate", ...
	task       wfv1.DAGTask
	label      string // the cairn.dev/step label
	image      string
	command    []string
	env        map[string]string // the user's
	inputs     []string
	cairnEnv   map[string]string // Cairn's variables besides the inputs
	resources  ir.Resources
	maxRuntime string
}

// addUserStep adds a task and its container template for s: resources
// with requests equal to limits, a deadline from maxRuntime, and the
// command and environment escaped for Argo.
func (b *builder) addUserStep(s userStep) error {
	res, err := lower.Resources(s.resources.CPU, s.resources.Memory, 0)
	if err != nil {
		return fmt.Errorf("%s: %w", s.what, err)
	}
	dl, err := deadline(s.maxRuntime)
	if err != nil {
		return fmt.Errorf("%s: %w", s.what, err)
	}
	var esc lower.Escaper
	cmd := esc.Strings(s.command)
	env := esc.Env(lower.Env(b.pl, s.cairnEnv, s.inputs, s.env, &esc))
	b.add(s.task, wfv1.Template{
		Name:     s.task.Name,
		Metadata: stepMeta(s.label),
		Container: &corev1.Container{
			Name:            "main",
			Image:           s.image,
			Command:         cmd,
			Env:             env,
			Resources:       res,
			SecurityContext: lower.ContainerSecurity(),
		},
		ActiveDeadlineSeconds: dl,
	})
	return nil
}

// ingest adds the step writing the run's copy of dataset d.
func (b *builder) ingest(d *ir.Dataset) error {
	in := d.Ingest
	return b.addUserStep(userStep{
		what:       fmt.Sprintf("dataset %q: ingest", d.Name),
		task:       wfv1.DAGTask{Name: IngestTask(d.Name)},
		label:      "ingest",
		image:      in.Image,
		command:    in.Command,
		env:        in.Env,
		cairnEnv:   map[string]string{"CAIRN_OUTPUT_" + lower.EnvName(d.Name): lower.DataURI(d.Name)},
		resources:  in.Resources,
		maxRuntime: in.MaxRuntime,
	})
}

func (b *builder) feature(f *ir.FeatureStep) error {
	outs := map[string]string{}
	for _, o := range f.Outputs {
		outs["CAIRN_OUTPUT_"+lower.EnvName(o)] = lower.FeatureOutputURI(f.Name, o)
	}
	return b.addUserStep(userStep{
		what:       fmt.Sprintf("feature step %q", f.Name),
		task:       wfv1.DAGTask{Name: FeatureTask(f.Name), Depends: depends(b.producers(f.Inputs))},
		label:      "feature",
		image:      f.Image,
		command:    f.Command,
		env:        f.Env,
		inputs:     f.Inputs,
		cairnEnv:   outs,
		resources:  f.Resources,
		maxRuntime: f.MaxRuntime,
	})
}

func (b *builder) train() error {
	pl, c := b.pl, b.pl.Train.Compute
	dl, err := deadline(c.MaxRuntime)
	if err != nil {
		return fmt.Errorf("train: %w", err)
	}
	task := wfv1.DAGTask{Name: TaskTrain, Depends: depends(b.producers(pl.Train.Inputs))}
	tmpl := wfv1.Template{
		Name:                  TaskTrain,
		Metadata:              stepMeta("train"),
		ActiveDeadlineSeconds: dl,
		RetryStrategy:         retry(c),
	}
	if c.Kind == ir.KindMPI {
		job, err := mpijob.Build(b.p, pl, b.meta)
		if err != nil {
			return err
		}
		manifest, err := emit.Manifest(job)
		if err != nil {
			return err
		}
		tmpl.Resource = &wfv1.ResourceTemplate{
			Action:            "create",
			Manifest:          manifest,
			SetOwnerReference: true,
			SuccessCondition:  MPISuccessCondition,
			FailureCondition:  MPIFailureCondition,
		}
		b.add(task, tmpl)
		return nil
	}
	res, err := lower.Resources(c.CPU, c.Memory, c.GPUsPerNode)
	if err != nil {
		return fmt.Errorf("train.compute: %w", err)
	}
	tmpl.NodeSelector, tmpl.Tolerations = lower.Placement(b.p.Cluster, c.GPUsPerNode, c.GPUType, c.Spot)
	var esc lower.Escaper
	cmd := esc.Strings(pl.Train.Command)
	env := esc.Env(lower.TrainEnv(pl, &esc))
	tmpl.Container = &corev1.Container{
		Name:            "main",
		Image:           pl.Train.Image,
		Command:         cmd,
		Env:             env,
		Resources:       res,
		SecurityContext: lower.ContainerSecurity(),
	}
	b.add(task, tmpl)
	return nil
}

// retry returns the training step's retry strategy: preemptions on spot
// nodes are retried with backoff; elsewhere only errors of the
// infrastructure are.
func retry(c ir.Compute) *wfv1.RetryStrategy {
	if c.Retries == 0 {
		return nil
	}
	limit := intstr.FromInt(c.Retries)
	factor := intstr.FromInt(2)
	rs := &wfv1.RetryStrategy{
		Limit:       &limit,
		RetryPolicy: wfv1.RetryPolicyOnError,
		// Cap bounds each wait; maxDuration would bound the whole step,
		// attempts included, and cut a long training run's retries short.
		Backoff: &wfv1.Backoff{Duration: "1m", Factor: &factor, Cap: "30m"},
	}
	if c.Spot {
		rs.RetryPolicy = wfv1.RetryPolicyAlways
		if c.Kind != ir.KindMPI {
			rs.Expression = SpotRetryExpression
		}
	}
	return rs
}

func (b *builder) evaluate() error {
	e := b.pl.Evaluate
	return b.addUserStep(userStep{
		what:       "evaluate",
		task:       wfv1.DAGTask{Name: TaskEvaluate, Depends: depends(append([]string{TaskTrain}, b.producers(e.Inputs)...))},
		label:      "evaluate",
		image:      e.Image,
		command:    e.Command,
		env:        e.Env,
		inputs:     e.Inputs,
		cairnEnv:   map[string]string{"CAIRN_MODEL": lower.ModelURI, "CAIRN_METRICS": lower.MetricsURI},
		resources:  e.Resources,
		maxRuntime: e.MaxRuntime,
	})
}

func (b *builder) gate() error {
	c, err := b.platformContainer("gate", []string{
		"--metrics", lower.MetricsURI,
		"--gates", lower.JSONArg(b.pl.Evaluate.Gates),
	})
	if err != nil {
		return err
	}
	b.add(wfv1.DAGTask{Name: TaskGate, Depends: TaskEvaluate}, wfv1.Template{Name: TaskGate, Metadata: stepMeta("gate"), Container: c})
	return nil
}

func (b *builder) pack(after string) error {
	pl := b.pl
	args := []string{
		"--spec", lower.JSONText(b.specJSON),
		"--model", lower.ModelURI,
		"--repository", "{{workflow.parameters." + lower.ParamModelRepository + "}}",
		"--run-id", lower.WorkflowUIDExpr,
		"--started", "{{workflow.creationTimestamp.RFC3339}}",
		"--key", SigningMount + "/cosign.key",
		"--outputs", OutputsDir,
	}
	if pl.Evaluate != nil {
		args = append(args, "--metrics", lower.MetricsURI)
	}
	deps := []string{after}
	var inputs, taskArgs []wfv1.Parameter
	for _, name := range ir.SortedKeys(pl.Data) {
		t := ValidateTask(name)
		param := "digest-" + name
		inputs = append(inputs, wfv1.Parameter{Name: param})
		taskArgs = append(taskArgs, wfv1.Parameter{Name: param, Value: wfv1.AnyStringPtr("{{tasks." + t + ".outputs.parameters." + ParamDigest + "}}")})
		args = append(args, "--dataset-digest", name+"={{inputs.parameters."+param+"}}")
		deps = append(deps, t)
	}
	for _, k := range []string{lower.AnnotGitCommit, lower.AnnotSpecDigest} {
		if v := b.meta.Annotations[k]; v != "" {
			args = append(args, "--"+strings.TrimPrefix(k, "cairn.dev/"), v)
		}
	}
	c, err := b.platformContainer("pack", args)
	if err != nil {
		return err
	}
	b.signing(c)
	b.add(wfv1.DAGTask{Name: TaskPack, Depends: depends(deps), Arguments: wfv1.Arguments{Parameters: taskArgs}}, wfv1.Template{
		Name:      TaskPack,
		Metadata:  stepMeta("pack"),
		Inputs:    wfv1.Inputs{Parameters: inputs},
		Container: c,
		Outputs: wfv1.Outputs{Parameters: []wfv1.Parameter{{
			Name:      ParamDigest,
			ValueFrom: &wfv1.ValueFrom{Path: OutputsDir + "/" + ParamDigest},
		}}},
	})
	return nil
}

// CronWorkflow builds the CronWorkflow that runs the pipeline's
// WorkflowTemplate on its schedule.
func CronWorkflow(p *ir.Project, pl *ir.Pipeline, meta lower.Meta) *wfv1.CronWorkflow {
	s := pl.Schedule
	three := int32(3)
	return &wfv1.CronWorkflow{
		TypeMeta:   metav1.TypeMeta{APIVersion: APIVersion, Kind: KindCron},
		ObjectMeta: objectMeta(p, pl, meta),
		Spec: wfv1.CronWorkflowSpec{
			Schedules:                  []string{s.Cron},
			Timezone:                   s.Timezone,
			ConcurrencyPolicy:          wfv1.ConcurrencyPolicy(s.ConcurrencyPolicy),
			Suspend:                    s.Suspend,
			SuccessfulJobsHistoryLimit: &three,
			FailedJobsHistoryLimit:     &three,
			WorkflowMetadata: &metav1.ObjectMeta{Labels: map[string]string{
				lower.LabelPipeline: pl.Name,
				lower.LabelProject:  p.Name,
			}},
			WorkflowSpec: wfv1.WorkflowSpec{WorkflowTemplateRef: &wfv1.WorkflowTemplateRef{Name: pl.Name}},
		},
	}
}
