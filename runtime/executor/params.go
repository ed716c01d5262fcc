package executor

import (
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	wfv1 "github.com/argoproj/argo-workflows/v3/pkg/apis/workflow/v1alpha1"
	"github.com/argoproj/argo-workflows/v3/util/template"
)

// Substitution follows Argo's controller (workflow/common/util.go
// ProcessArgs and SubstituteParams, workflow/controller/dag.go
// resolveDependencyReferences), with Argo's own template package: a DAG
// task's arguments are resolved against the workflow's global variables
// and the outputs of the task's ancestors, references to tasks having to
// resolve; the task's template gets its inputs from the arguments (or
// their defaults) and is substituted over its JSON, globals first, then
// inputs; each attempt substitutes again with the retry variables. The
// last pass leaves nothing unresolved: a tag no variable answers is an
// error naming the task and the tag.

// absentOptional marks an argument that refers to the output of a skipped
// or omitted task that declared no default (Argo's
// common.AbsentOptionalArgumentValue): the input's own default applies.
const absentOptional = "__argo-internal.absent-optional-output__"

// globals returns the workflow-level variables of a run, as Argo's
// setGlobalParameters defines them.
func globals(wft *wfv1.WorkflowTemplate, st *runState) map[string]string {
	g := map[string]string{
		"workflow.name":               st.WorkflowName,
		"workflow.namespace":          wft.Namespace,
		"workflow.mainEntrypoint":     wft.Spec.Entrypoint,
		"workflow.serviceAccountName": wft.Spec.ServiceAccountName,
		"workflow.uid":                st.ID,
	}
	created := st.Created.UTC()
	g["workflow.creationTimestamp"] = created.Format(time.RFC3339)
	g["workflow.creationTimestamp.RFC3339"] = created.Format(time.RFC3339)
	g["workflow.creationTimestamp.s"] = strconv.FormatInt(created.Unix(), 10)
	if p := wft.Spec.Priority; p != nil {
		g["workflow.priority"] = strconv.Itoa(int(*p))
	}
	var params []wfv1.Parameter
	for _, p := range wft.Spec.Arguments.Parameters {
		if v, ok := st.Parameters[p.Name]; ok {
			p.Value = wfv1.AnyStringPtr(v)
		}
		params = append(params, p)
		if p.Value != nil {
			g["workflow.parameters."+p.Name] = p.Value.String()
		}
	}
	if data, err := json.Marshal(params); err == nil {
		g["workflow.parameters"] = string(data)
		g["workflow.parameters.json"] = string(data)
	}
	labels := maps.Clone(wft.Labels)
	annotations := maps.Clone(wft.Annotations)
	if md := wft.Spec.WorkflowMetadata; md != nil {
		if labels == nil {
			labels = map[string]string{}
		}
		if annotations == nil {
			annotations = map[string]string{}
		}
		maps.Copy(labels, md.Labels)
		maps.Copy(annotations, md.Annotations)
	}
	for k, v := range labels {
		g["workflow.labels."+k] = v
	}
	for k, v := range annotations {
		g["workflow.annotations."+k] = v
	}
	if data, err := json.Marshal(labels); err == nil {
		g["workflow.labels"], g["workflow.labels.json"] = string(data), string(data)
	}
	if data, err := json.Marshal(annotations); err == nil {
		g["workflow.annotations"], g["workflow.annotations.json"] = string(data), string(data)
	}
	return g
}

// workflowParameters returns the values of a template's workflow
// parameters: the template's, then those recorded for the run, then the
// overrides, which must name declared parameters.
func workflowParameters(wft *wfv1.WorkflowTemplate, recorded, overrides map[string]string) (map[string]string, error) {
	out := map[string]string{}
	declared := map[string]bool{}
	var names []string
	for _, p := range wft.Spec.Arguments.Parameters {
		declared[p.Name] = true
		names = append(names, p.Name)
		switch {
		case p.Value != nil:
			out[p.Name] = p.Value.String()
		case p.ValueFrom != nil && p.ValueFrom.Default != nil:
			out[p.Name] = p.ValueFrom.Default.String()
		}
	}
	for k, v := range recorded {
		if declared[k] {
			out[k] = v
		}
	}
	for _, k := range slices.Sorted(maps.Keys(overrides)) {
		if !declared[k] {
			return nil, fmt.Errorf("workflow parameter %q is not declared by the template (it declares %s)", k, orNone(names))
		}
		out[k] = overrides[k]
	}
	for _, n := range names {
		if _, ok := out[n]; !ok {
			return nil, fmt.Errorf("workflow parameter %q has no value: set it with -p %s=VALUE", n, n)
		}
	}
	return out, nil
}

func orNone(names []string) string {
	if len(names) == 0 {
		return "none"
	}
	return strings.Join(names, ", ")
}

// taskScope returns what a DAG task's arguments may refer to: the globals
// and, for each ancestor, tasks.<name>.status, .exitCode, .startedAt,
// .finishedAt, .id and .outputs.parameters.<p>. The outputs a skipped or
// omitted ancestor declared are its defaults, or nil (an absent value).
func (r *runner) taskScope(name string) map[string]any {
	scope := template.ToAnyMap(r.globals)
	for _, a := range r.graph.ancestors(name) {
		ts := r.state.Tasks[a]
		prefix := "tasks." + a
		scope[prefix+".id"] = r.state.WorkflowName + "-" + a
		if ts.Started != nil {
			scope[prefix+".startedAt"] = ts.Started.UTC().Format(time.RFC3339)
		}
		if ts.Finished != nil {
			scope[prefix+".finishedAt"] = ts.Finished.UTC().Format(time.RFC3339)
		}
		if ts.Status != "" {
			scope[prefix+".status"] = string(ts.Status)
		}
		if ts.ExitCode != nil {
			scope[prefix+".exitCode"] = strconv.Itoa(*ts.ExitCode)
		}
		for k, v := range ts.Outputs {
			scope[prefix+".outputs.parameters."+k] = v
		}
		if (ts.Status == wfv1.NodeSkipped || ts.Status == wfv1.NodeOmitted) && ts.Outputs == nil {
			if tmpl := r.templates[r.graph.byName[a].Template]; tmpl != nil {
				for _, p := range tmpl.Outputs.Parameters {
					key := prefix + ".outputs.parameters." + p.Name
					if p.ValueFrom != nil && p.ValueFrom.Default != nil {
						scope[key] = p.ValueFrom.Default.String()
					} else {
						scope[key] = nil
					}
				}
			}
		}
	}
	return scope
}

