package cli

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"cairn.dev/cairn/attest/audit"
	"cairn.dev/cairn/attest/oci"
	"cairn.dev/cairn/attest/sign"

	"cairn.dev/cairn/internal/atomicfile"
)

func newAuditCmd(a *app) *cobra.Command {
	cmd := groupCmd("audit", "Index signed model lineage and answer audit queries over it",
		`Audit discovers the model artifacts of registry repositories and OCI
layouts, verifies every signature and in-toto statement against the trusted
keys, and keeps the lineage graph in a local SQLite index (.cairn/audit.db).
Queries count verified edges only, unless --include-unverified is given;
docs/audit.md documents the commands and the index schema.`,
		newAuditIndexCmd(a), newAuditTraceCmd(a), newAuditUsesCmd(a), newAuditUnsignedCmd(a),
		newAuditDiffCmd(a), newAuditQueryCmd(a), newAuditReportCmd(a), newAuditExportCmd(a),
		newAuditVerifyBundleCmd(a))
	cmd.Example = `  cairn audit index --key .cairn/cosign.pub
  cairn audit trace fraud:latest
  cairn audit uses --dataset s3://payments-data/transactions/2026-11
  cairn audit report fraud:latest --html lineage.html`
	return cmd
}

// auditFlags are the flags every audit query shares.
type auditFlags struct {
	db                string
	format            string
	includeUnverified bool
}

// add adds --db, and --format (text or json) to the commands that print
// a result, and --include-unverified to those that follow lineage.
func (f *auditFlags) add(cmd *cobra.Command, format, unverified bool) {
	cmd.Flags().StringVar(&f.db, "db", "", "the audit index (default .cairn/audit.db in the repository)")
	if format {
		cmd.Flags().StringVar(&f.format, "format", formatText, "output format: text or json")
		cmd.RegisterFlagCompletionFunc("format", func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
			return []string{formatText, formatJSON}, cobra.ShellCompDirectiveNoFileComp
		})
	}
	if unverified {
		cmd.Flags().BoolVar(&f.includeUnverified, "include-unverified", false, "also follow statements that did not verify, marked with their reasons")
	}
}

func (f *auditFlags) check(cmd *cobra.Command) error {
	if f.format != "" && f.format != formatText && f.format != formatJSON {
		return usageError{fmt.Errorf("%s: --format %q: want text or json", cmd.Name(), f.format), cmd.CommandPath()}
	}
	return nil
}

func (f *auditFlags) path() (string, error) {
	if f.db != "" {
		return f.db, nil
	}
	root, err := repoRoot()
	if err != nil {
		return "", err
	}
	return filepath.Join(root, filepath.FromSlash(audit.DefaultPath)), nil
}

func (f *auditFlags) open(cmd *cobra.Command) (*audit.DB, error) {
	if err := f.check(cmd); err != nil {
		return nil, err
	}
	p, err := f.path()
	if err != nil {
		return nil, err
	}
	return audit.OpenReadOnly(p)
}

func (f *auditFlags) opts() audit.QueryOptions {
	return audit.QueryOptions{IncludeUnverified: f.includeUnverified}
}

