// Package gitsrc reads a user's CUE module from a git repository as of one
// commit, without a checkout, and tells whether a work tree's spec files
// differ from the commit HEAD points at. It uses go-git only; no git binary
// is needed.
//
// Only regular files are read from a commit: symbolic links and submodules
// (gitlinks) are skipped, so a module whose specs live behind either must
// be compiled from a checkout. A shallow clone works for the commits it
// holds; asking for one it lacks gives an error saying the clone is
// shallow.
//
// To compile a Tree, pass its Files and Commit to compiler.Options with Dir
// set to a folder that does not exist, such as "/cairn-git/<commit>":
// cue/load still reads the disk under Dir, so files there that the tree
// lacks would be compiled too. Error positions are relative to the module
// root either way (PosBase prefixes them).
package gitsrc

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
	"syscall"

	git "github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/filemode"
	"github.com/go-git/go-git/v5/plumbing/object"
)

// ErrNoModule is wrapped by Read's error when the commit holds no CUE
// module at or above the folder asked for.
var ErrNoModule = errors.New("no CUE module in this commit")

// ModuleFile marks the root of a CUE module, relative to that root.
const ModuleFile = "cue.mod/module.cue"

// Tree is a CUE module as of one commit.
type Tree struct {
	// Commit is the commit's full SHA in hex.
	Commit string
	// Root is the module root, a slash path relative to the repository
	// root ("." for the repository root itself).
	Root string
	// Files holds every regular file under Root, keyed by slash path
	// relative to Root; cue.mod/** is kept. Symbolic links and
	// submodules are skipped.
	Files map[string][]byte
}

// Read opens the repository holding dir and returns the CUE module holding
// dir as of rev.
//
// The repository is found by looking for a .git entry (a folder, or a file
// naming one, as in linked work trees) in dir and then its parents, or dir
// itself or a parent being a git directory: a bare repository or a .git
// folder. dir's path within the repository is its path below the work tree
// root, or "." when the repository was found as a git directory; ReadAt
// names that path explicitly, for a folder of a bare repository. dir need
// not exist in the work tree.
//
// rev is anything go-git's ResolveRevision accepts: a full or abbreviated
// commit SHA, a branch, a tag (annotated or lightweight), HEAD, HEAD~1,
// main^ and so on; "" means HEAD. A rev that cannot be resolved gives an
// error naming it, which says so when the repository is a shallow clone.
//
// The module root is the nearest folder at or above dir's path that holds
// cue.mod/module.cue in the commit's tree; only that subtree is read.
func Read(dir, rev string) (*Tree, error) {
	r, err := open(dir)
	if err != nil {
		return nil, err
	}
	return r.read(rev, r.sub)
}

// ReadAt is Read with dir's path within the repository given as sub, a
// slash path relative to the repository root ("." or "" for the root):
// repoDir only locates the repository. It is how a module in a folder of a
// bare repository is read.
func ReadAt(repoDir, rev, sub string) (*Tree, error) {
	r, err := open(repoDir)
	if err != nil {
		return nil, err
	}
	clean, err := cleanSub(sub)
	if err != nil {
		return nil, err
	}
	return r.read(rev, clean)
}

