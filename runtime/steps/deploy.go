package steps

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/yaml"

	"cairn.dev/cairn/attest/lineage"
	"cairn.dev/cairn/attest/oci"
	"cairn.dev/cairn/attest/sign"

	"cairn.dev/cairn/internal/atomicfile"
)

// DigestPlaceholder stands for the model's digest in the InferenceService
// manifest the compiled deploy task passes (compiler/lower/kserve's
// constant of the same name); Deploy replaces it with the packed model's.
const DigestPlaceholder = "sha256:0000000000000000000000000000000000000000000000000000000000000000"

// InferenceServiceFile is the file the deploy step writes the applied
// manifest to, in its outputs folder and the run folder.
const InferenceServiceFile = "inferenceservice.yaml"

// StorageURIFile is the output file holding the URI the InferenceService
// pulls the model from (the deploy task's storage-uri parameter).
const StorageURIFile = "storage-uri"

// DeployOptions are the deploy step's inputs, as the compiled template
// passes them.
type DeployOptions struct {
	// Repository holds the packed model (pack's --repository); Root
	// resolves a bare name to the default store.
	Repository, Root string
	// Digest is the model's manifest digest (pack's digest output).
	Digest string
	// PublicKeys are the trusted cosign public keys, as PEM files.
	PublicKeys []string
	// Require lists the predicate types that must verify besides the
	// signature: SLSA provenance and, when the pipeline evaluates, the
	// evaluation.
	Require []string
	// Key and Password sign the deployment statement.
	Key      string
	Password []byte
	// Manifest is the InferenceService as JSON, its model digest written
	// as DigestPlaceholder.
	Manifest []byte
	// Environment names where the model is deployed ("cluster", "local").
	Environment string
	GitCommit   string
	RunID       string
	// Local writes the manifest instead of applying it: there is no
	// cluster (cairn run).
	Local bool
	// Outputs and RunDir are folders the manifest is written to when
	// local (RunDir only when it is a local path).
	Outputs, RunDir string
	Registry        oci.Options
	Now             func() time.Time
	// Apply applies the manifest to the cluster; nil uses ApplyInCluster.
	Apply func(ctx context.Context, obj *unstructured.Unstructured) error
}

// DeployResult says what Deploy verified, applied and attested.
type DeployResult struct {
	Ref        oci.Ref
	Report     *sign.Report
	Manifest   []byte // the InferenceService applied or written, as YAML
	Written    []string
	Applied    bool
	Deployment *lineage.Deployment
}

var digestRE = regexp.MustCompile(`^sha256:[0-9a-f]{64}$`)

// Deploy verifies the packed model (its signature and the required
// statements, as cairn verify does; an evaluation must also have passed),
// then applies the InferenceService serving it by digest as a canary (or,
// locally, writes the manifest), then attests a signed deployment
// statement on the model. A model that does not verify is refused before
// anything is applied.
func Deploy(ctx context.Context, o DeployOptions) (*DeployResult, error) {
	now := time.Now
	if o.Now != nil {
		now = o.Now
	}
	if !digestRE.MatchString(o.Digest) {
		return nil, fmt.Errorf("deploy: model digest %q: want sha256: and 64 lower-case hex digits", o.Digest)
	}
	if len(o.PublicKeys) == 0 {
		return nil, errors.New("deploy: no public key to verify the model with")
	}
	ref, err := oci.ParseRef(strings.TrimSuffix(o.Repository, "/")+"@"+o.Digest, o.Root)
	if err != nil {
		return nil, fmt.Errorf("deploy: model repository: %w", err)
	}
	obj, err := inferenceService(o.Manifest, o.Digest)
	if err != nil {
		return nil, fmt.Errorf("deploy: %w", err)
	}
	if !ref.IsLayout() {
		// The model is served from where pack stored it, which the
		// workflow's model-repository parameter may have changed.
		uri := "oci://" + ref.Registry + "/" + ref.Repository + "@" + o.Digest
		if err := unstructured.SetNestedField(obj.Object, uri, "spec", "predictor", "model", "storageUri"); err != nil {
			return nil, fmt.Errorf("deploy: %w", err)
		}
	}
	signer, err := sign.LoadPrivateKey(o.Key, o.Password)
	if err != nil {
		return nil, fmt.Errorf("deploy: %w", err)
	}
	keys, err := sign.LoadPublicKeys(o.PublicKeys...)
	if err != nil {
		return nil, fmt.Errorf("deploy: %w", err)
	}
	rep, err := sign.Verify(ctx, ref, keys, sign.VerifyOptions{Require: o.Require}, o.Registry)
	if err != nil {
		return nil, fmt.Errorf("deploy: %w", err)
	}
	res := &DeployResult{Ref: ref, Report: rep}
	if err := refusal(rep); err != nil {
		return res, fmt.Errorf("deploy: refusing model %s: %w", ref, err)
	}
	manifest, err := yaml.Marshal(obj.Object)
	if err != nil {
		return res, fmt.Errorf("deploy: %w", err)
	}
	res.Manifest = manifest
	uri, _, _ := unstructured.NestedString(obj.Object, "spec", "predictor", "model", "storageUri")
	if o.Outputs != "" {
		if err := os.MkdirAll(o.Outputs, 0o755); err != nil {
			return res, fmt.Errorf("deploy: %w", err)
		}
		if err := atomicfile.Write(filepath.Join(o.Outputs, StorageURIFile), []byte(uri), 0o644); err != nil {
			return res, fmt.Errorf("deploy: %w", err)
		}
	}
	if o.Local {
		for _, dir := range []string{o.Outputs, localDir(o.RunDir)} {
			if dir == "" {
				continue
			}
			if err := os.MkdirAll(dir, 0o755); err != nil {
				return res, fmt.Errorf("deploy: %w", err)
			}
			p := filepath.Join(dir, InferenceServiceFile)
			if err := atomicfile.Write(p, manifest, 0o644); err != nil {
				return res, fmt.Errorf("deploy: %w", err)
			}
			res.Written = append(res.Written, p)
		}
	} else {
		apply := o.Apply
		if apply == nil {
			apply = ApplyInCluster
		}
		if err := apply(ctx, obj); err != nil {
			return res, fmt.Errorf("deploy: applying InferenceService %s/%s: %w", obj.GetNamespace(), obj.GetName(), err)
		}
		res.Applied = true
	}
	canary := 100.0 // without canaryTrafficPercent the new model takes every request
	if v, ok, _ := unstructured.NestedFieldNoCopy(obj.Object, "spec", "predictor", "canaryTrafficPercent"); ok {
		if f, isNum := v.(float64); isNum {
			canary = f
		}
	}
	d, err := lineage.NewDeployment(lineage.DeploymentInput{
		Environment:      o.Environment,
		Namespace:        obj.GetNamespace(),
		InferenceService: obj.GetName(),
		ModelDigest:      o.Digest,
		StorageURI:       uri,
		CanaryPercent:    int(canary),
		Pipeline:         obj.GetLabels()["cairn.dev/pipeline"],
		RunID:            o.RunID,
		GitCommit:        o.GitCommit,
		DeployedOn:       now(),
	})
	if err != nil {
		return res, fmt.Errorf("deploy: %w", err)
	}
	byDigest := ref
	byDigest.Tag = ""
	raw, err := json.Marshal(d)
	if err != nil {
		return res, fmt.Errorf("deploy: %w", err)
	}
	if _, err := sign.Attest(ctx, byDigest, signer, lineage.PredicateDeployment, raw, o.Registry); err != nil {
		return res, fmt.Errorf("deploy: %w", err)
	}
	res.Deployment = d
	return res, nil
}

