package argo

import (
	"bytes"
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"strings"

	wfv1 "github.com/argoproj/argo-workflows/v3/pkg/apis/workflow/v1alpha1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"cairn.dev/cairn/compiler/emit"
	"cairn.dev/cairn/compiler/ir"
	"cairn.dev/cairn/compiler/lower"
	"cairn.dev/cairn/compiler/lower/kserve"
)

// Names of the serving and drift tasks, and the drift CronWorkflow's file.
const (
	TaskDeploy   = "deploy"
	TaskDrift    = "drift"
	TaskRetrain  = "retrain"
	ParamDrifted = "drifted"
	// ParamStorageURI is the deploy task's output: the URI the
	// InferenceService pulls the model from.
	ParamStorageURI = "storage-uri"
	FileDriftCron   = "drift-cronworkflow.yaml"
	DriftReport     = OutputsDir + "/drift-report.json"
	driftSuffix     = "-drift"
	retrainSuffix   = "-retrain-"
	deployEnvLabel  = "cluster"
)

// Predicate types the deploy task requires verified statements of (as
// attest/lineage names them; the compiler does not import attest).
const (
	PredicateProvenance = "https://slsa.dev/provenance/v1"
	PredicateEvaluation = "https://cairn.dev/evaluation/v1"
)

// DriftCronName names the drift CronWorkflow of a pipeline.
func DriftCronName(pipeline string) string { return pipeline + driftSuffix }

// deploy adds the task verifying the packed model and rolling it out as a
// canary of the pipeline's InferenceService.
func (b *builder) deploy() error {
	isvc, err := kserve.Build(b.p, b.pl, b.meta, kserve.DigestPlaceholder, true)
	if err != nil {
		return err
	}
	manifest, err := emit.Manifest(isvc)
	if err != nil {
		return err
	}
	var compact bytes.Buffer
	if err := json.Compact(&compact, []byte(manifest)); err != nil {
		return err
	}
	args := []string{
		"--repository", "{{workflow.parameters." + lower.ParamModelRepository + "}}",
		"--digest", "{{inputs.parameters." + ParamDigest + "}}",
		"--public-key", SigningMount + "/cosign.pub",
		"--key", SigningMount + "/cosign.key",
		"--manifest", lower.JSONText(compact.String()),
		"--environment", deployEnvLabel,
		"--run-id", lower.WorkflowUIDExpr,
		"--outputs", OutputsDir,
		"--require", PredicateProvenance,
	}
	if b.pl.Evaluate != nil {
		args = append(args, "--require", PredicateEvaluation)
	}
	if v := b.meta.Annotations[lower.AnnotGitCommit]; v != "" {
		args = append(args, "--git-commit", v)
	}
	c, err := b.platformContainer("deploy", args)
	if err != nil {
		return err
	}
	b.signing(c)
	b.add(wfv1.DAGTask{Name: TaskDeploy, Depends: TaskPack, Arguments: wfv1.Arguments{Parameters: []wfv1.Parameter{{
		Name: ParamDigest, Value: wfv1.AnyStringPtr("{{tasks." + TaskPack + ".outputs.parameters." + ParamDigest + "}}"),
	}}}}, wfv1.Template{
		Name:      TaskDeploy,
		Metadata:  stepMeta("deploy"),
		Inputs:    wfv1.Inputs{Parameters: []wfv1.Parameter{{Name: ParamDigest}}},
		Container: c,
		Outputs: wfv1.Outputs{Parameters: []wfv1.Parameter{{
			Name:      ParamStorageURI,
			ValueFrom: &wfv1.ValueFrom{Path: OutputsDir + "/" + ParamStorageURI},
		}}},
	})
	return nil
}

// signing mounts the signing secret into a platform step and gives it the
// key's password.
func (b *builder) signing(c *corev1.Container) {
	c.Env = append(c.Env, corev1.EnvVar{Name: "COSIGN_PASSWORD", ValueFrom: &corev1.EnvVarSource{
		SecretKeyRef: &corev1.SecretKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: b.p.Signing.Secret}, Key: "cosign.password"},
	}})
	c.VolumeMounts = []corev1.VolumeMount{{Name: signingVolume, MountPath: SigningMount, ReadOnly: true}}
}

// DriftReference is the dataset whose snapshot drift compares with: the
// first dataset, by name, declaring every drift feature as a column (the
// first dataset when none does, or no features are named).
func DriftReference(pl *ir.Pipeline) *ir.Dataset {
	names := ir.SortedKeys(pl.Data)
	if len(names) == 0 {
		return nil
	}
	var feats []string
	if pl.Serve != nil && pl.Serve.Drift != nil {
		feats = pl.Serve.Drift.Features
	}
	for _, n := range names {
		d := pl.Data[n]
		all := true
		for _, f := range feats {
			if d.Columns[f] == nil {
				all = false
				break
			}
		}
		if all {
			return d
		}
	}
	return pl.Data[names[0]]
}

