package steps

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"cairn.dev/cairn/attest/lineage"
	"cairn.dev/cairn/attest/oci"
	"cairn.dev/cairn/attest/sign"
)

// PackSpec is the part of the compiled spec (the pack step's --spec) that
// packing reads: the project and the pipeline as the compiler resolved
// them.
type PackSpec struct {
	Project struct {
		Name      string `json:"name"`
		Namespace string `json:"namespace"`
	} `json:"project"`
	Pipeline struct {
		Name string `json:"name"`
		Data map[string]struct {
			URI         string   `json:"uri"`
			Snapshot    string   `json:"snapshot"`
			DerivedFrom []string `json:"derivedFrom"`
		} `json:"data"`
		Features map[string]struct {
			Outputs []string `json:"outputs"`
		} `json:"features"`
		Train struct {
			Image           string         `json:"image"`
			Hyperparameters map[string]any `json:"hyperparameters"`
			Inputs          []string       `json:"inputs"`
			BaseModel       string         `json:"baseModel"`
		} `json:"train"`
		Evaluate *struct {
			Image  string            `json:"image"`
			Inputs []string          `json:"inputs"`
			Gates  map[string]string `json:"gates"`
		} `json:"evaluate"`
		Model struct {
			Name      string `json:"name"`
			Format    string `json:"format"`
			Framework string `json:"framework"`
		} `json:"model"`
	} `json:"pipeline"`
}

// PackOptions are the pack step's inputs, as the compiled template passes
// them.
type PackOptions struct {
	Spec PackSpec
	// SpecJSON is the same spec as the JSON object it was decoded from; it
	// is recorded in the provenance, so runs compare field by field.
	SpecJSON map[string]any
	// ModelDir is the folder the training wrote: a path, a file:// URI or
	// an object-store URI, whose objects are downloaded to a temporary
	// folder to push.
	ModelDir string
	// Repository is where the model goes: a registry repository, or
	// oci:PATH for an OCI image layout.
	Repository string
	// Root resolves a bare repository name to the default store.
	Root string
	// RunID is the workflow uid; the model is tagged with it, and with
	// "latest" once signed and attested.
	RunID   string
	Started time.Time
	// Key is the cosign private key; Password unlocks it.
	Key      string
	Password []byte
	// Metrics is the evaluation's metrics file, if the pipeline evaluates.
	Metrics string
	// DatasetDigests are the content digests validate-data recorded, by
	// dataset name.
	DatasetDigests map[string]string
	SpecDigest     string
	GitCommit      string
	// RunDir is the run's folder ($CAIRN_RUN_DIR), local or in an object
	// store: the feature outputs the training read there are hashed for
	// the provenance.
	RunDir string
	// Builder is the provenance's builder id; "" means the default.
	Builder string
	// DigestCache is passed to the push (see oci.PushOptions).
	DigestCache string
	Registry    oci.Options
	Now         func() time.Time
}

// PackResult says what Pack stored.
type PackResult struct {
	Ref          oci.Ref
	Digest       string
	Files        int
	Bytes        int64
	Statements   []string // predicate types attested
	Verdict      string   // the evaluation's, if any
	Provenance   *lineage.Provenance
	SignedBy     string // key id
	PushUploaded int64
}

// Pack pushes the model folder as an OCI artifact, attests the training
// provenance and, when the pipeline evaluates, the evaluation, all built
// from the run's real inputs, and signs it. Every input is read and every
// statement built and checked before anything is pushed, so a bad input
// (a metric that is not a finite number, a missing digest, a bad commit)
// stores nothing; the statements are attached before the signature, so a
// failure after the push leaves an unsigned model, never a signature
// without its statements. The model is tagged with the run id when pushed
// and "latest" only once attested and signed, so "latest" never names a
// model without its lineage.
func Pack(ctx context.Context, o PackOptions) (*PackResult, error) {
	pl := &o.Spec.Pipeline
	if pl.Name == "" {
		return nil, errors.New("pack: the spec names no pipeline")
	}
	if o.RunID == "" {
		return nil, errors.New("pack: no run id")
	}
	signer, err := sign.LoadPrivateKey(o.Key, o.Password)
	if err != nil {
		return nil, fmt.Errorf("pack: %w", err)
	}
	res, stmts, err := packStatements(ctx, o)
	if err != nil {
		return nil, err
	}
	ref, err := oci.ParseRef(repositoryRef(o.Repository, o.RunID), o.Root)
	if err != nil {
		return nil, fmt.Errorf("pack: model repository: %w", err)
	}
	modelDir, cleanup, err := FetchFolder(ctx, o.ModelDir)
	if err != nil {
		return nil, fmt.Errorf("pack: model folder %w", err)
	}
	defer cleanup()
	pushed, err := oci.Push(ctx, modelDir, ref, oci.PushOptions{
		Options:     o.Registry,
		Name:        pl.Model.Name,
		Format:      pl.Model.Format,
		Framework:   pl.Model.Framework,
		DigestCache: o.DigestCache,
		Annotations: map[string]string{"dev.cairn.pipeline": pl.Name, "dev.cairn.run-id": o.RunID},
	})
	if err != nil {
		return nil, fmt.Errorf("pack: %w", err)
	}
	res.Ref, res.Digest, res.Files, res.PushUploaded = pushed.Ref, pushed.Descriptor.Digest.String(), len(pushed.Files), pushed.Uploaded
	res.SignedBy = signer.KeyID()
	for _, f := range pushed.Files {
		res.Bytes += f.Size
	}
	byDigest := pushed.Ref
	byDigest.Tag = ""
	for _, st := range stmts {
		if _, err := sign.Attest(ctx, byDigest, signer, st.predicateType, st.predicate, o.Registry); err != nil {
			return nil, fmt.Errorf("pack: %w (the model stays unsigned)", err)
		}
	}
	if _, err := sign.Sign(ctx, byDigest, signer, o.Registry); err != nil {
		return nil, fmt.Errorf("pack: %w (the model stays unsigned)", err)
	}
	store, err := oci.OpenStore(pushed.Ref, o.Registry)
	if err != nil {
		return nil, fmt.Errorf("pack: %w", err)
	}
	if err := store.Tag(ctx, oci.DefaultTag, pushed.Descriptor); err != nil {
		return nil, fmt.Errorf("pack: tagging %s latest: %w", pushed.Ref, err)
	}
	return res, nil
}

