package verify

import (
	"encoding/json"
	"fmt"
	"strings"

	wfv1 "github.com/argoproj/argo-workflows/v3/pkg/apis/workflow/v1alpha1"
	"github.com/argoproj/argo-workflows/v3/util/template"
	kubeflow "github.com/kubeflow/mpi-operator/pkg/apis/kubeflow/v2beta1"
	"github.com/kubeflow/mpi-operator/pkg/apis/kubeflow/validation"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"sigs.k8s.io/yaml"
)

// Realistic worst-case values of Argo's variables in a run.
const (
	exampleUID       = "6f1c2a9e-3b7d-4e25-9a08-c4d5e6f70812"
	exampleTimestamp = "2026-01-01T00:00:00Z"
	// generatedSuffix stands for the 5 characters Kubernetes appends to
	// a generateName (from its alphabet of consonants and digits).
	generatedSuffix = "b2d4f"
	// maxGeneratedBase is how much of a generateName Kubernetes keeps.
	maxGeneratedBase = 63 - len(generatedSuffix)
	maxPodHostname   = 63
)

// generatedName returns the longest name Kubernetes generates from a
// generateName.
func generatedName(gen string) string {
	if len(gen) > maxGeneratedBase {
		gen = gen[:maxGeneratedBase]
	}
	return gen + generatedSuffix
}

// substitutions returns the values of Argo's global variables in a run of
// a workflow named wfName.
func substitutions(wfName, namespace string, args wfv1.Arguments) map[string]any {
	m := map[string]any{
		"workflow.name":                      wfName,
		"workflow.uid":                       exampleUID,
		"workflow.namespace":                 namespace,
		"workflow.creationTimestamp":         exampleTimestamp,
		"workflow.creationTimestamp.RFC3339": exampleTimestamp,
	}
	for _, p := range args.Parameters {
		switch {
		case p.Value != nil:
			m["workflow.parameters."+p.Name] = p.Value.String()
		case p.Default != nil:
			m["workflow.parameters."+p.Name] = p.Default.String()
		}
	}
	return m
}

// checkTemplates checks the resource templates of a workflow spec: their
// conditions and their manifests, after Argo's substitution of the
// variables of a run named wfName.
func checkTemplates(d *doc, field string, tmpls []wfv1.Template, args wfv1.Arguments, wfName string) []Problem {
	var out []Problem
	var vars map[string]any
	for i := range tmpls {
		if tmpls[i].Resource == nil {
			continue
		}
		if vars == nil {
			vars = substitutions(wfName, d.namespace, args)
		}
		f := fmt.Sprintf("%s[%d].resource", field, i)
		res, err := substitute(&tmpls[i], vars)
		if err != nil {
			out = append(out, Problem{Field: f, Check: CheckResource, Msg: "Argo's variable substitution fails: " + err.Error()})
			continue
		}
		var m *manifest
		if res.Manifest != "" {
			m = parseManifest(res.Manifest)
		}
		if c := res.SuccessCondition; c != "" {
			out = append(out, checkCondition(f+".successCondition", c, false, m)...)
		}
		if c := res.FailureCondition; c != "" {
			out = append(out, checkCondition(f+".failureCondition", c, true, m)...)
		}
		if m != nil {
			out = append(out, checkManifest(d, f, res, m, wfName)...)
		}
	}
	return out
}

// substitute returns the resource template as Argo runs it: the
// template's JSON with the variables replaced by Argo's own code.
func substitute(t *wfv1.Template, vars map[string]any) (*wfv1.ResourceTemplate, error) {
	data, err := json.Marshal(t.Resource)
	if err != nil {
		return nil, err
	}
	s, err := template.Replace(string(data), vars, true)
	if err != nil {
		return nil, err
	}
	var res wfv1.ResourceTemplate
	if err := json.Unmarshal([]byte(s), &res); err != nil {
		return nil, err
	}
	return &res, nil
}

// checkCondition parses a condition as Argo's executor does
// (workflow/executor/resource.go: labels.Parse, then the requirements one
// by one against the object's JSON, each key a gjson path: the step fails
// as soon as any failure requirement matches, and succeeds when every
// success requirement does). When the manifest's kind is registered, each
// key must be a field of its OpenAPI schema.
func checkCondition(field, cond string, failure bool, m *manifest) []Problem {
	sel, err := labels.Parse(cond)
	if err != nil {
		return []Problem{{Field: field, Check: CheckCondition,
			Msg: fmt.Sprintf("Argo's executor cannot parse %q (labels.Parse: %v); the step would fail at run time", cond, err)}}
	}
	reqs, _ := sel.Requirements()
	var out []Problem
	if failure && len(reqs) > 1 {
		out = append(out, Problem{Field: field, Check: CheckCondition,
			Msg: fmt.Sprintf("%q has %d comma-separated requirements: Argo's executor fails the step as soon as any one of them matches (it ORs failure requirements, while it ANDs success requirements as a label selector does); write a single requirement", cond, len(reqs))})
	}
	if m == nil || m.kind == nil {
		return out
	}
	r := getRegistry()
	for _, req := range reqs {
		if r.hasPath(m.kind.schema, strings.Split(req.Key(), "."), 0) {
			continue
		}
		effect := "the step can never succeed and waits until its deadline"
		if failure {
			effect = "failures of the object go unnoticed until the step's deadline"
		}
		out = append(out, Problem{Field: field, Check: CheckCondition,
			Msg: fmt.Sprintf("%s %s has no field %s (by its OpenAPI schema), so %q never matches: %s", m.tm.APIVersion, m.tm.Kind, req.Key(), req.String(), effect)})
	}
	return out
}

