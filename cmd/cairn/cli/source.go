package cli

import (
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"

	"sigs.k8s.io/yaml"

	"cairn.dev/cairn/compiler"
	"cairn.dev/cairn/compiler/emit"
	"cairn.dev/cairn/compiler/gitsrc"
	"cairn.dev/cairn/compiler/lower"
)

// gitRoot is the folder a tree read from git appears to live in: one that
// does not exist, so that the loader reads only the tree's files.
const gitRoot = "/cairn-git"

// source says where the specs come from: the work tree at dir, or dir's
// module as of a git revision.
type source struct {
	dir   string
	rev   string // "" for the work tree
	noGit bool   // do not record the commit of a work tree
	// label, when set, replaces the commit and dirty mark recorded on the
	// output (--check compares with output labelled another way).
	label *gitLabel
}

// gitLabel is what output records of its git origin.
type gitLabel struct {
	commit string
	dirty  bool
}

// compile compiles the specs of a source. For a work tree inside a git
// repository it records HEAD and whether the specs have uncommitted
// changes; for a revision it records that commit.
func (s source) compile() (*compiler.Result, error) {
	if s.rev != "" {
		tree, err := gitsrc.Read(s.dir, s.rev)
		if err != nil {
			return nil, err
		}
		opts := compiler.Options{
			Dir:       path.Join(gitRoot, tree.Commit),
			Files:     tree.Files,
			GitCommit: tree.Commit,
			PosBase:   posBase(s.dir),
		}
		if s.label != nil {
			opts.GitCommit, opts.Dirty = s.label.commit, s.label.dirty
		}
		return compiler.Compile(opts)
	}
	if gitsrc.IsGitDir(s.dir) {
		return nil, fmt.Errorf("%s is a bare git repository: read its specs with --rev (for example --rev HEAD)", s.dir)
	}
	opts := compiler.Options{Dir: s.dir, PosBase: posBase(s.dir)}
	if s.label != nil {
		opts.GitCommit, opts.Dirty = s.label.commit, s.label.dirty
	} else if !s.noGit {
		commit, dirty, ok, err := gitsrc.Head(s.dir)
		if err != nil {
			return nil, err
		}
		if ok {
			opts.GitCommit, opts.Dirty = commit, dirty
		}
	}
	return compiler.Compile(opts)
}

// recordedLabel returns the git origin recorded in compiled output under
// out: the commit and dirty annotations of its first WorkflowTemplate or
// CronWorkflow, or an empty label when it records none.
func recordedLabel(out string) *gitLabel {
	label := &gitLabel{}
	filepath.WalkDir(out, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(p, ".yaml") || filepath.Base(p) == emit.Kustomization {
			return nil
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return nil
		}
		var obj struct {
			Metadata struct {
				Annotations map[string]string `json:"annotations"`
			} `json:"metadata"`
		}
		if yaml.Unmarshal(data, &obj) != nil {
			return nil
		}
		a := obj.Metadata.Annotations
		label.commit = a[lower.AnnotGitCommit]
		label.dirty = a[lower.AnnotGitDirty] == "true"
		return filepath.SkipAll
	})
	return label
}
