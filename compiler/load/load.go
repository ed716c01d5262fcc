// Package load reads a user's repository, a CUE module, with Cairn's schemas
// overlaid in memory, and returns each package's project value unified with
// the schema and fully validated. It is the only place, with diag, where the
// compiler touches CUE.
package load

import (
	"encoding/json"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"

	"cuelang.org/go/cue"
	"cuelang.org/go/cue/ast"
	"cuelang.org/go/cue/build"
	"cuelang.org/go/cue/cuecontext"
	cueerrors "cuelang.org/go/cue/errors"
	"cuelang.org/go/cue/load"
	"cuelang.org/go/cue/parser"
	"cuelang.org/go/cue/token"

	"cairn.dev/cairn/compiler/diag"
	"cairn.dev/cairn/compiler/internal/par"
	"cairn.dev/cairn/schemas"
)

// ProjectField is the top-level field a package declares its project in.
const ProjectField = "project"

// VendorDir is where the schemas live inside a user's cue.mod, relative to
// the module root; the loader overlays them there and `cairn schema vendor`
// writes them there.
var VendorDir = path.Join("cue.mod", "pkg", schemas.ImportPath)

// Config says what to load.
type Config struct {
	// Dir is the root of the user's CUE module, or a folder inside it;
	// every package at or below it is loaded.
	Dir string
	// Files, when not nil, replaces the file system: it maps slash paths
	// relative to the module root to contents. Dir is then a virtual,
	// absolute folder under which those files appear (used for git trees).
	Files map[string][]byte
	// PosBase is prefixed to the file names of positions, which are
	// otherwise relative to the module root; the CLI sets it to the module
	// root relative to the working directory.
	PosBase string
}

// Instance is one loaded CUE package that declares a project.
type Instance struct {
	// Dir is the package folder relative to the module root ("." for the
	// root), with forward slashes.
	Dir string
	// Project is the package's project field unified with #Project.
	Project cue.Value
	// JSON is Project exported as JSON.
	JSON []byte

	root   string     // absolute module root
	loc    *locator   // where the user wrote each field
	base   string     // Config.PosBase
	broken [][]string // paths below the project that failed validation
}

// Load loads every package under cfg.Dir. The error, when not nil, is a
// diag.List naming every problem found. With an error, Load still returns
// the projects it could evaluate, those that failed validation damaged
// (see Instance.Damaged): they may be checked, to report further problems
// along with these, but never compiled. An error that holds only warnings
// (diag.Warning: files without a package clause, which are ignored) comes
// with every project, none damaged.
func Load(cfg Config) ([]*Instance, error) {
	insts, err := load1(cfg)
	if l, ok := err.(diag.List); ok {
		for i := range l {
			l[i].Pos = rebase(cfg.PosBase, l[i].Pos)
			for j := range l[i].Also {
				l[i].Also[j] = rebase(cfg.PosBase, l[i].Also[j])
			}
		}
	}
	for _, in := range insts {
		in.base = cfg.PosBase
	}
	return insts, err
}

