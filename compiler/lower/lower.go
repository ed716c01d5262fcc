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
	LabelManagedBy  = "app.kubernetes.io/managed-by"
	LabelPartOf     = "app.kubernetes.io/part-of"
	LabelPipeline   = "cairn.dev/pipeline"
	LabelProject    = "cairn.dev/project"
	LabelStep       = "cairn.dev/step"
	LabelWorkflow   = "workflows.argoproj.io/workflow" // what `argo logs` selects pods by
	AnnotCompiler   = "cairn.dev/compiler-version"
	AnnotSpecDigest = "cairn.dev/spec-digest"
	AnnotGitCommit  = "cairn.dev/git-commit"
	AnnotGitDirty   = "cairn.dev/git-dirty"
	ManagedByValue  = "cairn"
	ParamRunRoot    = "run-root"
	// ParamModelRepository is the workflow parameter naming where pack
	// stores the model.
	ParamModelRepository = "model-repository"
	WorkflowNameExpr     = "{{workflow.name}}"
	WorkflowUIDExpr      = "{{workflow.uid}}"
)

// Annotations of the WorkflowTemplate only.
const (
	// Estimates of one run and of a month of scheduled runs: GPU-hours and
	// USD, written with two decimals; the costs only when the project's
	// price table prices everything the run uses.
	AnnotGPUHoursPerRun = "cairn.dev/gpu-hours-per-run"
	AnnotCostPerRun     = "cairn.dev/cost-per-run"
	AnnotCostPerMonth   = "cairn.dev/cost-per-month"
	// AnnotPIIApprover names who approved reading personal data
	// (policy.pii.approver), on pipelines that read it.
	AnnotPIIApprover = "cairn.dev/pii-approver"
)

// ServiceAccount is the name of a pipeline's own service account, which
// its workflows run as (compiler/lower/rbac renders it with its Role):
// the project's service account name, a dash and the pipeline's name, so
// that no two pipelines share permissions.
func ServiceAccount(p *ir.Project, pl *ir.Pipeline) string {
	return p.ServiceAccount + "-" + pl.Name
}

// RunDir is the folder of one run: "<run-root>/<workflow uid>".
const RunDir = "{{workflow.parameters." + ParamRunRoot + "}}/" + WorkflowUIDExpr

// FeatureOutputURI is where a feature step writes one output.
func FeatureOutputURI(step, output string) string {
	return RunDir + "/features/" + step + "/" + output
}

// DataURI is where an ingest step writes the run's copy of a dataset.
func DataURI(dataset string) string { return RunDir + "/data/" + dataset }

// ModelURI is where training writes the model.
const ModelURI = RunDir + "/model"

// MetricsURI is where evaluation writes its metrics.
const MetricsURI = RunDir + "/evaluation/metrics.json"

// BraceVar is the environment variable holding "{" that escaped user
// strings refer to; Escape reports when a container needs it.
const BraceVar = "CAIRN_LB"

// Escaper rewrites user strings for a container's command, args and
// environment so that Argo's template substitution, which may run several
// times, finds no "{{" to expand, while Kubernetes' own $(VAR) expansion
// still gives the program exactly what it would have given for the
// original string. The first brace of each "{{" becomes $(CAIRN_LB), which
// Kubernetes expands from the container's environment; a reference to
// $(CAIRN_LB) the user wrote becomes $$(CAIRN_LB), Kubernetes' escape for
// the literal text, in every string (any string of the container may
// define the variable), so that it still reaches the program as written.
type Escaper struct {
	// Used reports that an escaped string refers to BraceVar.
	Used bool
}

// braceRef is the reference to BraceVar.
const braceRef = "$(" + BraceVar + ")"