// Head returns the commit HEAD points at in the repository holding dir, and
// whether the module's spec files in the work tree differ from it.
//
// The module root is the nearest folder at or above dir, within the work
// tree, holding cue.mod/module.cue on disk (dir itself when there is none).
// The spec files are the *.cue files under it, cue.mod/module.cue and any
// vendored packages included: dirty is true when one of them is modified,
// added, deleted or untracked, compared by content with the HEAD commit
// (staged changes count; changes of file mode alone do not). Untracked
// files count even when git ignores them: the CUE loader reads them all
// the same (it skips only names starting with "." or "_").
// Folders that hold a .git entry (submodules, nested repositories) are not
// looked into.
//
// ok is false, with no error, when dir is not in a git work tree (no
// repository, or a bare one) or HEAD has no commit yet.
func Head(dir string) (commit string, dirty bool, ok bool, err error) {
	r, err := open(dir)
	if errors.Is(err, errNoRepo) {
		return "", false, false, nil
	}
	if err != nil {
		return "", false, false, err
	}
	if r.worktree == "" {
		return "", false, false, nil
	}
	ref, err := r.repo.Head()
	if errors.Is(err, plumbing.ErrReferenceNotFound) {
		return "", false, false, nil
	}
	if err != nil {
		return "", false, false, fmt.Errorf("gitsrc: reading HEAD in %s: %w", r.path, err)
	}
	c, err := r.repo.CommitObject(ref.Hash())
	if err != nil {
		return "", false, false, fmt.Errorf("gitsrc: reading HEAD commit %s in %s: %w", ref.Hash(), r.path, err)
	}
	tree, err := c.Tree()
	if err != nil {
		return "", false, false, fmt.Errorf("gitsrc: reading the tree of HEAD commit %s: %w", c.Hash, err)
	}
	root := r.sub
	for d := r.sub; ; d = path.Dir(d) {
		if fi, err := os.Stat(r.disk(path.Join(d, ModuleFile))); err == nil && fi.Mode().IsRegular() {
			root = d
			break
		}
		if d == "." {
			break
		}
	}
	dirty, err = r.dirty(tree, root)
	if err != nil {
		return "", false, false, err
	}
	return c.Hash.String(), dirty, true, nil
}

// errNoRepo says that no repository holds a folder.
var errNoRepo = errors.New("not in a git repository")

// repo is an opened repository and where the caller's folder is in it.
type repo struct {
	repo     *git.Repository
	path     string // the work tree root, or the git directory when bare, for messages
	worktree string // absolute work tree root; "" for a bare repository or a git directory
	sub      string // the caller's folder, slash path relative to the repository root
}

// open finds and opens the repository holding dir.
func open(dir string) (*repo, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	for d := abs; ; d = filepath.Dir(d) {
		if _, err := os.Lstat(filepath.Join(d, git.GitDirName)); err == nil {
			g, err := git.PlainOpenWithOptions(d, &git.PlainOpenOptions{EnableDotGitCommonDir: true})
			if err != nil {
				return nil, fmt.Errorf("gitsrc: opening the repository at %s: %w", d, err)
			}
			rel, err := filepath.Rel(d, abs)
			if err != nil {
				return nil, err
			}
			return &repo{repo: g, path: d, worktree: d, sub: filepath.ToSlash(rel)}, nil
		}
		if isGitDir(d) {
			g, err := git.PlainOpenWithOptions(d, &git.PlainOpenOptions{EnableDotGitCommonDir: true})
			if err != nil {
				return nil, fmt.Errorf("gitsrc: opening the repository at %s: %w", d, err)
			}
			return &repo{repo: g, path: d, sub: "."}, nil
		}
		if filepath.Dir(d) == d {
			return nil, fmt.Errorf("gitsrc: %s: %w (no .git here or above)", dir, errNoRepo)
		}
	}
}

// IsGitDir reports whether dir is itself a git directory (a bare
// repository or a .git folder), whose specs can only be read with Read.
func IsGitDir(dir string) bool { return isGitDir(dir) }

// isGitDir reports whether d looks like a git directory, as git itself
// decides: a HEAD file and objects and refs folders.
func isGitDir(d string) bool {
	if fi, err := os.Stat(filepath.Join(d, "HEAD")); err != nil || !fi.Mode().IsRegular() {
		return false
	}
	if _, err := os.Stat(filepath.Join(d, "commondir")); err == nil {
		return true // a linked work tree's git directory
	}
	for _, sub := range []string{"objects", "refs"} {
		if fi, err := os.Stat(filepath.Join(d, sub)); err != nil || !fi.IsDir() {
			return false
		}
	}
	return true
}