func load1(cfg Config) ([]*Instance, error) {
	dir, err := filepath.Abs(cfg.Dir)
	if err != nil {
		return nil, err
	}
	root, err := findRoot(dir, cfg.Files)
	if err != nil {
		return nil, err
	}
	if diags := checkModFile(root, cfg.Files); len(diags) > 0 {
		return nil, diags
	}
	overlay, err := overlayFor(root, cfg.Files)
	if err != nil {
		return nil, err
	}
	srcs := newSources(root, cfg.Files)
	lcfg := &load.Config{
		Dir:        root,
		ModuleRoot: root,
		Overlay:    overlay,
		Env:        []string{}, // no CUE_REGISTRY or other settings from the host
		ParseFile:  srcs.parse,
	}
	rel, err := filepath.Rel(root, dir)
	if err != nil {
		return nil, err
	}
	pattern := "./" + filepath.ToSlash(rel) + "/..."
	if rel == "." {
		pattern = "./..."
	}
	var diags diag.List
	binsts := load.Instances([]string{pattern, schemas.ImportPath}, lcfg)
	var schemaInst *build.Instance
	var insts []*build.Instance
	for _, b := range binsts {
		if b.ImportPath == schemas.ImportPath && b.Err == nil && strings.HasPrefix(b.Dir, filepath.Join(root, "cue.mod")) {
			schemaInst = b
			continue
		}
		insts = append(insts, b)
	}
	// Text that is not UTF-8 is refused wherever it is, with its place.
	diags = append(diags, srcs.utf8Diags()...)
	noneMatched := false
	for _, b := range insts {
		if b.Err != nil {
			var d diag.List
			addCUEErrors(&d, root, b.Err)
			for _, x := range d {
				if !x.Pos.IsValid() && strings.Contains(x.Msg, "matched no packages") {
					noneMatched = true
					if why := explainNoPackages(root, dir, cfg.Files, srcs); len(why) > 0 || diags.HasErrors() {
						diags = append(diags, why...)
						continue
					}
				}
				if srcs.reported(x.Pos.File) {
					continue // a consequence of the replacement characters
				}
				diags = append(diags, x)
			}
		}
	}
	if !noneMatched {
		// Files without a package clause next to those of a package, or
		// in other folders, are ignored, as cue ignores them; say so.
		diags = append(diags, srcs.unpackagedDiags(insts)...)
	}
	if schemaInst == nil {
		for _, b := range binsts {
			if b.Err != nil && b.ImportPath == schemas.ImportPath {
				addCUEErrors(&diags, root, b.Err)
			}
		}
		if len(diags) == 0 {
			diags.Add(diag.Pos{}, "", "internal error: the embedded schemas did not load")
		}
	}
	if err := diags.Err(); err != nil {
		return nil, err
	}

	out := evaluate(root, insts, schemaInst, &diags)
	sort.Slice(out, func(i, j int) bool { return out[i].Dir < out[j].Dir })
	if err := diags.Err(); err != nil {
		return out, err
	}
	if len(out) == 0 {
		diags.Add(diag.Pos{File: relOrSelf(root, dir)}, "", "no project found: declare %s: schemas.#Project & {...} with import %q", ProjectField, schemas.ImportPath)
		return nil, diags.Err()
	}
	if len(diags) > 0 {
		return out, diags.Sorted() // warnings only
	}
	return out, nil
}

// evaluate evaluates the user's packages, those that declare a project
// constrained by the schema, adding their errors to diags, and returns
// their projects, damaged ones included.
func evaluate(root string, insts []*build.Instance, schemaInst *build.Instance, diags *diag.List) []*Instance {
	// Prepare every package, then evaluate them in parallel, one CUE
	// context per worker (a context is not safe for concurrent use), and
	// merge the results in package order.
	type work struct {
		b   *build.Instance
		loc *locator
	}
	var todo []work
	for _, b := range insts {
		if strings.HasPrefix(b.Dir, filepath.Join(root, "cue.mod")) {
			continue
		}
		loc := newLocator(userFiles(b), schemas.ImportPath)
		if declaresProject(b.Files) {
			if err := constrainProject(root, b, schemaInst); err != nil {
				addCUEErrors(diags, root, err)
				continue
			}
		}
		todo = append(todo, work{b, loc})
	}
	type result struct {
		inst  *Instance
		diags diag.List
	}
	results := make([]result, len(todo))
	par.Each(len(todo), func() *cue.Context { return cuecontext.New() }, func(ctx *cue.Context, i int) {
		inst, d := buildOne(ctx, root, todo[i].b, todo[i].loc)
		results[i] = result{inst, d}
	})
	var out []*Instance
	for _, r := range results {
		*diags = append(*diags, r.diags...)
		if r.inst != nil {
			out = append(out, r.inst)
		}
	}
	return out
}

// overlayFor returns the loader's overlay: the files given instead of the
// disk, if any, and the embedded schemas at VendorDir, after checking that
// a vendored copy holds nothing else.
func overlayFor(root string, files map[string][]byte) (map[string]load.Source, error) {
	overlay := map[string]load.Source{}
	for name, data := range files {
		overlay[filepath.Join(root, filepath.FromSlash(name))] = load.FromBytes(data)
	}
	entries, err := fs.ReadDir(schemas.FS, ".")
	if err != nil {
		return nil, err
	}
	for _, e := range entries {
		data, err := fs.ReadFile(schemas.FS, e.Name())
		if err != nil {
			return nil, err
		}
		overlay[filepath.Join(root, filepath.FromSlash(VendorDir), e.Name())] = load.FromBytes(data)
	}
	if err := checkVendored(root, files, entries); err != nil {
		return nil, err
	}
	return overlay, nil
}

