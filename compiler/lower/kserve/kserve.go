// Package kserve lowers a pipeline's serve block to a KServe
// InferenceService (serving.kserve.io/v1beta1). It holds typed Go
// definitions of the InferenceService fields Cairn emits, written from
// KServe's v1beta1 API reference: KServe's own module needs newer
// Kubernetes and Knative modules than Cairn pins.
package kserve

import (
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"cairn.dev/cairn/compiler/ir"
	"cairn.dev/cairn/compiler/lower"
)

// The InferenceService's API group, version and kind, and its file.
const (
	APIVersion = "serving.kserve.io/v1beta1"
	Kind       = "InferenceService"
	File       = "inferenceservice.yaml"
	// DigestPlaceholder stands for the model's digest in the manifest the
	// deploy task receives; the deploy step replaces it.
	DigestPlaceholder = "sha256:0000000000000000000000000000000000000000000000000000000000000000"
)

// InferenceService is KServe's v1beta1 InferenceService, the fields Cairn
// emits.
type InferenceService struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`
	Spec              InferenceServiceSpec `json:"spec"`
}

// InferenceServiceSpec is the InferenceService's spec: Cairn serves a
// predictor only (no transformer or explainer).
type InferenceServiceSpec struct {
	// Predictor serves the model.
	Predictor PredictorSpec `json:"predictor"`
}

// PredictorSpec is KServe's PredictorSpec: the model, the
// ComponentExtensionSpec fields (replicas, canary traffic) and the pod
// fields Cairn sets (inlined PodSpec in KServe).
type PredictorSpec struct {
	// Model is the model served by a ServingRuntime chosen by format.
	Model *ModelSpec `json:"model,omitempty"`
	// MinReplicas is the autoscaler's lower bound; 0 scales to zero.
	MinReplicas *int32 `json:"minReplicas,omitempty"`
	// MaxReplicas is the autoscaler's upper bound.
	MaxReplicas int32 `json:"maxReplicas,omitempty"`
	// CanaryTrafficPercent is the share of traffic the latest revision
	// receives; the rest goes to the previous ready revision.
	CanaryTrafficPercent *int64 `json:"canaryTrafficPercent,omitempty"`
	// ServiceAccountName runs the predictor pods (PodSpec field).
	ServiceAccountName string `json:"serviceAccountName,omitempty"`
	// NodeSelector places the pods on GPU nodes (PodSpec field).
	NodeSelector map[string]string `json:"nodeSelector,omitempty"`
	// Tolerations of the GPU taint (PodSpec field).
	Tolerations []corev1.Toleration `json:"tolerations,omitempty"`
}

// ModelSpec is KServe's ModelSpec: the format, an optional runtime, and
// the PredictorExtensionSpec fields Cairn sets (storage URI and the
// inlined container's resources).
type ModelSpec struct {
	// ModelFormat selects the ServingRuntimes that can serve the model.
	ModelFormat ModelFormat `json:"modelFormat"`
	// Runtime names a ServingRuntime explicitly.
	Runtime *string `json:"runtime,omitempty"`
	// StorageURI is where the model is pulled from: oci://...@sha256:...
	StorageURI *string `json:"storageUri,omitempty"`
	// Resources of the model server container.
	Resources corev1.ResourceRequirements `json:"resources,omitempty"`
}

// ModelFormat is KServe's ModelFormat.
type ModelFormat struct {
	// Name of the format: sklearn, xgboost, onnx, ...
	Name string `json:"name"`
	// Version of the format.
	Version *string `json:"version,omitempty"`
}

// formats maps Cairn's model formats to KServe's names.
var formats = map[string]string{
	"onnx": "onnx", "safetensors": "huggingface", "pytorch": "pytorch",
	"tensorflow": "tensorflow", "xgboost": "xgboost", "lightgbm": "lightgbm",
	"sklearn": "sklearn",
}

// ModelFormatName is the KServe model format of a pipeline: serve's
// modelFormat, else the one KServe uses for the model's format ("" when
// KServe has none, as for "custom").
func ModelFormatName(pl *ir.Pipeline) string {
	if pl.Serve != nil && pl.Serve.ModelFormat != "" {
		return pl.Serve.ModelFormat
	}
	return formats[pl.Model.Format]
}

// StorageURI is the URI KServe pulls a model from: the repository over
// oci://, pinned by digest.
func StorageURI(repository, digest string) string {
	repository = strings.TrimPrefix(repository, "oci://")
	return "oci://" + repository + "@" + digest
}

// Build returns the InferenceService serving the pipeline's model at
// digest, named like the pipeline. canary says whether the new model gets
// serve.canaryPercent of the traffic (the deploy task's rollout) or all of
// it (a pinned, promoted digest).
func Build(p *ir.Project, pl *ir.Pipeline, meta lower.Meta, digest string, canary bool) (*InferenceService, error) {
	s := pl.Serve
	if s == nil {
		return nil, fmt.Errorf("pipeline %q has no serve block", pl.Name)
	}
	format := ModelFormatName(pl)
	if format == "" {
		return nil, fmt.Errorf("serve: model format %q has no KServe model format: set serve.modelFormat", pl.Model.Format)
	}
	res, err := lower.Resources(s.Resources.CPU, s.Resources.Memory, s.GPUs)
	if err != nil {
		return nil, fmt.Errorf("serve.resources: %w", err)
	}
	uri := StorageURI(pl.Model.Repository, digest)
	minR, maxR := int32(s.Replicas.Min), int32(s.Replicas.Max)
	ann := map[string]string{}
	for k, v := range meta.Annotations {
		ann[k] = v
	}
	ann[AnnotModelDigest] = digest
	isvc := &InferenceService{
		TypeMeta:   metav1.TypeMeta{APIVersion: APIVersion, Kind: Kind},
		ObjectMeta: metav1.ObjectMeta{Name: pl.Name, Namespace: p.Namespace, Labels: meta.Labels, Annotations: ann},
		Spec: InferenceServiceSpec{Predictor: PredictorSpec{
			Model: &ModelSpec{
				ModelFormat: ModelFormat{Name: format},
				StorageURI:  &uri,
				Resources:   res,
			},
			MinReplicas:        &minR,
			MaxReplicas:        maxR,
			ServiceAccountName: p.ServiceAccount,
		}},
	}
	if canary {
		pct := int64(s.CanaryPercent)
		isvc.Spec.Predictor.CanaryTrafficPercent = &pct
	}
	if s.GPUs > 0 {
		isvc.Spec.Predictor.NodeSelector, isvc.Spec.Predictor.Tolerations = lower.Placement(p.Cluster, s.GPUs, "", false)
	}
	return isvc, nil
}

// AnnotModelDigest records the served model's digest on the
// InferenceService, so a rollback can name the previous one.
const AnnotModelDigest = "cairn.dev/model-digest"
