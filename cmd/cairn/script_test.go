package main

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/rogpeppe/go-internal/testscript"

	"cairn.dev/cairn/cmd/cairn/cli"
	"cairn.dev/cairn/schemas"
)

var update = flag.Bool("update", false, "update the wanted files of the scripts in testdata/script from what the commands produce")

// TestMain makes the test binary double as the cairn command: a script's
// "exec cairn" runs a copy of this binary, which testscript.Main sends
// straight to cli.Main.
func TestMain(m *testing.M) {
	testscript.Main(cleanupM{m}, map[string]func(){
		"cairn": func() { os.Exit(cli.Main()) },
	})
}

// cleanupM removes the folder of the cue binary once every test has run;
// testscript.Main exits the process, so a defer in TestMain would not run.
type cleanupM struct{ m *testing.M }

func (c cleanupM) Run() int {
	code := c.m.Run()
	if cue.dir != "" {
		os.RemoveAll(cue.dir)
	}
	return code
}

// cue is the plain cue CLI, built once from the module's tool dependency
// (go.mod: tool cuelang.org/go/cmd/cue) by the first test that needs it.
var cue struct {
	once sync.Once
	dir  string // the folder holding the binary
	bin  string
	err  error
}

// moduleRoot returns the root of the cairn Go module (and CUE module
// cairn.dev@v0); tests run in cmd/cairn.
func moduleRoot(t testing.TB) string {
	t.Helper()
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "go.mod")); err != nil {
		t.Fatalf("module root %s: %v", root, err)
	}
	return root
}

// cueBinary builds the cue command once and returns its path. A failed
// build fails the test: the scripts and example checks are meaningless
// without the real cue CLI.
func cueBinary(t testing.TB) string {
	t.Helper()
	root := moduleRoot(t)
	cue.once.Do(func() {
		cue.dir, cue.err = os.MkdirTemp("", "cairn-test-cue-")
		if cue.err != nil {
			return
		}
		name := "cue"
		if runtime.GOOS == "windows" {
			name += ".exe"
		}
		cue.bin = filepath.Join(cue.dir, name)
		cmd := exec.Command("go", "build", "-o", cue.bin, "cuelang.org/go/cmd/cue")
		cmd.Dir = root
		if out, err := cmd.CombinedOutput(); err != nil {
			cue.err = errors.New("go build cuelang.org/go/cmd/cue: " + err.Error() + "\n" + string(out))
		}
	})
	if cue.err != nil {
		t.Fatalf("building the cue CLI: %v", cue.err)
	}
	return cue.bin
}

// TestScript runs the end-to-end scripts in testdata/script against the real
// cairn command line, with the plain cue CLI on PATH.
func TestScript(t *testing.T) {
	cueDir := filepath.Dir(cueBinary(t))
	testscript.Run(t, testscript.Params{
		Dir:                 filepath.Join("testdata", "script"),
		RequireExplicitExec: true,
		RequireUniqueNames:  true,
		UpdateScripts:       *update,
		Setup: func(env *testscript.Env) error {
			env.Setenv("PATH", cueDir+string(os.PathListSeparator)+env.Getenv("PATH"))
			// The cue CLI must resolve cairn.dev/schemas from cue.mod/pkg
			// alone, never from a registry.
			env.Setenv("CUE_REGISTRY", "none")
			env.Setenv("CUE_CACHE_DIR", filepath.Join(env.WorkDir, ".tmp", "cue-cache"))
			return nil
		},
		Cmds: map[string]func(ts *testscript.TestScript, neg bool, args []string){
			"exitcode": cmdExitCode,
			"example":  cmdExample,
		},
		Condition: condition,
	})
}

// cmdExample is "example NAME": it copies the example repository
// examples/NAME (specs, code, cue.mod; not its rendered output) into the
// script's work folder, as NAME.
func cmdExample(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 1 {
		ts.Fatalf("usage: example NAME")
	}
	src := filepath.Join("..", "..", "examples", args[0])
	dst := ts.MkAbs(args[0])
	err := filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		switch {
		case d.IsDir() && (d.Name() == "rendered" || d.Name() == "__pycache__" || d.Name() == ".cairn"):
			return filepath.SkipDir
		case d.IsDir():
			return os.MkdirAll(filepath.Join(dst, rel), 0o755)
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dst, rel), data, 0o644)
	})
	ts.Check(err)
}

// condition answers [python3] and [mpirun]: whether the program is on
// PATH. When CI's CAIRN_REQUIRE_PYTHON=1 or CAIRN_REQUIRE_MPI=1 is set
// (CI installs both), a missing one fails the script instead of skipping
// it.
func condition(cond string) (bool, error) {
	require := map[string]string{"python3": "CAIRN_REQUIRE_PYTHON", "mpirun": "CAIRN_REQUIRE_MPI"}[cond]
	if require == "" {
		return false, fmt.Errorf("unknown condition %q", cond)
	}
	if _, err := exec.LookPath(cond); err != nil {
		if os.Getenv(require) == "1" {
			return false, fmt.Errorf("%s is not on PATH and %s=1", cond, require)
		}
		return false, nil
	}
	return true, nil
}

