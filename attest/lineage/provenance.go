package lineage

import (
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"
)

const (
	// BuildTypeTraining is the SLSA buildType of a model trained by a
	// Cairn pipeline; docs/lineage.md says what its parameters mean.
	BuildTypeTraining = "https://cairn.dev/buildtypes/training/v1"
	// DefaultBuilderID is the builder id of a training provenance whose
	// input names none: a Cairn pipeline run by Argo Workflows.
	DefaultBuilderID = "https://cairn.dev/builders/argo-workflows/v1"
	// LocalBuilderID is the builder id of a model trained by cairn run,
	// the local executor.
	LocalBuilderID = "https://cairn.dev/builders/local/v1"
	// AnnotationRole is the resource-descriptor annotation saying what a
	// resolved dependency is to the run (one of the Role constants).
	AnnotationRole = "cairn.dev/role"
	// AnnotationSnapshot is the resource-descriptor annotation holding a
	// dataset's snapshot id.
	AnnotationSnapshot = "cairn.dev/snapshot"
	// AnnotationDerivedFrom is the resource-descriptor annotation listing
	// the URIs of the datasets a dataset was made from.
	AnnotationDerivedFrom = "cairn.dev/derived-from"
)

// Roles of resolved dependencies, in the AnnotationRole annotation.
const (
	RoleSource    = "source"     // the git commit of the specs
	RoleSpec      = "spec"       // the evaluated pipeline spec
	RoleDataset   = "dataset"    // a dataset snapshot
	RoleFeature   = "feature"    // a feature step's output
	RoleImage     = "image"      // the training image
	RoleBaseModel = "base-model" // the model fine-tuned
)

// Provenance is the predicate of SLSA Provenance v1
// (https://slsa.dev/spec/v1.0/provenance).
type Provenance struct {
	BuildDefinition BuildDefinition `json:"buildDefinition"`
	RunDetails      RunDetails      `json:"runDetails"`
}

// BuildDefinition is what the build (the training run) was asked to do,
// and with what.
type BuildDefinition struct {
	// BuildType is a URI naming the template of the build.
	BuildType string `json:"buildType"`
	// ExternalParameters are the inputs a user controls.
	ExternalParameters map[string]any `json:"externalParameters"`
	// InternalParameters are the builder's own settings.
	InternalParameters map[string]any `json:"internalParameters,omitempty"`
	// ResolvedDependencies are the artifacts the build read, by digest.
	ResolvedDependencies []ResourceDescriptor `json:"resolvedDependencies,omitempty"`
}

// RunDetails says who ran the build, when, and what else it produced.
type RunDetails struct {
	Builder    Builder              `json:"builder"`
	Metadata   *BuildMetadata       `json:"metadata,omitempty"`
	Byproducts []ResourceDescriptor `json:"byproducts,omitempty"`
}

// Builder identifies the platform that ran the build.
type Builder struct {
	ID                  string               `json:"id"`
	Version             map[string]string    `json:"version,omitempty"`
	BuilderDependencies []ResourceDescriptor `json:"builderDependencies,omitempty"`
}

// BuildMetadata identifies one run of the build.
type BuildMetadata struct {
	InvocationID string     `json:"invocationId,omitempty"`
	StartedOn    *time.Time `json:"startedOn,omitempty"`
	FinishedOn   *time.Time `json:"finishedOn,omitempty"`
}

// ResourceDescriptor is an in-toto resource descriptor: an artifact by
// URI and digests, with optional content and annotations.
type ResourceDescriptor struct {
	Name             string         `json:"name,omitempty"`
	URI              string         `json:"uri,omitempty"`
	Digest           DigestSet      `json:"digest,omitempty"`
	Content          []byte         `json:"content,omitempty"`
	DownloadLocation string         `json:"downloadLocation,omitempty"`
	MediaType        string         `json:"mediaType,omitempty"`
	Annotations      map[string]any `json:"annotations,omitempty"`
}

// Dataset is a dataset snapshot a step read: its name in the spec, URI,
// and content digest (see ContentDigest).
type Dataset struct {
	Name   string
	URI    string
	Digest string // "sha256:<hex>"
	// Snapshot is the snapshot id the spec names, if any.
	Snapshot string
	// DerivedFrom are the URIs of the datasets it was made from.
	DerivedFrom []string
}

// Feature is an output of a feature step the training read.
type Feature struct {
	Step   string
	Output string
	URI    string
	// Digest is the output's content digest, when the platform computed
	// it.
	Digest string
}

// Artifact is an OCI artifact by reference and digest.
type Artifact struct {
	// Ref is the reference; a "@sha256:..." suffix gives the digest.
	Ref string
	// Digest is the manifest digest, when Ref has none.
	Digest string
}

