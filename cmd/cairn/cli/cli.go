// Package cli implements the cairn command line: one constructor per
// command, output only through the command's writers, and exit codes 1 for
// a mistake in the input, 2 for a usage error and 3 for an internal failure.
package cli

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"cairn.dev/cairn/compiler"
	"cairn.dev/cairn/compiler/diag"
	"cairn.dev/cairn/compiler/load"
)

// Exit codes.
const (
	ExitOK       = 0
	ExitFailure  = 1 // the input is wrong, or a check failed
	ExitUsage    = 2 // the command line is wrong
	ExitInternal = 3 // Cairn itself failed
)

// usageError marks a mistake in the command line; cmd, when set, is the
// command whose help to point at.
type usageError struct {
	err error
	cmd string
}

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

// internalError marks a failure of Cairn itself.
type internalError struct{ err error }

func (e internalError) Error() string { return e.err.Error() }
func (e internalError) Unwrap() error { return e.err }

// silentError carries an exit code whose message has been printed already.
type silentError struct{ code int }

func (e silentError) Error() string { return fmt.Sprintf("exit %d", e.code) }

// app holds what the commands share.
type app struct {
	stdout, stderr io.Writer
}

// Main runs the command line with the process's arguments and returns the
// exit code.
func Main() int {
	return Run(os.Args[1:], os.Stdout, os.Stderr)
}

// Run runs the command line with args, writing to stdout and stderr, and
// returns the exit code.
func Run(args []string, stdout, stderr io.Writer) int {
	a := &app{stdout: stdout, stderr: stderr}
	root := newRootCmd(a)
	root.SetArgs(args)
	root.SetOut(stdout)
	root.SetErr(stderr)
	err := root.Execute()
	return report(stderr, err)
}

func report(w io.Writer, err error) int {
	if err == nil {
		return ExitOK
	}
	var silent silentError
	if errors.As(err, &silent) {
		return silent.code
	}
	var dl diag.List
	if errors.As(err, &dl) {
		errs, warns := dl.Split()
		writeDiags(w, formatText, errs, warns)
		return ExitFailure
	}
	var u usageError
	if errors.As(err, &u) || isCobraUsage(err) {
		help := "cairn"
		if errors.As(err, &u) && u.cmd != "" {
			help = u.cmd
		}
		fmt.Fprintf(w, "cairn: %v\nRun '%s --help' for usage.\n", err, help)
		return ExitUsage
	}
	fmt.Fprintf(w, "cairn: %v\n", err)
	var ie internalError
	if errors.As(err, &ie) {
		return ExitInternal
	}
	return ExitFailure
}

// exitCodeOf returns the exit code for an error that is not a diagnostic
// list or a usage error.
func exitCodeOf(err error) int {
	var ie internalError
	if errors.As(err, &ie) {
		return ExitInternal
	}
	return ExitFailure
}

// isCobraUsage recognises the usage errors cobra itself returns.
func isCobraUsage(err error) bool {
	msg := err.Error()
	for _, p := range []string{"unknown command", "unknown flag", "unknown shorthand flag", "flag needs an argument", "invalid argument", "required flag"} {
		if strings.HasPrefix(msg, p) {
			return true
		}
	}
	return false
}

func newRootCmd(a *app) *cobra.Command {
	root := &cobra.Command{
		Use:   "cairn",
		Short: "Compile ML pipeline specs into Argo Workflows, and sign and audit the models they train",
		Long: `Cairn compiles the CUE specs an ML team commits to git (data, features,
training compute, evaluation gates, serving) into Argo WorkflowTemplates,
CronWorkflows and Kubeflow MPIJobs, ready for Argo CD.

Exit codes: 0 success, 1 a mistake in the specs or a failed check,
2 a mistake on the command line, 3 an internal failure.`,
		Example: `  # Check the specs of the repository in the current folder
  cairn vet .

  # Render the manifests for Argo CD
  cairn compile . -o deploy/rendered

  # Let the plain cue CLI and editors see the schemas
  cairn schema vendor .`,
		SilenceUsage:  true,
		SilenceErrors: true,
		Version:       compiler.Version,
	}
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error { return usageError{err, c.CommandPath()} })
	root.AddCommand(
		newInitCmd(a),
		newCompileCmd(a),
		newVetCmd(a),
		newDiffCmd(a),
		newModelCmd(a),
		newKeyCmd(a),
		newSignCmd(a),
		newAttestCmd(a),
		newVerifyCmd(a),
		newRunCmd(a),
		newStepCmd(a),
		newSchemaCmd(a),
		newVersionCmd(a),
		newAuditCmd(a),
	)
	return root
}

// groupCmd returns a command that only holds subcommands: without one it
// prints its help, and an unknown one is a usage error.
func groupCmd(use, short, long string, subs ...*cobra.Command) *cobra.Command {
	cmd := &cobra.Command{
		Use:   use,
		Short: short,
		Long:  long,
		Args:  cobra.ArbitraryArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) > 0 {
				return usageError{fmt.Errorf("unknown command %q for %q", args[0], cmd.CommandPath()), cmd.CommandPath()}
			}
			return cmd.Help()
		},
	}
	cmd.AddCommand(subs...)
	return cmd
}

// exactArgs is cobra.ExactArgs returning a usage error.
func exactArgs(n int) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if err := cobra.ExactArgs(n)(cmd, args); err != nil {
			return usageError{fmt.Errorf("%s: %w", cmd.Name(), err), cmd.CommandPath()}
		}
		return nil
	}
}

// rangeArgs is cobra.RangeArgs returning a usage error.
func rangeArgs(min, max int) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if err := cobra.RangeArgs(min, max)(cmd, args); err != nil {
			return usageError{fmt.Errorf("%s: %w", cmd.Name(), err), cmd.CommandPath()}
		}
		return nil
	}
}

// dirArg returns the folder argument, "." by default, after checking that
// it is a folder.
func dirArg(args []string) (string, error) {
	dir := "."
	if len(args) > 0 {
		dir = args[0]
	}
	fi, err := os.Stat(dir)
	if err != nil {
		return "", fmt.Errorf("%s: no such directory", dir)
	}
	if !fi.IsDir() {
		return "", fmt.Errorf("%s: not a directory (give the folder of the CUE module)", dir)
	}
	return dir, nil
}

// posBase returns the module root of dir relative to the working folder,
// so that error positions can be opened from there.
func posBase(dir string) string {
	root, err := load.FindRoot(dir)
	if err != nil {
		return ""
	}
	wd, err := os.Getwd()
	if err != nil {
		return ""
	}
	rel, err := filepath.Rel(wd, root)
	if err != nil || rel == ".." || strings.HasPrefix(rel, "../") {
		return root
	}
	return rel
}

func newVersionCmd(a *app) *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print Cairn's version",
		Args:  exactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			fmt.Fprintf(cmd.OutOrStdout(), "cairn %s\n", compiler.Version)
			return nil
		},
	}
}