// cmdExitCode is "exitcode N program [args...]": it runs program like exec,
// keeping its stdout and stderr for the stdout and stderr commands, and
// fails unless the program exits with status N.
func cmdExitCode(ts *testscript.TestScript, neg bool, args []string) {
	if neg {
		ts.Fatalf("unsupported: ! exitcode")
	}
	if len(args) < 2 {
		ts.Fatalf("usage: exitcode N program [args...]")
	}
	want, err := strconv.Atoi(args[0])
	if err != nil {
		ts.Fatalf("exitcode: bad status %q", args[0])
	}
	got := 0
	if err := ts.Exec(args[1], args[2:]...); err != nil {
		var ee *exec.ExitError
		if !errors.As(err, &ee) {
			ts.Fatalf("exitcode: running %s: %v", args[1], err)
		}
		got = ee.ExitCode()
	}
	if got != want {
		ts.Fatalf("%s exited with status %d, want %d", args[1], got, want)
	}
}

// TestExamplesVetWithCUE shows that every example repository, once its
// schemas are vendored by "cairn schema vendor", passes both the plain cue
// CLI's "cue vet ./..." and "cairn vet".
func TestExamplesVetWithCUE(t *testing.T) {
	cueBin := cueBinary(t)
	mods, err := filepath.Glob(filepath.Join(moduleRoot(t), "examples", "*", "cue.mod", "module.cue"))
	if err != nil {
		t.Fatal(err)
	}
	if len(mods) == 0 {
		t.Fatal("no examples found under examples/*/cue.mod/module.cue")
	}
	for _, mod := range mods {
		src := filepath.Dir(filepath.Dir(mod))
		t.Run(filepath.Base(src), func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), filepath.Base(src))
			if err := os.CopyFS(dir, os.DirFS(src)); err != nil {
				t.Fatal(err)
			}

			stdout := runCairn(t, 0, "schema", "vendor", dir)
			vendored := filepath.Join(dir, "cue.mod", "pkg", "cairn.dev", "schemas")
			if want := "wrote " + vendored + "\n"; stdout != want {
				t.Errorf("cairn schema vendor: stdout %q, want %q", stdout, want)
			}
			checkVendored(t, vendored)

			runCUE(t, cueBin, dir, "vet", "./...")
			runCUE(t, cueBin, dir, "vet", "-c", "./...")

			stdout = runCairn(t, 0, "vet", dir)
			if !strings.HasSuffix(stdout, "GPU-hours per run") && !strings.Contains(stdout, " GPU-hours per run, ") || !strings.HasSuffix(stdout, "\nok: 1 pipelines\n") {
				t.Errorf("cairn vet: stdout %q, want the cost estimate then %q", stdout, "ok: 1 pipelines\n")
			}
		})
	}
}

// TestCUEVetsSchemas runs the plain cue CLI on the schema package in the
// repository's own CUE module (cairn.dev@v0).
func TestCUEVetsSchemas(t *testing.T) {
	runCUE(t, cueBinary(t), moduleRoot(t), "vet", "./schemas")
}

// checkVendored checks that dir holds exactly the embedded schema files.
func checkVendored(t *testing.T, dir string) {
	t.Helper()
	want := map[string][]byte{}
	err := fs.WalkDir(schemas.FS, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		want[p], err = fs.ReadFile(schemas.FS, p)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		data, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Errorf("vendored %s: %v", e.Name(), err)
			continue
		}
		w, ok := want[e.Name()]
		switch {
		case !ok:
			t.Errorf("vendored %s is not an embedded schema file", e.Name())
		case !bytes.Equal(data, w):
			t.Errorf("vendored %s differs from the embedded file", e.Name())
		}
		delete(want, e.Name())
	}
	for name := range want {
		t.Errorf("schema file %s was not vendored", name)
	}
}

// runCairn runs the command line in-process and checks its exit code.
func runCairn(t *testing.T, want int, args ...string) (stdout string) {
	t.Helper()
	var out, errb bytes.Buffer
	if got := cli.Run(args, &out, &errb); got != want {
		t.Fatalf("cairn %s: exit %d, want %d\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), got, want, out.String(), errb.String())
	}
	if errb.Len() > 0 {
		t.Errorf("cairn %s: unexpected stderr:\n%s", strings.Join(args, " "), errb.String())
	}
	return out.String()
}

// runCUE runs the cue CLI in dir and fails the test if it fails.
func runCUE(t *testing.T, bin, dir string, args ...string) {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "CUE_REGISTRY=none", "CUE_CACHE_DIR="+filepath.Join(t.TempDir(), "cue-cache"))
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("cue %s in %s: %v\n%s", strings.Join(args, " "), dir, err, out)
	}
}
