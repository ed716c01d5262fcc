package cli

import (
	"fmt"
	"io/fs"
	"path/filepath"

	"github.com/spf13/cobra"

	"cairn.dev/cairn/compiler/emit"
	"cairn.dev/cairn/compiler/load"
	"cairn.dev/cairn/compiler/schemadoc"
	"cairn.dev/cairn/schemas"
)

func newSchemaCmd(a *app) *cobra.Command {
	return groupCmd("schema", "Work with Cairn's embedded CUE schemas",
		`Cairn embeds its schemas (import path "`+schemas.ImportPath+`") and
overlays them whenever it loads a repository, so nothing needs vendoring.
The subcommands write them out for editors and the plain cue CLI, and print
the spec reference.`,
		newSchemaVendorCmd(a), newSchemaDocCmd(a))
}

func newSchemaVendorCmd(a *app) *cobra.Command {
	return &cobra.Command{
		Use:   "vendor [DIR]",
		Short: "Write the schemas into DIR's cue.mod for editors and the cue CLI",
		Long: `Vendor writes the embedded schemas to cue.mod/pkg/` + schemas.ImportPath + ` in the CUE
module holding DIR, replacing what an earlier vendor wrote there, so that
"cue vet" and editors resolve the import.`,
		Example: `  cairn schema vendor .
  cue vet ./...`,
		Args: rangeArgs(0, 1),
		RunE: func(cmd *cobra.Command, args []string) error {
			dir, err := dirArg(args)
			if err != nil {
				return err
			}
			root, err := load.FindRoot(dir)
			if err != nil {
				return err
			}
			dest := filepath.Join(root, filepath.FromSlash(load.VendorDir))
			if err := vendorSchemas(dest); err != nil {
				return fmt.Errorf("vendoring the schemas: %w", err)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "wrote %s\n", dest)
			return nil
		},
	}
}

// vendorSchemas replaces dest with the embedded schema files.
func vendorSchemas(dest string) error {
	entries, err := fs.ReadDir(schemas.FS, ".")
	if err != nil {
		return err
	}
	files := map[string][]byte{}
	for _, e := range entries {
		data, err := fs.ReadFile(schemas.FS, e.Name())
		if err != nil {
			return err
		}
		files[e.Name()] = data
	}
	return emit.ReplaceDir(dest, files)
}

func newSchemaDocCmd(a *app) *cobra.Command {
	return &cobra.Command{
		Use:     "doc",
		Short:   "Print the spec reference (Markdown) generated from the schemas",
		Example: `  cairn schema doc > docs/spec.md`,
		Args:    exactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			md, err := schemadoc.Markdown(schemas.FS)
			if err != nil {
				return internalError{err}
			}
			_, err = cmd.OutOrStdout().Write(md)
			return err
		},
	}
}