// validateParts finds the errors of a project that failed validation by
// validating its fields one by one, down to the deepest failing ones, so
// that one error does not hide another; first is the project's own error.
func validateParts(pv cue.Value, first error) error {
	var errs cueerrors.Error
	var walk func(v cue.Value, err error, depth int)
	walk = func(v cue.Value, err error, depth int) {
		found := false
		if depth < 6 {
			if it, ierr := v.Fields(); ierr == nil {
				for it.Next() {
					if ferr := it.Value().Validate(cue.Concrete(true)); ferr != nil {
						found = true
						walk(it.Value(), ferr, depth+1)
					}
				}
			}
		}
		if !found {
			errs = cueerrors.Append(errs, cueerrors.Promote(err, ""))
		}
	}
	walk(pv, first, 0)
	return errs
}

// checkVendored reports files in the vendored schema folder that are not
// among the embedded schemas: the loader overlays the embedded files there,
// but could not hide extra ones, which would silently change the contract.
func checkVendored(root string, files map[string][]byte, embedded []fs.DirEntry) error {
	known := map[string]bool{}
	for _, e := range embedded {
		known[e.Name()] = true
	}
	var names []string
	if files != nil {
		for name := range files {
			if rest, ok := strings.CutPrefix(name, VendorDir+"/"); ok {
				names = append(names, rest)
			}
		}
	} else {
		ents, err := os.ReadDir(filepath.Join(root, filepath.FromSlash(VendorDir)))
		if err != nil {
			return nil
		}
		for _, e := range ents {
			names = append(names, e.Name())
		}
	}
	sort.Strings(names)
	var diags diag.List
	for _, n := range names {
		if strings.HasSuffix(n, ".cue") && !known[n] {
			diags.Add(diag.Pos{File: path.Join(VendorDir, n)}, "", "not one of the schema files of this cairn; run `cairn schema vendor` to refresh the vendored schemas, or delete it")
		}
	}
	return diags.Err()
}

// FindRoot returns the root of the CUE module holding dir: the folder at or
// above it holding cue.mod/module.cue.
func FindRoot(dir string) (string, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return "", err
	}
	return findRoot(abs, nil)
}

// findRoot returns the folder at or above dir holding cue.mod/module.cue.
func findRoot(dir string, files map[string][]byte) (string, error) {
	if files != nil {
		if _, ok := files["cue.mod/module.cue"]; !ok {
			return "", diag.List{{Pos: diag.Pos{File: "cue.mod/module.cue"}, Msg: "not a CUE module: cue.mod/module.cue is missing"}}
		}
		return dir, nil
	}
	for d := dir; ; d = filepath.Dir(d) {
		if _, err := os.Stat(filepath.Join(d, "cue.mod", "module.cue")); err == nil {
			return d, nil
		}
		if filepath.Dir(d) == d {
			break
		}
	}
	if _, err := os.Stat(dir); err != nil {
		return "", diag.List{{Pos: diag.Pos{File: dir}, Msg: "no such directory"}}
	}
	return "", diag.List{{Pos: diag.Pos{File: dir}, Msg: "not in a CUE module: no cue.mod/module.cue here or above (create one with `cue mod init`)"}}
}

func relOrSelf(root, p string) string {
	if r, err := filepath.Rel(root, p); err == nil {
		return filepath.ToSlash(r)
	}
	return p
}

