package cli

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"cairn.dev/cairn/compiler/gitsrc"
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
				if output != formatText && output != formatJSON {
					return usageError{fmt.Errorf("diff: -o %q: want text or json", output), cmd.CommandPath()}
				}
				flags.format = output
			}
			if err := checkFormat(cmd, flags.format); err != nil {
				return err
			}
			if _, err := dirArg([]string{dir}); err != nil {
				return err
			}
			baseFiles := map[string][]byte{}
			if _, err := gitsrc.Read(dir, args[0]); errors.Is(err, gitsrc.ErrNoModule) {
				// The change that first adds the specs: everything is new.
			} else {
				base, err := compileChecked(cmd, source{dir: dir, rev: args[0]}, flags.format)
				if err != nil {
					return err
				}
				baseFiles = base.Files
			}
			head := source{dir: dir, noGit: flags.noGit}
			if len(args) == 2 {
				head.rev = args[1]
			}
			headRes, err := compileChecked(cmd, head, flags.format)
			if err != nil {
				return err
			}
			p, err := plan.Diff(baseFiles, headRes.Files)
			if err != nil {
				return internalError{err}
			}
			w := cmd.OutOrStdout()
			switch flags.format {
			case formatJSON:
				if err := p.JSON(w); err != nil {
					return err
				}
			case formatGitHub:
				var b strings.Builder
				if err := p.Text(&b, false); err != nil {
					return err
				}
				io.WriteString(w, b.String())
				// The summary, after the last blank line, as notices on
				// the run's page.
				text := strings.TrimRight(b.String(), "\n")
				if i := strings.LastIndex(text, "\n\n"); i >= 0 {
					text = text[i+2:]
				}
				for _, line := range strings.Split(text, "\n") {
					fmt.Fprintf(w, "::notice title=cairn diff::%s\n", ghData(line))
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
	flags.addCommon(cmd)
	return cmd
}

// isTerminal reports whether w is a terminal.
func isTerminal(w any) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}
