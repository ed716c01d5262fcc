package cli

import (
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"

	"github.com/spf13/cobra"
	"sigs.k8s.io/yaml"

	"cairn.dev/cairn/compiler"
	"cairn.dev/cairn/compiler/diag"
	"cairn.dev/cairn/compiler/emit"
	"cairn.dev/cairn/compiler/load"
	"cairn.dev/cairn/compiler/lower/argo"
	"cairn.dev/cairn/compiler/plan"
	"cairn.dev/cairn/compiler/verify"
)

// specFlags are the flags of every command that compiles specs.
type specFlags struct {
	rev    string
	noGit  bool
	format string
}

func (f *specFlags) add(cmd *cobra.Command) {
	cmd.Flags().StringVar(&f.rev, "rev", "", "read the specs at this git commit, branch or tag, without a checkout (works in bare and shallow clones)")
	f.addCommon(cmd)
}

// addCommon adds the flags other than --rev.
func (f *specFlags) addCommon(cmd *cobra.Command) {
	cmd.Flags().BoolVar(&f.noGit, "no-git", false, "do not record the work tree's git commit on the output")
	addFormatFlag(cmd, &f.format)
}

func (f *specFlags) source(dir string) source {
	return source{dir: dir, rev: f.rev, noGit: f.noGit}
}

// specReport is the JSON document vet and compile print with --format json.
type specReport struct {
	OK        bool              `json:"ok"`
	Errors    []jsonDiag        `json:"errors"`
	Warnings  []jsonDiag        `json:"warnings"`
	Pipelines []pipelineReport  `json:"pipelines"`
	Output    string            `json:"output,omitempty"`
	Stale     []plan.FileChange `json:"stale,omitempty"`
}

type pipelineReport struct {
	Namespace  string    `json:"namespace"`
	Name       string    `json:"name"`
	SpecDigest string    `json:"specDigest"`
	Files      []string  `json:"files"`
	Estimate   *estimate `json:"estimate"`
}

// estimate is a pipeline's estimated cost; the costs are absent when the
// price table does not price the run.
type estimate struct {
	GPUHoursPerRun float64  `json:"gpuHoursPerRun"`
	RunsPerMonth   int      `json:"runsPerMonth"`
	CostPerRun     *float64 `json:"costPerRun,omitempty"`
	CostPerMonth   *float64 `json:"costPerMonth,omitempty"`
}

func estimateOf(p compiler.Pipeline) *estimate {
	e := &estimate{GPUHoursPerRun: p.GPUHoursPerRun, RunsPerMonth: p.RunsPerMonth}
	if p.Priced {
		run, month := cents(p.CostPerRun), cents(p.CostPerMonth)
		e.CostPerRun, e.CostPerMonth = &run, &month
	}
	return e
}

// cents rounds an amount in USD to the cent.
func cents(x float64) float64 { return math.Round(x*100) / 100 }

func newReport(res *compiler.Result) *specReport {
	r := &specReport{OK: true, Errors: []jsonDiag{}, Warnings: []jsonDiag{}, Pipelines: []pipelineReport{}}
	if res != nil {
		r.Warnings = toJSONDiags("warning", res.Warnings)
		for _, p := range res.Pipelines {
			r.Pipelines = append(r.Pipelines, pipelineReport{p.Namespace, p.Name, p.SpecDigest, p.Files, estimateOf(p)})
		}
	}
	return r
}

// writeEstimates prints each pipeline's estimated cost, as vet does.
func writeEstimates(w io.Writer, res *compiler.Result) {
	for _, p := range res.Pipelines {
		e := estimateOf(p)
		runs := "not scheduled"
		if p.RunsPerMonth > 0 {
			runs = fmt.Sprintf("%d runs per 30 days", p.RunsPerMonth)
		}
		cost := "no price table"
		if e.CostPerRun != nil {
			cost = fmt.Sprintf("$%.2f per run, $%.2f per 30 days", *e.CostPerRun, *e.CostPerMonth)
		}
		fmt.Fprintf(w, "%s/%s: %.2f GPU-hours per run, %s, %s\n", p.Namespace, p.Name, p.GPUHoursPerRun, runs, cost)
	}
}

// compileChecked compiles a source and runs the output checks. A spec or
// output problem is printed in the chosen format and returned as exit 1.
func compileChecked(cmd *cobra.Command, src source, format string) (*compiler.Result, error) {
	res, err := src.compile()
	if err == nil && testHookCompiled != nil {
		testHookCompiled(res)
	}
	if err == nil {
		if probs := checkOutput(res); len(probs) > 0 {
			err = probs
		}
	}
	var dl diag.List
	if errors.As(err, &dl) {
		errs, warns := dl.Split()
		printFailure(cmd, format, errs, warns)
		return nil, silentError{ExitFailure}
	}
	if err != nil {
		var u usageError
		if format == formatJSON && !errors.As(err, &u) {
			r := newReport(nil)
			r.OK = false
			r.Errors = []jsonDiag{{Severity: "error", Message: err.Error()}}
			writeJSON(cmd.OutOrStdout(), r)
			fmt.Fprintf(cmd.ErrOrStderr(), "cairn: %v\n", err)
			return nil, silentError{exitCodeOf(err)}
		}
		return nil, err
	}
	if format != formatJSON {
		writeDiags(cmd.ErrOrStderr(), format, nil, res.Warnings)
	}
	return res, nil
}