// TrainingInput is what the pack step knows about a training run.
type TrainingInput struct {
	// Project, Namespace and Pipeline name the pipeline; Pipeline is
	// required.
	Project, Namespace, Pipeline string
	// SpecPath is the path, in the git repository, of the file declaring
	// the pipeline.
	SpecPath string
	// Repository is the git repository's URL, if known.
	Repository string
	// GitCommit is the commit the specs were compiled from (hex).
	GitCommit string
	// SpecDigest is the digest of the evaluated spec ("sha256:<hex>", the
	// cairn.dev/spec-digest annotation).
	SpecDigest string
	// CompilerVersion is the Cairn version that compiled the pipeline.
	CompilerVersion string
	// Spec is the evaluated spec as compiled (a JSON object: the project
	// and the pipeline), recorded as externalParameters.spec so that two
	// runs can be compared field by field; nil records the digest alone.
	Spec     map[string]any
	Datasets []Dataset
	Features []Feature
	// Image is the training image; it must name its digest, in the
	// reference or in ImageDigest.
	Image       string
	ImageDigest string
	// BaseModel is the model fine-tuned, by digest; nil when trained from
	// scratch.
	BaseModel       *Artifact
	Hyperparameters map[string]any
	Metrics         map[string]float64
	// RunID is the workflow's uid, the invocation id; required.
	RunID             string
	Started, Finished time.Time
	// Builder is the builder id; "" means DefaultBuilderID.
	Builder string
}

// TrainingProvenance returns the SLSA Provenance v1 predicate of a
// training run. Dependencies come in a fixed order: the git commit, the
// spec, the datasets by name, the feature outputs by step and output, the
// image, the base model.
func TrainingProvenance(in TrainingInput) (*Provenance, error) {
	var errs []error
	fail := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if in.Pipeline == "" {
		fail("no pipeline")
	}
	if in.RunID == "" {
		fail("no run id (the workflow uid)")
	}
	ext := map[string]any{"pipeline": in.Pipeline}
	for k, v := range map[string]string{"project": in.Project, "namespace": in.Namespace, "specPath": in.SpecPath} {
		if v != "" {
			ext[k] = v
		}
	}
	if in.Spec != nil {
		ext["spec"] = in.Spec
	}
	p := &Provenance{
		BuildDefinition: BuildDefinition{BuildType: BuildTypeTraining, ExternalParameters: ext},
		RunDetails:      RunDetails{Builder: Builder{ID: in.Builder}},
	}
	if p.RunDetails.Builder.ID == "" {
		p.RunDetails.Builder.ID = DefaultBuilderID
	}
	if in.CompilerVersion != "" {
		p.BuildDefinition.InternalParameters = map[string]any{"compilerVersion": in.CompilerVersion}
	}
	deps := &p.BuildDefinition.ResolvedDependencies
	if in.GitCommit != "" {
		if !hexRE.MatchString(in.GitCommit) || (len(in.GitCommit) != 40 && len(in.GitCommit) != 64) {
			fail("git commit %q: want 40 or 64 lower-case hex digits", in.GitCommit)
		}
		d := ResourceDescriptor{Name: "git", Digest: DigestSet{"gitCommit": in.GitCommit}, Annotations: role(RoleSource)}
		if in.Repository != "" {
			d.URI = "git+" + in.Repository
		}
		*deps = append(*deps, d)
	}
	if in.SpecDigest != "" {
		ds, err := ParseDigest(in.SpecDigest)
		if err != nil {
			fail("spec: %w", err)
		}
		*deps = append(*deps, ResourceDescriptor{Name: "spec", URI: in.SpecPath, Digest: ds, MediaType: "application/json", Annotations: role(RoleSpec)})
	}
	datasets, err := datasetDescriptors(in.Datasets)
	if err != nil {
		errs = append(errs, err)
	}
	*deps = append(*deps, datasets...)
	features := append([]Feature(nil), in.Features...)
	sort.Slice(features, func(i, j int) bool {
		if features[i].Step != features[j].Step {
			return features[i].Step < features[j].Step
		}
		return features[i].Output < features[j].Output
	})
	for _, f := range features {
		name := f.Step + "/" + f.Output
		if f.Step == "" || f.Output == "" || f.URI == "" {
			fail("feature %q: want step, output and URI", name)
		}
		d := ResourceDescriptor{Name: name, URI: f.URI, Annotations: role(RoleFeature)}
		if f.Digest != "" {
			if d.Digest, err = ParseDigest(f.Digest); err != nil {
				fail("feature %s: %w", name, err)
			}
		}
		*deps = append(*deps, d)
	}
	if in.Image == "" {
		fail("no training image")
	} else if !strings.Contains(in.Image, "@") && in.ImageDigest == "" {
		// A project may opt out of pinning (policy.requireDigests: false):
		// the image is recorded by tag, marked as such.
		*deps = append(*deps, ResourceDescriptor{Name: "image", URI: in.Image, Annotations: map[string]any{AnnotationRole: RoleImage, AnnotationPinned: false}})
	} else if d, err := artifactDescriptor("image", Artifact{Ref: in.Image, Digest: in.ImageDigest}, RoleImage); err != nil {
		fail("training image: %w", err)
	} else {
		*deps = append(*deps, d)
	}
	if in.BaseModel != nil {
		if d, err := artifactDescriptor("base-model", *in.BaseModel, RoleBaseModel); err != nil {
			fail("base model: %w", err)
		} else {
			*deps = append(*deps, d)
		}
	}
	md := &BuildMetadata{InvocationID: in.RunID, StartedOn: utc(in.Started), FinishedOn: utc(in.Finished)}
	if md.StartedOn != nil && md.FinishedOn != nil && md.FinishedOn.Before(*md.StartedOn) {
		fail("the run finished (%s) before it started (%s)", md.FinishedOn.Format(time.RFC3339), md.StartedOn.Format(time.RFC3339))
	}
	p.RunDetails.Metadata = md
	if len(in.Hyperparameters) > 0 {
		p.RunDetails.Byproducts = append(p.RunDetails.Byproducts, ResourceDescriptor{
			Name: "hyperparameters", MediaType: "application/json", Annotations: in.Hyperparameters,
		})
	}
	if len(in.Metrics) > 0 {
		m := make(map[string]any, len(in.Metrics))
		for k, v := range in.Metrics {
			m[k] = v
		}
		p.RunDetails.Byproducts = append(p.RunDetails.Byproducts, ResourceDescriptor{
			Name: "metrics", MediaType: "application/json", Annotations: m,
		})
	}
	if len(errs) > 0 {
		return nil, fmt.Errorf("training provenance of pipeline %q: %w", in.Pipeline, errors.Join(errs...))
	}
	return p, nil
}

