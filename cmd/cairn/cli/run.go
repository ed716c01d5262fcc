package cli

import (
	"errors"
	"fmt"
	"os"
	"os/signal"
	"path"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	wfv1 "github.com/argoproj/argo-workflows/v3/pkg/apis/workflow/v1alpha1"
	"github.com/spf13/cobra"
	"k8s.io/apimachinery/pkg/api/resource"
	"sigs.k8s.io/yaml"

	"cairn.dev/cairn/attest/oci"
	"cairn.dev/cairn/compiler"
	"cairn.dev/cairn/runtime/executor"
)

// runsDir is where cairn run keeps its run folders, under the module root.
const runsDir = ".cairn/runs"

func newRunCmd(a *app) *cobra.Command {
	var pipeline, from, runID, self, logLimit string
	var params, secrets []string
	var parallel, ranks int
	var force, quiet bool
	cmd := &cobra.Command{
		Use:   "run [DIR]",
		Short: "Run a pipeline on this machine, as Argo would run it",
		Long: `Run compiles the specs under DIR and runs one pipeline's compiled
WorkflowTemplate on this machine: its DAG in dependency order, independent
steps in parallel, each container step as a local process (the image is
noted, not pulled) and an MPI step's launcher under mpirun, with Argo's
own parameter substitution, depends logic, retries and deadlines.

Each run gets a folder, .cairn/runs/<run id> in the repository holding
the working folder (or the working folder outside a repository): the
run-root workflow parameter points there, so the steps' outputs land in
it, with run.json (the state of every task), logs/<task>.log (each task's
output, one attempt after another, each attempt's output capped by
--log-limit: its first quarter and last three quarters kept, with a line
saying how many bytes were dropped between) and tasks/<task>/root (the
task's container paths, such as its output parameter files).

Steps run in the folder of the spec package; the command "cairn" runs
this executable; CAIRN_LOCAL=1 is set. A step gets the environment its
template gives it and, of this one, only what a machine provides (PATH,
HOME, TMPDIR, the locale, LD_LIBRARY_PATH, CUDA_VISIBLE_DEVICES, Open
MPI's OMPI_MCA_*, CAIRN_CACHE_DIR and the like), never a password or
credential its template does not ask for. A step mounting a Kubernetes
secret needs --secret NAME=DIR (one file per key); secretKeyRef variables
come from this environment, else from that folder (the signing key's
password from CAIRN_PASSWORD, else COSIGN_PASSWORD, else cosign.password
there). When a step ends, everything it started ends with it, as in a
container. mpirun (Open MPI) must be on PATH for MPI steps.

The model is packed into the default store, .cairn/oci/<name> in the same
repository, signed and attested there (the model-repository parameter;
set it with -p model-repository=REF to push elsewhere).

--from TASK resumes the latest run of the pipeline (or --run ID): TASK
and the tasks depending on it run again, as does every task that did not
succeed; the others keep their results and outputs. A run whose compiled
template changed since is refused, unless --force.

Exit 0 when the pipeline succeeded, 1 when a step failed (or the specs
are wrong), 2 for a usage error.`,
		Example: `  cairn run . --pipeline fraud
  cairn run . --pipeline fraud --secret cairn-signing-key=$HOME/.cairn/keys
  cairn run . --pipeline fraud --from train          # resume the latest run from train
  cairn run . --pipeline bert-pretrain --ranks 2     # 2 MPI ranks on this machine
  cairn run . --pipeline fraud -p run-root=/data/runs --parallel 2`,
		Args: rangeArgs(0, 1),
		RunE: func(cmd *cobra.Command, args []string) error {
			dir, err := dirArg(args)
			if err != nil {
				return err
			}
			paramMap, err := keyValues("--parameter", params)
			if err != nil {
				return usageError{err, cmd.CommandPath()}
			}
			secretMap, err := keyValues("--secret", secrets)
			if err != nil {
				return usageError{err, cmd.CommandPath()}
			}
			if force && from == "" {
				return usageError{errors.New("run: --force applies to --from only"), cmd.CommandPath()}
			}
			if self != "" {
				if self, err = filepath.Abs(self); err != nil {
					return err
				}
			}
			if ranks < 0 {
				return usageError{fmt.Errorf("run: --ranks %d: want a positive number", ranks), cmd.CommandPath()}
			}
			limit, err := parseLogLimit(logLimit)
			if err != nil {
				return usageError{err, cmd.CommandPath()}
			}
			res, err := compileChecked(cmd, source{dir: dir}, formatText)
			if err != nil {
				return err
			}
			p, err := pickPipeline(res, pipeline)
			if err != nil {
				return usageError{err, cmd.CommandPath()}
			}
			file := p.Namespace + "/" + p.Name + "/workflowtemplate.yaml"
			var wft wfv1.WorkflowTemplate
			if err := yaml.UnmarshalStrict(res.Files[file], &wft); err != nil {
				return internalError{fmt.Errorf("reading the compiled %s: %w", file, err)}
			}
			// Runs and models go to the .cairn folder of the repository
			// holding the working folder, where the model commands look.
			root, err := repoRoot()
			if err != nil {
				return err
			}
			if _, ok := paramMap["model-repository"]; !ok {
				if repo := templateParameter(&wft, "model-repository"); repo != "" {
					paramMap["model-repository"] = "oci:" + filepath.Join(root, filepath.FromSlash(oci.DefaultLayout), path.Base(repo))
				}
			}
			// The run folders are where run-root points, so that
			// {{workflow.parameters.run-root}}/{{workflow.uid}} is the run
			// folder; a run-root given as a URI leaves them in the module.
			runRoot := filepath.Join(root, filepath.FromSlash(runsDir))
			if v, ok := paramMap["run-root"]; ok && !strings.Contains(v, "://") {
				if runRoot, err = filepath.Abs(v); err != nil {
					return err
				}
			}
			if v, ok := paramMap["run-root"]; !ok || !strings.Contains(v, "://") {
				paramMap["run-root"] = runRoot
			}
			opts := executor.Options{
				Dir:        packageDir(res, p, dir),
				RunRoot:    runRoot,
				RunID:      runID,
				Parameters: paramMap,
				Parallel:   parallel,
				Secrets:    secretMap,
				Self:       self,
				Ranks:      ranks,
				From:       from,
				Force:      force,
				LogLimit:   limit,
			}
			errw := cmd.ErrOrStderr()
			if !quiet {
				opts.Progress, opts.Live = errw, isTerminal(errw)
				fmt.Fprintf(errw, "running %s/%s\n", p.Namespace, p.Name)
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			out, err := executor.Run(ctx, &wft, opts)
			if err != nil {
				return err
			}
			w := cmd.OutOrStdout()
			wd, _ := os.Getwd()
			folder := out.Dir
			if rel, err := filepath.Rel(wd, folder); err == nil && !strings.HasPrefix(rel, "..") {
				folder = rel
			}
			if !quiet {
				executor.WriteSummary(w, out)
			}
			if out.Succeeded() {
				if quiet {
					fmt.Fprintln(w, folder)
				} else {
					fmt.Fprintf(w, "run %s succeeded in %s: %s\n", out.ID, out.Duration.Round(100*time.Millisecond), folder)
				}
				return nil
			}
			if quiet {
				executor.WriteSummary(errw, out)
			}
			why := "a step failed"
			if out.Message != "" {
				why = out.Message
			}
			task := "TASK"
			for _, t := range out.Tasks {
				if t.Status == wfv1.NodeFailed || t.Status == wfv1.NodeError || t.Status == wfv1.NodePending {
					task = t.Name
					break
				}
			}
			fmt.Fprintf(errw, "run %s failed (%s): %s\nresume it with: cairn run %s --pipeline %s --from %s\n", out.ID, why, folder, dir, p.Name, task)
			return silentError{ExitFailure}
		},
	}
	f := cmd.Flags()
	f.StringVar(&pipeline, "pipeline", "", "the pipeline to run, NAME or NAMESPACE/NAME (needed when the specs declare more than one)")
	f.StringArrayVarP(&params, "parameter", "p", nil, "set a workflow parameter, NAME=VALUE (repeatable); run-root, where run folders go, defaults to the repository's "+runsDir)
	f.IntVar(&parallel, "parallel", 0, "run at most N steps at once (default: the number of CPUs)")
	f.StringArrayVar(&secrets, "secret", nil, "map a Kubernetes secret to a local folder holding one file per key, NAME=DIR (repeatable)")
	f.IntVar(&ranks, "ranks", 0, "run MPI steps with N ranks on this machine instead of workers × slots per worker")
	f.StringVar(&from, "from", "", "resume a run from TASK: it and its descendants run again, succeeded tasks keep their outputs")
	f.StringVar(&runID, "run", "", "with --from, the run to resume (default: the pipeline's latest); otherwise the id of the new run")
	f.BoolVar(&force, "force", false, "with --from, resume even though the compiled template changed since the run")
	f.BoolVarP(&quiet, "quiet", "q", false, "print no progress and no summary; print the run folder when it succeeds")
	f.StringVar(&logLimit, "log-limit", "64Mi", "keep at most SIZE of each attempt's output in its task's log (a Kubernetes quantity: 64Mi, 1Gi; 0 for no limit), its start and end")
	f.StringVar(&self, "self", "", "the executable that runs steps whose command is cairn (default: this one)")
	f.MarkHidden("self")
	return cmd
}

// keyValues parses repeated NAME=VALUE flags.
func keyValues(flag string, list []string) (map[string]string, error) {
	m := map[string]string{}
	for _, kv := range list {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return nil, fmt.Errorf("run: %s %q: want NAME=VALUE", flag, kv)
		}
		m[k] = v
	}
	return m, nil
}

