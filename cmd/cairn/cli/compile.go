package cli

import (
	"fmt"

	"github.com/spf13/cobra"

	"cairn.dev/cairn/compiler"
	"cairn.dev/cairn/compiler/emit"
)

func newCompileCmd(a *app) *cobra.Command {
	var out string
	var quiet bool
	cmd := &cobra.Command{
		Use:   "compile [DIR]",
		Short: "Compile the specs under DIR into manifests",
		Long: `Compile loads every CUE package under DIR (a CUE module, or a folder in one)
with Cairn's schemas, checks the specs, and writes one folder per namespace
and pipeline under OUT, one object per file, with a kustomization.yaml in
every folder. The output is byte-identical on every run; it is written to a
new folder that then replaces OUT, and nothing is written when there is an
error.`,
		Example: `  cairn compile . -o rendered
  cairn compile examples/fraud -o /tmp/fraud`,
		Args: rangeArgs(0, 1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if out == "" {
				return usageError{fmt.Errorf("compile: -o OUT is required"), cmd.CommandPath()}
			}
			dir, err := dirArg(args)
			if err != nil {
				return err
			}
			res, err := compiler.Compile(compiler.Options{Dir: dir, PosBase: posBase(dir)})
			if err != nil {
				return err
			}
			if err := emit.Write(out, res.Files); err != nil {
				return err
			}
			if !quiet {
				w := cmd.OutOrStdout()
				for _, p := range res.Pipelines {
					fmt.Fprintf(w, "%s/%s: %d objects\n", p.Namespace, p.Name, len(p.Files))
				}
				fmt.Fprintf(w, "wrote %d pipelines, %d files to %s\n", len(res.Pipelines), len(res.Files), out)
			}
			return nil
		},
	}
	cmd.Flags().StringVarP(&out, "output", "o", "", "folder to write the manifests to (replaced whole)")
	cmd.Flags().BoolVarP(&quiet, "quiet", "q", false, "print nothing on success")
	return cmd
}

func newVetCmd(a *app) *cobra.Command {
	return &cobra.Command{
		Use:   "vet [DIR]",
		Short: "Check the specs under DIR without writing anything",
		Long: `Vet loads, checks and compiles every spec under DIR in memory and reports
every problem with its file:line:col and CUE path. It writes nothing.`,
		Example: `  cairn vet .
  cairn vet examples/bert-pretrain`,
		Args: rangeArgs(0, 1),
		RunE: func(cmd *cobra.Command, args []string) error {
			dir, err := dirArg(args)
			if err != nil {
				return err
			}
			res, err := compiler.Compile(compiler.Options{Dir: dir, PosBase: posBase(dir)})
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "ok: %d pipelines\n", len(res.Pipelines))
			return nil
		},
	}
}
