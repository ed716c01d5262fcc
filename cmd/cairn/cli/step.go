package cli

import (
	"encoding/json"
	"fmt"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"cairn.dev/cairn/runtime/steps"
)

func newStepCmd(a *app) *cobra.Command {
	return groupCmd("step", "Run a platform step of a compiled workflow",
		`The platform steps are what a compiled WorkflowTemplate runs in Cairn's
own image between the user's steps (and what "cairn run" runs locally):
validate-data checks a dataset against its spec and records its content
digest; gate holds the evaluation's metrics against the pipeline's gates.
They exit 0 when the checks pass, 1 when one fails or the input is wrong,
and 2 for a mistake on the command line.`,
		newStepValidateDataCmd(a), newStepGateCmd(a))
}

func newStepValidateDataCmd(a *app) *cobra.Command {
	var dataset, spec, outputs, path string
	var concurrency int
	cmd := &cobra.Command{
		Use:   "validate-data --dataset NAME --spec JSON [--path LOCATION] [--outputs DIR]",
		Short: "Check a dataset against its spec and record its content digest",
		Long: `Validate-data reads the dataset at --path, or at the spec's uri (a local
path or a file:// URI, a file or a folder of files of the dataset's format;
object stores are not read by this build), and runs the checks of its spec:
every declared column is present with values of its type, non-nullable
columns hold no nulls, no column has more nulls than maxNullFraction, there
are at least minRows rows, and numbers lie within their ranges. Every failed
check is printed, naming the dataset, the column, the rule and what was
observed where, and the command exits 1 without writing anything.

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
			snap, failures, err := steps.ValidateDataWith(cmd.Context(), ds, path, steps.ValidateOptions{Concurrency: concurrency})
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
	cmd.Flags().StringVar(&path, "path", "", "location to read instead of the spec's uri (a path or file:// URI)")
	cmd.Flags().StringVar(&outputs, "outputs", "", "folder to write digest, snapshot.json and manifest.sha256 into")
	cmd.Flags().IntVar(&concurrency, "concurrency", 0, "files read at once (0: one per CPU)")
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
is missing or not a number, or the metrics file is missing or not JSON.`,
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
	cmd.Flags().StringVar(&metrics, "metrics", "", "the evaluation's metrics JSON (a path or file:// URI)")
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