// cleanSub checks a slash path relative to the repository root.
func cleanSub(sub string) (string, error) {
	if sub == "" {
		return ".", nil
	}
	c := path.Clean(strings.ReplaceAll(sub, `\`, "/"))
	if path.IsAbs(c) || c == ".." || strings.HasPrefix(c, "../") {
		return "", fmt.Errorf("gitsrc: %q is not a path within the repository", sub)
	}
	return c, nil
}

// disk returns the file name in the work tree of a slash path relative to
// the repository root.
func (r *repo) disk(rel string) string {
	return filepath.Join(r.worktree, filepath.FromSlash(rel))
}

// read returns the module holding sub as of rev.
func (r *repo) read(rev, sub string) (*Tree, error) {
	if rev == "" {
		rev = "HEAD"
	}
	h, err := r.repo.ResolveRevision(plumbing.Revision(rev))
	if err != nil {
		return nil, r.revError(rev, err)
	}
	c, err := r.repo.CommitObject(*h)
	if err != nil {
		return nil, r.revError(rev, err)
	}
	tree, err := c.Tree()
	if err != nil {
		return nil, fmt.Errorf("gitsrc: reading the tree of commit %s: %w", c.Hash, err)
	}
	root := ""
	for d := sub; ; d = path.Dir(d) {
		if e, err := tree.FindEntry(path.Join(d, ModuleFile)); err == nil && e.Mode.IsFile() {
			if e.Mode != filemode.Regular && e.Mode != filemode.Executable && e.Mode != filemode.Deprecated {
				return nil, fmt.Errorf("gitsrc: %s in commit %s is a symbolic link, which is not read from git; make it a regular file", path.Join(d, ModuleFile), c.Hash)
			}
			root = d
			break
		}
		if d == "." {
			break
		}
	}
	if root == "" {
		return nil, fmt.Errorf("gitsrc: no %s at or above %q in commit %s (revision %q): %w", ModuleFile, sub, c.Hash, rev, ErrNoModule)
	}
	mt := tree
	if root != "." {
		if mt, err = tree.Tree(root); err != nil {
			return nil, fmt.Errorf("gitsrc: reading folder %s of commit %s: %w", root, c.Hash, err)
		}
	}
	files := map[string][]byte{}
	err = r.walk(mt, "", func(name string, e object.TreeEntry) error {
		switch e.Mode {
		case filemode.Regular, filemode.Executable, filemode.Deprecated:
		default:
			return nil // symbolic links, submodules
		}
		b, err := r.repo.BlobObject(e.Hash)
		if err != nil {
			return fmt.Errorf("gitsrc: reading %s of commit %s: %w", path.Join(root, name), c.Hash, err)
		}
		rd, err := b.Reader()
		if err != nil {
			return fmt.Errorf("gitsrc: reading %s of commit %s: %w", path.Join(root, name), c.Hash, err)
		}
		data, err := io.ReadAll(rd)
		rd.Close()
		if err != nil {
			return fmt.Errorf("gitsrc: reading %s of commit %s: %w", path.Join(root, name), c.Hash, err)
		}
		files[name] = data
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &Tree{Commit: c.Hash.String(), Root: root, Files: files}, nil
}

// revError explains a revision that did not resolve.
func (r *repo) revError(rev string, err error) error {
	var msg string
	switch {
	case errors.Is(err, plumbing.ErrReferenceNotFound):
		msg = fmt.Sprintf("gitsrc: revision %q not found in %s", rev, r.path)
	case errors.Is(err, plumbing.ErrObjectNotFound):
		msg = fmt.Sprintf("gitsrc: revision %q not found in %s: a commit it needs is missing", rev, r.path)
	case errors.Is(err, io.EOF):
		// ResolveRevision's way of saying HEAD~n went past the root.
		msg = fmt.Sprintf("gitsrc: revision %q not found in %s: the history is not that long", rev, r.path)
	default:
		// Syntax errors (a..b, @{...}) and unreadable objects.
		return fmt.Errorf("gitsrc: cannot resolve revision %q in %s: %w", rev, r.path, err)
	}
	if sh, _ := r.repo.Storer.Shallow(); len(sh) > 0 {
		msg += " (the repository is a shallow clone, which may not hold it: fetch more history, e.g. `git fetch --unshallow`)"
	}
	return errors.New(msg)
}

// walk calls fn for every entry below t that is not a folder, with its
// slash path relative to t prefixed with prefix. Unlike go-git's
// TreeWalker it reports a missing tree object rather than stopping.
func (r *repo) walk(t *object.Tree, prefix string, fn func(name string, e object.TreeEntry) error) error {
	for _, e := range t.Entries {
		if e.Name == "" || e.Name == "." || e.Name == ".." || strings.ContainsAny(e.Name, `/\`) || strings.EqualFold(e.Name, git.GitDirName) {
			continue // never in a tree git wrote; skip rather than escape the module
		}
		name := e.Name
		if prefix != "" {
			name = prefix + "/" + e.Name
		}
		if e.Mode == filemode.Dir {
			sub, err := r.repo.TreeObject(e.Hash)
			if err != nil {
				return fmt.Errorf("gitsrc: reading folder %s (%s): %w", name, e.Hash, err)
			}
			if err := r.walk(sub, name, fn); err != nil {
				return err
			}
			continue
		}
		if err := fn(name, e); err != nil {
			return err
		}
	}
	return nil
}

// errDirty stops the walk of the work tree at the first difference.
var errDirty = errors.New("dirty")

// dirty reports whether the *.cue files under root (a slash path relative
// to the work tree root) differ from those of tree.
func (r *repo) dirty(tree *object.Tree, root string) (bool, error) {
	// The spec files of HEAD: path relative to the work tree → entry.
	head := map[string]object.TreeEntry{}
	mt := tree
	if root != "." {
		var err error
		mt, err = tree.Tree(root)
		if err != nil {
			mt = nil // not in HEAD: every file on disk is new
		}
	}
	if mt != nil {
		prefix := root
		if prefix == "." {
			prefix = ""
		}
		err := r.walk(mt, prefix, func(name string, e object.TreeEntry) error {
			if strings.HasSuffix(name, ".cue") && e.Mode != filemode.Submodule {
				head[name] = e
			}
			return nil
		})
		if err != nil {
			return false, err
		}
	}
	// Modified or deleted.
	for name, e := range head {
		same, err := sameAsDisk(r.disk(name), e)
		if err != nil {
			return false, err
		}
		if !same {
			return true, nil
		}
	}
	// Added or untracked.
	top := r.disk(root)
	err := filepath.WalkDir(top, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if p == top && errors.Is(err, fs.ErrNotExist) {
				return filepath.SkipDir
			}
			return err
		}
		rel, err := filepath.Rel(r.worktree, p)
		if err != nil {
			return err
		}
		rel = filepath.ToSlash(rel)
		if d.IsDir() {
			if p == top {
				return nil
			}
			if d.Name() == git.GitDirName {
				return filepath.SkipDir
			}
			if _, err := os.Lstat(filepath.Join(p, git.GitDirName)); err == nil {
				return filepath.SkipDir // a submodule or nested repository
			}
			return nil
		}
		if !strings.HasSuffix(d.Name(), ".cue") || !(d.Type().IsRegular() || d.Type()&fs.ModeSymlink != 0) {
			return nil
		}
		if strings.HasPrefix(d.Name(), ".") || strings.HasPrefix(d.Name(), "_") {
			return nil // the CUE loader skips these too
		}
		if _, ok := head[rel]; ok {
			return nil
		}
		// Untracked, ignored or not: the compile reads it, so the output
		// does not come from HEAD alone.
		return errDirty
	})
	if errors.Is(err, errDirty) {
		return true, nil
	}
	if err != nil {
		return false, fmt.Errorf("gitsrc: scanning %s: %w", top, err)
	}
	return false, nil
}

// sameAsDisk reports whether the file at p has the content (or, for a
// symbolic link, the target) of the tree entry e.
func sameAsDisk(p string, e object.TreeEntry) (bool, error) {
	fi, err := os.Lstat(p)
	if errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR) {
		return false, nil // deleted, or a folder above it became a file
	}
	if err != nil {
		return false, err
	}
	var data []byte
	switch {
	case e.Mode == filemode.Symlink && fi.Mode()&fs.ModeSymlink != 0:
		target, err := os.Readlink(p)
		if err != nil {
			return false, err
		}
		data = []byte(filepath.ToSlash(target))
	case e.Mode != filemode.Symlink && fi.Mode().IsRegular():
		if data, err = os.ReadFile(p); err != nil {
			return false, err
		}
	default:
		return false, nil // a file became a link, a folder, or the reverse
	}
	return plumbing.ComputeHash(plumbing.BlobObject, data) == e.Hash, nil
}
