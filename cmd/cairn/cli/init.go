package cli

import (
	"bytes"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"text/template"

	"github.com/spf13/cobra"

	"cairn.dev/cairn/compiler/load"
)

// initData holds the starter repository cairn init writes.
//
//go:embed initdata
var initData embed.FS

// initFiles maps each file of the starter to its template in initdata, in
// the order init writes and lists them.
var initFiles = []struct{ dst, src string }{
	{load.ModFile, "module.cue.tmpl"},
	{".gitignore", "gitignore.tmpl"},
	{"pipeline.cue", "pipeline.cue.tmpl"},
	{"src/generate.py", "generate.py"},
	{"src/features.py", "features.py"},
	{"src/train.py", "train.py"},
	{"src/evaluate.py", "evaluate.py"},
}

// initPipeline is the name of the starter's pipeline.
const initPipeline = "classifier"

// starter is what the templates are filled with.
type starter struct {
	Name            string // the project: a DNS label
	Package         string // the CUE package
	Module          string // the CUE module path
	LanguageVersion string // of the embedded CUE
}

func newInitCmd(a *app) *cobra.Command {
	var module string
	var force bool
	cmd := &cobra.Command{
		Use:   "init [DIR]",
		Short: "Write a new repository with a starter pipeline",
		Long: `Init writes a new Cairn repository into DIR (the current folder by
default, created if missing): a CUE module (cue.mod/module.cue, its path
example.com/<folder name>@v0 unless --module says otherwise), a .gitignore
for .cairn/, and pipeline.cue, a starter pipeline named "` + initPipeline + `": a
dataset its ingest step generates, a feature step, training and an
evaluation with gates, their programs python3 scripts in src/. It vets,
compiles and runs as written.

Init refuses a folder that holds anything but .git, and writes nothing;
--force writes the starter's files over what is there, keeping the rest.`,
		Example: `  cairn init churn && cd churn
  cairn vet .
  cairn compile . -o rendered
  git init -q && git add . && git commit -qm "starter"
  CAIRN_PASSWORD=... cairn key generate --prefix .cairn/cosign
  CAIRN_PASSWORD=... cairn run . --pipeline ` + initPipeline + ` --secret cairn-signing-key=.cairn
  cairn verify ` + initPipeline + `:latest --key .cairn/cosign.pub`,
		Args: rangeArgs(0, 1),
		RunE: func(cmd *cobra.Command, args []string) error {
			dir := "."
			if len(args) > 0 {
				dir = args[0]
			}
			s, err := newStarter(dir, module)
			if err != nil {
				return usageError{err, cmd.CommandPath()}
			}
			files, err := s.render()
			if err != nil {
				return internalError{err}
			}
			if err := initCheckDir(dir, force); err != nil {
				return err
			}
			if err := initWrite(dir, files); err != nil {
				return err
			}
			w := cmd.OutOrStdout()
			fmt.Fprintf(w, "wrote %s: module %s, project %q, pipeline %q\n", dir, s.Module, s.Name, initPipeline)
			for _, f := range initFiles {
				fmt.Fprintf(w, "  %s\n", f.dst)
			}
			next := "cairn vet ."
			if filepath.Clean(dir) != "." {
				next = "cd " + dir + " && " + next
			}
			fmt.Fprintf(w, "next: %s (docs/first-pipeline.md walks through the rest)\n", next)
			return nil
		},
	}
	cmd.Flags().StringVar(&module, "module", "", `CUE module path (default "example.com/<folder name>@v0")`)
	cmd.Flags().BoolVar(&force, "force", false, "write the starter's files into a folder that is not empty, over files of the same names")
	return cmd
}

// newStarter names the starter after the folder dir, with the given module
// path when not empty.
func newStarter(dir, module string) (starter, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return starter{}, err
	}
	base := load.ModuleName(filepath.Base(abs))
	if base == "" {
		base = "ml"
	}
	name := base
	if name[0] >= '0' && name[0] <= '9' {
		name = "ml-" + name
	}
	if len(name) > 40 {
		name = strings.TrimRight(name[:40], "-")
	}
	s := starter{
		Name:            name,
		Package:         strings.ReplaceAll(name, "-", "_"),
		Module:          "example.com/" + base + "@v0",
		LanguageVersion: load.LanguageVersion(),
	}
	if module != "" {
		s.Module = module
	}
	mod, err := s.file("module.cue.tmpl")
	if err != nil {
		return starter{}, err
	}
	if l := load.CheckModFile(mod); len(l) > 0 {
		return starter{}, fmt.Errorf("init: --module %q: %s", module, l[0].Msg)
	}
	return s, nil
}

// file fills the template src of initdata.
func (s starter) file(src string) ([]byte, error) {
	data, err := fs.ReadFile(initData, "initdata/"+src)
	if err != nil {
		return nil, err
	}
	if !strings.HasSuffix(src, ".tmpl") {
		return data, nil
	}
	t, err := template.New(src).Option("missingkey=error").Parse(string(data))
	if err != nil {
		return nil, err
	}
	var b bytes.Buffer
	if err := t.Execute(&b, s); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// render returns the starter's files by destination.
func (s starter) render() (map[string][]byte, error) {
	out := map[string][]byte{}
	for _, f := range initFiles {
		data, err := s.file(f.src)
		if err != nil {
			return nil, fmt.Errorf("init: template %s: %w", f.src, err)
		}
		out[f.dst] = data
	}
	return out, nil
}

// initCheckDir refuses a folder holding anything but .git, unless force.
func initCheckDir(dir string, force bool) error {
	fi, err := os.Stat(dir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil
	case err != nil:
		return err
	case !fi.IsDir():
		return fmt.Errorf("init: %s is not a directory", dir)
	case force:
		return nil
	}
	ents, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	var names []string
	for _, e := range ents {
		if e.Name() != ".git" {
			names = append(names, e.Name())
		}
	}
	if len(names) == 0 {
		return nil
	}
	slices.Sort(names)
	if len(names) > 5 {
		names = append(names[:5], "...")
	}
	return fmt.Errorf("init: %s is not empty (%s): nothing written; init a new folder, or use --force to write the starter's files over these", dir, strings.Join(names, ", "))
}

// initWrite writes the files under dir, in initFiles order.
func initWrite(dir string, files map[string][]byte) error {
	for _, f := range initFiles {
		p := filepath.Join(dir, filepath.FromSlash(f.dst))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(p, files[f.dst], 0o644); err != nil {
			return err
		}
	}
	return nil
}