// datasetDescriptors describes datasets, sorted by name; each needs a
// name, a URI and a content digest.
func datasetDescriptors(in []Dataset) ([]ResourceDescriptor, error) {
	ds := append([]Dataset(nil), in...)
	sort.Slice(ds, func(i, j int) bool { return ds[i].Name < ds[j].Name })
	var (
		out  []ResourceDescriptor
		errs []error
	)
	for i, d := range ds {
		if d.Name == "" || d.URI == "" {
			errs = append(errs, fmt.Errorf("dataset %q: want a name and a URI", d.Name))
			continue
		}
		if i > 0 && ds[i-1].Name == d.Name {
			errs = append(errs, fmt.Errorf("dataset %q: listed twice", d.Name))
			continue
		}
		digest, err := ParseDigest(d.Digest)
		if err != nil {
			errs = append(errs, fmt.Errorf("dataset %s: content %w", d.Name, err))
			continue
		}
		ann := role(RoleDataset)
		if d.Snapshot != "" {
			ann[AnnotationSnapshot] = d.Snapshot
		}
		if len(d.DerivedFrom) > 0 {
			from := make([]any, len(d.DerivedFrom))
			for i, u := range d.DerivedFrom {
				from[i] = u
			}
			ann[AnnotationDerivedFrom] = from
		}
		out = append(out, ResourceDescriptor{Name: d.Name, URI: d.URI, Digest: digest, Annotations: ann})
	}
	return out, errors.Join(errs...)
}

// artifactDescriptor describes an OCI artifact by digest.
func artifactDescriptor(name string, a Artifact, r string) (ResourceDescriptor, error) {
	digest := a.Digest
	if _, d, ok := strings.Cut(a.Ref, "@"); ok {
		if digest != "" && digest != d {
			return ResourceDescriptor{}, fmt.Errorf("%s names digest %s, and the digest given is %s", a.Ref, d, digest)
		}
		digest = d
	}
	if digest == "" {
		return ResourceDescriptor{}, fmt.Errorf("%s: no digest (pin it as NAME@sha256:...)", a.Ref)
	}
	ds, err := ParseDigest(digest)
	if err != nil {
		return ResourceDescriptor{}, fmt.Errorf("%s: %w", a.Ref, err)
	}
	return ResourceDescriptor{Name: name, URI: a.Ref, Digest: ds, Annotations: role(r)}, nil
}

func role(r string) map[string]any { return map[string]any{AnnotationRole: r} }

// AnnotationPinned, false on the training image's dependency, says the
// image was named by tag alone: its content is not known.
const AnnotationPinned = "pinned"

// utc returns t in UTC, or nil for the zero time.
func utc(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	u := t.UTC()
	return &u
}

// validate checks the fields SLSA Provenance v1 requires.
func (p *Provenance) validate() error {
	if p.BuildDefinition.BuildType == "" {
		return fmt.Errorf("no buildDefinition.buildType")
	}
	if p.RunDetails.Builder.ID == "" {
		return fmt.Errorf("no runDetails.builder.id")
	}
	return nil
}

// Dependencies returns the resolved dependencies whose AnnotationRole is
// r.
func (p *Provenance) Dependencies(r string) []ResourceDescriptor {
	var out []ResourceDescriptor
	for _, d := range p.BuildDefinition.ResolvedDependencies {
		if d.Annotations[AnnotationRole] == r {
			out = append(out, d)
		}
	}
	return out
}
