package verify

import (
	"bufio"
	"bytes"
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"path"
	"slices"
	"sync"

	wfv1 "github.com/argoproj/argo-workflows/v3/pkg/apis/workflow/v1alpha1"
	kubeflow "github.com/kubeflow/mpi-operator/pkg/apis/kubeflow/v2beta1"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/yaml"

	"cairn.dev/cairn/compiler/internal/par"
)

// Checks, as named in Problem.Check.
const (
	CheckArgoLint  = "argo-lint" // Argo's own validator
	CheckCondition = "condition" // resource success and failure conditions
	CheckMetadata  = "metadata"  // Kubernetes' validation of names, labels and annotations
	CheckMPIJob    = "mpijob"    // mpi-operator's defaulting and validation, pod names
	CheckResource  = "resource"  // other run-time rules of resource templates
	CheckSchema    = "schema"    // strict decoding and the OpenAPI schema
)

// Problem is one failed check of a compiled object.
type Problem struct {
	File   string // path in the rendered set, e.g. "payments-ml/fraud/workflowtemplate.yaml"
	Object string // "WorkflowTemplate payments-ml/fraud"
	Field  string // e.g. "spec.templates[3].resource.successCondition"; "" if unknown
	Check  string // CheckArgoLint, CheckCondition, CheckMetadata, CheckMPIJob, CheckResource, CheckSchema
	Msg    string
}

// String formats the problem as "file: object: field: message [check]".
func (p Problem) String() string {
	s := p.File + ": " + p.Object
	if p.Field != "" {
		s += ": " + p.Field
	}
	return s + ": " + p.Msg + " [" + p.Check + "]"
}

// Kustomization files are skipped.
const kustomization = "kustomization.yaml"

// doc is one object of the set.
type doc struct {
	file      string
	index     int // of the document in its file
	json      []byte
	typeMeta  typeMeta
	object    string // "Kind namespace/name"
	kind      *registered
	obj       any       // the decoded object; nil when decoding failed
	problems  []Problem // of the checks on the CPUs
	lint      []Problem // of Argo's validator
	namespace string
}

type typeMeta struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Metadata   struct {
		Name         string `json:"name"`
		GenerateName string `json:"generateName"`
		Namespace    string `json:"namespace"`
	} `json:"metadata"`
}

// Files checks every object of a compiled set (slash path to YAML, as
// compiler.Result.Files; kustomization.yaml files are skipped) and
// returns every problem, sorted; nil when all pass.
func Files(files map[string][]byte) []Problem {
	r := getRegistry()
	var names []string
	for name := range files {
		if path.Base(name) != kustomization {
			names = append(names, name)
		}
	}
	slices.Sort(names)

	// Parse and decode every object.
	perFile := make([][]*doc, len(names))
	var out []Problem
	var mu sync.Mutex
	par.Each(len(names), par.None, func(_ struct{}, i int) {
		ds, err := split(names[i], files[names[i]])
		if err != nil {
			mu.Lock()
			out = append(out, Problem{File: names[i], Check: CheckSchema, Msg: err.Error()})
			mu.Unlock()
		}
		for _, d := range ds {
			decode(r, d)
		}
		perFile[i] = ds
	})
	docs := slices.Concat(perFile...)

	// Collect the WorkflowTemplates for the template getters, and the
	// longest workflow name Argo gives a run of each.
	set := newTemplateSet()
	for _, d := range docs {
		if wt, ok := d.obj.(*wfv1.WorkflowTemplate); ok {
			if prev := set.add(wt); prev != "" {
				d.lint = append(d.lint, Problem{Field: "metadata.name", Check: CheckArgoLint,
					Msg: fmt.Sprintf("duplicate WorkflowTemplate %s/%s (also in %s)", wt.Namespace, wt.Name, prev)})
			} else {
				set.files[wt.Namespace+"/"+wt.Name] = d.file
			}
		}
	}
	for _, d := range docs {
		if cw, ok := d.obj.(*wfv1.CronWorkflow); ok {
			if ref := cw.Spec.WorkflowSpec.WorkflowTemplateRef; ref != nil && !ref.ClusterScope {
				set.runBy(namespaceOr(cw.Namespace), ref.Name, cw.Name)
			}
		}
	}

	// Argo's validator runs one object at a time (see argoMu), on its
	// own goroutine, while the other checks run on the CPUs.
	lintDone := make(chan struct{})
	go func() {
		defer close(lintDone)
		for _, d := range docs {
			d.lint = append(d.lint, lintObject(set, d)...)
		}
	}()
	par.Each(len(docs), par.None, func(_ struct{}, i int) { checkObject(r, set, docs[i]) })
	<-lintDone

	for _, d := range docs {
		for _, list := range [][]Problem{d.problems, d.lint} {
			for _, p := range list {
				p.File = d.file
				p.Object = d.object
				out = append(out, p)
			}
		}
	}
	if len(out) == 0 {
		return nil
	}
	return sortProblems(out)
}

