package kserve_test

import (
	"encoding/json"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/yaml"

	"cairn.dev/cairn/compiler/ir"
	"cairn.dev/cairn/compiler/ir/irtest"
	"cairn.dev/cairn/compiler/lower"
	"cairn.dev/cairn/compiler/lower/kserve"
)

var digest = "sha256:" + strings.Repeat("ab", 32)

func served() (*ir.Project, *ir.Pipeline) {
	p, pl := irtest.Project(), irtest.Pipeline("fraud")
	pl.Serve = &ir.Serve{
		Runtime: "kserve", Replicas: ir.Replicas{Min: 2, Max: 10}, CanaryPercent: 10,
		Resources: ir.Resources{CPU: "2", Memory: "4Gi"}, MaxErrorRate: 0.01,
	}
	return p, pl
}

func meta() lower.Meta {
	return lower.Meta{
		Annotations: map[string]string{lower.AnnotSpecDigest: "sha256:00"},
		Labels:      map[string]string{lower.LabelPipeline: "fraud", lower.LabelManagedBy: lower.ManagedByValue},
	}
}

// TestFieldNames: every field Cairn emits has the JSON name and place of
// KServe's v1beta1 API reference (InferenceServiceSpec, PredictorSpec with
// its inlined ComponentExtensionSpec and PodSpec, ModelSpec with its
// inlined PredictorExtensionSpec and Container, ModelFormat). A KServe
// manifest using each field decodes strictly and re-encodes the same.
func TestFieldNames(t *testing.T) {
	const doc = `apiVersion: serving.kserve.io/v1beta1
kind: InferenceService
metadata:
  name: sklearn-iris
  namespace: default
spec:
  predictor:
    canaryTrafficPercent: 10
    maxReplicas: 3
    minReplicas: 1
    model:
      modelFormat:
        name: sklearn
        version: "1"
      resources:
        limits:
          cpu: "1"
          nvidia.com/gpu: "1"
        requests:
          cpu: "1"
      runtime: kserve-sklearnserver
      storageUri: oci://registry.example.com/iris@sha256:abab
    nodeSelector:
      nvidia.com/gpu.product: NVIDIA-L4
    serviceAccountName: models
    tolerations:
    - effect: NoSchedule
      key: nvidia.com/gpu
      operator: Exists
`
	var isvc kserve.InferenceService
	if err := yaml.UnmarshalStrict([]byte(doc), &isvc); err != nil {
		t.Fatalf("a KServe manifest does not decode strictly: %v", err)
	}
	p := isvc.Spec.Predictor
	checks := map[string]bool{
		"canaryTrafficPercent":      p.CanaryTrafficPercent != nil && *p.CanaryTrafficPercent == 10,
		"maxReplicas":               p.MaxReplicas == 3,
		"minReplicas":               p.MinReplicas != nil && *p.MinReplicas == 1,
		"model.modelFormat.name":    p.Model.ModelFormat.Name == "sklearn",
		"model.modelFormat.version": p.Model.ModelFormat.Version != nil && *p.Model.ModelFormat.Version == "1",
		"model.resources":           p.Model.Resources.Limits.Cpu().String() == "1" && p.Model.Resources.Limits.Name(lower.ResourceGPU, "").Value() == 1,
		"model.runtime":             p.Model.Runtime != nil && *p.Model.Runtime == "kserve-sklearnserver",
		"model.storageUri":          p.Model.StorageURI != nil && strings.HasPrefix(*p.Model.StorageURI, "oci://"),
		"nodeSelector":              p.NodeSelector["nvidia.com/gpu.product"] == "NVIDIA-L4",
		"serviceAccountName":        p.ServiceAccountName == "models",
		"tolerations":               len(p.Tolerations) == 1 && p.Tolerations[0].Operator == corev1.TolerationOpExists,
	}
	for field, ok := range checks {
		if !ok {
			t.Errorf("spec.predictor.%s did not decode: %+v", field, p)
		}
	}
	back, err := yaml.Marshal(isvc)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(back), "storageUri: oci://") || !strings.Contains(string(back), "canaryTrafficPercent: 10") {
		t.Errorf("re-encoded:\n%s", back)
	}
	if err := yaml.UnmarshalStrict([]byte(strings.Replace(doc, "storageUri", "storageUrl", 1)), &isvc); err == nil {
		t.Error("a misspelt field decoded strictly")
	}
}

