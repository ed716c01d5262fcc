package cli

import (
	"fmt"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"cairn.dev/cairn/attest/lineage"
	"cairn.dev/cairn/attest/oci"
	"cairn.dev/cairn/runtime/steps"
)

func newStepDeployCmd(a *app) *cobra.Command {
	var (
		repository, digest, key, manifest, environment, outputs, gitCommit, runID string
		publicKeys, require                                                       []string
		insecure                                                                  bool
	)
	cmd := &cobra.Command{
		Use:   "deploy --repository REPO --digest DIGEST --public-key KEY --key KEY --manifest JSON [flags]",
		Short: "Verify a packed model and roll it out as a canary of its InferenceService",
		Long: `Deploy verifies the model at --repository@--digest as "cairn verify" does:
a signature by one of the --public-key keys and a verified statement of
each --require predicate type (SLSA provenance and evaluation by default);
a verified evaluation must also have passed its gates. A model that does
not verify is refused (exit 1) and nothing is applied.

It then puts the digest into the InferenceService of --manifest (JSON, the
digest written as sha256:000...0), so KServe pulls the model over oci://
by digest, and applies it with server-side apply using the pod's service
account; the new model gets the manifest's canaryTrafficPercent of the
traffic. Under "cairn run" (CAIRN_LOCAL=1) there is no cluster: the
manifest is written to --outputs/inferenceservice.yaml and to the run
folder instead.

Last it attests a deployment statement on the model, signed with --key
(password from CAIRN_PASSWORD or COSIGN_PASSWORD): environment, namespace,
InferenceService, digest, canary percent, git commit, run id and time.`,
		Args: exactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := requireFlags(cmd, "repository", "digest", "public-key", "key", "manifest"); err != nil {
				return err
			}
			password, err := readPassword(cmd, false)
			if err != nil {
				return err
			}
			root, err := repoRoot()
			if err != nil {
				return err
			}
			data := []byte(manifest)
			if name, ok := strings.CutPrefix(manifest, "@"); ok {
				if data, err = os.ReadFile(name); err != nil {
					return err
				}
			}
			local := os.Getenv("CAIRN_LOCAL") == "1"
			env := environment
			if local {
				env = "local"
			}
			res, err := steps.Deploy(cmd.Context(), steps.DeployOptions{
				Repository: repository, Root: root, Digest: digest,
				PublicKeys: publicKeys, Require: require,
				Key: key, Password: password, Manifest: data,
				Environment: env, GitCommit: gitCommit, RunID: runID,
				Local: local, Outputs: outputs, RunDir: os.Getenv("CAIRN_RUN_DIR"),
				Registry: oci.Options{Insecure: insecure},
			})
			w := cmd.OutOrStdout()
			if res != nil && res.Report != nil && res.Report.OK {
				fmt.Fprintf(w, "verified %s: signed; %d statements verified\n", res.Ref, len(res.Report.Verified("")))
			}
			if err != nil {
				return err
			}
			d := res.Deployment
			if res.Applied {
				fmt.Fprintf(w, "applied InferenceService %s/%s: %s at %d%% canary\n", d.Namespace, d.InferenceService, d.ModelDigest, d.CanaryPercent)
			}
			for _, p := range res.Written {
				fmt.Fprintf(w, "no cluster (CAIRN_LOCAL=1): wrote InferenceService %s/%s to %s\n", d.Namespace, d.InferenceService, p)
			}
			fmt.Fprintf(w, "attested %s on %s\n", lineage.PredicateDeployment, d.ModelDigest)
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&repository, "repository", "", "where pack stored the model: host/repo, oci:PATH or a name in .cairn/oci")
	f.StringVar(&digest, "digest", "", "the model's manifest digest (pack's digest output)")
	f.StringArrayVar(&publicKeys, "public-key", nil, "trusted cosign public key file (repeatable)")
	f.StringArrayVar(&require, "require", []string{lineage.PredicateSLSAProvenance, lineage.PredicateEvaluation}, "predicate type that must verify (repeatable)")
	f.StringVar(&key, "key", "", "cosign private key file signing the deployment statement")
	f.StringVar(&manifest, "manifest", "", "the InferenceService as JSON, or @FILE")
	f.StringVar(&environment, "environment", "cluster", `where the model is deployed ("local" under cairn run)`)
	f.StringVar(&outputs, "outputs", "", "folder to write inferenceservice.yaml into when local")
	f.StringVar(&gitCommit, "git-commit", "", "commit the specs were compiled from")
	f.StringVar(&runID, "run-id", "", "the run's id (the workflow uid)")
	f.BoolVar(&insecure, "insecure", false, "allow plain HTTP and unverified TLS (loopback registries)")
	return cmd
}

func newStepDriftCmd(a *app) *cobra.Command {
	var (
		reference, current, features, report, outputs string
		threshold                                     float64
	)
	cmd := &cobra.Command{
		Use:   "drift --reference URI --current URI [--features a,b] [--threshold 0.2] [--report FILE]",
		Short: "Compare recent features with the training snapshot by population stability index",
		Long: `Drift reads two CSV datasets (a file or a folder of .csv and .csv.gz files,
local, file:// or in an object store) and computes the population stability
index of each --features column (every shared column when none is named):
numeric columns over 10 bins cut at the reference's deciles, other columns
by category frequencies; an empty bin counts as a share of 0.0001.

	PSI = Σ (current share − reference share) · ln(current share / reference share)

It prints one line per feature, writes the JSON report to --report and
"true" or "false" to --outputs/drifted, and exits 1 when a feature's PSI is
above --threshold.`,
		Example: `  cairn step drift --reference data/train.csv --current data/last-24h \
      --features amount,hour --threshold 0.2 --report drift.json`,
		Args: exactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := requireFlags(cmd, "reference", "current"); err != nil {
				return err
			}
			var feats []string
			for _, f := range strings.Split(features, ",") {
				if f = strings.TrimSpace(f); f != "" {
					feats = append(feats, f)
				}
			}
			rep, err := steps.Drift(cmd.Context(), steps.DriftOptions{Reference: reference, Current: current, Features: feats, Threshold: threshold})
			if err != nil {
				return err
			}
			if err := rep.WriteSummary(cmd.OutOrStdout()); err != nil {
				return err
			}
			if err := rep.WriteDriftOutputs(report, outputs); err != nil {
				return fmt.Errorf("writing the report: %w", err)
			}
			if rep.Drifted {
				return fmt.Errorf("drift: %s above the PSI threshold %v", strings.Join(rep.DriftedFeatures(), ", "), threshold)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "no drift: %d features within PSI %v\n", len(rep.Features), threshold)
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&reference, "reference", "", "the training snapshot (CSV file or folder)")
	f.StringVar(&current, "current", "", "the recent feature values (CSV file or folder)")
	f.StringVar(&features, "features", "", "comma-separated columns to compare (default: every shared column)")
	f.Float64Var(&threshold, "threshold", 0.2, "PSI above which a feature has drifted")
	f.StringVar(&report, "report", "", "file to write the JSON report to")
	f.StringVar(&outputs, "outputs", "", `folder to write "drifted" into`)
	return cmd
}