func newAuditIndexCmd(a *app) *cobra.Command {
	var (
		af       auditFlags
		rf       registryFlags
		from     []string
		keyFiles []string
		quiet    bool
	)
	cmd := &cobra.Command{
		Use:   "index --from REF... --key PUB...",
		Short: "Discover, verify and index the models of registries and layouts",
		Long: `Index lists the tags of each --from repository or layout (host/repo,
oci:PATH, or a bare name in .cairn/oci; every layout under .cairn/oci when
--from is not given), verifies every model's signatures (sha256-<hex>.sig)
and statements (sha256-<hex>.att) against the --key public keys, and records
the artifacts, the verification entries with their reason codes, the raw
layers, and the lineage nodes and edges in the index. A model whose manifest
and .sig and .att manifests are unchanged since the last run, under the same
keys, is not read again.`,
		Example: `  cairn audit index --key .cairn/cosign.pub
  cairn audit index --from registry.example.com/ml/fraud --from oci:models/bert --key .cairn/cosign.pub`,
		Args: exactArgs(0),
		RunE: func(cmd *cobra.Command, args []string) error {
			var refs []oci.Ref
			if len(from) == 0 {
				root, err := repoRoot()
				if err != nil {
					return err
				}
				if refs, err = oci.LocalModels(root); err != nil {
					return err
				}
				if len(refs) == 0 {
					return fmt.Errorf("no models in %s; give --from", filepath.Join(root, oci.DefaultLayout))
				}
			}
			for _, s := range from {
				ref, err := parseRef(s)
				if err != nil {
					return err
				}
				refs = append(refs, ref)
			}
			keys, err := sign.LoadPublicKeys(keyFiles...)
			if err != nil {
				return err
			}
			p, err := af.path()
			if err != nil {
				return err
			}
			db, err := audit.Open(p)
			if err != nil {
				return err
			}
			defer db.Close()
			o := audit.Options{Keys: keys, OCI: rf.options()}
			errw := cmd.ErrOrStderr()
			if !quiet && isTerminal(errw) {
				o.Progress = func(done, total int) { fmt.Fprintf(errw, "\rindexing: %d/%d artifacts", done, total) }
			}
			st, err := db.Index(context.Background(), refs, o)
			if o.Progress != nil {
				fmt.Fprint(errw, "\r\033[K")
			}
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "indexed %d artifacts from %d sources into %s: %d verified now, %d unchanged, %d removed; %d signatures and statements checked, %d not verified\n",
				st.Artifacts, st.Sources, p, st.Verified, st.Unchanged, st.Removed, st.Entries, st.Rejected)
			return nil
		},
	}
	af.add(cmd, false, false)
	rf.add(cmd, false)
	cmd.Flags().StringArrayVar(&from, "from", nil, "a registry repository or OCI layout to index; repeatable (default: every layout under .cairn/oci)")
	cmd.Flags().StringArrayVar(&keyFiles, "key", nil, "a trusted public key file; repeatable")
	cmd.Flags().BoolVarP(&quiet, "quiet", "q", false, "no progress")
	cmd.MarkFlagRequired("key")
	return cmd
}

// resolveModel finds a model argument in the index.
func resolveModel(db *audit.DB, s string) (string, error) {
	root, err := repoRoot()
	if err != nil {
		return "", err
	}
	return db.ResolveModel(context.Background(), s, root)
}

func newAuditTraceCmd(a *app) *cobra.Command {
	var (
		af   auditFlags
		wide bool
	)
	cmd := &cobra.Command{
		Use:   "trace MODEL",
		Short: "Show where a model came from and where it went",
		Long: `Trace walks from the model (a digest or a reference) back through its run
to the git commit, the spec, the datasets and what they derive from, the
features, the images and the base models (transitively), and forward to its
evaluations and deployments. Each edge names the statement it comes from, the
signer's key id and its verification status.

The text fits 120 columns: long cells wrap within their column and digests
are shortened to their first 12 hex digits; --wide prints one line per row
with every digest whole, and --format json the whole trace. With
--include-unverified the nodes gain a STATUS column: verified, or the status
and reason of the statement that alone describes the node.`,
		Example: `  cairn audit trace fraud:latest
  cairn audit trace fraud:latest --wide --include-unverified
  cairn audit trace sha256:4f2a... --format json`,
		Args: exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			db, err := af.open(cmd)
			if err != nil {
				return err
			}
			defer db.Close()
			digest, err := resolveModel(db, args[0])
			if err != nil {
				return err
			}
			t, err := db.Trace(context.Background(), digest, af.opts())
			if err != nil {
				return err
			}
			w := cmd.OutOrStdout()
			if af.format == formatJSON {
				return writeJSON(w, t)
			}
			return audit.WriteTrace(w, t, audit.TextOptions{Wide: wide, IncludeUnverified: af.includeUnverified})
		},
	}
	af.add(cmd, true, true)
	cmd.Flags().BoolVar(&wide, "wide", false, "one line per row and every digest whole, however wide")
	return cmd
}

