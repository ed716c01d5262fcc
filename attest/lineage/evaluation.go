package lineage

import (
	"errors"
	"fmt"
	"maps"
	"math"
	"slices"
	"time"

	"cairn.dev/cairn/schemas"
)

// Verdicts of an evaluation.
const (
	VerdictPass = "pass" // every gate passed (or there were none)
	VerdictFail = "fail" // a gate failed, or its metric is missing
)

// Evaluation is the predicate of type PredicateEvaluation: how a model
// scored on its evaluation data and whether it met its gates.
type Evaluation struct {
	Pipeline string `json:"pipeline"`
	// RunID is the uid of the workflow that evaluated the model.
	RunID string `json:"runId,omitempty"`
	// Datasets are the evaluation data, by content digest.
	Datasets []ResourceDescriptor `json:"datasets,omitempty"`
	// Evaluator is the evaluation image, by digest.
	Evaluator *ResourceDescriptor `json:"evaluator,omitempty"`
	Metrics   map[string]float64  `json:"metrics"`
	// Gates are the pipeline's gates, sorted by metric.
	Gates   []Gate `json:"gates"`
	Verdict string `json:"verdict"`
	// EvaluatedOn is when the evaluation finished.
	EvaluatedOn *time.Time `json:"evaluatedOn,omitempty"`
}

// Gate is one gate of an evaluation and its outcome.
type Gate struct {
	Metric string `json:"metric"`
	// Condition is the gate as the spec writes it, e.g. ">= 0.92".
	Condition string  `json:"condition"`
	Op        string  `json:"op"`
	Threshold float64 `json:"threshold"`
	// Value is the metric's value; absent when the evaluation did not
	// report the metric, which fails the gate.
	Value  *float64 `json:"value,omitempty"`
	Passed bool     `json:"passed"`
}

// EvaluationInput is what the gate and pack steps know about an
// evaluation.
type EvaluationInput struct {
	Pipeline string
	RunID    string
	Datasets []Dataset
	// Image is the evaluation image; when given it must name its digest,
	// in the reference or in ImageDigest.
	Image       string
	ImageDigest string
	Metrics     map[string]float64
	// Gates are the spec's gates: metric name to condition (">= 0.92").
	Gates    map[string]string
	Finished time.Time
}

// NewEvaluation returns the evaluation predicate: each gate is checked
// against the metrics with the spec's gate syntax (schemas.ParseGate),
// and the verdict is VerdictPass when every gate passed.
func NewEvaluation(in EvaluationInput) (*Evaluation, error) {
	var errs []error
	if in.Pipeline == "" {
		errs = append(errs, fmt.Errorf("no pipeline"))
	}
	for _, k := range slices.Sorted(maps.Keys(in.Metrics)) {
		if v := in.Metrics[k]; math.IsNaN(v) || math.IsInf(v, 0) {
			errs = append(errs, fmt.Errorf("metric %s: %v is not a finite number", k, v))
		}
	}
	e := &Evaluation{
		Pipeline:    in.Pipeline,
		RunID:       in.RunID,
		Metrics:     in.Metrics,
		Gates:       []Gate{},
		Verdict:     VerdictPass,
		EvaluatedOn: utc(in.Finished),
	}
	if e.Metrics == nil {
		e.Metrics = map[string]float64{}
	}
	datasets, err := datasetDescriptors(in.Datasets)
	if err != nil {
		errs = append(errs, err)
	}
	e.Datasets = datasets
	if in.Image != "" {
		d, err := artifactDescriptor("evaluator", Artifact{Ref: in.Image, Digest: in.ImageDigest}, RoleImage)
		if err != nil {
			errs = append(errs, fmt.Errorf("evaluation image: %w", err))
		} else {
			e.Evaluator = &d
		}
	}
	for _, metric := range slices.Sorted(maps.Keys(in.Gates)) {
		cond := in.Gates[metric]
		g, err := schemas.ParseGate(cond)
		if err != nil {
			errs = append(errs, fmt.Errorf("metric %s: %w", metric, err))
			continue
		}
		gate := Gate{Metric: metric, Condition: cond, Op: g.Op, Threshold: g.Value}
		if v, ok := in.Metrics[metric]; ok {
			gate.Value = &v
			gate.Passed = g.Pass(v)
		}
		if !gate.Passed {
			e.Verdict = VerdictFail
		}
		e.Gates = append(e.Gates, gate)
	}
	if len(errs) > 0 {
		return nil, fmt.Errorf("evaluation of pipeline %q: %w", in.Pipeline, errors.Join(errs...))
	}
	return e, nil
}

// validate checks the fields the evaluation predicate requires.
func (e *Evaluation) validate() error {
	if e.Pipeline == "" {
		return fmt.Errorf("no pipeline")
	}
	if e.Verdict != VerdictPass && e.Verdict != VerdictFail {
		return fmt.Errorf("verdict %q: want %s or %s", e.Verdict, VerdictPass, VerdictFail)
	}
	return nil
}
