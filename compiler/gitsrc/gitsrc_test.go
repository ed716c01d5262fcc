package gitsrc

import (
	"bytes"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	git "github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"

	"cairn.dev/cairn/compiler"
)

// isolate keeps the host's git configuration out of a test: the global
// excludes file, and the configuration the git CLI reads.
func isolate(t *testing.T) string {
	t.Helper()
	home := t.TempDir()
	t.Setenv("HOME", home)
	t.Setenv("XDG_CONFIG_HOME", "")
	t.Setenv("GIT_CONFIG_NOSYSTEM", "1")
	t.Setenv("GIT_CONFIG_GLOBAL", filepath.Join(home, ".gitconfig"))
	return home
}

// testRepo is a repository made with go-git.
type testRepo struct {
	t    *testing.T
	dir  string
	repo *git.Repository
	when time.Time
}

func newRepo(t *testing.T) *testRepo {
	t.Helper()
	dir := t.TempDir()
	r, err := git.PlainInit(dir, false)
	if err != nil {
		t.Fatal(err)
	}
	return &testRepo{t: t, dir: dir, repo: r, when: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
}

func (r *testRepo) write(rel, content string) {
	r.t.Helper()
	p := filepath.Join(r.dir, filepath.FromSlash(rel))
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		r.t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		r.t.Fatal(err)
	}
}

func (r *testRepo) remove(rel string) {
	r.t.Helper()
	if err := os.Remove(filepath.Join(r.dir, filepath.FromSlash(rel))); err != nil {
		r.t.Fatal(err)
	}
}

func (r *testRepo) sig() *object.Signature {
	r.when = r.when.Add(time.Minute)
	return &object.Signature{Name: "Test", Email: "test@example.com", When: r.when}
}

// commit commits every change of the work tree.
func (r *testRepo) commit(msg string) plumbing.Hash {
	r.t.Helper()
	wt, err := r.repo.Worktree()
	if err != nil {
		r.t.Fatal(err)
	}
	if err := wt.AddWithOptions(&git.AddOptions{All: true}); err != nil {
		r.t.Fatal(err)
	}
	h, err := wt.Commit(msg, &git.CommitOptions{Author: r.sig(), All: true})
	if err != nil {
		r.t.Fatal(err)
	}
	return h
}

