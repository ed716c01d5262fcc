package cli

import (
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"cairn.dev/cairn/attest/lineage"
	"cairn.dev/cairn/attest/oci"
	"cairn.dev/cairn/runtime/steps"
)

func newStepCmd(a *app) *cobra.Command {
	return groupCmd("step", "Run a platform step of a compiled workflow",
		`The platform steps are what a compiled WorkflowTemplate runs in Cairn's
own image between the user's steps (and what "cairn run" runs locally):
validate-data checks a dataset against its spec and records its content
digest; gate holds the evaluation's metrics against the pipeline's gates;
pack pushes the model, signs it and attests its lineage; deploy verifies
the packed model and rolls it out as a canary, attesting where it runs;
drift compares recent features with the training data.
They exit 0 when the checks pass, 1 when one fails or the input is wrong,
and 2 for a mistake on the command line.`,
		newStepValidateDataCmd(a), newStepGateCmd(a), newStepPackCmd(a), newStepDeployCmd(a), newStepDriftCmd(a))
}

func newStepValidateDataCmd(a *app) *cobra.Command {
	var dataset, spec, outputs, path string
	var concurrency int
	var maxRecord int64
	cmd := &cobra.Command{
		Use:   "validate-data --dataset NAME --spec JSON [--path LOCATION] [--outputs DIR]",
		Short: "Check a dataset against its spec and record its content digest",
		Long: `Validate-data reads the dataset at --path, or at the spec's uri (a local
path, a file:// URI, or an object-store URI s3://, gs://, azblob:// or
az:// with the driver's options as its query, e.g.
?endpoint=URL&use_path_style=true&region=R; a file, or a folder or prefix
of files of the dataset's format, names starting with "." or "_" skipped;
object-store credentials come from the environment), and runs the checks
of its spec:
every declared column is present with values of its type, non-nullable
columns hold no nulls, no column has more nulls than maxNullFraction, there
are at least minRows rows, and numbers lie within their ranges. Every failed
check is printed, naming the dataset, the column, the rule and what was
observed where (values, names and file names read from the data quoted
when they hold anything but printable text), and the command exits 1
without writing anything. A record longer than --max-record-bytes (a CSV
record, a line of JSON lines or of text; 16 MiB by default) fails its file,
named with its line, so memory stays bounded by it.

When every check passes it prints a summary and writes into --outputs:
  digest           sha256:<hex> of the manifest, no newline
  snapshot.json    the snapshot: uri, snapshot, digest, files, bytes, rows,
                   column-schema digest, pii, the checks passed
  manifest.sha256  one line per file, "<sha256 hex>  <path>", sorted by
                   path: sha256sum's format, so "sha256sum -c" checks it

--spec is the dataset as JSON, as the compiled workflow passes it, or
@FILE to read it from a file.`,
		Example: `  cairn step validate-data --dataset transactions --spec @transactions.json \
      --path data/transactions --outputs out`,
		Args: exactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := requireFlags(cmd, "dataset", "spec"); err != nil {
				return err
			}
			data := []byte(spec)
			if name, ok := strings.CutPrefix(spec, "@"); ok {
				b, err := os.ReadFile(name)
				if err != nil {
					return fmt.Errorf("--spec: %w", err)
				}
				data = b
			}
			ds, err := steps.ParseDatasetSpec(data)
			if err != nil {
				return fmt.Errorf("--spec: %w", err)
			}
			if ds.Name != dataset {
				return fmt.Errorf("--dataset %s, but --spec describes dataset %s", dataset, ds.Name)
			}
			snap, failures, err := steps.ValidateDataWith(cmd.Context(), ds, path, steps.ValidateOptions{Concurrency: concurrency, MaxRecordBytes: maxRecord})
			if err != nil {
				return err
			}
			if len(failures) > 0 {
				w := cmd.ErrOrStderr()
				for _, f := range failures {
					fmt.Fprintln(w, f.String())
				}
				checks := "checks"
				if len(failures) == 1 {
					checks = "check"
				}
				fmt.Fprintf(w, "dataset %s: %d %s failed; nothing written\n", ds.Name, len(failures), checks)
				return silentError{ExitFailure}
			}
			if outputs != "" {
				if err := snap.WriteOutputs(outputs); err != nil {
					return fmt.Errorf("writing outputs: %w", err)
				}
			}
			return snap.WriteSummary(cmd.OutOrStdout())
		},
	}
	cmd.Flags().StringVar(&dataset, "dataset", "", "name of the dataset (must match the spec)")
	cmd.Flags().StringVar(&spec, "spec", "", "the dataset's spec as JSON, or @FILE")
	cmd.Flags().StringVar(&path, "path", "", "location to read instead of the spec's uri (a path, file:// or object-store URI)")
	cmd.Flags().StringVar(&outputs, "outputs", "", "folder to write digest, snapshot.json and manifest.sha256 into")
	cmd.Flags().IntVar(&concurrency, "concurrency", 0, "files read at once (0: one per CPU)")
	cmd.Flags().Int64Var(&maxRecord, "max-record-bytes", steps.DefaultMaxRecordBytes, "longest record (CSV record, JSON or text line) read")
	return cmd
}

