package lineage

import (
	"errors"
	"fmt"
	"time"
)

// Deployment is the predicate of type PredicateDeployment: where a model
// (the statement's subject, by digest) was rolled out, by whom and when.
// The deploy step attests it once the model verified, so verifiers and
// the audit index see where each model runs.
type Deployment struct {
	// Environment names the cluster or stage ("cluster", "local", ...).
	Environment string `json:"environment"`
	Namespace   string `json:"namespace"`
	// InferenceService is the name of the KServe InferenceService.
	InferenceService string `json:"inferenceService"`
	// ModelDigest is the served model's manifest digest, as the subject.
	ModelDigest string `json:"modelDigest"`
	// StorageURI is the URI the InferenceService pulls the model from.
	StorageURI string `json:"storageUri,omitempty"`
	// CanaryPercent is the share of traffic the model receives first.
	CanaryPercent int    `json:"canaryPercent"`
	Pipeline      string `json:"pipeline,omitempty"`
	// RunID is the workflow uid that deployed the model.
	RunID string `json:"runId,omitempty"`
	// GitCommit is the commit the specs were compiled from.
	GitCommit  string    `json:"gitCommit,omitempty"`
	DeployedOn time.Time `json:"deployedOn"`
}

// DeploymentInput is what the deploy step knows about a rollout.
type DeploymentInput struct {
	Environment, Namespace, InferenceService string
	ModelDigest, StorageURI                  string
	CanaryPercent                            int
	Pipeline, RunID, GitCommit               string
	DeployedOn                               time.Time
}

// NewDeployment builds a deployment predicate, checking its fields.
func NewDeployment(in DeploymentInput) (*Deployment, error) {
	d := &Deployment{
		Environment:      in.Environment,
		Namespace:        in.Namespace,
		InferenceService: in.InferenceService,
		ModelDigest:      in.ModelDigest,
		StorageURI:       in.StorageURI,
		CanaryPercent:    in.CanaryPercent,
		Pipeline:         in.Pipeline,
		RunID:            in.RunID,
		GitCommit:        in.GitCommit,
		DeployedOn:       in.DeployedOn.UTC(),
	}
	if err := d.validate(); err != nil {
		return nil, fmt.Errorf("deployment: %w", err)
	}
	return d, nil
}

func (d *Deployment) validate() error {
	switch {
	case d.Environment == "":
		return errors.New("no environment")
	case d.Namespace == "":
		return errors.New("no namespace")
	case d.InferenceService == "":
		return errors.New("no InferenceService name")
	case d.CanaryPercent < 0 || d.CanaryPercent > 100:
		return fmt.Errorf("canary percent %d: want 0 to 100", d.CanaryPercent)
	case d.DeployedOn.IsZero():
		return errors.New("no deployment time")
	}
	if _, err := ParseDigest(d.ModelDigest); err != nil {
		return fmt.Errorf("model digest: %w", err)
	}
	return nil
}