// statement is a predicate to attest, as JSON.
type statement struct {
	predicateType string
	predicate     []byte
}

// packStatements reads the run's inputs (metrics, dataset and feature
// digests) and returns the predicates to attest, each encoded and checked
// as sign.Attest checks it, and the result as far as they fill it.
func packStatements(ctx context.Context, o PackOptions) (*PackResult, []statement, error) {
	pl := &o.Spec.Pipeline
	now := time.Now
	if o.Now != nil {
		now = o.Now
	}
	var metrics map[string]float64
	if o.Metrics != "" {
		m, err := ReadMetricsContext(ctx, o.Metrics)
		if err != nil {
			return nil, nil, fmt.Errorf("pack: %w", err)
		}
		metrics = m.Numbers
	}
	datasets, err := packDatasets(o, nil)
	if err != nil {
		return nil, nil, err
	}
	features, err := packFeatures(ctx, o, pl.Train.Inputs)
	if err != nil {
		return nil, nil, err
	}
	finished := now()
	prov, err := packProvenance(o, metrics, datasets, features, finished)
	if err != nil {
		return nil, nil, err
	}
	res := &PackResult{Provenance: prov}
	var stmts []statement
	add := func(predicateType string, predicate any) error {
		st, err := encodePredicate(predicateType, predicate)
		if err == nil {
			stmts = append(stmts, st)
			res.Statements = append(res.Statements, predicateType)
		}
		return err
	}
	if err := add(lineage.PredicateSLSAProvenance, prov); err != nil {
		return nil, nil, err
	}
	if pl.Evaluate != nil {
		e, err := packEvaluation(o, metrics, finished)
		if err != nil {
			return nil, nil, err
		}
		if err := add(lineage.PredicateEvaluation, e); err != nil {
			return nil, nil, err
		}
		res.Verdict = e.Verdict
	}
	return res, stmts, nil
}

// packProvenance returns the training provenance of the run.
func packProvenance(o PackOptions, metrics map[string]float64, datasets []lineage.Dataset, features []lineage.Feature, finished time.Time) (*lineage.Provenance, error) {
	pl := &o.Spec.Pipeline
	prov, err := lineage.TrainingProvenance(lineage.TrainingInput{
		Project:         o.Spec.Project.Name,
		Namespace:       o.Spec.Project.Namespace,
		Pipeline:        pl.Name,
		GitCommit:       o.GitCommit,
		SpecDigest:      o.SpecDigest,
		Spec:            o.SpecJSON,
		Datasets:        datasets,
		Features:        features,
		Image:           pl.Train.Image,
		BaseModel:       baseModel(pl.Train.BaseModel),
		Hyperparameters: pl.Train.Hyperparameters,
		Metrics:         metrics,
		RunID:           o.RunID,
		Started:         o.Started,
		Finished:        finished,
		Builder:         o.Builder,
	})
	if err != nil {
		return nil, fmt.Errorf("pack: %w", err)
	}
	return prov, nil
}

// packEvaluation returns the evaluation predicate of the run.
func packEvaluation(o PackOptions, metrics map[string]float64, finished time.Time) (*lineage.Evaluation, error) {
	pl := &o.Spec.Pipeline
	ev := pl.Evaluate
	evDatasets, err := packDatasets(o, ev.Inputs)
	if err != nil {
		return nil, err
	}
	image := ev.Image
	if !strings.Contains(image, "@") {
		image = "" // the evaluation predicate names images by digest only
	}
	e, err := lineage.NewEvaluation(lineage.EvaluationInput{
		Pipeline: pl.Name, RunID: o.RunID, Datasets: evDatasets, Image: image,
		Metrics: metrics, Gates: ev.Gates, Finished: finished,
	})
	if err != nil {
		return nil, fmt.Errorf("pack: %w", err)
	}
	return e, nil
}

