// Package lower holds what the lowering backends share: the Object they
// produce, the run folder layout, environment variables of steps, pod
// placement for GPUs and spot nodes, and escaping of user strings for Argo.
package lower

import (
	"bytes"
	"encoding/json"
	"fmt"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"

	"cairn.dev/cairn/compiler/ir"
)

// Object is one compiled Kubernetes object.
type Object struct {
	// File is the object's file name within its pipeline folder.
	File string
	// Value is the typed object, marshalled with encoding/json.
	Value any
}

// Meta is what every object of a pipeline is annotated and labelled with.
type Meta struct {
	Annotations map[string]string
	Labels      map[string]string
}

// Labels and annotations Cairn puts on objects.
const (
	LabelManagedBy   = "app.kubernetes.io/managed-by"
	LabelPartOf      = "app.kubernetes.io/part-of"
	LabelPipeline    = "cairn.dev/pipeline"
	LabelProject     = "cairn.dev/project"
	LabelStep        = "cairn.dev/step"
	LabelWorkflow    = "workflows.argoproj.io/workflow" // what `argo logs` selects pods by
	AnnotCompiler    = "cairn.dev/compiler-version"
	AnnotSpecDigest  = "cairn.dev/spec-digest"
	AnnotGitCommit   = "cairn.dev/git-commit"
	AnnotGitDirty    = "cairn.dev/git-dirty"
	ManagedByValue   = "cairn"
	ParamRunRoot     = "run-root"
	WorkflowNameExpr = "{{workflow.name}}"
	WorkflowUIDExpr  = "{{workflow.uid}}"
)

// RunDir is the folder of one run: "<run-root>/<workflow uid>".
const RunDir = "{{workflow.parameters." + ParamRunRoot + "}}/" + WorkflowUIDExpr

// FeatureOutputURI is where a feature step writes one output.
func FeatureOutputURI(step, output string) string {
	return RunDir + "/features/" + step + "/" + output
}

// ModelURI is where training writes the model.
const ModelURI = RunDir + "/model"

// MetricsURI is where evaluation writes its metrics.
const MetricsURI = RunDir + "/evaluation/metrics.json"

// Escape makes a user string safe from Argo's template substitution: each
// "{{" becomes an expression tag that evaluates to "{{".
func Escape(s string) string {
	return strings.ReplaceAll(s, "{{", "{{='{{'}}")
}

// EscapeAll escapes every string of a list.
func EscapeAll(ss []string) []string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = Escape(s)
	}
	return out
}

// EnvName turns a spec name into an environment variable name suffix:
// "build-features" becomes "BUILD_FEATURES".
func EnvName(name string) string {
	return strings.ToUpper(strings.ReplaceAll(name, "-", "_"))
}

// InputURI returns the URI a step reads the named input from.
func InputURI(pl *ir.Pipeline, name string) string {
	s := pl.Sources()[name]
	if s.Dataset != "" {
		return Escape(pl.Data[s.Dataset].URI)
	}
	return FeatureOutputURI(s.Feature, s.Output)
}

// Env returns a step's environment: Cairn's variables in name order, then
// the user's, escaped, in name order.
func Env(pl *ir.Pipeline, cairn map[string]string, inputs []string, user map[string]string) []corev1.EnvVar {
	m := map[string]string{"CAIRN_PIPELINE": pl.Name, "CAIRN_RUN_DIR": RunDir}
	for k, v := range cairn {
		m[k] = v
	}
	for _, in := range inputs {
		m["CAIRN_INPUT_"+EnvName(in)] = InputURI(pl, in)
	}
	env := make([]corev1.EnvVar, 0, len(m)+len(user))
	for _, k := range ir.SortedKeys(m) {
		env = append(env, corev1.EnvVar{Name: k, Value: m[k]})
	}
	for _, k := range ir.SortedKeys(user) {
		if _, ours := m[k]; ours {
			continue
		}
		env = append(env, corev1.EnvVar{Name: k, Value: Escape(user[k])})
	}
	return env
}

// CanonicalJSON encodes v as JSON with sorted object keys and no HTML
// escaping.
func CanonicalJSON(v any) string {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		panic(fmt.Sprintf("encoding %T: %v", v, err)) // only plain data is encoded
	}
	return strings.TrimSuffix(b.String(), "\n")
}

// Resources returns requests and limits set to the same CPU and memory,
// plus GPUs as a limit.
func Resources(cpu, memory string, gpus int) (corev1.ResourceRequirements, error) {
	c, err := resource.ParseQuantity(cpu)
	if err != nil {
		return corev1.ResourceRequirements{}, fmt.Errorf("cpu %q: %w", cpu, err)
	}
	m, err := resource.ParseQuantity(memory)
	if err != nil {
		return corev1.ResourceRequirements{}, fmt.Errorf("memory %q: %w", memory, err)
	}
	list := corev1.ResourceList{corev1.ResourceCPU: c, corev1.ResourceMemory: m}
	r := corev1.ResourceRequirements{Requests: list.DeepCopy(), Limits: list.DeepCopy()}
	if gpus > 0 {
		r.Limits[ResourceGPU] = *resource.NewQuantity(int64(gpus), resource.DecimalSI)
	}
	return r, nil
}

// ResourceGPU is the extended resource NVIDIA's device plugin advertises.
const ResourceGPU corev1.ResourceName = "nvidia.com/gpu"

// Placement returns the node selector and tolerations of a pod with the
// given GPUs, GPU type and spot choice.
func Placement(c ir.Cluster, gpus int, gpuType string, spot bool) (map[string]string, []corev1.Toleration) {
	sel := map[string]string{}
	var tol []corev1.Toleration
	if gpus > 0 {
		if gpuType != "" {
			sel[c.GPUTypeLabel] = gpuType
		}
		tol = append(tol, corev1.Toleration{Key: c.GPUTaint, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoSchedule})
	}
	if spot {
		for k, v := range c.SpotSelector {
			sel[k] = v
		}
		if c.SpotTaint != "" {
			tol = append(tol, corev1.Toleration{Key: c.SpotTaint, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoSchedule})
		}
	}
	sort.Slice(tol, func(i, j int) bool { return tol[i].Key < tol[j].Key })
	if len(sel) == 0 {
		sel = nil
	}
	return sel, tol
}

// PodSecurity is the pod security context of every step: not root, the
// runtime's default seccomp profile.
func PodSecurity() *corev1.PodSecurityContext {
	nonRoot := true
	uid := int64(65532)
	return &corev1.PodSecurityContext{
		RunAsNonRoot:   &nonRoot,
		RunAsUser:      &uid,
		RunAsGroup:     &uid,
		FSGroup:        &uid,
		SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
	}
}

// ContainerSecurity drops every capability and forbids privilege
// escalation.
func ContainerSecurity() *corev1.SecurityContext {
	no := false
	return &corev1.SecurityContext{
		AllowPrivilegeEscalation: &no,
		Capabilities:             &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
	}
}

// Seconds returns a spec duration in whole seconds.
func Seconds(s string) (int64, error) {
	d, err := ir.ParseDuration(s)
	if err != nil {
		return 0, err
	}
	return int64(d.Seconds()), nil
}