// writeList writes items as JSON (an empty list, never null), or as a
// table with a header and a closing count of noun.
func writeList[T any](w io.Writer, format string, items []T, header string, row func(T) string, noun string) error {
	if format == formatJSON {
		if items == nil {
			items = []T{}
		}
		return writeJSON(w, items)
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, header)
	for _, it := range items {
		fmt.Fprintln(tw, row(it))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	_, err := fmt.Fprintf(w, "%d %s\n", len(items), noun)
	return err
}

// dash stands for an empty cell.
func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func newAuditUsesCmd(a *app) *cobra.Command {
	var (
		af      auditFlags
		dataset string
	)
	cmd := &cobra.Command{
		Use:   "uses --dataset URI|DIGEST",
		Short: "List every model trained on a dataset, transitively",
		Long: `Uses lists every model trained on the dataset, through the datasets derived
from it and the models fine-tuned from those models: what erasing or
distrusting the dataset reaches.`,
		Example: `  cairn audit uses --dataset s3://payments-data/transactions/2026-11
  cairn audit uses --dataset sha256:9c1e... --include-unverified --format json`,
		Args: exactArgs(0),
		RunE: func(cmd *cobra.Command, args []string) error {
			if dataset == "" {
				return usageError{fmt.Errorf("uses: --dataset is required"), cmd.CommandPath()}
			}
			db, err := af.open(cmd)
			if err != nil {
				return err
			}
			defer db.Close()
			uses, err := db.Uses(context.Background(), dataset, af.opts())
			if err != nil {
				return err
			}
			return writeList(cmd.OutOrStdout(), af.format, uses, "MODEL\tSTATUS\tDEPTH\tPATH", func(u audit.Use) string {
				ref := u.Model
				if len(u.Artifacts) > 0 {
					ref = u.Artifacts[0].Ref()
				}
				return fmt.Sprintf("%s\t%s\t%d\t%s", ref, u.Status, len(u.Path)-1, strings.Join(u.Path, " -> "))
			}, "models")
		},
	}
	af.add(cmd, true, true)
	cmd.Flags().StringVar(&dataset, "dataset", "", "the dataset: its URI or content digest (sha256:...)")
	return cmd
}

func newAuditUnsignedCmd(a *app) *cobra.Command {
	var af auditFlags
	cmd := &cobra.Command{
		Use:   "unsigned",
		Short: "List artifacts lacking a valid signature or provenance, with reason codes",
		Long: `Unsigned lists every signature and statement that did not verify, with its
reason code (NO_SIGNATURE, SIG_INVALID, UNTRUSTED_KEY, SUBJECT_MISMATCH,
NO_PROVENANCE, WRONG_TYPE, MALFORMED), and every artifact without a verified
signature or provenance.`,
		Example: `  cairn audit unsigned
  cairn audit unsigned --format json`,
		Args: exactArgs(0),
		RunE: func(cmd *cobra.Command, args []string) error {
			db, err := af.open(cmd)
			if err != nil {
				return err
			}
			defer db.Close()
			ps, err := db.Unsigned(context.Background())
			if err != nil {
				return err
			}
			return writeList(cmd.OutOrStdout(), af.format, ps, "ARTIFACT\tKIND\tTYPE\tREASON\tKEY\tMESSAGE", func(p audit.Problem) string {
				return fmt.Sprintf("%s\t%s\t%s\t%s\t%s\t%s", p.Ref, p.Kind, dash(p.PredicateType), p.Reason, dash(p.KeyID), p.Message)
			}, "problems")
		},
	}
	af.add(cmd, true, false)
	return cmd
}

func newAuditDiffCmd(a *app) *cobra.Command {
	var af auditFlags
	cmd := &cobra.Command{
		Use:   "diff MODEL_A MODEL_B",
		Short: "Compare the lineage of two models",
		Long: `Diff compares two models' verified lineage: spec digest and commit,
datasets, features, images and base model, hyperparameters, metrics,
evaluation verdict, and the keys that signed them.`,
		Example: `  cairn audit diff fraud:v1 fraud:v2
  cairn audit diff fraud:latest sha256:4f2a... --format json`,
		Args: exactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			db, err := af.open(cmd)
			if err != nil {
				return err
			}
			defer db.Close()
			var ds [2]string
			for i, s := range args {
				if ds[i], err = resolveModel(db, s); err != nil {
					return err
				}
			}
			changes, err := db.Diff(context.Background(), ds[0], ds[1], af.opts())
			if err != nil {
				return err
			}
			return writeList(cmd.OutOrStdout(), af.format, changes, "FIELD\tA\tB", func(c audit.Change) string {
				return fmt.Sprintf("%s\t%s\t%s", c.Field, dash(c.A), dash(c.B))
			}, "changes")
		},
	}
	af.add(cmd, true, true)
	return cmd
}