func TestBuildCanary(t *testing.T) {
	p, pl := served()
	isvc, err := kserve.Build(p, pl, meta(), digest, true)
	if err != nil {
		t.Fatal(err)
	}
	if isvc.APIVersion != kserve.APIVersion || isvc.Kind != kserve.Kind || isvc.Name != "fraud" || isvc.Namespace != p.Namespace {
		t.Errorf("object = %s %s %s/%s", isvc.APIVersion, isvc.Kind, isvc.Namespace, isvc.Name)
	}
	if isvc.Labels[lower.LabelPipeline] != "fraud" || isvc.Annotations[lower.AnnotSpecDigest] != "sha256:00" || isvc.Annotations[kserve.AnnotModelDigest] != digest {
		t.Errorf("metadata = %v %v, want the pipeline's labels and annotations and the model digest", isvc.Labels, isvc.Annotations)
	}
	pr := isvc.Spec.Predictor
	if got, want := *pr.Model.StorageURI, "oci://registry.example.com/payments/fraud@"+digest; got != want {
		t.Errorf("storageUri = %q, want %q", got, want)
	}
	if pr.Model.ModelFormat.Name != "xgboost" || pr.Model.Runtime != nil {
		t.Errorf("model format %+v, runtime %v; want xgboost from the model's format", pr.Model.ModelFormat, pr.Model.Runtime)
	}
	if *pr.MinReplicas != 2 || pr.MaxReplicas != 10 || *pr.CanaryTrafficPercent != 10 {
		t.Errorf("replicas %d..%d, canary %d", *pr.MinReplicas, pr.MaxReplicas, *pr.CanaryTrafficPercent)
	}
	if pr.Model.Resources.Requests.Cpu().String() != "2" || pr.Model.Resources.Limits.Memory().String() != "4Gi" {
		t.Errorf("resources = %+v", pr.Model.Resources)
	}
	if pr.ServiceAccountName != p.ServiceAccount || pr.NodeSelector != nil || pr.Tolerations != nil {
		t.Errorf("pod fields = %q %v %v, want the project's service account, no GPU placement", pr.ServiceAccountName, pr.NodeSelector, pr.Tolerations)
	}
}

func TestBuildPinnedWithGPUs(t *testing.T) {
	p, pl := served()
	pl.Serve.GPUs, pl.Serve.ModelFormat = 1, "triton"
	pl.Model.Repository = "oci://registry.example.com/payments/fraud"
	isvc, err := kserve.Build(p, pl, meta(), digest, false)
	if err != nil {
		t.Fatal(err)
	}
	pr := isvc.Spec.Predictor
	if pr.CanaryTrafficPercent != nil {
		t.Errorf("a pinned InferenceService has canaryTrafficPercent %d", *pr.CanaryTrafficPercent)
	}
	if pr.Model.ModelFormat.Name != "triton" || !strings.HasPrefix(*pr.Model.StorageURI, "oci://registry.example.com/") {
		t.Errorf("model = %+v %s", pr.Model.ModelFormat, *pr.Model.StorageURI)
	}
	if q := pr.Model.Resources.Limits[lower.ResourceGPU]; q.Value() != 1 || len(pr.Tolerations) != 1 || pr.Tolerations[0].Key != p.Cluster.GPUTaint {
		t.Errorf("GPUs: limits %v, tolerations %v", pr.Model.Resources.Limits, pr.Tolerations)
	}
	b, _ := json.Marshal(isvc)
	if strings.Contains(string(b), "status") {
		t.Errorf("manifest has a status: %s", b)
	}
}

func TestModelFormat(t *testing.T) {
	_, pl := served()
	for format, want := range map[string]string{
		"onnx": "onnx", "safetensors": "huggingface", "pytorch": "pytorch", "tensorflow": "tensorflow",
		"xgboost": "xgboost", "lightgbm": "lightgbm", "sklearn": "sklearn", "custom": "", "gguf": "",
	} {
		pl.Model.Format = format
		if got := kserve.ModelFormatName(pl); got != want {
			t.Errorf("ModelFormatName(%s) = %q, want %q", format, got, want)
		}
	}
	p, pl := served()
	pl.Model.Format = "custom"
	if _, err := kserve.Build(p, pl, meta(), digest, true); err == nil || !strings.Contains(err.Error(), "serve.modelFormat") {
		t.Errorf("Build(custom format) = %v, want an error naming serve.modelFormat", err)
	}
	pl.Serve = nil
	if _, err := kserve.Build(p, pl, meta(), digest, true); err == nil {
		t.Error("Build without serve succeeded")
	}
}
