// Package rbac lowers a pipeline to its ServiceAccount, Role and
// RoleBinding, granting only what the pipeline's steps need: what Argo's
// executor needs in every pod, creating MPIJobs when it trains on MPI,
// applying its InferenceService when it serves, and creating workflows
// when drift retrains.
package rbac

import (
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"cairn.dev/cairn/compiler/ir"
	"cairn.dev/cairn/compiler/lower"
)

// Files of the objects.
const (
	FileServiceAccount = "serviceaccount.yaml"
	FileRole           = "role.yaml"
	FileRoleBinding    = "rolebinding.yaml"
)

// Name is the name of a pipeline's ServiceAccount, Role and RoleBinding
// (lower.ServiceAccount).
func Name(p *ir.Project, pl *ir.Pipeline) string { return lower.ServiceAccount(p, pl) }

// Rules returns the pipeline's permissions, in a fixed order.
func Rules(pl *ir.Pipeline) []rbacv1.PolicyRule {
	// Argo's emissary executor (v3.4 and later, v3.7 included) reports
	// outputs through WorkflowTaskResults; pods get, watch and patch cover
	// the wait container's and resource templates' needs.
	rules := []rbacv1.PolicyRule{
		{APIGroups: []string{"argoproj.io"}, Resources: []string{"workflowtaskresults"}, Verbs: []string{"create", "patch"}},
		{APIGroups: []string{""}, Resources: []string{"pods"}, Verbs: []string{"get", "patch", "watch"}},
	}
	if pl.Train.Compute.Kind == ir.KindMPI {
		// The resource template creates the job and polls its status.
		rules = append(rules, rbacv1.PolicyRule{APIGroups: []string{"kubeflow.org"}, Resources: []string{"mpijobs"}, Verbs: []string{"create", "get", "list", "watch"}})
	}
	if pl.Serve != nil {
		// Server-side apply creates the InferenceService the first time
		// and patches it after; create cannot be limited by name.
		rules = append(rules,
			rbacv1.PolicyRule{APIGroups: []string{"serving.kserve.io"}, Resources: []string{"inferenceservices"}, Verbs: []string{"create"}},
			rbacv1.PolicyRule{APIGroups: []string{"serving.kserve.io"}, Resources: []string{"inferenceservices"}, ResourceNames: []string{pl.Name}, Verbs: []string{"get", "patch"}},
		)
		if d := pl.Serve.Drift; d != nil && d.Retrain {
			rules = append(rules, rbacv1.PolicyRule{APIGroups: []string{"argoproj.io"}, Resources: []string{"workflows"}, Verbs: []string{"create"}})
		}
	}
	return rules
}

// Build returns the pipeline's ServiceAccount, Role and RoleBinding.
func Build(p *ir.Project, pl *ir.Pipeline, meta lower.Meta) []lower.Object {
	name := Name(p, pl)
	om := func() metav1.ObjectMeta {
		return metav1.ObjectMeta{Name: name, Namespace: p.Namespace, Labels: meta.Labels, Annotations: meta.Annotations}
	}
	return []lower.Object{
		{File: FileServiceAccount, Value: &corev1.ServiceAccount{
			TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "ServiceAccount"},
			ObjectMeta: om(),
		}},
		{File: FileRole, Value: &rbacv1.Role{
			TypeMeta:   metav1.TypeMeta{APIVersion: rbacv1.SchemeGroupVersion.String(), Kind: "Role"},
			ObjectMeta: om(),
			Rules:      Rules(pl),
		}},
		{File: FileRoleBinding, Value: &rbacv1.RoleBinding{
			TypeMeta:   metav1.TypeMeta{APIVersion: rbacv1.SchemeGroupVersion.String(), Kind: "RoleBinding"},
			ObjectMeta: om(),
			RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: name},
			Subjects:   []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Name: name, Namespace: p.Namespace}},
		}},
	}
}
