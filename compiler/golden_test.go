package compiler_test

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/rogpeppe/go-internal/txtar"

	"cairn.dev/cairn/compiler"
	"cairn.dev/cairn/compiler/diag"
)

// The golden tests live in testdata/*.txtar. Each archive is a small user
// repository (its files, cue.mod/module.cue included) plus the expected
// result of compiling it:
//
//   - want/<path>: a file the compiler must emit, byte for byte; the
//     archive must list every emitted file and no other;
//   - errors: the compile must fail, and the error, one line per problem
//     plus a final newline, must equal this file (warnings found along the
//     way are among the lines, marked "warning: ");
//   - warnings: the compile succeeds with warnings (policy rules that
//     policy.enforce makes warnings), which, one line per warning marked
//     "warning: " plus a final newline, must equal this file; an archive
//     without it must compile without warnings.
//
// Run with CAIRN_UPDATE=1 to rewrite the want/ files, errors and warnings
// files from what the compiler does now (the input files and each
// archive's comment are kept):
//
//	CAIRN_UPDATE=1 go test ./compiler/ -run Golden

const (
	goldenWantPrefix   = "want/"
	goldenErrorsFile   = "errors"
	goldenWarningsFile = "warnings"
)

func TestGolden(t *testing.T) {
	archives, err := filepath.Glob(filepath.Join("testdata", "*.txtar"))
	if err != nil {
		t.Fatal(err)
	}
	if len(archives) == 0 {
		t.Fatal("no testdata/*.txtar archives")
	}
	update := os.Getenv("CAIRN_UPDATE") == "1"
	for _, file := range archives {
		name := strings.TrimSuffix(filepath.Base(file), ".txtar")
		t.Run(name, func(t *testing.T) {
			goldenRun(t, file, update)
		})
	}
}

func goldenIsInput(name string) bool {
	return !strings.HasPrefix(name, goldenWantPrefix) && name != goldenErrorsFile && name != goldenWarningsFile
}

// goldenWarnings renders warnings as the warnings file holds them, "" for
// none.
func goldenWarnings(l diag.List) string {
	if len(l) == 0 {
		return ""
	}
	return l.Error() + "\n"
}