func newAuditQueryCmd(a *app) *cobra.Command {
	var af auditFlags
	cmd := &cobra.Command{
		Use:   "query SQL",
		Short: "Run a read-only SQL query over the index",
		Long: `Query runs one SQL statement over the index, opened read-only (and with
PRAGMA query_only), so nothing can change it. docs/audit.md documents the
tables: artifacts, entries, nodes, edges, blobs, keys, meta.`,
		Example: `  cairn audit query "SELECT kind, count(*) FROM nodes GROUP BY kind"
  cairn audit query "SELECT dst FROM edges WHERE src = 'dataset:s3://payments-data/transactions/2026-11'" --format json`,
		Args: exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			db, err := af.open(cmd)
			if err != nil {
				return err
			}
			defer db.Close()
			rows, err := db.Query(context.Background(), args[0])
			if err != nil {
				return err
			}
			w := cmd.OutOrStdout()
			if af.format == formatJSON {
				return writeJSON(w, rows)
			}
			tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, strings.Join(upper(rows.Columns), "\t"))
			for _, r := range rows.Rows {
				cells := make([]string, len(r))
				for i, v := range r {
					if v == nil {
						cells[i] = "NULL"
					} else {
						cells[i] = strings.ReplaceAll(fmt.Sprint(v), "\n", " ")
					}
				}
				fmt.Fprintln(tw, strings.Join(cells, "\t"))
			}
			return tw.Flush()
		},
	}
	af.add(cmd, true, false)
	return cmd
}

func upper(s []string) []string {
	out := make([]string, len(s))
	for i, x := range s {
		out[i] = strings.ToUpper(x)
	}
	return out
}

func newAuditReportCmd(a *app) *cobra.Command {
	var (
		af   auditFlags
		html string
	)
	cmd := &cobra.Command{
		Use:   "report MODEL --html FILE",
		Short: "Write a standalone HTML report of a model's lineage",
		Long: `Report writes one HTML file, with no network requests (inline CSS and
SVG): the lineage graph of the model laid out left to right, each edge an
arrow with one verification badge, whole labels (digests shortened in the
boxes, whole in the tooltips), a table of the edges naming their nodes, and
the details of every node, a run's metrics and gates first.`,
		Example: `  cairn audit report fraud:latest --html lineage.html
  cairn audit report fraud:latest --html lineage.html --include-unverified`,
		Args: exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if html == "" {
				return usageError{fmt.Errorf("report: --html is required"), cmd.CommandPath()}
			}
			db, err := af.open(cmd)
			if err != nil {
				return err
			}
			defer db.Close()
			digest, err := resolveModel(db, args[0])
			if err != nil {
				return err
			}
			t, err := db.Trace(context.Background(), digest, af.opts())
			if err != nil {
				return err
			}
			page, err := audit.Report(t)
			if err != nil {
				return internalError{err}
			}
			if err := atomicfile.Write(html, page, 0o644); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "wrote %s: %d nodes, %d edges\n", html, len(t.Nodes), len(t.Edges))
			return nil
		},
	}
	af.add(cmd, false, true)
	cmd.Flags().StringVar(&html, "html", "", "the HTML file to write")
	return cmd
}

