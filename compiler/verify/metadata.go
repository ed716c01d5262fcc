package verify

import (
	"fmt"

	kubeflow "github.com/kubeflow/mpi-operator/pkg/apis/kubeflow/v2beta1"
	apivalidation "k8s.io/apimachinery/pkg/api/validation"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	metavalidation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// checkMetadata validates an object's metadata as the API server does on
// creation of a namespaced custom resource (name a DNS subdomain; label
// keys and values, annotations and their total size), with Kubernetes' own
// validation code. For an MPIJob it also validates the labels of its pod
// templates, which the operator copies to the pods it creates.
func checkMetadata(obj any, field string) []Problem {
	acc, ok := obj.(metav1.ObjectMetaAccessor)
	if !ok {
		return nil
	}
	m, ok := acc.GetObjectMeta().(*metav1.ObjectMeta)
	if !ok {
		return nil
	}
	if m.Name == "" && m.GenerateName != "" {
		// As created: Kubernetes generates the name first.
		c := *m
		c.Name = generatedName(c.GenerateName)
		m = &c
	}
	errs := apivalidation.ValidateObjectMeta(m, true, apivalidation.NameIsDNSSubdomain, fieldPath("metadata"))
	if job, ok := obj.(*kubeflow.MPIJob); ok {
		for _, t := range []kubeflow.MPIReplicaType{kubeflow.MPIReplicaTypeLauncher, kubeflow.MPIReplicaTypeWorker} {
			if s := job.Spec.MPIReplicaSpecs[t]; s != nil {
				p := fieldPath("spec").Child("mpiReplicaSpecs").Key(string(t)).Child("template", "metadata", "labels")
				errs = append(errs, metavalidation.ValidateLabels(s.Template.Labels, p)...)
			}
		}
	}
	var out []Problem
	for _, e := range errs {
		out = append(out, Problem{Field: join(field, e.Field), Check: CheckMetadata,
			Msg: fmt.Sprintf("the API server's metadata validation: %s", e.ErrorBody())})
	}
	return out
}

func fieldPath(name string) *field.Path { return field.NewPath(name) }