// addCUEErrors turns a CUE error into diagnostics, one per problem, each at
// the first position inside the user's files. The alternatives of a failed
// disjunction are folded into one diagnostic, and errors that only echo
// another error are dropped.
func addCUEErrors(l *diag.List, root string, err error, within ...*locator) {
	var loc *locator
	if len(within) > 0 {
		loc = within[0]
	}
	var order []string
	byPath := map[string][]cueEntry{}
	for _, e := range cueerrors.Errors(cueerrors.Sanitize(cueerrors.Promote(err, ""))) {
		format, args := e.Msg()
		msg := fmt.Sprintf(format, args...)
		if msg == "" || strings.Contains(msg, "%!") {
			msg = e.Error() // a plain Go error wrapped by CUE
		}
		if strings.Contains(msg, "errors in empty disjunction") || strings.Contains(msg, "(type _|_)") {
			continue
		}
		var all []token.Pos
		for _, q := range cueerrors.Positions(e) {
			if loc != nil && loc.refs[q] {
				continue // a reference to the schema, not a user's value
			}
			all = append(all, q)
		}
		pos := pickPos(root, all)
		var other []diag.Pos
		for _, q := range all {
			if dp := toPos(root, q); dp.IsValid() && !isSchemaFile(dp.File) && dp != pos {
				other = append(other, dp)
			}
		}
		if loc != nil && (!pos.IsValid() || isSchemaFile(pos.File)) {
			if p := toPos(root, loc.find(unquote(e.Path()))); p.IsValid() {
				pos = p
			}
		}
		path := FormatPath(e.Path())
		if elems := e.Path(); strings.HasPrefix(msg, "field not allowed") && len(elems) > 1 {
			if parent := elems[len(elems)-2]; parent == "labels" || parent == "spotSelector" {
				msg = "invalid label key (want " + patternDocs["#LabelKey"] + ")"
			}
		}
		if _, ok := byPath[path]; !ok {
			order = append(order, path)
		}
		byPath[path] = append(byPath[path], cueEntry{pos, describeBounds(msg), other, e.Path()})
	}
	// Values left incomplete are most often the consequence of another
	// error (a missing field that a default is computed from); report
	// them only when nothing else is wrong.
	complete := false
	for _, path := range order {
		for _, e := range byPath[path] {
			if !strings.HasPrefix(e.msg, "incomplete value") {
				complete = true
			}
		}
	}
	for _, path := range order {
		es := byPath[path]
		if complete {
			es = slices.DeleteFunc(es, func(e cueEntry) bool { return strings.HasPrefix(e.msg, "incomplete value") })
		}
		if len(es) > 0 {
			*l = append(*l, pathDiags(root, loc, path, es)...)
		}
	}
}

// cueEntry is one CUE error about a value.
type cueEntry struct {
	pos   diag.Pos
	msg   string
	other []diag.Pos // further places in the user's files the value is set
	elems []string   // the value's path
}

// pathDiags returns the diagnostics for the errors about the value at path.
func pathDiags(root string, loc *locator, path string, es []cueEntry) diag.List {
	var out diag.List
	// A specific complaint about a value (out of bound, not allowed)
	// makes the conflicts with a schema default that it caused noise.
	var specific, conflicts []cueEntry
	for _, e := range es {
		if strings.HasPrefix(e.msg, "conflicting values ") {
			conflicts = append(conflicts, e)
		} else {
			specific = append(specific, e)
		}
	}
	if len(specific) > 0 {
		for _, e := range specific {
			out = append(out, diag.Diagnostic{Pos: e.pos, Path: path, Msg: e.msg})
		}
		return out
	}
	// A conflict between values the user wrote in two places is the
	// problem; the conflicts with schema defaults it caused are noise.
	conflicts = dropDefaultConflicts(root, loc, conflicts)
	var between []cueEntry
	for _, e := range conflicts {
		if len(e.other) > 0 {
			between = append(between, e)
		}
	}
	if len(between) > 0 {
		for _, e := range between {
			out = append(out, diag.Diagnostic{Pos: e.pos, Path: path, Msg: e.msg, Also: e.other})
		}
		return out
	}
	// Conflicts at one position are the alternatives of a disjunction.
	var posOrder []diag.Pos
	byPos := map[diag.Pos][]string{}
	for _, e := range conflicts {
		if _, ok := byPos[e.pos]; !ok {
			posOrder = append(posOrder, e.pos)
		}
		byPos[e.pos] = append(byPos[e.pos], e.msg)
	}
	for _, pos := range posOrder {
		for _, m := range foldDisjunction(byPos[pos]) {
			out = append(out, diag.Diagnostic{Pos: pos, Path: path, Msg: m + hint(path)})
		}
	}
	return out
}

// dropDefaultConflicts drops, when others remain, the conflicts that
// involve a value the user wrote elsewhere than at the conflicting path:
// a default computed from another field (namespace: *name | #Name) that
// failed along with the value, which would report the same conflict again
// naming a value the user never gave the field.
func dropDefaultConflicts(root string, loc *locator, conflicts []cueEntry) []cueEntry {
	if loc == nil || len(conflicts) < 2 {
		return conflicts
	}
	written := map[diag.Pos]bool{}
	for _, p := range loc.findAll(unquote(conflicts[0].elems)) {
		written[toPos(root, p)] = true
	}
	foreign := func(e cueEntry) bool {
		if len(e.other) == 0 {
			return false // a conflict with the schema, at one place
		}
		for _, p := range append([]diag.Pos{e.pos}, e.other...) {
			if !written[p] {
				return true
			}
		}
		return false
	}
	kept := slices.DeleteFunc(slices.Clone(conflicts), foreign)
	if len(kept) == 0 {
		return conflicts
	}
	return kept
}