// Actions whose manifest is a whole object.
var wholeObject = map[string]bool{"create": true, "apply": true, "replace": true}

// manifest is the object of a resource template.
type manifest struct {
	json []byte
	tm   typeMeta
	kind *registered // nil if not registered
	err  error       // of parsing
}

func parseManifest(text string) *manifest {
	m := &manifest{}
	m.json, m.err = yaml.YAMLToJSON([]byte(text))
	if m.err != nil {
		m.err = fmt.Errorf("not YAML after Argo's substitution: %w", m.err)
		return m
	}
	if err := json.Unmarshal(m.json, &m.tm); err != nil {
		m.err = fmt.Errorf("not a Kubernetes object: %w", err)
		return m
	}
	m.kind = getRegistry().lookup(m.tm.APIVersion, m.tm.Kind)
	return m
}

// checkManifest checks the object a resource template creates: its schema,
// its namespace, and for an MPIJob mpi-operator's own rules.
func checkManifest(d *doc, f string, res *wfv1.ResourceTemplate, m *manifest, wfName string) []Problem {
	if !wholeObject[res.Action] {
		return nil // a patch, or an object to get or delete
	}
	mf := f + ".manifest"
	if m.err != nil {
		return []Problem{{Field: mf, Check: CheckSchema, Msg: m.err.Error()}}
	}
	tm := m.tm
	var out []Problem
	if res.SetOwnerReference && tm.Metadata.Namespace != "" && tm.Metadata.Namespace != d.namespace {
		out = append(out, Problem{Field: mf + " > metadata.namespace", Check: CheckResource,
			Msg: fmt.Sprintf("setOwnerReference makes the workflow in namespace %q the owner of an object in namespace %q; Kubernetes treats cross-namespace owners as absent and garbage-collects the object", d.namespace, tm.Metadata.Namespace)})
	}
	k := m.kind
	if k == nil {
		return append(out, Problem{Field: mf + " > kind", Check: CheckSchema,
			Msg: fmt.Sprintf("no schema is registered for apiVersion %q, kind %q", tm.APIVersion, tm.Kind)})
	}
	obj, probs := k.decode(m.json)
	probs = append(probs, k.validate(m.json)...)
	for _, p := range probs {
		out = append(out, Problem{Field: join(mf, p.field), Check: CheckSchema, Msg: p.msg})
	}
	if m, ok := obj.(metav1.Object); ok {
		// As created: in the workflow's namespace unless it names one.
		if m.GetNamespace() == "" {
			m.SetNamespace(d.namespace)
		}
		out = append(out, checkMetadata(obj, mf)...)
	}
	if job, ok := obj.(*kubeflow.MPIJob); ok {
		out = append(out, checkMPIJob(job, mf, wfName)...)
	}
	return out
}

func join(outer, inner string) string {
	if inner == "" {
		return outer
	}
	if outer == "" {
		return inner
	}
	return outer + " > " + inner
}

// validateMPIJob is mpi-operator's validation (a variable for tests).
var validateMPIJob = validation.ValidateMPIJob

// checkMPIJob names the job as Kubernetes would, applies mpi-operator's
// defaults and validation, and checks that the longest pod hostname of the
// job (which is also its launcher Job's name, a label value) fits 63
// characters. wfName, if not empty, is the workflow name the job's name
// derives from, for the messages.
func checkMPIJob(job *kubeflow.MPIJob, field, wfName string) []Problem {
	if job.Name == "" && job.GenerateName != "" {
		job.Name = generatedName(job.GenerateName)
	}
	kubeflow.SetDefaults_MPIJob(job)
	var out []Problem
	nameReported := false
	for _, e := range validateMPIJob(job) {
		if e.Field == "metadata.name" {
			nameReported = true
		}
		out = append(out, Problem{Field: join(field, e.Field), Check: CheckMPIJob, Msg: "mpi-operator's ValidateMPIJob: " + e.ErrorBody()})
	}
	host := job.Name + "-launcher"
	if w := job.Spec.MPIReplicaSpecs[kubeflow.MPIReplicaTypeWorker]; w != nil && w.Replicas != nil && *w.Replicas > 0 {
		if h := fmt.Sprintf("%s-worker-%d", job.Name, *w.Replicas-1); len(h) > len(host) {
			host = h
		}
	}
	if len(host) > maxPodHostname && !nameReported {
		how := fmt.Sprintf("the job's name is %q", job.Name)
		if wfName != "" {
			how = fmt.Sprintf("the workflow is named %q and the job %q", wfName, job.Name)
		}
		out = append(out, Problem{Field: join(field, "metadata.name"), Check: CheckMPIJob,
			Msg: fmt.Sprintf("pod hostname %q is %d characters when %s; Kubernetes allows %d", host, len(host), how, maxPodHostname)})
	}
	return out
}