func newAuditExportCmd(a *app) *cobra.Command {
	var (
		af  auditFlags
		out string
	)
	cmd := &cobra.Command{
		Use:   "export MODEL -o BUNDLE.tar",
		Short: "Write an offline evidence bundle of a model's lineage",
		Long: `Export writes a tar file holding the manifests of the model and of the
models in its trace, every signature payload with its signature and every
DSSE envelope (the raw layer bytes), the public keys, the trace, and
SHA256SUMS, the sha256 of every other file. cairn audit verify-bundle
checks it with no registry.`,
		Example: `  cairn audit export fraud:latest -o evidence.tar
  cairn audit export fraud:latest -o evidence.tar --include-unverified`,
		Args: exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if out == "" {
				return usageError{fmt.Errorf("export: -o BUNDLE.tar is required"), cmd.CommandPath()}
			}
			db, err := af.open(cmd)
			if err != nil {
				return err
			}
			defer db.Close()
			digest, err := resolveModel(db, args[0])
			if err != nil {
				return err
			}
			raw, n, err := db.Export(context.Background(), digest, af.opts())
			if err != nil {
				return err
			}
			if err := atomicfile.Write(out, raw, 0o644); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "wrote %s: %d files\n", out, n)
			return nil
		},
	}
	af.add(cmd, false, true)
	cmd.Flags().StringVarP(&out, "output", "o", "", "the bundle to write (a tar file)")
	return cmd
}

func newAuditVerifyBundleCmd(a *app) *cobra.Command {
	var keyFiles []string
	cmd := &cobra.Command{
		Use:   "verify-bundle BUNDLE.tar --key PUB...",
		Short: "Re-verify an evidence bundle offline",
		Long: `Verify-bundle checks every file of the bundle against SHA256SUMS, every
manifest against its digest, and every signature and DSSE envelope against
the --key public keys (never the bundle's own keys) with the same rules as
cairn verify, each giving the status and reason recorded; every model must
have a verified signature. Then it rebuilds the trace from the bundle's
statements alone and compares it whole with trace.json: the artifacts, every
node (kind, label, digest, URI, attributes, status) and every edge (ends,
kind, statement, artifact, key, status, reason), none missing or extra, then
byte for byte. The first difference is the error. Exit status 0 when all
hold, 1 otherwise.`,
		Example: `  cairn audit verify-bundle evidence.tar --key .cairn/cosign.pub`,
		Args:    exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			keys, err := sign.LoadPublicKeys(keyFiles...)
			if err != nil {
				return err
			}
			f, err := os.Open(args[0])
			if err != nil {
				return err
			}
			defer f.Close()
			res, err := audit.VerifyBundle(f, keys)
			if err != nil {
				return fmt.Errorf("bundle %s: %w", args[0], err)
			}
			w := cmd.OutOrStdout()
			keysSorted := make([]string, 0, len(res.Models))
			keysSorted = append(keysSorted, res.Models...)
			sort.Strings(keysSorted)
			for _, m := range keysSorted {
				fmt.Fprintf(w, "model %s: signature verified\n", m)
			}
			fmt.Fprintf(w, "ok: %d files, %d signatures and %d statements verified, %d trace edges backed\n", res.Files, res.Signatures, res.Statements, res.Edges)
			return nil
		},
	}
	cmd.Flags().StringArrayVar(&keyFiles, "key", nil, "a trusted public key file; repeatable")
	cmd.MarkFlagRequired("key")
	return cmd
}