// DriftCronWorkflow builds the CronWorkflow that compares recent features
// with the training snapshot on the drift schedule and, when the spec
// says so, submits the pipeline's WorkflowTemplate on drift.
func DriftCronWorkflow(p *ir.Project, pl *ir.Pipeline, meta lower.Meta) (*wfv1.CronWorkflow, error) {
	d := pl.Serve.Drift
	ref := DriftReference(pl)
	if ref == nil {
		return nil, fmt.Errorf("pipeline %q: drift needs a dataset to compare with", pl.Name)
	}
	feats := append([]string(nil), d.Features...)
	sort.Strings(feats)
	args := []string{
		"--reference", ref.URI,
		"--current", d.Source,
		"--threshold", strconv.FormatFloat(d.Threshold, 'f', -1, 64),
		"--report", DriftReport,
		"--outputs", OutputsDir,
	}
	if len(feats) > 0 {
		args = append(args, "--features", strings.Join(feats, ","))
	}
	b := &builder{p: p, pl: pl, meta: meta}
	c, err := b.platformContainer("drift", args)
	if err != nil {
		return nil, err
	}
	c.Env[1] = corev1.EnvVar{Name: "CAIRN_RUN_DIR", Value: strings.TrimSuffix(p.Storage.Root, "/") + "/" + p.Namespace + "/" + pl.Name + "/drift/{{workflow.uid}}"}
	tasks := []wfv1.DAGTask{{Name: TaskDrift, Template: TaskDrift}}
	tmpls := []wfv1.Template{{
		Name:      TaskDrift,
		Metadata:  stepMeta("drift"),
		Container: c,
		Outputs: wfv1.Outputs{Parameters: []wfv1.Parameter{{
			Name:      ParamDrifted,
			ValueFrom: &wfv1.ValueFrom{Path: OutputsDir + "/" + ParamDrifted, Default: wfv1.AnyStringPtr("false")},
		}}},
	}}
	if d.Retrain {
		wf := &wfv1.Workflow{
			TypeMeta: metav1.TypeMeta{APIVersion: APIVersion, Kind: "Workflow"},
			ObjectMeta: metav1.ObjectMeta{
				GenerateName: pl.Name + retrainSuffix,
				Namespace:    p.Namespace,
				Labels:       meta.Labels,
				Annotations:  map[string]string{"cairn.dev/triggered-by": "{{workflow.name}}"},
			},
			Spec: wfv1.WorkflowSpec{WorkflowTemplateRef: &wfv1.WorkflowTemplateRef{Name: pl.Name}},
		}
		manifest, err := emit.Manifest(wf)
		if err != nil {
			return nil, err
		}
		tasks = append(tasks, wfv1.DAGTask{
			Name:     TaskRetrain,
			Template: TaskRetrain,
			Depends:  TaskDrift + ".Failed",
			When:     "{{tasks." + TaskDrift + ".outputs.parameters." + ParamDrifted + "}} == true",
		})
		tmpls = append(tmpls, wfv1.Template{
			Name:     TaskRetrain,
			Metadata: stepMeta("retrain"),
			Resource: &wfv1.ResourceTemplate{Action: "create", Manifest: manifest},
		})
	}
	three := int32(3)
	om := objectMeta(p, pl, meta)
	om.Name = DriftCronName(pl.Name)
	delete(om.Annotations, "workflows.argoproj.io/description")
	om.Annotations["workflows.argoproj.io/description"] = "Drift monitor of model " + pl.Name + ": population stability index of recent features against the training snapshot."
	return &wfv1.CronWorkflow{
		TypeMeta:   metav1.TypeMeta{APIVersion: APIVersion, Kind: KindCron},
		ObjectMeta: om,
		Spec: wfv1.CronWorkflowSpec{
			Schedules:                  []string{d.Cron},
			Timezone:                   "UTC",
			ConcurrencyPolicy:          wfv1.ForbidConcurrent,
			SuccessfulJobsHistoryLimit: &three,
			FailedJobsHistoryLimit:     &three,
			WorkflowMetadata: &metav1.ObjectMeta{Labels: map[string]string{
				lower.LabelPipeline: pl.Name,
				lower.LabelProject:  p.Name,
			}},
			WorkflowSpec: wfv1.WorkflowSpec{
				Entrypoint:         Entrypoint,
				ServiceAccountName: lower.ServiceAccount(p, pl),
				SecurityContext:    lower.PodSecurity(),
				PodMetadata: &wfv1.Metadata{Labels: map[string]string{
					lower.LabelPipeline: pl.Name,
					lower.LabelProject:  p.Name,
				}},
				Templates: append([]wfv1.Template{{Name: Entrypoint, DAG: &wfv1.DAGTemplate{Tasks: tasks}}}, tmpls...),
			},
		},
	}, nil
}
