package verify

import (
	"context"
	"fmt"
	"regexp"
	"strings"
	"sync"

	wfv1 "github.com/argoproj/argo-workflows/v3/pkg/apis/workflow/v1alpha1"
	"github.com/argoproj/argo-workflows/v3/workflow/templateresolution"
	"github.com/argoproj/argo-workflows/v3/workflow/validate"
)

// templateSet holds the WorkflowTemplates of the set by namespace and name,
// for Argo's template getters, and the longest workflow name a run of each
// can get.
type templateSet struct {
	templates map[string]map[string]*wfv1.WorkflowTemplate
	files     map[string]string // namespace/name -> file
	names     map[string]string // namespace/name -> longest workflow name
}

func newTemplateSet() *templateSet {
	return &templateSet{
		templates: map[string]map[string]*wfv1.WorkflowTemplate{},
		files:     map[string]string{},
		names:     map[string]string{},
	}
}

// add adds a template; it returns the file of the template of the same
// namespace and name already added, if any.
func (s *templateSet) add(wt *wfv1.WorkflowTemplate) string {
	ns := namespaceOr(wt.Namespace)
	if s.templates[ns] == nil {
		s.templates[ns] = map[string]*wfv1.WorkflowTemplate{}
	}
	if _, dup := s.templates[ns][wt.Name]; dup {
		return s.files[wt.Namespace+"/"+wt.Name]
	}
	s.templates[ns][wt.Name] = wt
	s.runBy(ns, wt.Name, wt.Name)
	return ""
}

// runBy records that the template is run by a CronWorkflow (or, for the
// template's own name, a CronWorkflow named like it, as Cairn writes).
func (s *templateSet) runBy(ns, template, cron string) {
	key := ns + "/" + template
	if n := cronWorkflowName(cron); len(n) > len(s.names[key]) {
		s.names[key] = n
	}
}

// workflowName returns the longest workflow name of a run of the template.
func (s *templateSet) workflowName(ns, template string) string {
	if n := s.names[ns+"/"+template]; n != "" {
		return n
	}
	return cronWorkflowName(template)
}

// cronWorkflowName is the longest name Argo gives a workflow a
// CronWorkflow starts: its name, a dash and the scheduled time in Unix
// seconds (ten digits until 2286). `argo submit --from` names a run
// "<template>-" plus 5 characters, which is shorter.
func cronWorkflowName(cron string) string { return cron + "-1767225600" }

// getter is Argo's WorkflowTemplateNamespacedGetter over the set, as
// `argo lint --offline` builds from the files it is given.
type getter struct {
	namespace string
	templates map[string]*wfv1.WorkflowTemplate
}

func (g getter) Get(name string) (*wfv1.WorkflowTemplate, error) {
	if t, ok := g.templates[name]; ok {
		return t, nil
	}
	return nil, fmt.Errorf("couldn't find workflow template %q in namespace %q", name, g.namespace)
}

// clusterGetter finds no ClusterWorkflowTemplate: Cairn emits none.
type clusterGetter struct{}

func (clusterGetter) Get(name string) (*wfv1.ClusterWorkflowTemplate, error) {
	return nil, fmt.Errorf("couldn't find cluster workflow template %q", name)
}

var _ templateresolution.ClusterWorkflowTemplateGetter = clusterGetter{}

func (s *templateSet) getter(ns string) getter {
	ns = namespaceOr(ns)
	return getter{namespace: ns, templates: s.templates[ns]}
}

// argoMu serialises calls into Argo's validator: it numbers its mock
// values with a package-level counter that is not safe for concurrent
// use, and reads the templates the getters share.
var argoMu sync.Mutex

// lintTemplate runs what `argo lint --offline` runs on a WorkflowTemplate.
func lintTemplate(set *templateSet, wt *wfv1.WorkflowTemplate) []Problem {
	argoMu.Lock()
	err := validate.ValidateWorkflowTemplate(set.getter(wt.Namespace), clusterGetter{}, wt, nil, validate.ValidateOpts{Lint: true})
	argoMu.Unlock()
	return lintProblem(err, "spec.templates", wt.Spec.Templates)
}

// lintCron runs what `argo lint --offline` runs on a CronWorkflow.
func lintCron(set *templateSet, cw *wfv1.CronWorkflow) []Problem {
	argoMu.Lock()
	err := validate.ValidateCronWorkflow(context.Background(), set.getter(cw.Namespace), clusterGetter{}, cw, nil)
	argoMu.Unlock()
	if err != nil && cw.Spec.WorkflowSpec.WorkflowTemplateRef != nil && strings.Contains(err.Error(), "couldn't find workflow template") {
		return []Problem{{Field: "spec.workflowSpec.workflowTemplateRef.name", Check: CheckArgoLint, Msg: err.Error()}}
	}
	return lintProblem(err, "spec.workflowSpec.templates", cw.Spec.WorkflowSpec.Templates)
}

// lintWorkflow runs what `argo lint --offline` runs on a Workflow.
func lintWorkflow(set *templateSet, wf *wfv1.Workflow) []Problem {
	argoMu.Lock()
	err := validate.ValidateWorkflow(set.getter(wf.Namespace), clusterGetter{}, wf, nil, validate.ValidateOpts{Lint: true})
	argoMu.Unlock()
	return lintProblem(err, "spec.templates", wf.Spec.Templates)
}

var templateNameRE = regexp.MustCompile(`\btemplates\.([A-Za-z0-9][-A-Za-z0-9_]*)`)

// lintProblem turns an error of Argo's validator into a problem, naming
// the template it is about when the message does.
func lintProblem(err error, field string, tmpls []wfv1.Template) []Problem {
	if err == nil {
		return nil
	}
	f := ""
	if m := templateNameRE.FindStringSubmatch(err.Error()); m != nil {
		for i, t := range tmpls {
			if t.Name == m[1] {
				f = fmt.Sprintf("%s[%d]", field, i)
				break
			}
		}
	}
	if f == "" && strings.HasPrefix(err.Error(), "spec.") {
		f, _, _ = strings.Cut(err.Error(), " ")
	}
	return []Problem{{Field: f, Check: CheckArgoLint, Msg: err.Error()}}
}