// hint adds advice to a conflict at a path where a plain conflict does not
// say why.
func hint(path string) string {
	switch {
	case strings.HasSuffix(path, ".compute.nodes"):
		return ` (compute.kind "single" runs one pod; use kind "mpi" for several nodes)`
	case path == "project.policy.allowSpot":
		return " (policy.requireSpot needs allowSpot: spot cannot be both required and forbidden)"
	}
	return ""
}

// boundRE matches CUE's message for a value failing a regular expression.
var boundRE = regexp.MustCompile(`\(out of bound (=~"(?:[^"\\]|\\.)*")\)`)

// patternConflictRE matches CUE's message for a value of the wrong type
// where the schema wants a string matching a pattern.
var patternConflictRE = regexp.MustCompile(`^conflicting values (.+) and (=~"(?:[^"\\]|\\.)*")( \(mismatched types [a-z]+ and [a-z]+\))$`)

var maxRunesRE = regexp.MustCompile(`does not satisfy strings\.MaxRunes\(([0-9]+)\)`)

// describeBounds replaces a schema regular expression in a message with
// what it stands for: "want a duration such as ...".
func describeBounds(msg string) string {
	if m := patternConflictRE.FindStringSubmatch(msg); m != nil {
		if d, ok := schemaPatterns()[m[2]]; ok {
			return m[1] + " is not allowed: want " + d + m[3]
		}
	}
	msg = maxRunesRE.ReplaceAllString(msg, "is longer than $1 characters")
	msg = strings.Replace(msg, "field not allowed", "field not allowed: the schema has no such field here (see docs/spec.md)", 1)
	return boundRE.ReplaceAllStringFunc(msg, func(m string) string {
		re := boundRE.FindStringSubmatch(m)[1]
		if d, ok := schemaPatterns()[re]; ok {
			return "(want " + d + ")"
		}
		return m
	})
}

// patternDocs says what the schema's named patterns stand for.
var patternDocs = map[string]string{
	"#Name":       "a lower-case DNS label: letters, digits and '-', starting with a letter, at most 40 characters",
	"#Image":      `an image reference such as "registry.example.com/team/image:1.0" or "...@sha256:<64 hex>"`,
	"#Quantity":   `a Kubernetes quantity such as "500m", "4" or "16Gi"`,
	"#Duration":   `a duration such as "90s", "30m", "4h" or "1d12h"`,
	"#URI":        `a URI such as "s3://bucket/path", "file:///data" or a relative path`,
	"#Latency":    `a latency such as "50ms" or "1.5s"`,
	"#LabelKey":   `a Kubernetes label key such as "team" or "example.com/cost-center"`,
	"#LabelValue": "a Kubernetes label value: at most 63 letters, digits, '-', '_' and '.', starting and ending with a letter or digit",
}

var schemaPatterns = sync.OnceValue(func() map[string]string {
	defRE := regexp.MustCompile(`(?m)^(#[A-Za-z]+):\s*(=~"(?:[^"\\]|\\.)*")`)
	out := map[string]string{}
	entries, _ := fs.ReadDir(schemas.FS, ".")
	for _, e := range entries {
		data, err := fs.ReadFile(schemas.FS, e.Name())
		if err != nil {
			continue
		}
		for _, m := range defRE.FindAllStringSubmatch(string(data), -1) {
			if d, ok := patternDocs[m[1]]; ok {
				out[m[2]] = d
			}
		}
	}
	return out
})