// gitCLI runs the git command line tool in dir.
func gitCLI(t *testing.T, dir string, args ...string) string {
	t.Helper()
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

func mustRead(t *testing.T, dir, rev string) *Tree {
	t.Helper()
	tr, err := Read(dir, rev)
	if err != nil {
		t.Fatalf("Read(%s, %q): %v", dir, rev, err)
	}
	return tr
}

const moduleCUE = "module: \"example.com/x@v0\"\nlanguage: version: \"v0.17.0\"\n"

// history is a repository with four commits changing spec.cue, a branch,
// a lightweight tag and an annotated tag.
type history struct {
	*testRepo
	c    [4]plumbing.Hash
	spec [4]string
}

func newHistory(t *testing.T) *history {
	h := &history{testRepo: newRepo(t)}
	for i := range h.c {
		h.spec[i] = "package x\n\nv: " + string(rune('1'+i)) + "\n"
		if i == 0 {
			h.write("cue.mod/module.cue", moduleCUE)
			h.write("README.md", "hello\n")
		}
		if i == 1 {
			if err := os.Symlink("spec.cue", filepath.Join(h.dir, "link.cue")); err != nil {
				t.Fatal(err)
			}
		}
		h.write("spec.cue", h.spec[i])
		h.c[i] = h.commit("commit " + string(rune('1'+i)))
	}
	if err := h.repo.Storer.SetReference(plumbing.NewHashReference("refs/heads/feature", h.c[1])); err != nil {
		t.Fatal(err)
	}
	if _, err := h.repo.CreateTag("light", h.c[2], nil); err != nil {
		t.Fatal(err)
	}
	if _, err := h.repo.CreateTag("ann", h.c[0], &git.CreateTagOptions{Tagger: h.sig(), Message: "release\n"}); err != nil {
		t.Fatal(err)
	}
	return h
}

// revs maps revisions to the commit they name.
func (h *history) revs() map[string]int {
	m := map[string]int{
		"": 3, "HEAD": 3, "master": 3, "HEAD~1": 2, "master^": 2, "HEAD~3": 0,
		"feature": 1, "refs/heads/feature": 1, "light": 2, "ann": 0, "refs/tags/ann": 0, "ann~0": 0,
	}
	for i, c := range h.c {
		m[c.String()] = i
		m[c.String()[:7]] = i
		m[c.String()[:12]] = i
	}
	return m
}

func (h *history) check(t *testing.T, dir string, revs map[string]int) {
	t.Helper()
	for rev, i := range revs {
		tr := mustRead(t, dir, rev)
		if tr.Commit != h.c[i].String() {
			t.Errorf("Read(%q).Commit = %s, want commit %d %s", rev, tr.Commit, i+1, h.c[i])
		}
		if got := string(tr.Files["spec.cue"]); got != h.spec[i] {
			t.Errorf("Read(%q) spec.cue = %q, want %q", rev, got, h.spec[i])
		}
		if tr.Root != "." {
			t.Errorf("Read(%q).Root = %q, want .", rev, tr.Root)
		}
		want := []string{"README.md", "cue.mod/module.cue", "spec.cue"}
		if got := slices.Sorted(maps.Keys(tr.Files)); !slices.Equal(got, want) {
			t.Errorf("Read(%q) files = %q, want %q (symbolic links skipped)", rev, got, want)
		}
	}
}

func TestReadRevisions(t *testing.T) {
	isolate(t)
	h := newHistory(t)
	h.check(t, h.dir, h.revs())
	// From a folder inside the module, from the .git folder, from a
	// folder that does not exist in the work tree.
	h.check(t, filepath.Join(h.dir, "cue.mod"), map[string]int{"HEAD": 3, "ann": 0})
	h.check(t, filepath.Join(h.dir, ".git"), map[string]int{"HEAD": 3, "light": 2})
	h.check(t, filepath.Join(h.dir, "no", "such"), map[string]int{"feature": 1})
}

func TestLinkedWorktree(t *testing.T) {
	isolate(t)
	h := newHistory(t)
	linked := filepath.Join(t.TempDir(), "linked")
	gitCLI(t, h.dir, "worktree", "add", "-q", linked, "feature")
	h.check(t, linked, map[string]int{"HEAD": 1, "master": 3, "light": 2})
	commit, dirty, ok, err := Head(linked)
	if err != nil || !ok || dirty || commit != h.c[1].String() {
		t.Errorf("Head(linked work tree) = %s, %v, %v, %v; want %s, clean", commit, dirty, ok, err, h.c[1])
	}
	if err := os.WriteFile(filepath.Join(linked, "spec.cue"), []byte("package x\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, dirty, _, _ := Head(linked); !dirty {
		t.Error("Head(linked work tree) after a change: not dirty")
	}
	if _, dirty, _, _ := Head(h.dir); dirty {
		t.Error("Head(main work tree) dirty after a change in the linked one")
	}
}

func TestReadUnknownRevision(t *testing.T) {
	isolate(t)
	h := newHistory(t)
	for _, rev := range []string{"nope", "refs/heads/nope", "0123456789012345678901234567890123456789", "HEAD~9", "deadbeef", "a..b"} {
		_, err := Read(h.dir, rev)
		if err == nil {
			t.Errorf("Read(%q): no error", rev)
			continue
		}
		if !strings.Contains(err.Error(), `"`+rev+`"`) || strings.Contains(err.Error(), "shallow") {
			t.Errorf("Read(%q): error %q should name the revision and not mention a shallow clone", rev, err)
		}
	}
}

func TestReadNotRepository(t *testing.T) {
	isolate(t)
	dir := t.TempDir()
	if _, err := Read(dir, "HEAD"); err == nil || !strings.Contains(err.Error(), "not in a git repository") {
		t.Errorf("Read outside a repository: %v", err)
	}
}

func TestReadBareClone(t *testing.T) {
	isolate(t)
	h := newHistory(t)
	bare := filepath.Join(t.TempDir(), "x.git")
	gitCLI(t, h.dir, "clone", "-q", "--bare", h.dir, bare)
	h.check(t, bare, h.revs())
	h.check(t, filepath.Join(bare, "refs", "heads"), map[string]int{"HEAD": 3})
}

func TestReadShallowClone(t *testing.T) {
	isolate(t)
	h := newHistory(t)
	shallow := filepath.Join(t.TempDir(), "x")
	gitCLI(t, h.dir, "clone", "-q", "--depth", "1", "file://"+h.dir, shallow)
	h.check(t, shallow, map[string]int{"HEAD": 3, "master": 3, h.c[3].String(): 3, h.c[3].String()[:8]: 3})
	for _, rev := range []string{h.c[0].String(), "HEAD~1", "feature"} {
		_, err := Read(shallow, rev)
		if err == nil {
			t.Errorf("Read(%q) in a shallow clone: no error", rev)
			continue
		}
		if !strings.Contains(err.Error(), `"`+rev+`"`) || !strings.Contains(err.Error(), "shallow clone") {
			t.Errorf("Read(%q) in a shallow clone: error %q should name the revision and the shallow clone", rev, err)
		}
	}
}

func TestReadSubfolder(t *testing.T) {
	isolate(t)
	r := newRepo(t)
	r.write("README.md", "top\n")
	r.write("other/x.cue", "package other\n")
	r.write("specs/proj/cue.mod/module.cue", moduleCUE)
	r.write("specs/proj/a.cue", "package proj\n")
	r.write("specs/proj/sub/b.cue", "package sub\n")
	r.write("specs/proj/sub/data.json", "{}\n")
	c := r.commit("one")
	want := []string{"a.cue", "cue.mod/module.cue", "sub/b.cue", "sub/data.json"}
	for _, dir := range []string{"specs/proj", "specs/proj/sub", "specs/proj/cue.mod", "specs/proj/later"} {
		tr := mustRead(t, filepath.Join(r.dir, filepath.FromSlash(dir)), "HEAD")
		if tr.Root != "specs/proj" || tr.Commit != c.String() {
			t.Errorf("Read(%s): Root %q, Commit %s; want specs/proj, %s", dir, tr.Root, tr.Commit, c)
		}
		if got := slices.Sorted(maps.Keys(tr.Files)); !slices.Equal(got, want) {
			t.Errorf("Read(%s) files = %q, want %q", dir, got, want)
		}
		if string(tr.Files["sub/b.cue"]) != "package sub\n" {
			t.Errorf("Read(%s) sub/b.cue = %q", dir, tr.Files["sub/b.cue"])
		}
	}
	for _, dir := range []string{".", "specs", "other"} {
		_, err := Read(filepath.Join(r.dir, dir), "HEAD")
		if err == nil || !strings.Contains(err.Error(), "no cue.mod/module.cue at or above") {
			t.Errorf("Read(%s): %v, want a missing module error", dir, err)
		}
	}
	// A bare repository has no work tree to place a folder in: ReadAt.
	bare := filepath.Join(t.TempDir(), "x.git")
	gitCLI(t, r.dir, "clone", "-q", "--bare", r.dir, bare)
	tr, err := ReadAt(bare, "master", "specs/proj/sub")
	if err != nil {
		t.Fatal(err)
	}
	if tr.Root != "specs/proj" || !slices.Equal(slices.Sorted(maps.Keys(tr.Files)), want) {
		t.Errorf("ReadAt(bare, specs/proj/sub): Root %q, files %q", tr.Root, slices.Sorted(maps.Keys(tr.Files)))
	}
	if _, err := ReadAt(bare, "HEAD", "../x"); err == nil {
		t.Error("ReadAt(../x): no error")
	}
}

func TestReadSubmoduleSkipped(t *testing.T) {
	isolate(t)
	lib := newRepo(t)
	lib.write("lib.cue", "package lib\n")
	lib.commit("lib")
	r := newRepo(t)
	r.write("cue.mod/module.cue", moduleCUE)
	r.write("a.cue", "package a\n")
	r.commit("one")
	gitCLI(t, r.dir, "-c", "protocol.file.allow=always", "submodule", "add", "-q", lib.dir, "vendored")
	gitCLI(t, r.dir, "-c", "user.name=T", "-c", "user.email=t@example.com", "commit", "-q", "-m", "submodule")
	tr := mustRead(t, r.dir, "HEAD")
	want := []string{".gitmodules", "a.cue", "cue.mod/module.cue"}
	if got := slices.Sorted(maps.Keys(tr.Files)); !slices.Equal(got, want) {
		t.Errorf("files = %q, want %q (the submodule skipped)", got, want)
	}
	// The submodule's work tree is not looked into by Head.
	assertHead(t, r.dir, false)
	if err := os.WriteFile(filepath.Join(r.dir, "vendored", "lib.cue"), []byte("package changed\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(r.dir, "vendored", "new.cue"), []byte("package lib\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	assertHead(t, r.dir, false)
}

func assertHead(t *testing.T, dir string, wantDirty bool) {
	t.Helper()
	commit, dirty, ok, err := Head(dir)
	if err != nil || !ok {
		t.Fatalf("Head(%s): ok %v, err %v", dir, ok, err)
	}
	g, err := git.PlainOpenWithOptions(dir, &git.PlainOpenOptions{DetectDotGit: true})
	if err != nil {
		t.Fatal(err)
	}
	head, err := g.Head()
	if err != nil {
		t.Fatal(err)
	}
	if commit != head.Hash().String() {
		t.Errorf("Head(%s) commit = %s, want %s", dir, commit, head.Hash())
	}
	if dirty != wantDirty {
		t.Errorf("Head(%s) dirty = %v, want %v", dir, dirty, wantDirty)
	}
}

func TestHead(t *testing.T) {
	home := isolate(t)
	r := newRepo(t)
	r.write("cue.mod/module.cue", moduleCUE)
	r.write("spec.cue", "package x\n")
	r.write("sub/more.cue", "package sub\n")
	r.write("README.md", "hello\n")
	r.write(".gitignore", "ignored.cue\nbuild/\n")
	r.write("sub/.gitignore", "local-*.cue\n")
	if err := os.Symlink("spec.cue", filepath.Join(r.dir, "link.cue")); err != nil {
		t.Fatal(err)
	}
	r.commit("one")
	assertHead(t, r.dir, false)
	assertHead(t, filepath.Join(r.dir, "sub"), false)

	steps := []struct {
		name  string
		do    func()
		dirty bool
	}{
		{"modified spec", func() { r.write("spec.cue", "package x\n\nv: 1\n") }, true},
		{"modified module.cue", func() { r.write("cue.mod/module.cue", moduleCUE+"\n") }, true},
		{"modified in a subfolder", func() { r.write("sub/more.cue", "package sub\nv: 1\n") }, true},
		{"deleted spec", func() { r.remove("spec.cue") }, true},
		{"deleted folder", func() {
			if err := os.RemoveAll(filepath.Join(r.dir, "sub")); err != nil {
				t.Fatal(err)
			}
		}, true},
		{"untracked spec", func() { r.write("new.cue", "package x\n") }, true},
		{"untracked in a new folder", func() { r.write("a/b/new.cue", "package b\n") }, true},
		{"untracked vendored package", func() { r.write("cue.mod/pkg/example.com/y/y.cue", "package y\n") }, true},
		{"retargeted link", func() {
			r.remove("link.cue")
			if err := os.Symlink("sub/more.cue", filepath.Join(r.dir, "link.cue")); err != nil {
				t.Fatal(err)
			}
		}, true},
		{"ignored spec", func() { r.write("ignored.cue", "package x\n") }, true},                          // the loader reads ignored files too
		{"ignored folder", func() { r.write("build/gen.cue", "package x\n") }, true},                      // the loader reads ignored files too
		{"ignored by a nested .gitignore", func() { r.write("sub/local-me.cue", "package sub\n") }, true}, // the loader reads ignored files too
		{"not ignored outside the nested .gitignore's folder", func() { r.write("local-me.cue", "package x\n") }, true},
		{"globally ignored", func() {
			if err := os.MkdirAll(filepath.Join(home, ".config", "git"), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(home, ".config", "git", "ignore"), []byte("*.mine.cue\n"), 0o644); err != nil {
				t.Fatal(err)
			}
			r.write("x.mine.cue", "package x\n")
		}, true}, // the loader reads ignored files too
		{"excluded by info/exclude", func() {
			r.write(".git/info/exclude", "scratch.cue\n")
			r.write("scratch.cue", "package x\n")
		}, true}, // the loader reads ignored files too
		{"non-spec change", func() { r.write("README.md", "changed\n"); r.write("notes.txt", "x\n") }, false},
		{"ignored but added", func() {
			r.write("ignored.cue", "package x\n")
			gitCLI(t, r.dir, "add", "-f", "ignored.cue")
		}, true},
	}
	for _, s := range steps {
		gitCLI(t, r.dir, "reset", "-q", "--hard")
		gitCLI(t, r.dir, "clean", "-q", "-fdx", "-e", ".git")
		if err := os.RemoveAll(filepath.Join(home, ".config")); err != nil {
			t.Fatal(err)
		}
		assertHead(t, r.dir, false)
		s.do()
		t.Run(s.name, func(t *testing.T) { assertHead(t, r.dir, s.dirty) })
	}
}

func TestHeadSubfolderModule(t *testing.T) {
	isolate(t)
	r := newRepo(t)
	r.write(".gitignore", "*.tmp.cue\n")
	r.write("other/x.cue", "package other\n")
	r.write("specs/proj/cue.mod/module.cue", moduleCUE)
	r.write("specs/proj/a.cue", "package proj\n")
	r.commit("one")
	dir := filepath.Join(r.dir, "specs", "proj")
	assertHead(t, dir, false)
	r.write("other/x.cue", "package changed\n")
	r.write("other/y.cue", "package other\n")
	assertHead(t, dir, false) // outside the module
	r.write("specs/proj/_b.cue", "package proj\n")
	assertHead(t, dir, false) // the CUE loader skips names starting with "_"
	r.write("specs/proj/b.cue", "package proj\n")
	assertHead(t, dir, true)
}

func TestHeadNoWorkTree(t *testing.T) {
	isolate(t)
	if _, _, ok, err := Head(t.TempDir()); ok || err != nil {
		t.Errorf("Head outside a repository: ok %v, err %v", ok, err)
	}
	h := newHistory(t)
	bare := filepath.Join(t.TempDir(), "x.git")
	gitCLI(t, h.dir, "clone", "-q", "--bare", h.dir, bare)
	if _, _, ok, err := Head(bare); ok || err != nil {
		t.Errorf("Head in a bare repository: ok %v, err %v", ok, err)
	}
	empty := newRepo(t)
	if _, _, ok, err := Head(empty.dir); ok || err != nil {
		t.Errorf("Head in a repository without commits: ok %v, err %v", ok, err)
	}
}

// TestCompileFromGit compiles the fraud example read from a bare clone and
// from a checkout of the same commit: the output is the same, and so are
// the errors of a broken spec.
func TestCompileFromGit(t *testing.T) {
	isolate(t)
	src := filepath.Join("..", "..", "examples", "fraud")
	module, err := os.ReadFile(filepath.Join(src, "cue.mod", "module.cue"))
	if err != nil {
		t.Fatal(err)
	}
	spec, err := os.ReadFile(filepath.Join(src, "fraud.cue"))
	if err != nil {
		t.Fatal(err)
	}
	r := newRepo(t)
	r.write("README.md", "specs live in specs/fraud\n")
	r.write("specs/fraud/cue.mod/module.cue", string(module))
	r.write("specs/fraud/fraud.cue", string(spec))
	good := r.commit("fraud")
	broken := append(slices.Clip(spec), "\nproject: name: 42\n"...)
	r.write("specs/fraud/fraud.cue", string(broken))
	bad := r.commit("broken")
	bare := filepath.Join(t.TempDir(), "fraud.git")
	gitCLI(t, r.dir, "clone", "-q", "--bare", r.dir, bare)
	wt, err := r.repo.Worktree()
	if err != nil {
		t.Fatal(err)
	}
	checkout := filepath.Join(r.dir, "specs", "fraud")

	for _, c := range []plumbing.Hash{good, bad} {
		tr, err := ReadAt(bare, c.String()[:10], "specs/fraud")
		if err != nil {
			t.Fatal(err)
		}
		if tr.Root != "specs/fraud" || tr.Commit != c.String() {
			t.Fatalf("ReadAt: Root %q, Commit %s", tr.Root, tr.Commit)
		}
		fromGit, gerr := compiler.Compile(compiler.Options{Dir: "/cairn-git/" + tr.Commit, Files: tr.Files, GitCommit: tr.Commit})

		if err := wt.Checkout(&git.CheckoutOptions{Hash: c, Force: true}); err != nil {
			t.Fatal(err)
		}
		fromDisk, derr := compiler.Compile(compiler.Options{Dir: checkout, GitCommit: c.String()})

		if c == bad {
			if gerr == nil || derr == nil {
				t.Fatalf("broken spec compiled: git %v, disk %v", gerr, derr)
			}
			if gerr.Error() != derr.Error() {
				t.Errorf("errors differ:\ngit:  %v\ndisk: %v", gerr, derr)
			}
			if !strings.Contains(gerr.Error(), "fraud.cue:") || strings.Contains(gerr.Error(), "cairn-git") {
				t.Errorf("error positions should be relative to the module root: %v", gerr)
			}
			continue
		}
		if gerr != nil || derr != nil {
			t.Fatalf("compile: git %v, disk %v", gerr, derr)
		}
		if len(fromGit.Files) == 0 {
			t.Fatal("no output")
		}
		if !maps.EqualFunc(fromGit.Files, fromDisk.Files, bytes.Equal) {
			for _, name := range slices.Sorted(maps.Keys(fromDisk.Files)) {
				if !bytes.Equal(fromGit.Files[name], fromDisk.Files[name]) {
					t.Errorf("%s differs", name)
				}
			}
			t.Fatalf("outputs differ: %d files from git, %d from disk", len(fromGit.Files), len(fromDisk.Files))
		}
		if !slices.Equal(fromGit.Pipelines[0].Files, fromDisk.Pipelines[0].Files) || fromGit.Pipelines[0].SpecDigest != fromDisk.Pipelines[0].SpecDigest {
			t.Errorf("pipelines differ: %+v, %+v", fromGit.Pipelines, fromDisk.Pipelines)
		}
		found := false
		for _, data := range fromGit.Files {
			found = found || bytes.Contains(data, []byte(c.String()))
		}
		if !found {
			t.Error("the commit is not recorded in the output")
		}
	}
}
