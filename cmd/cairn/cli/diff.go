package cli

import (
	"os"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"cairn.dev/cairn/compiler/plan"
)

func newDiffCmd(a *app) *cobra.Command {
	var dir, output string
	var exitCode, noColor bool
	var flags specFlags
	cmd := &cobra.Command{
		Use:   "diff BASE [HEAD]",
		Short: "Compile two revisions and show what changes, per pipeline and object",
		Long: `Diff compiles the specs at BASE (a git commit, branch or tag) and at HEAD
(another revision, or the work tree when omitted) and prints, per pipeline
and object, what was added, removed or changed, with a field-level diff,
then a summary: templates changed, schedules moved, images changed, and
estimated GPU-hours and cost per run before and after. The recorded git
commit does not count as a change.

Exit 0 whether or not anything changed (with --exit-code a change exits 1,
like git diff); 1 when a revision does not compile.`,
		Example: `  cairn diff origin/main                 # this branch's work tree against main
  cairn diff v1.2.0 v1.3.0 --dir ml/specs
  cairn diff HEAD~1 HEAD -o json`,
		Args: rangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			if output != "" {
				flags.format = output
			}
			if err := checkFormat(cmd, flags.format); err != nil {
				return err
			}
			if _, err := dirArg([]string{dir}); err != nil {
				return err
			}
			base, err := compileChecked(cmd, source{dir: dir, rev: args[0]}, flags.format)
			if err != nil {
				return err
			}
			head := source{dir: dir, noGit: flags.noGit}
			if len(args) == 2 {
				head.rev = args[1]
			}
			headRes, err := compileChecked(cmd, head, flags.format)
			if err != nil {
				return err
			}
			p, err := plan.Diff(base.Files, headRes.Files)
			if err != nil {
				return internalError{err}
			}
			w := cmd.OutOrStdout()
			switch flags.format {
			case formatJSON:
				if err := p.JSON(w); err != nil {
					return err
				}
			default:
				color := !noColor && os.Getenv("NO_COLOR") == "" && isTerminal(w)
				if err := p.Text(w, color); err != nil {
					return err
				}
			}
			if exitCode && !p.Empty() {
				return silentError{ExitFailure}
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&dir, "dir", ".", "the CUE module (or a folder in it) inside the git repository")
	cmd.Flags().BoolVar(&exitCode, "exit-code", false, "exit 1 when anything changed")
	cmd.Flags().BoolVar(&noColor, "no-color", false, "never colour the output (also NO_COLOR)")
	cmd.Flags().StringVarP(&output, "output", "o", "", "output format, as --format: text or json")
	flags.add(cmd)
	cmd.Flags().MarkHidden("rev")
	return cmd
}

// isTerminal reports whether w is a terminal.
func isTerminal(w any) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}