// resolveTask substitutes the references of a DAG task (its arguments)
// against scope; references to tasks must resolve.
func resolveTask(t *wfv1.DAGTask, scope map[string]any) (*wfv1.DAGTask, error) {
	tmp := *t
	tmp.Hooks = nil
	// A pure reference to an absent output becomes the sentinel that
	// makes the input take its default.
	if len(tmp.Arguments.Parameters) > 0 {
		params := make([]wfv1.Parameter, len(tmp.Arguments.Parameters))
		copy(params, tmp.Arguments.Parameters)
		for i, p := range params {
			if p.Value == nil {
				continue
			}
			v := p.Value.String()
			if strings.HasPrefix(v, "{{") && strings.HasSuffix(v, "}}") {
				key := strings.TrimSpace(v[2 : len(v)-2])
				if val, ok := scope[key]; ok && val == nil && !strings.Contains(key, "{{") {
					params[i].Value = wfv1.AnyStringPtr(absentOptional)
				}
			}
		}
		tmp.Arguments.Parameters = params
	}
	data, err := json.Marshal(tmp)
	if err != nil {
		return nil, err
	}
	s, err := template.ReplaceStrictAny(string(data), scope, []string{"tasks", "steps"})
	if err != nil {
		return nil, err
	}
	var out wfv1.DAGTask
	if err := json.Unmarshal([]byte(s), &out); err != nil {
		return nil, err
	}
	out.Hooks = t.Hooks
	return &out, nil
}

// processArgs gives a template's inputs their values from a task's
// arguments, or their defaults, and substitutes the globals and inputs
// into it (Argo's ProcessArgs), leaving what only an attempt knows.
func processArgs(tmpl *wfv1.Template, args *wfv1.Arguments, globals map[string]string) (*wfv1.Template, error) {
	t := tmpl.DeepCopy()
	for i, in := range t.Inputs.Parameters {
		if in.Value == nil && in.Default != nil {
			in.Value = in.Default
		}
		arg := args.GetParameterByName(in.Name)
		switch {
		case arg != nil && arg.Value != nil && arg.Value.String() == absentOptional:
			if in.Value == nil && in.ValueFrom == nil {
				return nil, fmt.Errorf("inputs.parameters.%s: the argument refers to an output of a task that did not run, and the input has no default", in.Name)
			}
		case arg != nil:
			if arg.Value != nil {
				in.Value = arg.Value
			}
			if arg.ValueFrom != nil {
				in.ValueFrom = arg.ValueFrom
			}
		}
		if in.Value == nil && in.ValueFrom != nil && in.ValueFrom.Default != nil {
			in.Value = in.ValueFrom.Default
		}
		if in.Value == nil {
			return nil, fmt.Errorf("inputs.parameters.%s was not supplied", in.Name)
		}
		t.Inputs.Parameters[i] = in
	}
	return substitute(t, globals, nil, false)
}

// substitute replaces the template tags of a template: globals and locals
// first, then inputs (Argo's SubstituteParams). strict makes any tag left
// unresolved an error.
func substitute(tmpl *wfv1.Template, globals, locals map[string]string, strict bool) (*wfv1.Template, error) {
	data, err := json.Marshal(tmpl)
	if err != nil {
		return nil, err
	}
	vars := make(map[string]any, len(globals)+len(locals)+8)
	for k, v := range globals {
		vars[k] = v
	}
	for k, v := range locals {
		vars[k] = v
	}
	s, err := template.Replace(string(data), vars, true)
	if err != nil {
		return nil, err
	}
	var mid wfv1.Template
	if err := json.Unmarshal([]byte(s), &mid); err != nil {
		return nil, err
	}
	for _, in := range mid.Inputs.Parameters {
		switch {
		case in.Value != nil:
			vars["inputs.parameters."+in.Name] = in.Value.String()
		case in.ValueFrom == nil:
			return nil, fmt.Errorf("inputs.parameters.%s had no value", in.Name)
		}
	}
	if data, err := json.Marshal(mid.Inputs.Parameters); err == nil {
		vars["inputs.parameters"] = string(data)
	}
	for _, a := range mid.Inputs.Artifacts {
		if a.Path != "" {
			vars["inputs.artifacts."+a.Name+".path"] = a.Path
		}
	}
	for _, a := range mid.Outputs.Artifacts {
		if a.Path != "" {
			vars["outputs.artifacts."+a.Name+".path"] = a.Path
		}
	}
	for _, p := range mid.Outputs.Parameters {
		if p.ValueFrom != nil && p.ValueFrom.Path != "" {
			vars["outputs.parameters."+p.Name+".path"] = p.ValueFrom.Path
		}
	}
	s, err = template.Replace(s, vars, !strict)
	if err != nil {
		return nil, err
	}
	var out wfv1.Template
	if err := json.Unmarshal([]byte(s), &out); err != nil {
		return nil, err
	}
	return &out, nil
}