// foldDisjunction rewrites the messages "conflicting values A and X" for
// each alternative A of a disjunction the value X failed into one message.
func foldDisjunction(msgs []string) []string {
	if len(msgs) < 2 {
		return msgs
	}
	type pair struct{ a, b string }
	var pairs []pair
	var mismatch string
	for _, m := range msgs {
		rest, ok := strings.CutPrefix(m, "conflicting values ")
		if !ok {
			return msgs
		}
		if i := strings.Index(rest, " (mismatched types"); i >= 0 {
			mismatch = rest[i:]
			rest = rest[:i]
		}
		a, b, ok := strings.Cut(rest, " and ")
		if !ok {
			return msgs
		}
		pairs = append(pairs, pair{a, b})
	}
	// The value is the operand common to every pair.
	for _, cand := range []string{pairs[0].a, pairs[0].b} {
		var alts []string
		for _, p := range pairs {
			switch cand {
			case p.a:
				alts = append(alts, p.b)
			case p.b:
				alts = append(alts, p.a)
			}
		}
		if len(alts) == len(pairs) {
			return []string{fmt.Sprintf("%s is not allowed: want %s%s%s", cand, strings.Join(alts, " | "), mismatch, suggestValue(cand, alts))}
		}
	}
	return msgs
}

// explainNoPackages says why no CUE package was found under dir: files
// without a package clause, a scanner error before the clause, or no CUE
// files at all. Files srcs found not to be UTF-8 text are already
// reported.
func explainNoPackages(root, dir string, files map[string][]byte, srcs *sources) diag.List {
	var diags diag.List
	found := false
	check := func(rel string, data []byte) {
		found = true
		if srcs.reported(rel) {
			return // not UTF-8 text, already reported
		}
		f, err := parser.ParseFile(rel, data, parser.PackageClauseOnly)
		if err != nil {
			addCUEErrors(&diags, root, err) // a scanner error before the clause
			return
		}
		if f.PackageName() == "" {
			diags.Add(diag.Pos{File: rel, Line: 1, Col: 1}, "", "file has no package clause: start it with `package <name>` (the files of a folder share one package)")
		}
	}
	sub, _ := filepath.Rel(root, dir)
	sub = filepath.ToSlash(sub)
	inScope := func(rel string) bool {
		return (sub == "." || rel == sub || strings.HasPrefix(rel, sub+"/")) && !strings.HasPrefix(rel, "cue.mod/")
	}
	if files != nil {
		for _, name := range slices.Sorted(maps.Keys(files)) {
			if strings.HasSuffix(name, ".cue") && inScope(name) {
				check(name, files[name])
			}
		}
	} else {
		filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return nil
			}
			rel, _ := filepath.Rel(root, p)
			rel = filepath.ToSlash(rel)
			if d.IsDir() && (rel == "cue.mod" || p != dir && strings.HasPrefix(d.Name(), ".")) {
				return filepath.SkipDir
			}
			if !d.IsDir() && strings.HasSuffix(p, ".cue") {
				if data, err := os.ReadFile(p); err == nil {
					check(rel, data)
				}
			}
			return nil
		})
	}
	if !found {
		diags.Add(diag.Pos{File: relOrSelf(root, dir)}, "", "no .cue files here: declare the project in a .cue file of the module")
	}
	return diags
}

// buildOne evaluates one package and returns its project, nil when it
// declares none, or its errors.
func buildOne(ctx *cue.Context, root string, b *build.Instance, loc *locator) (*Instance, diag.List) {
	var diags diag.List
	v := ctx.BuildInstance(b)
	pv := v.LookupPath(cue.ParsePath(ProjectField))
	if !pv.Exists() {
		if err := v.Validate(); err != nil {
			addCUEErrors(&diags, root, err)
		}
		return nil, diags
	}
	pkgDir, _ := filepath.Rel(root, b.Dir)
	in := &Instance{Dir: filepath.ToSlash(pkgDir), Project: pv, root: root, loc: loc}
	if err := pv.Validate(cue.Concrete(true)); err != nil {
		err = validateParts(pv, err)
		addCUEErrors(&diags, root, err, loc)
		explain(diags, pv, err)
		in.JSON, in.broken = partialJSON(pv, err)
		return in, diags
	}
	data, err := pv.MarshalJSON()
	if err != nil {
		addCUEErrors(&diags, root, err)
		return nil, diags
	}
	in.JSON = data
	return in, nil
}

// rebase prefixes the file of a position in the user's files with base.
func rebase(base string, p diag.Pos) diag.Pos {
	if base == "" || base == "." || !p.IsValid() || strings.HasPrefix(p.File, schemas.ImportPath+"/") || filepath.IsAbs(p.File) {
		return p
	}
	p.File = path.Join(filepath.ToSlash(base), p.File)
	return p
}