// sortProblems sorts problems by file, object, field, check and message,
// without duplicates.
func sortProblems(out []Problem) []Problem {
	slices.SortFunc(out, func(a, b Problem) int {
		return cmp.Or(cmp.Compare(a.File, b.File), cmp.Compare(a.Object, b.Object), cmp.Compare(a.Field, b.Field),
			cmp.Compare(a.Check, b.Check), cmp.Compare(a.Msg, b.Msg))
	})
	return slices.Compact(out)
}

// split returns the YAML documents of a file as JSON.
func split(name string, data []byte) ([]*doc, error) {
	rd := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(data)))
	var docs []*doc
	for i := 0; ; i++ {
		y, err := rd.Read()
		if errors.Is(err, io.EOF) {
			return docs, nil
		}
		if err != nil {
			return docs, fmt.Errorf("reading YAML: %w", err)
		}
		j, err := yaml.YAMLToJSON(y)
		if err != nil {
			return docs, fmt.Errorf("document %d: %w", i+1, err)
		}
		if bytes.Equal(bytes.TrimSpace(j), []byte("null")) {
			continue // empty document, or comments only
		}
		docs = append(docs, &doc{file: name, index: i, json: j})
	}
}

func namespaceOr(ns string) string {
	if ns == "" {
		return "default"
	}
	return ns
}

func describe(tm typeMeta) string {
	name := tm.Metadata.Name
	if name == "" {
		name = tm.Metadata.GenerateName
	}
	if tm.Metadata.Namespace != "" {
		name = tm.Metadata.Namespace + "/" + name
	}
	k := tm.Kind
	if k == "" {
		k = "object"
	}
	return k + " " + name
}

// decode reads an object's kind and strictly decodes it into its Go type.
func decode(r *registry, d *doc) {
	if err := json.Unmarshal(d.json, &d.typeMeta); err != nil {
		d.object = fmt.Sprintf("document %d", d.index+1)
		d.problems = append(d.problems, Problem{Check: CheckSchema, Msg: "not a Kubernetes object: " + err.Error()})
		return
	}
	d.object = describe(d.typeMeta)
	d.namespace = namespaceOr(d.typeMeta.Metadata.Namespace)
	d.kind = r.lookup(d.typeMeta.APIVersion, d.typeMeta.Kind)
	if d.kind == nil {
		d.problems = append(d.problems, Problem{Field: "kind", Check: CheckSchema,
			Msg: fmt.Sprintf("no schema is registered for apiVersion %q, kind %q", d.typeMeta.APIVersion, d.typeMeta.Kind)})
		return
	}
	obj, probs := d.kind.decode(d.json)
	d.obj = obj
	for _, p := range probs {
		d.problems = append(d.problems, Problem{Field: p.field, Check: CheckSchema, Msg: p.msg})
	}
}

// lintObject runs Argo's validator on an object.
func lintObject(set *templateSet, d *doc) []Problem {
	switch o := d.obj.(type) {
	case *wfv1.WorkflowTemplate:
		return lintTemplate(set, o)
	case *wfv1.CronWorkflow:
		return lintCron(set, o)
	case *wfv1.Workflow:
		return lintWorkflow(set, o)
	}
	return nil
}

// checkObject runs the checks other than Argo's validator on an object.
func checkObject(r *registry, set *templateSet, d *doc) {
	if d.kind == nil {
		return
	}
	for _, p := range d.kind.validate(d.json) {
		d.problems = append(d.problems, Problem{Field: p.field, Check: CheckSchema, Msg: p.msg})
	}
	if d.obj == nil {
		return
	}
	d.problems = append(d.problems, checkMetadata(d.obj, "")...)
	switch o := d.obj.(type) {
	case *wfv1.WorkflowTemplate:
		d.problems = append(d.problems, checkTemplates(d, "spec.templates", o.Spec.Templates, o.Spec.Arguments, set.workflowName(d.namespace, o.Name))...)
	case *wfv1.CronWorkflow:
		d.problems = append(d.problems, checkTemplates(d, "spec.workflowSpec.templates", o.Spec.WorkflowSpec.Templates, o.Spec.WorkflowSpec.Arguments, cronWorkflowName(o.Name))...)
	case *wfv1.Workflow:
		name := o.Name
		if name == "" {
			name = generatedName(o.GenerateName)
		}
		d.problems = append(d.problems, checkTemplates(d, "spec.templates", o.Spec.Templates, o.Spec.Arguments, name)...)
	case *kubeflow.MPIJob:
		d.problems = append(d.problems, checkMPIJob(o, "", "")...)
	}
}
