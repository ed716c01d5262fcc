package verify

import (
	"strings"
	"testing"

	kubeflow "github.com/kubeflow/mpi-operator/pkg/apis/kubeflow/v2beta1"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/utils/ptr"
)

// The pod hostname check stands on its own when mpi-operator's validation
// does not report the name.
func TestMPIJobHostnameWithoutOperator(t *testing.T) {
	defer func(f func(*kubeflow.MPIJob) field.ErrorList) { validateMPIJob = f }(validateMPIJob)
	validateMPIJob = func(*kubeflow.MPIJob) field.ErrorList { return nil }
	job := &kubeflow.MPIJob{}
	job.GenerateName = "a-pipeline-name-of-forty-characters-xx-1767225600-"
	job.Spec.MPIReplicaSpecs = map[kubeflow.MPIReplicaType]*kubeflow.ReplicaSpec{
		kubeflow.MPIReplicaTypeWorker: {Replicas: ptr.To[int32](16)},
	}
	probs := checkMPIJob(job, "m", "a-pipeline-name-of-forty-characters-xx-1767225600")
	if len(probs) != 1 || probs[0].Field != "m > metadata.name" || !strings.Contains(probs[0].Msg, "-worker-15\" is 65 characters") {
		t.Errorf("got %v", probs)
	}
	job.GenerateName = "short-1767225600-"
	job.Name = ""
	if probs := checkMPIJob(job, "m", ""); probs != nil {
		t.Errorf("short name: %v", probs)
	}
}

// Every registered kind has its definition, and the definitions no
// project ships are only Kubernetes' own API types.
func TestRegistry(t *testing.T) {
	r := getRegistry()
	if len(r.kinds) != len(kinds) {
		t.Fatalf("%d kinds registered of %d", len(r.kinds), len(kinds))
	}
	for _, name := range r.unresolved {
		if !strings.HasPrefix(name, "io.k8s.api.") {
			t.Errorf("unresolved definition %s", name)
		}
	}
}