// encodePredicate encodes a predicate and checks it as sign.Attest will,
// so that no check fails once the model is pushed.
func encodePredicate(predicateType string, predicate any) (statement, error) {
	raw, err := json.Marshal(predicate)
	if err != nil {
		return statement{}, fmt.Errorf("pack: %s: %w", predicateType, err)
	}
	if _, err := lineage.DecodePredicate(predicateType, raw); err != nil {
		return statement{}, fmt.Errorf("pack: %w", err)
	}
	return statement{predicateType, raw}, nil
}

// repositoryRef adds the run id as the tag of a repository reference.
func repositoryRef(repo, tag string) string {
	return strings.TrimSuffix(repo, "/") + ":" + tag
}

func baseModel(ref string) *lineage.Artifact {
	if ref == "" {
		return nil
	}
	return &lineage.Artifact{Ref: ref}
}

// packDatasets returns the datasets among inputs with their digests, or
// every dataset of the pipeline when inputs name none: a dataset read by
// a feature step fed the model through that step's output.
func packDatasets(o PackOptions, inputs []string) ([]lineage.Dataset, error) {
	pl := &o.Spec.Pipeline
	names := map[string]bool{}
	for _, in := range inputs {
		if _, ok := pl.Data[in]; ok {
			names[in] = true
		}
	}
	if len(names) == 0 {
		for name := range pl.Data {
			names[name] = true
		}
	}
	var out []lineage.Dataset
	for _, name := range slices.Sorted(maps.Keys(names)) {
		d := pl.Data[name]
		digest := o.DatasetDigests[name]
		if digest == "" {
			return nil, fmt.Errorf("pack: dataset %s: no digest given (--dataset-digest %s=sha256:...)", name, name)
		}
		out = append(out, lineage.Dataset{Name: name, URI: d.URI, Digest: digest, Snapshot: d.Snapshot, DerivedFrom: d.DerivedFrom})
	}
	return out, nil
}

// packFeatures returns the feature outputs the training read, with their
// content digests when they are there (a local folder, or objects under
// the run folder's prefix in an object store).
func packFeatures(ctx context.Context, o PackOptions, inputs []string) ([]lineage.Feature, error) {
	pl := &o.Spec.Pipeline
	var out []lineage.Feature
	for _, step := range slices.Sorted(maps.Keys(pl.Features)) {
		for _, output := range pl.Features[step].Outputs {
			read := false
			for _, in := range inputs {
				read = read || in == output
			}
			if !read {
				continue
			}
			uri := joinLocation(o.RunDir, "features", step, output)
			f := lineage.Feature{Step: step, Output: output, URI: withoutQuery(uri)}
			if IsObjectStore(uri) {
				files, err := DigestLocation(ctx, uri, "")
				switch {
				case errors.Is(err, errNoObjects):
				case err != nil:
					return nil, fmt.Errorf("pack: feature output %s/%s: %w", step, output, err)
				default:
					f.Digest = SnapshotDigest(files)
				}
			} else if p, err := LocalPath(uri); err == nil && o.RunDir != "" {
				if _, err := os.Stat(p); err == nil {
					files, err := DigestLocation(ctx, p, "")
					if err != nil {
						return nil, fmt.Errorf("pack: feature output %s/%s: %w", step, output, err)
					}
					f.Digest = SnapshotDigest(files)
				}
			}
			out = append(out, f)
		}
	}
	return out, nil
}

// WritePackOutputs writes the step's outputs: digest (the model's
// manifest digest, no newline) and ref (the reference by digest).
func (r *PackResult) WritePackOutputs(dir string) error {
	if dir == "" {
		return nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	ref := r.Ref
	ref.Tag = ""
	if err := os.WriteFile(filepath.Join(dir, "ref"), []byte(ref.String()), 0o644); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, "digest"), []byte(r.Digest), 0o644)
}

// WriteSummary prints what was packed.
func (r *PackResult) WriteSummary(w io.Writer) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "model\t%s\n", r.Ref)
	fmt.Fprintf(tw, "digest\t%s\n", r.Digest)
	fmt.Fprintf(tw, "files\t%d (%d bytes)\n", r.Files, r.Bytes)
	fmt.Fprintf(tw, "signed by\t%s\n", r.SignedBy)
	for _, s := range r.Statements {
		fmt.Fprintf(tw, "attested\t%s\n", s)
	}
	if r.Verdict != "" {
		fmt.Fprintf(tw, "verdict\t%s\n", r.Verdict)
	}
	tw.Flush()
}