// testHookCompiled, set by tests only, sees each compiled set before the
// output checks run.
var testHookCompiled func(*compiler.Result)

// printFailure prints errors (and warnings) in the chosen format.
func printFailure(cmd *cobra.Command, format string, errs, warns diag.List) {
	if format == formatJSON {
		r := newReport(nil)
		r.OK = false
		r.Errors = toJSONDiags("error", errs)
		r.Warnings = toJSONDiags("warning", warns)
		writeJSON(cmd.OutOrStdout(), r)
		return
	}
	writeDiags(cmd.ErrOrStderr(), format, errs, warns)
}

func newCompileCmd(a *app) *cobra.Command {
	var out string
	var quiet, check bool
	var flags specFlags
	cmd := &cobra.Command{
		Use:   "compile [DIR]",
		Short: "Compile the specs under DIR into manifests",
		Long: `Compile loads every CUE package under DIR (a CUE module, or a folder in one)
with Cairn's schemas, checks the specs, compiles them, checks every object
with Argo's and mpi-operator's own validation, and writes one folder per
namespace and pipeline under OUT, one object per file, with a
kustomization.yaml in every folder. The output is byte-identical on every
run; it is written to a new folder that then replaces OUT, and nothing is
written when there is an error.

Inside a git work tree the output records HEAD (cairn.dev/git-commit) and
marks uncommitted spec changes (cairn.dev/git-dirty). With --rev the specs
are read from that commit instead, without a checkout.

With --check nothing is written: the compiled output is compared with OUT
(labelled with the commit OUT records) and every file added, removed or
changed is listed; exit 1 when OUT is stale.`,
		Example: `  cairn compile . -o rendered
  cairn compile . -o rendered --check            # in CI: is the committed output current?
  cairn compile . -o /tmp/out --rev v1.2.0       # from a tag, in a bare or shallow clone too
  cairn compile examples/fraud -o /tmp/fraud --format json`,
		Args: rangeArgs(0, 1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkFormat(cmd, flags.format); err != nil {
				return err
			}
			if out == "" {
				return usageError{fmt.Errorf("compile: -o OUT is required"), cmd.CommandPath()}
			}
			dir, err := dirArg(args)
			if err != nil {
				return err
			}
			src := flags.source(dir)
			if check {
				src.label = recordedLabel(out)
			}
			res, err := compileChecked(cmd, src, flags.format)
			if err != nil {
				return err
			}
			w := cmd.OutOrStdout()
			r := newReport(res)
			if check {
				changes, err := plan.CheckDir(out, res.Files)
				if err != nil {
					return err
				}
				r.Output, r.Stale, r.OK = out, changes, len(changes) == 0
				switch flags.format {
				case formatJSON:
					writeJSON(w, r)
				case formatGitHub:
					for _, c := range changes {
						fmt.Fprintf(cmd.ErrOrStderr(), "::error file=%s::%s is stale (%s): run cairn compile -o %s and commit it\n", ghProp(path.Join(out, c.Path)), ghData(path.Join(out, c.Path)), c.Change, ghData(out))
					}
				default:
					writeStale(cmd.ErrOrStderr(), out, changes, quiet, w)
				}
				if len(changes) > 0 {
					return silentError{ExitFailure}
				}
				return nil
			}
			if err := emit.Write(out, res.Files); err != nil {
				return err
			}
			r.Output = out
			switch {
			case flags.format == formatJSON:
				writeJSON(w, r)
			case !quiet && flags.format == formatText:
				for _, p := range res.Pipelines {
					fmt.Fprintf(w, "%s/%s: %d objects\n", p.Namespace, p.Name, len(p.Files))
				}
				fmt.Fprintf(w, "wrote %d pipelines, %d files to %s\n", len(res.Pipelines), len(res.Files), out)
			}
			return nil
		},
	}
	cmd.Flags().StringVarP(&out, "output", "o", "", "folder to write the manifests to (replaced whole), or to compare with under --check")
	cmd.Flags().BoolVarP(&quiet, "quiet", "q", false, "print nothing on success")
	cmd.Flags().BoolVar(&check, "check", false, "write nothing; exit 1 listing every file of OUT that differs from the compiled output")
	flags.add(cmd)
	return cmd
}

// writeStale lists the files of a stale output folder.
func writeStale(errw io.Writer, out string, changes []plan.FileChange, quiet bool, w io.Writer) {
	if len(changes) == 0 {
		if !quiet {
			fmt.Fprintf(w, "%s is current\n", out)
		}
		return
	}
	for _, c := range changes {
		fmt.Fprintf(errw, "%-8s %s\n", c.Change, path.Join(out, c.Path))
	}
	fmt.Fprintf(errw, "%s is stale: %d files differ; run cairn compile -o %s and commit it\n", out, len(changes), out)
}