func goldenRun(t *testing.T, file string, update bool) {
	ar, err := txtar.ParseFile(file)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	var wantErrors, wantWarnings []byte
	hasErrors, hasWarnings := false, false
	want := map[string][]byte{}
	inputs := 0
	for _, f := range ar.Files {
		switch {
		case f.Name == goldenErrorsFile:
			wantErrors, hasErrors = f.Data, true
		case f.Name == goldenWarningsFile:
			wantWarnings, hasWarnings = f.Data, true
		case strings.HasPrefix(f.Name, goldenWantPrefix):
			want[strings.TrimPrefix(f.Name, goldenWantPrefix)] = f.Data
		default:
			inputs++
			p := filepath.Join(dir, filepath.FromSlash(f.Name))
			if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(p, f.Data, 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	if inputs == 0 {
		t.Fatal("the archive has no input files")
	}
	if hasErrors && (len(want) > 0 || hasWarnings) {
		t.Fatalf("the archive has both an %s file and %s files or a %s file", goldenErrorsFile, goldenWantPrefix, goldenWarningsFile)
	}

	res, err := compiler.Compile(compiler.Options{Dir: dir})
	// Compiling the same input again must give the same result.
	res2, err2 := compiler.Compile(compiler.Options{Dir: dir})
	goldenCheckSame(t, res, err, res2, err2)

	if update {
		goldenRewrite(t, file, ar, res, err)
		return
	}

	if err != nil {
		goldenCheckDiags(t, err)
		if !hasErrors {
			t.Fatalf("compile failed, want success:\n%v", err)
		}
		if got := err.Error() + "\n"; got != string(wantErrors) {
			t.Errorf("errors differ (rerun with CAIRN_UPDATE=1 to accept)\ngot:\n%s\nwant:\n%s", got, wantErrors)
		}
		return
	}
	if hasErrors {
		t.Fatalf("compile succeeded, want errors:\n%s", wantErrors)
	}
	goldenCheckWarnings(t, res.Warnings)
	if got := goldenWarnings(res.Warnings); got != string(wantWarnings) {
		t.Errorf("warnings differ (rerun with CAIRN_UPDATE=1 to accept)\ngot:\n%s\nwant:\n%s", got, wantWarnings)
	}
	for _, name := range goldenKeys(res.Files) {
		w, ok := want[name]
		if !ok {
			t.Errorf("unexpected output file %s (rerun with CAIRN_UPDATE=1 to accept)", name)
			continue
		}
		if got := res.Files[name]; !bytes.Equal(got, w) {
			t.Errorf("output %s differs (rerun with CAIRN_UPDATE=1 to accept)\n%s", name, goldenDiff(w, got))
		}
	}
	for _, name := range goldenKeys(want) {
		if _, ok := res.Files[name]; !ok {
			t.Errorf("missing output file %s", name)
		}
	}
}

// goldenCheckDiags checks that err is a diag.List of problems, at least
// one an error, that each name a file, a line and a column.
func goldenCheckDiags(t *testing.T, err error) {
	t.Helper()
	var l diag.List
	if !errors.As(err, &l) {
		t.Fatalf("error is a %T, want a diag.List: %v", err, err)
	}
	if !l.HasErrors() {
		t.Fatalf("error is a diag.List without errors: %v", l)
	}
	goldenCheckPositions(t, l)
}

// goldenCheckWarnings checks that the warnings of a successful compile are
// warnings that each name a file, a line and a column.
func goldenCheckWarnings(t *testing.T, l diag.List) {
	t.Helper()
	if l.HasErrors() {
		t.Errorf("Result.Warnings holds errors: %v", l)
	}
	goldenCheckPositions(t, l)
}

func goldenCheckPositions(t *testing.T, l diag.List) {
	t.Helper()
	for _, d := range l {
		if !d.Pos.IsValid() || d.Pos.Line <= 0 || d.Pos.Col <= 0 {
			t.Errorf("diagnostic without a file:line:col position: %q", d.Error())
		}
		if d.Msg == "" {
			t.Errorf("diagnostic without a message: %q", d.Error())
		}
	}
}

func goldenCheckSame(t *testing.T, res *compiler.Result, err error, res2 *compiler.Result, err2 error) {
	t.Helper()
	if (err == nil) != (err2 == nil) {
		t.Fatalf("compiling twice: first error %v, second error %v", err, err2)
	}
	if err != nil {
		if err.Error() != err2.Error() {
			t.Fatalf("compiling twice gave different errors:\n%v\n---\n%v", err, err2)
		}
		return
	}
	if goldenWarnings(res.Warnings) != goldenWarnings(res2.Warnings) {
		t.Fatalf("compiling twice gave different warnings:\n%v\n---\n%v", res.Warnings, res2.Warnings)
	}
	if !slices.Equal(goldenKeys(res.Files), goldenKeys(res2.Files)) {
		t.Fatalf("compiling twice gave different files: %v and %v", goldenKeys(res.Files), goldenKeys(res2.Files))
	}
	for name, data := range res.Files {
		if !bytes.Equal(data, res2.Files[name]) {
			t.Errorf("compiling twice gave different contents for %s\n%s", name, goldenDiff(data, res2.Files[name]))
		}
	}
}

// goldenRewrite replaces the archive's want/ files or errors file with the result.
func goldenRewrite(t *testing.T, file string, ar *txtar.Archive, res *compiler.Result, err error) {
	t.Helper()
	out := &txtar.Archive{Comment: ar.Comment}
	for _, f := range ar.Files {
		if goldenIsInput(f.Name) {
			out.Files = append(out.Files, f)
		}
	}
	if err != nil {
		goldenCheckDiags(t, err)
		out.Files = append(out.Files, txtar.File{Name: goldenErrorsFile, Data: []byte(err.Error() + "\n")})
	} else {
		goldenCheckWarnings(t, res.Warnings)
		if w := goldenWarnings(res.Warnings); w != "" {
			out.Files = append(out.Files, txtar.File{Name: goldenWarningsFile, Data: []byte(w)})
		}
		for _, name := range goldenKeys(res.Files) {
			data := res.Files[name]
			if len(data) > 0 && !bytes.HasSuffix(data, []byte("\n")) {
				t.Fatalf("output %s does not end in a newline; a txtar archive cannot hold it", name)
			}
			out.Files = append(out.Files, txtar.File{Name: goldenWantPrefix + name, Data: data})
		}
	}
	data := txtar.Format(out)
	// The archive must read back as written: no file may hold a line that
	// looks like a file marker.
	back := txtar.Parse(data)
	if len(back.Files) != len(out.Files) {
		t.Fatalf("the updated archive does not read back: %d files, want %d", len(back.Files), len(out.Files))
	}
	for i, f := range back.Files {
		if f.Name != out.Files[i].Name || !bytes.Equal(f.Data, out.Files[i].Data) {
			t.Fatalf("the updated archive does not read back: file %s differs", out.Files[i].Name)
		}
	}
	if bytes.Equal(data, goldenRead(t, file)) {
		return
	}
	if err := os.WriteFile(file, data, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("updated %s", file)
}

func goldenRead(t *testing.T, file string) []byte {
	t.Helper()
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func goldenKeys(m map[string][]byte) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// goldenDiff describes the first line where want and got differ.
func goldenDiff(want, got []byte) string {
	w := strings.SplitAfter(string(want), "\n")
	g := strings.SplitAfter(string(got), "\n")
	for i := 0; i < len(w) || i < len(g); i++ {
		wl, gl := "(end of file)", "(end of file)"
		if i < len(w) {
			wl = strconv.Quote(w[i])
		}
		if i < len(g) {
			gl = strconv.Quote(g[i])
		}
		if wl != gl {
			return fmt.Sprintf("first difference at line %d:\n  want: %s\n  got:  %s", i+1, wl, gl)
		}
	}
	return "no difference"
}