func newStepGateCmd(a *app) *cobra.Command {
	var metrics, gates string
	cmd := &cobra.Command{
		Use:   "gate --metrics FILE --gates JSON",
		Short: "Hold an evaluation's metrics against the pipeline's gates",
		Long: `Gate reads the metrics the evaluation wrote (a JSON object of numbers;
members of nested objects are named with dots, as eval.auc) and applies the
gates, a JSON object of metric name to expression ("auc": ">= 0.92"; the
operators are >=, >, <=, < and ==). It prints a table of metric, gate,
observed value and result, and exits 1 when a gate fails, a gated metric
is missing or not a number, or the metrics file is missing or not JSON.
Every number in the metrics must be finite: NaN, Infinity, -Infinity
(as Python writes them) or a number too large for a float64 (1e999),
gated or not, is an error naming the metric, the file, the line and the
column.`,
		Example: `  cairn step gate --metrics evaluation/metrics.json --gates '{"auc": ">= 0.92"}'`,
		Args:    exactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := requireFlags(cmd, "metrics", "gates"); err != nil {
				return err
			}
			var g map[string]string
			if err := json.Unmarshal([]byte(gates), &g); err != nil {
				return fmt.Errorf("--gates: want a JSON object of metric name to gate expression: %v", err)
			}
			m, err := steps.ReadMetrics(metrics)
			if err != nil {
				return err
			}
			w := cmd.OutOrStdout()
			if len(g) == 0 {
				fmt.Fprintln(w, "no gates: passed")
				return nil
			}
			results, ok := m.Gate(g)
			if err := steps.WriteGateTable(w, results); err != nil {
				return err
			}
			if !ok {
				var failed []string
				for _, r := range results {
					if !r.Pass {
						failed = append(failed, r.String())
					}
				}
				return fmt.Errorf("gate failed: %s", strings.Join(failed, "; "))
			}
			fmt.Fprintf(w, "gate passed: %d of %d\n", len(results), len(results))
			return nil
		},
	}
	cmd.Flags().StringVar(&metrics, "metrics", "", "the evaluation's metrics JSON (a path, file:// or object-store URI)")
	cmd.Flags().StringVar(&gates, "gates", "", `the gates as JSON, e.g. {"auc": ">= 0.92"}`)
	return cmd
}

// requireFlags returns a usage error naming the first of flags not given.
func requireFlags(cmd *cobra.Command, flags ...string) error {
	for _, f := range flags {
		if !cmd.Flags().Changed(f) {
			return usageError{fmt.Errorf("%s: --%s is required", cmd.Name(), f), cmd.CommandPath()}
		}
	}
	return nil
}