// String escapes one user string.
func (e *Escaper) String(s string) string {
	if !strings.Contains(s, "{{") && !strings.Contains(s, braceRef) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); {
		c := s[i]
		if c == '$' && i+1 < len(s) {
			switch n := s[i+1]; n {
			case '$': // Kubernetes' escaped "$"
				b.WriteString("$$")
				i += 2
			case '(':
				j := strings.IndexByte(s[i+2:], ')')
				if j < 0 {
					// An unclosed reference stays as written; "$$(" keeps
					// it from pairing with a ")" of an escape further on.
					b.WriteString("$$(")
					i += 2
					continue
				}
				ref := s[i : i+2+j+1]
				switch {
				case strings.Contains(ref, "{{"):
					// Not a variable name Kubernetes can define: it
					// leaves the text as it is, so write it literally.
					b.WriteString("$$(")
					b.WriteString(e.literal(ref[2 : len(ref)-1]))
					b.WriteString(")")
				case ref == braceRef:
					// The user's own text, not Cairn's variable:
					// undefined for the user, it stays as written.
					b.WriteString("$" + braceRef)
				default:
					b.WriteString(ref)
				}
				i += len(ref)
			case '{':
				if i+2 < len(s) && s[i+2] == '{' {
					// "$" then "{{": write the "$" as "$$" so the next
					// brace can be escaped on its own.
					b.WriteString("$$")
					i++
					continue
				}
				b.WriteString("${")
				i += 2
			default:
				b.WriteByte('$')
				b.WriteByte(n)
				i += 2
			}
			continue
		}
		if c == '{' && i+1 < len(s) && s[i+1] == '{' {
			b.WriteString(braceRef)
			e.Used = true
			i++
			continue
		}
		b.WriteByte(c)
		i++
	}
	return b.String()
}

// literal escapes s so that Kubernetes' expansion gives back s itself.
func (e *Escaper) literal(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		switch {
		case s[i] == '$':
			b.WriteString("$$")
		case s[i] == '{' && i+1 < len(s) && s[i+1] == '{':
			b.WriteString(braceRef)
			e.Used = true
		default:
			b.WriteByte(s[i])
		}
	}
	return b.String()
}

// Strings escapes every string of a list.
func (e *Escaper) Strings(ss []string) []string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = e.String(s)
	}
	return out
}

// Env returns env with BraceVar defined first when an escaped string
// needs it (Kubernetes expands references to variables defined earlier).
func (e *Escaper) Env(env []corev1.EnvVar) []corev1.EnvVar {
	if !e.Used {
		return env
	}
	return append([]corev1.EnvVar{{Name: BraceVar, Value: "{"}}, env...)
}

// JSONText makes JSON text safe to pass as an argument or environment
// value: "$" and the first brace of each "{{" (which occur only inside
// JSON strings) become \u0024 and \u007b, so neither Argo nor Kubernetes
// changes the text, and decoding it gives the same value.
func JSONText(s string) string {
	if !strings.ContainsAny(s, "${") {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		switch {
		case s[i] == '$':
			b.WriteString(`\u0024`)
		case s[i] == '{' && i+1 < len(s) && s[i+1] == '{':
			b.WriteString(`\u007b`)
		default:
			b.WriteByte(s[i])
		}
	}
	return b.String()
}

// JSONArg encodes v as canonical JSON made safe by JSONText.
func JSONArg(v any) string { return JSONText(CanonicalJSON(v)) }

// EnvName turns a spec name into an environment variable name suffix:
// "build-features" becomes "BUILD_FEATURES".
func EnvName(name string) string {
	return strings.ToUpper(strings.ReplaceAll(name, "-", "_"))
}

// InputURI returns the URI a step reads the named input from.
func InputURI(pl *ir.Pipeline, name string) string {
	s := pl.Sources()[name]
	if s.Dataset != "" {
		if pl.Data[s.Dataset].Ingest != nil {
			return DataURI(s.Dataset)
		}
		return pl.Data[s.Dataset].URI
	}
	return FeatureOutputURI(s.Feature, s.Output)
}

// Env returns a step's environment: Cairn's variables in name order, then
// the user's, escaped by esc, in name order. Call esc.Env on the result
// once the command is escaped too.
func Env(pl *ir.Pipeline, cairn map[string]string, inputs []string, user map[string]string, esc *Escaper) []corev1.EnvVar {
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
		if _, ours := m[k]; ours || k == BraceVar {
			continue
		}
		env = append(env, corev1.EnvVar{Name: k, Value: esc.String(user[k])})
	}
	return env
}

// TrainEnv returns the training step's environment, its user parts
// escaped by esc.
func TrainEnv(pl *ir.Pipeline, esc *Escaper) []corev1.EnvVar {
	hp := map[string]any{}
	for k, v := range pl.Train.Hyperparameters {
		hp[k] = v
	}
	return Env(pl, map[string]string{
		"CAIRN_MODEL":   ModelURI,
		"CAIRN_HPARAMS": JSONArg(hp),
	}, pl.Train.Inputs, pl.Train.Env, esc)
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