func isSchemaFile(f string) bool {
	return strings.HasPrefix(f, schemas.ImportPath+"/") || strings.HasPrefix(f, "cue.mod/")
}

// unquote turns CUE path selectors into plain names: "a-b" becomes a-b.
func unquote(elems []string) []string {
	out := make([]string, len(elems))
	for i, e := range elems {
		if s, err := strconv.Unquote(e); err == nil && strings.HasPrefix(e, "\"") {
			e = s
		}
		out[i] = e
	}
	return out
}

// pickPos returns the first position in a user file, else the first one.
func pickPos(root string, ps []token.Pos) diag.Pos {
	var first diag.Pos
	for _, p := range ps {
		dp := toPos(root, p)
		if !dp.IsValid() {
			continue
		}
		if !isSchemaFile(dp.File) {
			return dp
		}
		if !first.IsValid() {
			first = dp
		}
	}
	return first
}

func toPos(root string, p token.Pos) diag.Pos {
	if !p.IsValid() {
		return diag.Pos{}
	}
	file := p.Filename()
	if file == "" {
		return diag.Pos{}
	}
	if r, err := filepath.Rel(root, file); err == nil && !strings.HasPrefix(r, "..") {
		file = filepath.ToSlash(r)
	}
	if rest, ok := strings.CutPrefix(file, VendorDir+"/"); ok {
		file = schemas.ImportPath + "/" + rest
	}
	return diag.Pos{File: file, Line: p.Line(), Col: p.Column()}
}

// FormatPath joins CUE path elements, quoting those that are not
// identifiers: project.features."build-features".
func FormatPath(elems []string) string {
	var b strings.Builder
	for i, e := range elems {
		if i > 0 {
			b.WriteByte('.')
		}
		if isIdent(e) || strings.HasPrefix(e, "\"") || strings.HasPrefix(e, "[") || strings.HasPrefix(e, "#") {
			b.WriteString(e)
		} else if _, err := strconv.Atoi(e); err == nil {
			b.WriteString(e)
		} else {
			b.WriteString(strconv.Quote(e))
		}
	}
	return b.String()
}

func isIdent(s string) bool {
	if s == "" {
		return false
	}
	for i, r := range s {
		if r == '_' || r == '$' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || i > 0 && r >= '0' && r <= '9' {
			continue
		}
		return false
	}
	return true
}

// Locate returns the position where the value at path, relative to the
// project, is written in the user's files, or where its nearest written
// ancestor is. Path elements are strings (fields) and ints (list indexes).
func (in *Instance) Locate(elems ...any) diag.Pos {
	path := append([]string{ProjectField}, pathStrings(elems)...)
	return rebase(in.base, toPos(in.root, in.loc.find(path)))
}

// declaresProject reports whether a file of the package has a top-level
// project field.
func declaresProject(files []*ast.File) bool {
	for _, f := range files {
		for _, d := range f.Decls {
			if fd, ok := d.(*ast.Field); ok {
				if name, _, err := ast.LabelName(fd.Label); err == nil && name == ProjectField {
					return true
				}
			}
		}
	}
	return false
}

// constrainProject adds to the package a file stating
// "project: schemas.#Project", so that the project is checked against the
// schema even where the user did not write it, at the cost of one
// evaluation rather than a second unification after the first. The file
// appears to live among the vendored schemas, so errors never point at it.
func constrainProject(root string, b *build.Instance, schemaInst *build.Instance) error {
	src := fmt.Sprintf("package %s\n\nimport cairnschemas %q\n\n%s: cairnschemas.#Project\n", b.PkgName, schemas.ImportPath, ProjectField)
	name := filepath.Join(root, filepath.FromSlash(VendorDir), "_"+b.PkgName+"_project.cue")
	f, err := parser.ParseFile(name, src)
	if err != nil {
		return err
	}
	if err := b.AddSyntax(f); err != nil {
		return err
	}
	if b.LookupImport(schemas.ImportPath) == nil {
		b.Imports = append(b.Imports, schemaInst)
	}
	return nil
}

// userFiles returns the syntax trees of the package's own files.
func userFiles(b *build.Instance) []*ast.File {
	var out []*ast.File
	for _, f := range b.Files {
		out = append(out, f)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Filename < out[j].Filename })
	return out
}

// Decode unmarshals the project's JSON into x.
func (in *Instance) Decode(x any) error {
	return json.Unmarshal(in.JSON, x)
}