func newStepPackCmd(a *app) *cobra.Command {
	var (
		spec, model, repository, runID, started, key, outputs, metrics, specDigest, gitCommit string
		datasetDigests                                                                        []string
		insecure                                                                              bool
	)
	cmd := &cobra.Command{
		Use:   "pack --spec JSON --model DIR --repository REPO --run-id ID --key KEY [flags]",
		Short: "Push the trained model as an OCI artifact, sign it and attest its lineage",
		Long: `Pack pushes the model folder as a ModelPack artifact to --repository (a
registry repository, oci:PATH for an OCI layout, or a bare name for the
default store .cairn/oci), tagged with the run id; signs it with the cosign
key (password from CAIRN_PASSWORD or COSIGN_PASSWORD); attests the training
provenance (SLSA Provenance v1: git commit, spec digest, dataset digests,
feature outputs, training image, base model, hyperparameters, metrics, run
id, start and finish times) and, when the pipeline evaluates, the
evaluation (metrics, gates, verdict); then tags the model "latest". Every
input is read and every statement built and checked before the push (a
metric that is not a finite number fails here, storing nothing), and the
statements are attached before the signature, so a failure after the push
leaves the model unsigned and "latest" where it was. It
writes the manifest digest to --outputs/digest. --model and --metrics may
be local paths or object-store URIs (s3://, gs://, azblob://, az://): a
model prefix is downloaded to a temporary folder, pushed and removed; the
feature outputs under $CAIRN_RUN_DIR, local or in an object store, are
hashed for the provenance.`,
		Args: exactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := requireFlags(cmd, "spec", "model", "repository", "run-id", "key"); err != nil {
				return err
			}
			var o steps.PackOptions
			if err := json.Unmarshal([]byte(spec), &o.Spec); err != nil {
				return fmt.Errorf("--spec: want the compiled spec as JSON: %v", err)
			}
			if err := json.Unmarshal([]byte(spec), &o.SpecJSON); err != nil {
				return fmt.Errorf("--spec: want the compiled spec as a JSON object: %v", err)
			}
			o.DatasetDigests = map[string]string{}
			for _, kv := range datasetDigests {
				name, digest, ok := strings.Cut(kv, "=")
				if !ok || name == "" || digest == "" {
					return usageError{fmt.Errorf("--dataset-digest %q: want NAME=sha256:HEX", kv), cmd.CommandPath()}
				}
				o.DatasetDigests[name] = digest
			}
			if started != "" {
				t, err := time.Parse(time.RFC3339, started)
				if err != nil {
					return fmt.Errorf("--started %q: want an RFC 3339 time: %v", started, err)
				}
				o.Started = t
			}
			password, err := readPassword(cmd, false)
			if err != nil {
				return err
			}
			root, err := repoRoot()
			if err != nil {
				return err
			}
			o.ModelDir, o.Repository, o.Root, o.RunID = model, repository, root, runID
			o.Key, o.Password, o.Metrics = key, password, metrics
			o.SpecDigest, o.GitCommit = specDigest, gitCommit
			o.RunDir = os.Getenv("CAIRN_RUN_DIR")
			o.DigestCache = cacheDir("digests")
			o.Registry = oci.Options{Insecure: insecure}
			if os.Getenv("CAIRN_LOCAL") == "1" {
				o.Builder = lineage.LocalBuilderID
			}
			res, err := steps.Pack(cmd.Context(), o)
			if err != nil {
				return err
			}
			if err := res.WritePackOutputs(outputs); err != nil {
				return fmt.Errorf("writing outputs: %w", err)
			}
			res.WriteSummary(cmd.OutOrStdout())
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&spec, "spec", "", "the compiled project and pipeline as JSON")
	f.StringVar(&model, "model", "", "folder the training wrote the model into (a path, or an object-store URI)")
	f.StringVar(&repository, "repository", "", "where the model goes: host/repo, oci:PATH or a name in .cairn/oci")
	f.StringVar(&runID, "run-id", "", "the run's id (the workflow uid); the model's tag")
	f.StringVar(&started, "started", "", "when the run started (RFC 3339)")
	f.StringVar(&key, "key", "", "cosign private key file")
	f.StringVar(&outputs, "outputs", "", "folder to write digest and ref into")
	f.StringVar(&metrics, "metrics", "", "the evaluation's metrics file (a path, or an object-store URI)")
	f.StringArrayVar(&datasetDigests, "dataset-digest", nil, "NAME=DIGEST of a dataset validate-data recorded (repeatable)")
	f.StringVar(&specDigest, "spec-digest", "", "digest of the evaluated spec")
	f.StringVar(&gitCommit, "git-commit", "", "commit the specs were compiled from")
	f.BoolVar(&insecure, "insecure", false, "allow plain HTTP and unverified TLS (loopback registries)")
	return cmd
}