// parseLogLimit reads --log-limit, a Kubernetes quantity of bytes: 0 is
// no limit (a negative executor.Options.LogLimit).
func parseLogLimit(s string) (int64, error) {
	q, err := resource.ParseQuantity(s)
	if err != nil {
		return 0, fmt.Errorf("run: --log-limit %q: want a size such as 64Mi or 1Gi, or 0 for no limit", s)
	}
	n, ok := q.AsInt64()
	switch {
	case !ok || n < 0:
		return 0, fmt.Errorf("run: --log-limit %q: want a size such as 64Mi or 1Gi, or 0 for no limit", s)
	case n == 0:
		return -1, nil
	case n < executor.MinLogLimit:
		return 0, fmt.Errorf("run: --log-limit %s: want at least 4Ki", s)
	}
	return n, nil
}

// pickPipeline finds the pipeline to run: by NAME or NAMESPACE/NAME, or
// the only one.
func pickPipeline(res *compiler.Result, name string) (compiler.Pipeline, error) {
	var all []string
	var found []compiler.Pipeline
	for _, p := range res.Pipelines {
		full := p.Namespace + "/" + p.Name
		all = append(all, full)
		if name == "" || name == p.Name || name == full {
			found = append(found, p)
		}
	}
	switch {
	case len(res.Pipelines) == 0:
		return compiler.Pipeline{}, errors.New("run: the specs declare no pipeline")
	case len(found) == 1:
		return found[0], nil
	case name == "":
		return compiler.Pipeline{}, fmt.Errorf("run: choose a pipeline with --pipeline (the specs declare %s)", strings.Join(all, ", "))
	case len(found) == 0:
		return compiler.Pipeline{}, fmt.Errorf("run: no pipeline %s (the specs declare %s)", name, strings.Join(all, ", "))
	}
	return compiler.Pipeline{}, fmt.Errorf("run: pipeline %s is declared in more than one namespace: say which, as NAMESPACE/%s (%s)", name, name, strings.Join(all, ", "))
}

// packageDir is the folder of the spec file declaring a pipeline, where
// its steps run; dir when unknown.
func packageDir(res *compiler.Result, p compiler.Pipeline, dir string) string {
	if pos := res.Locate(p.Namespace, p.Name); pos.IsValid() {
		return filepath.Dir(filepath.FromSlash(pos.File))
	}
	return dir
}

// templateParameter returns the value of a workflow parameter a
// WorkflowTemplate declares, "" when it declares none.
func templateParameter(wft *wfv1.WorkflowTemplate, name string) string {
	for _, p := range wft.Spec.Arguments.Parameters {
		if p.Name == name && p.Value != nil {
			return p.Value.String()
		}
	}
	return ""
}