func newVetCmd(a *app) *cobra.Command {
	var flags specFlags
	cmd := &cobra.Command{
		Use:   "vet [DIR]",
		Short: "Check the specs under DIR without writing anything",
		Long: `Vet loads, checks and compiles every spec under DIR in memory, checks every
compiled object with Argo's and mpi-operator's own validation, and reports
every problem with its file:line:col and CUE path. It writes nothing.`,
		Example: `  cairn vet .
  cairn vet . --format github        # annotate a pull request
  cairn vet . --rev origin/main`,
		Args: rangeArgs(0, 1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkFormat(cmd, flags.format); err != nil {
				return err
			}
			dir, err := dirArg(args)
			if err != nil {
				return err
			}
			res, err := compileChecked(cmd, flags.source(dir), flags.format)
			if err != nil {
				return err
			}
			w := cmd.OutOrStdout()
			switch flags.format {
			case formatJSON:
				writeJSON(w, newReport(res))
			case formatText:
				writeEstimates(w, res)
				fmt.Fprintf(w, "ok: %d pipelines\n", len(res.Pipelines))
			}
			return nil
		},
	}
	flags.add(cmd)
	return cmd
}

// checkOutput runs the output checks (Argo's validator, conditions,
// MPIJob validation, schemas) over a compiled set. Each problem is placed
// where the specs wrote the step or setting the offending field came from,
// or at its pipeline.
func checkOutput(res *compiler.Result) diag.List {
	var l diag.List
	templates := map[string][]string{} // file -> template names, parsed once
	for _, p := range verify.FilesCached(res.Files, cacheDir("verify")) {
		ns, pipeline := splitPipeline(p.File)
		msg := fmt.Sprintf("compiled %s (%s)", p.Object, p.File)
		if p.Field != "" {
			msg += ", field " + p.Field
		}
		msg += ": " + p.Msg + " [" + p.Check + "]"
		if _, ok := templates[p.File]; !ok {
			templates[p.File] = templateNames(res.Files[p.File])
		}
		l = append(l, diag.Diagnostic{
			Pos:  res.Locate(ns, pipeline, specPath(p, templates[p.File])...),
			Path: load.FormatPath([]string{load.ProjectField, "pipelines", pipeline}),
			Msg:  msg,
		})
	}
	return l.Sorted()
}

// templateIndex matches the index of a template in a field path.
var templateIndex = regexp.MustCompile(`^spec\.templates\[([0-9]+)\]`)

// specPath returns the path, under the pipeline, of the spec setting that
// a compiled field comes from: the step a template was lowered from, the
// schedule of a CronWorkflow, the labels; empty when unknown.
func specPath(p verify.Problem, templates []string) []any {
	switch {
	case strings.HasPrefix(p.Field, "metadata.labels"):
		return []any{"labels"}
	case strings.HasPrefix(p.Object, "CronWorkflow "):
		return []any{"schedule"}
	}
	m := templateIndex.FindStringSubmatch(p.Field)
	if m == nil {
		return nil
	}
	i, _ := strconv.Atoi(m[1])
	if i >= len(templates) {
		return nil
	}
	switch name := templates[i]; {
	case name == argo.TaskTrain && strings.Contains(p.Field, ".resource."):
		return []any{"train", "compute"}
	case name == argo.TaskTrain:
		return []any{"train"}
	case name == argo.TaskEvaluate:
		return []any{"evaluate"}
	case name == argo.TaskGate:
		return []any{"evaluate", "gates"}
	case name == argo.TaskPack:
		return []any{"model"}
	case strings.HasPrefix(name, "feature-"):
		return []any{"features", strings.TrimPrefix(name, "feature-")}
	case strings.HasPrefix(name, "ingest-"):
		return []any{"data", strings.TrimPrefix(name, "ingest-"), "ingest"}
	case strings.HasPrefix(name, "validate-"):
		return []any{"data", strings.TrimPrefix(name, "validate-")}
	}
	return nil
}

// templateNames returns the names of a compiled WorkflowTemplate's
// templates, in order.
func templateNames(data []byte) []string {
	var obj struct {
		Spec struct {
			Templates []struct {
				Name string `json:"name"`
			} `json:"templates"`
		} `json:"spec"`
	}
	if yaml.Unmarshal(data, &obj) != nil {
		return nil
	}
	var names []string
	for _, t := range obj.Spec.Templates {
		names = append(names, t.Name)
	}
	return names
}

// cacheDir is the folder of one of Cairn's caches: $CAIRN_CACHE_DIR/name
// ("off" disables caching), else cairn/name in the user's cache folder;
// "" when there is none.
func cacheDir(name string) string {
	if d := os.Getenv("CAIRN_CACHE_DIR"); d != "" {
		if d == "off" {
			return ""
		}
		return filepath.Join(d, name)
	}
	d, err := os.UserCacheDir()
	if err != nil {
		return ""
	}
	return filepath.Join(d, "cairn", name)
}

// splitPipeline returns the namespace and pipeline of a compiled file,
// "<namespace>/<pipeline>/<file>".
func splitPipeline(file string) (string, string) {
	parts := strings.SplitN(file, "/", 3)
	if len(parts) < 3 {
		return "", ""
	}
	return parts[0], parts[1]
}
