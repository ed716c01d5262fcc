package rbac_test

import (
	"reflect"
	"testing"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"

	"cairn.dev/cairn/compiler/ir"
	"cairn.dev/cairn/compiler/ir/irtest"
	"cairn.dev/cairn/compiler/lower"
	"cairn.dev/cairn/compiler/lower/rbac"
)

// grants lists a role's rules as "group/resource[/name]:verb".
func grants(rules []rbacv1.PolicyRule) map[string]bool {
	out := map[string]bool{}
	for _, r := range rules {
		for _, g := range r.APIGroups {
			for _, res := range r.Resources {
				names := r.ResourceNames
				if names == nil {
					names = []string{""}
				}
				for _, n := range names {
					for _, v := range r.Verbs {
						k := g + "/" + res
						if n != "" {
							k += "/" + n
						}
						out[k+":"+v] = true
					}
				}
			}
		}
	}
	return out
}

func TestRules(t *testing.T) {
	executor := []string{"argoproj.io/workflowtaskresults:create", "argoproj.io/workflowtaskresults:patch", "/pods:get", "/pods:patch", "/pods:watch"}
	set := func(extra ...string) map[string]bool {
		m := map[string]bool{}
		for _, k := range append(append([]string{}, executor...), extra...) {
			m[k] = true
		}
		return m
	}
	pl := irtest.Pipeline("fraud")
	if got, want := grants(rbac.Rules(pl)), set(); !reflect.DeepEqual(got, want) {
		t.Errorf("plain pipeline: %v, want the executor's alone %v", got, want)
	}
	pl.Train.Compute.Kind = ir.KindMPI
	if got, want := grants(rbac.Rules(pl)), set("kubeflow.org/mpijobs:create", "kubeflow.org/mpijobs:get", "kubeflow.org/mpijobs:list", "kubeflow.org/mpijobs:watch"); !reflect.DeepEqual(got, want) {
		t.Errorf("MPI: %v, want %v", got, want)
	}
	pl.Train.Compute.Kind = ir.KindSingle
	pl.Serve = &ir.Serve{Drift: &ir.Drift{}}
	serve := []string{"serving.kserve.io/inferenceservices:create", "serving.kserve.io/inferenceservices/fraud:get", "serving.kserve.io/inferenceservices/fraud:patch"}
	if got, want := grants(rbac.Rules(pl)), set(serve...); !reflect.DeepEqual(got, want) {
		t.Errorf("serving: %v, want %v", got, want)
	}
	pl.Serve.Drift.Retrain = true
	if got, want := grants(rbac.Rules(pl)), set(append(serve, "argoproj.io/workflows:create")...); !reflect.DeepEqual(got, want) {
		t.Errorf("drift retrain: %v, want %v", got, want)
	}
}

func TestBuild(t *testing.T) {
	p, pl := irtest.Project(), irtest.Pipeline("fraud")
	m := lower.Meta{Labels: map[string]string{lower.LabelPipeline: "fraud"}, Annotations: map[string]string{lower.AnnotSpecDigest: "sha256:00"}}
	objs := rbac.Build(p, pl, m)
	if len(objs) != 3 {
		t.Fatalf("%d objects, want 3", len(objs))
	}
	sa := objs[0].Value.(*corev1.ServiceAccount)
	role := objs[1].Value.(*rbacv1.Role)
	rb := objs[2].Value.(*rbacv1.RoleBinding)
	name := "cairn-pipeline-fraud"
	if rbac.Name(p, pl) != name || lower.ServiceAccount(p, pl) != name {
		t.Errorf("Name = %q, want %q", rbac.Name(p, pl), name)
	}
	for _, o := range []struct {
		kind, name, ns string
		labels, ann    map[string]string
	}{
		{sa.Kind, sa.Name, sa.Namespace, sa.Labels, sa.Annotations},
		{role.Kind, role.Name, role.Namespace, role.Labels, role.Annotations},
		{rb.Kind, rb.Name, rb.Namespace, rb.Labels, rb.Annotations},
	} {
		if o.name != name || o.ns != p.Namespace || o.labels[lower.LabelPipeline] != "fraud" || o.ann[lower.AnnotSpecDigest] != "sha256:00" {
			t.Errorf("%s %s/%s labels %v annotations %v", o.kind, o.ns, o.name, o.labels, o.ann)
		}
	}
	if rb.RoleRef.Kind != "Role" || rb.RoleRef.Name != name || len(rb.Subjects) != 1 || rb.Subjects[0].Name != name || rb.Subjects[0].Namespace != p.Namespace {
		t.Errorf("RoleBinding = %+v %+v", rb.RoleRef, rb.Subjects)
	}
	if sa.APIVersion != "v1" || role.APIVersion != "rbac.authorization.k8s.io/v1" || rb.APIVersion != role.APIVersion {
		t.Errorf("api versions %s %s %s", sa.APIVersion, role.APIVersion, rb.APIVersion)
	}
}