// refusal explains why a verification report does not allow deploying:
// no valid signature, a required statement missing or invalid, or an
// evaluation that failed its gates.
func refusal(rep *sign.Report) error {
	var reasons []string
	for _, e := range rep.Entries {
		if e.Status == sign.StatusVerified {
			if ev, ok := e.Predicate.(*lineage.Evaluation); ok && ev.Verdict != lineage.VerdictPass {
				reasons = append(reasons, fmt.Sprintf("evaluation verdict %q", ev.Verdict))
			}
			continue
		}
		what := string(e.Kind)
		if e.PredicateType != "" {
			what += " " + e.PredicateType
		}
		reasons = append(reasons, fmt.Sprintf("%s: %s (%s)", what, e.Reason, e.Message))
	}
	if !rep.OK && len(reasons) == 0 {
		reasons = append(reasons, "not verified")
	}
	if !rep.OK || len(reasons) > 0 {
		sort.Strings(reasons)
		return errors.New(strings.Join(reasons, "; "))
	}
	return nil
}

// inferenceService reads the manifest and puts the model's digest in it.
func inferenceService(manifest []byte, digest string) (*unstructured.Unstructured, error) {
	if len(manifest) == 0 {
		return nil, errors.New("no InferenceService manifest")
	}
	text := strings.ReplaceAll(string(manifest), DigestPlaceholder, digest)
	var m map[string]any
	if err := json.Unmarshal([]byte(text), &m); err != nil {
		return nil, fmt.Errorf("InferenceService manifest: %w", err)
	}
	obj := &unstructured.Unstructured{Object: m}
	if obj.GetAPIVersion() != "serving.kserve.io/v1beta1" || obj.GetKind() != "InferenceService" {
		return nil, fmt.Errorf("manifest is %s %s, want a serving.kserve.io/v1beta1 InferenceService", obj.GetAPIVersion(), obj.GetKind())
	}
	if obj.GetName() == "" || obj.GetNamespace() == "" {
		return nil, errors.New("InferenceService manifest names no name or namespace")
	}
	uri, _, _ := unstructured.NestedString(m, "spec", "predictor", "model", "storageUri")
	if !strings.HasPrefix(uri, "oci://") || !strings.HasSuffix(uri, "@"+digest) {
		return nil, fmt.Errorf("InferenceService storageUri %q does not pull the model by digest over oci://", uri)
	}
	return obj, nil
}

// localDir returns dir when it is a local path (or file:// URI), else "".
func localDir(dir string) string {
	if dir == "" {
		return ""
	}
	if p, ok := strings.CutPrefix(dir, "file://"); ok {
		return p
	}
	if strings.Contains(dir, "://") {
		return ""
	}
	return dir
}

// inferenceServices is the InferenceService resource.
var inferenceServices = schema.GroupVersionResource{Group: "serving.kserve.io", Version: "v1beta1", Resource: "inferenceservices"}

// ApplyInCluster applies the InferenceService with server-side apply, as
// field manager "cairn", using the pod's service account.
func ApplyInCluster(ctx context.Context, obj *unstructured.Unstructured) error {
	cfg, err := rest.InClusterConfig()
	if err != nil {
		return err
	}
	client, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return err
	}
	_, err = client.Resource(inferenceServices).Namespace(obj.GetNamespace()).
		Apply(ctx, obj.GetName(), obj, metav1.ApplyOptions{FieldManager: "cairn", Force: true})
	return err
}
