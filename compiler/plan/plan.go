// Package plan says what a change to the specs does to the compiled
// output: what CI shows on a pull request.
//
// CheckDir compares freshly compiled files with the rendered folder
// committed beside the specs, file by file, so CI can fail when someone
// forgot to re-render. Diff compares two compiled sets (the pull request's
// base and head) object by object and field by field, and sums up what a
// reviewer cares about: which WorkflowTemplates change, which schedules
// move, which container images change, and the estimated GPU-hours and cost
// of one run before and after. Text renders a plan for people (a PR
// comment, a terminal), JSON for programs.
//
// What Diff leaves out, so that a plan between two commits shows only what
// the author changed:
//
//   - the kustomization.yaml files, which only list the others;
//   - the annotations cairn.dev/git-commit and cairn.dev/git-dirty,
//     wherever they appear (also inside MPIJob manifests), and the pack
//     step's "--git-commit <sha>" arguments;
//   - the spec digest when nothing else changed. The annotation
//     cairn.dev/spec-digest is a hash of the whole evaluated spec, and the
//     pack step and MPIJob manifests repeat it, so every object of a
//     pipeline changes when anything in it does (a new training image
//     changes the digest on the CronWorkflow too). A string that differs
//     only by the old digest having become the new one is therefore not a
//     change of its own: an object whose every difference is such a string
//     is not listed, and in an object that has other changes only the
//     object's own annotation is listed, once, as a reminder that the
//     deployed digest moves.
//
// Strings that hold JSON objects or arrays (the MPIJob manifest of a
// resource template, the JSON arguments of the platform steps,
// CAIRN_HPARAMS) are parsed and compared as structure, so a plan names the
// field inside them that changed rather than printing two walls of JSON.
// The pack step's --spec argument holds the whole evaluated spec; its
// fields are listed like any others (they are what the signed artifact will
// record, and the only place some settings, such as policy, show).
package plan

import (
	"bytes"
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"sigs.k8s.io/yaml"

	"cairn.dev/cairn/compiler/emit"
)

// Change kinds, for files, objects and fields.
const (
	// Added is something only the new side has.
	Added = "added"
	// Removed is something only the old side has.
	Removed = "removed"
	// Changed is something both sides have, with different contents.
	Changed = "changed"
)

// Annotations that Diff reads or ignores.
const (
	// AnnotSpecDigest is the digest of the pipeline's evaluated spec.
	AnnotSpecDigest = "cairn.dev/spec-digest"
	// AnnotGitCommit records the commit the output was compiled from.
	AnnotGitCommit = "cairn.dev/git-commit"
	// AnnotGitDirty marks output compiled from uncommitted changes.
	AnnotGitDirty = "cairn.dev/git-dirty"
	// AnnotGPUHours, on a WorkflowTemplate, is the compiler's estimate of
	// GPU-hours per run; when absent Diff computes an upper bound.
	AnnotGPUHours = "cairn.dev/gpu-hours-per-run"
	// AnnotCostPerRun, on a WorkflowTemplate, is the estimated cost of one
	// run in USD ("12.5", "$12.50" and "12.5 USD" are all read).
	AnnotCostPerRun = "cairn.dev/cost-per-run"
	// LabelPipeline names the pipeline an object belongs to.
	LabelPipeline = "cairn.dev/pipeline"
	// ResourceGPU is the extended resource GPUs are requested as.
	ResourceGPU = "nvidia.com/gpu"
)

// Kinds the summary reads.
const (
	kindTemplate = "WorkflowTemplate"
	kindCron     = "CronWorkflow"
)

// FileChange is one file that differs between compiled output and a
// folder.
type FileChange struct {
	// Path is the slash path relative to the folder.
	Path string `json:"path"`
	// Change is Added (compiled, not in the folder), Removed (in the
	// folder, no longer compiled) or Changed (different bytes).
	Change string `json:"change"`
}

// CheckDir compares compiled files with the folder out on disk (the
// committed rendered output) and returns every file added, removed or
// changed, sorted by path; nil when they are identical. A missing folder
// means every file is added. Files in out that Cairn did not write (those
// not starting with emit.Header) count like any other: removed when Cairn
// does not produce that path, changed when it does.
func CheckDir(out string, files map[string][]byte) ([]FileChange, error) {
	disk := map[string][]byte{}
	info, err := os.Stat(out)
	switch {
	case errors.Is(err, fs.ErrNotExist):
	case err != nil:
		return nil, err
	case !info.IsDir():
		return nil, fmt.Errorf("%s is not a folder", out)
	default:
		err := filepath.WalkDir(out, func(p string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return err
			}
			data, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			rel, err := filepath.Rel(out, p)
			if err != nil {
				return err
			}
			disk[filepath.ToSlash(rel)] = data
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	var changes []FileChange
	for name, data := range files {
		old, ok := disk[name]
		switch {
		case !ok:
			changes = append(changes, FileChange{name, Added})
		case !bytes.Equal(old, data):
			changes = append(changes, FileChange{name, Changed})
		}
	}
	for name := range disk {
		if _, ok := files[name]; !ok {
			changes = append(changes, FileChange{name, Removed})
		}
	}
	slices.SortFunc(changes, func(a, b FileChange) int { return cmp.Compare(a.Path, b.Path) })
	return changes, nil
}

// Plan is what a change does to the compiled output.
type Plan struct {
	// Objects that were added, removed or changed, sorted by namespace,
	// pipeline, kind and name.
	Objects []ObjectChange `json:"objects"`
	// Summary is what a reviewer reads first.
	Summary Summary `json:"summary"`
}

// ObjectChange is one Kubernetes object added, removed or changed.
type ObjectChange struct {
	Namespace string `json:"namespace"`
	Pipeline  string `json:"pipeline"`
	Kind      string `json:"kind"`
	Name      string `json:"name"`
	// Change is Added, Removed or Changed.
	Change string `json:"change"`
	// Fields are, for Changed, the differences in walk order: map keys
	// sorted, list items in order. A field present on one side only is one
	// change holding its whole value; a field on both sides is compared
	// down to its leaves. List items are keyed by their "name" field when
	// every item on both sides has a distinct one ([name=train]), else
	// aligned and named by index ([3]; see alignList).
	Fields []FieldChange `json:"fields,omitempty"`
}

// FieldChange is one difference inside an object.
type FieldChange struct {
	// Path names the field: keys joined by dots (or ["quoted"] where a key
	// is not a plain word, as "cairn.dev/spec-digest" is), list items as
	// [name=train] or [3], and the fields of JSON held in a string as if
	// they were children of the string, e.g.
	// spec.templates[name=train].container.image.
	Path string `json:"path"`
	// Old and New are the values, as encoding/json decodes them (string,
	// float64, bool, map[string]any, []any); Old is nil when Added, New
	// when Removed.
	Old any `json:"old,omitempty"`
	New any `json:"new,omitempty"`
	// Change is Added, Removed or Changed.
	Change string `json:"change"`
}

// Summary sums up a plan.
type Summary struct {
	// TemplatesChanged counts the WorkflowTemplates added, removed or
	// changed.
	TemplatesChanged int `json:"templatesChanged"`
	// SchedulesMoved lists every CronWorkflow whose schedules or time zone
	// differ, added and removed ones included.
	SchedulesMoved []ScheduleMove `json:"schedulesMoved,omitempty"`
	// ImagesChanged lists, per pipeline and template, every change in the
	// container images the template runs (MPIJob launcher and workers
	// included); templates added or removed count, with one side empty.
	ImagesChanged []ImageChange `json:"imagesChanged,omitempty"`
	// GPUHours is the estimated GPU-hours of one run, before and after,
	// summed over the pipelines the plan touches (those with an object in
	// Objects). Each pipeline's WorkflowTemplate gives it by the annotation
	// cairn.dev/gpu-hours-per-run when present; otherwise it is the upper
	// bound Σ GPUs per pod × pods × activeDeadlineSeconds / 3600 over its
	// templates (for an MPIJob, over its replica specs: Worker replicas ×
	// the worker's GPU limit), for one attempt, retries not counted.
	GPUHours [2]float64 `json:"gpuHours"`
	// Cost is the estimated cost of one run in USD, before and after,
	// summed like GPUHours from the annotation cairn.dev/cost-per-run; a
	// template without it counts 0.
	Cost [2]float64 `json:"cost"`
}

// ScheduleMove is a CronWorkflow's schedule before and after.
type ScheduleMove struct {
	Namespace string `json:"namespace"`
	Pipeline  string `json:"pipeline"`
	// Before is nil for a CronWorkflow added, After for one removed.
	Before *Schedule `json:"before,omitempty"`
	After  *Schedule `json:"after,omitempty"`
}

// Schedule is when a CronWorkflow runs.
type Schedule struct {
	Schedules []string `json:"schedules"`
	Timezone  string   `json:"timezone,omitempty"`
}

// ImageChange is a change in the images one template of a pipeline runs.
type ImageChange struct {
	Namespace string `json:"namespace"`
	Pipeline  string `json:"pipeline"`
	Template  string `json:"template"`
	// Before and After are the distinct images, sorted; nil when the
	// template is absent on that side.
	Before []string `json:"before,omitempty"`
	After  []string `json:"after,omitempty"`
}

// Empty reports whether the plan changes nothing.
func (p *Plan) Empty() bool { return p == nil || len(p.Objects) == 0 }

// objectKey identifies an object across two compiled sets.
type objectKey struct{ namespace, pipeline, kind, name string }

// compare orders keys by namespace, pipeline, kind and name.
func (k objectKey) compare(o objectKey) int {
	return cmp.Or(cmp.Compare(k.namespace, o.namespace), cmp.Compare(k.pipeline, o.pipeline),
		cmp.Compare(k.kind, o.kind), cmp.Compare(k.name, o.name))
}

// Diff compares two compiled sets (slash path to YAML, as in
// compiler.Result.Files) object by object. See the package documentation
// for what it leaves out. An error means a file is not a Kubernetes object
// in YAML, or two files hold the same object.
func Diff(base, head map[string][]byte) (*Plan, error) {
	before, err := parseSet(base)
	if err != nil {
		return nil, fmt.Errorf("base: %w", err)
	}
	after, err := parseSet(head)
	if err != nil {
		return nil, fmt.Errorf("head: %w", err)
	}
	keys := map[objectKey]bool{}
	for k := range before {
		keys[k] = true
	}
	for k := range after {
		keys[k] = true
	}
	sorted := make([]objectKey, 0, len(keys))
	for k := range keys {
		sorted = append(sorted, k)
	}
	slices.SortFunc(sorted, objectKey.compare)

	p := &Plan{}
	touched := map[[2]string]bool{}
	for _, k := range sorted {
		a, inA := before[k]
		b, inB := after[k]
		c := ObjectChange{Namespace: k.namespace, Pipeline: k.pipeline, Kind: k.kind, Name: k.name}
		switch {
		case !inA:
			c.Change = Added
		case !inB:
			c.Change = Removed
		default:
			c.Fields = diffObject(a, b)
			if len(c.Fields) == 0 {
				continue
			}
			c.Change = Changed
		}
		p.Objects = append(p.Objects, c)
		touched[[2]string{k.namespace, k.pipeline}] = true
		if k.kind == kindTemplate {
			p.Summary.TemplatesChanged++
		}
		if k.kind == kindCron {
			sa, sb := schedule(a), schedule(b)
			if !reflect.DeepEqual(sa, sb) {
				p.Summary.SchedulesMoved = append(p.Summary.SchedulesMoved, ScheduleMove{k.namespace, k.pipeline, sa, sb})
			}
		}
	}

	pipelines := make([][2]string, 0, len(touched))
	for pl := range touched {
		pipelines = append(pipelines, pl)
	}
	slices.SortFunc(pipelines, func(a, b [2]string) int { return cmp.Or(cmp.Compare(a[0], b[0]), cmp.Compare(a[1], b[1])) })
	for _, pl := range pipelines {
		ta, tb := templatesOf(before, pl), templatesOf(after, pl)
		ia, ib := imagesOf(ta), imagesOf(tb)
		names := map[string]bool{}
		for n := range ia {
			names[n] = true
		}
		for n := range ib {
			names[n] = true
		}
		for _, n := range slices.Sorted(maps.Keys(names)) {
			if !slices.Equal(ia[n], ib[n]) {
				p.Summary.ImagesChanged = append(p.Summary.ImagesChanged, ImageChange{pl[0], pl[1], n, ia[n], ib[n]})
			}
		}
		for i, ts := range [][]map[string]any{ta, tb} {
			for _, t := range ts {
				p.Summary.GPUHours[i] += gpuHours(t)
				p.Summary.Cost[i] += costPerRun(t)
			}
		}
	}
	return p, nil
}

// parseSet parses every object file of a compiled set.
func parseSet(files map[string][]byte) (map[objectKey]map[string]any, error) {
	objs := map[objectKey]map[string]any{}
	where := map[objectKey]string{}
	for _, name := range emit.Names(files) {
		base := path.Base(name)
		if base == emit.Kustomization || !(strings.HasSuffix(base, ".yaml") || strings.HasSuffix(base, ".yml")) {
			continue
		}
		var v any
		if err := yaml.Unmarshal(files[name], &v); err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		m, ok := v.(map[string]any)
		if !ok {
			return nil, fmt.Errorf("%s: not a Kubernetes object", name)
		}
		m = normalize(m, str(m, "metadata", "annotations", AnnotGitCommit)).(map[string]any)
		k := objectKey{
			namespace: str(m, "metadata", "namespace"),
			pipeline:  str(m, "metadata", "labels", LabelPipeline),
			kind:      str(m, "kind"),
			name:      str(m, "metadata", "name"),
		}
		if k.kind == "" || k.name == "" {
			return nil, fmt.Errorf("%s: not a Kubernetes object (no kind or metadata.name)", name)
		}
		if k.pipeline == "" {
			// Cairn's layout: <namespace>/<pipeline>/<file>.
			if parts := strings.Split(name, "/"); len(parts) == 3 {
				k.pipeline = parts[1]
			}
		}
		if prev, dup := where[k]; dup {
			return nil, fmt.Errorf("%s and %s both hold %s %s/%s", prev, name, k.kind, k.namespace, k.name)
		}
		where[k] = name
		objs[k] = m
	}
	return objs, nil
}

// normalize drops what varies between commits without a change (the git
// annotations, and the arguments "--git-commit", commit that pass the
// object's commit to the pack step) and parses strings holding JSON.
func normalize(v any, commit string) any {
	switch v := v.(type) {
	case map[string]any:
		for k, x := range v {
			if k == "annotations" {
				if m, ok := x.(map[string]any); ok {
					delete(m, AnnotGitCommit)
					delete(m, AnnotGitDirty)
					if len(m) == 0 {
						delete(v, k)
						continue
					}
				}
			}
			v[k] = normalize(x, commit)
		}
		return v
	case []any:
		out := v[:0]
		for i := 0; i < len(v); i++ {
			if commit != "" && v[i] == gitCommitFlag && i+1 < len(v) && v[i+1] == commit {
				i++
				continue
			}
			out = append(out, normalize(v[i], commit))
		}
		return out
	case string:
		t := strings.TrimSpace(v)
		if len(t) >= 2 && (t[0] == '{' || t[0] == '[') && json.Valid([]byte(t)) {
			var x any
			if json.Unmarshal([]byte(t), &x) == nil {
				return normalize(x, commit)
			}
		}
		return v
	}
	return v
}

// gitCommitFlag passes the commit to the pack step.
const gitCommitFlag = "--git-commit"

// digestPath is the path of an object's own spec digest.
var digestPath = pathOf("metadata", "annotations", AnnotSpecDigest)

// diffObject lists the fields that differ between two versions of an
// object, without spec digest echoes.
func diffObject(a, b map[string]any) []FieldChange {
	var all []FieldChange
	diffValue(&all, "", a, b)
	da, db := str(a, "metadata", "annotations", AnnotSpecDigest), str(b, "metadata", "annotations", AnnotSpecDigest)
	var out []FieldChange
	real := false
	for _, f := range all {
		if isDigestEcho(f, da, db) {
			if f.Path == digestPath {
				out = append(out, f)
			}
			continue
		}
		real = true
		out = append(out, f)
	}
	if !real {
		return nil
	}
	return out
}

// isDigestEcho reports whether f only replaces the old spec digest by the
// new one.
func isDigestEcho(f FieldChange, da, db string) bool {
	if da == "" || db == "" || da == db || f.Change != Changed {
		return false
	}
	o, ok1 := f.Old.(string)
	n, ok2 := f.New.(string)
	return ok1 && ok2 && strings.Contains(o, da) && strings.ReplaceAll(o, da, db) == n
}

// diffValue appends the differences between a and b at path p.
func diffValue(out *[]FieldChange, p string, a, b any) {
	switch a := a.(type) {
	case map[string]any:
		if b, ok := b.(map[string]any); ok {
			keys := map[string]bool{}
			for k := range a {
				keys[k] = true
			}
			for k := range b {
				keys[k] = true
			}
			for _, k := range slices.Sorted(maps.Keys(keys)) {
				x, inA := a[k]
				y, inB := b[k]
				q := joinKey(p, k)
				switch {
				case !inA:
					*out = append(*out, FieldChange{Path: q, New: y, Change: Added})
				case !inB:
					*out = append(*out, FieldChange{Path: q, Old: x, Change: Removed})
				default:
					diffValue(out, q, x, y)
				}
			}
			return
		}
	case []any:
		if b, ok := b.([]any); ok {
			diffList(out, p, a, b)
			return
		}
	}
	if !reflect.DeepEqual(a, b) {
		*out = append(*out, FieldChange{Path: p, Old: a, New: b, Change: Changed})
	}
}

// diffList compares two lists: by item name when every item of both has
// a distinct one, else by aligning them (see alignList).
func diffList(out *[]FieldChange, p string, a, b []any) {
	na, okA := names(a)
	nb, okB := names(b)
	if !okA || !okB {
		alignList(out, p, a, b)
		return
	}
	index := map[string]int{}
	for i, n := range na {
		index[n] = i
	}
	seen := map[string]bool{}
	for j, n := range nb {
		seen[n] = true
		q := p + "[name=" + quoteName(n) + "]"
		if i, ok := index[n]; ok {
			diffValue(out, q, a[i], b[j])
		} else {
			*out = append(*out, FieldChange{Path: q, New: b[j], Change: Added})
		}
	}
	for i, n := range na {
		if !seen[n] {
			*out = append(*out, FieldChange{Path: p + "[name=" + quoteName(n) + "]", Old: a[i], Change: Removed})
		}
	}
}

// maxAlign bounds the work of aligning two lists (len(a) × len(b));
// longer lists are compared index by index.
const maxAlign = 1 << 20

// alignList compares two lists of unnamed items. Equal items are matched
// by a longest common subsequence, so that an argument inserted in the
// middle of a command is one addition rather than a change of every
// argument after it; between two matches, removed and added items are
// paired in order and compared (a changed argument, a changed manifest),
// and the rest are removed or added. Items are named by their index in the
// new list, or in the old one when removed. Lists too long to align are
// compared index by index.
func alignList(out *[]FieldChange, p string, a, b []any) {
	at := func(i int) string { return p + "[" + strconv.Itoa(i) + "]" }
	n, m := len(a), len(b)
	if n*m > maxAlign {
		for i := range max(n, m) {
			switch {
			case i >= n:
				*out = append(*out, FieldChange{Path: at(i), New: b[i], Change: Added})
			case i >= m:
				*out = append(*out, FieldChange{Path: at(i), Old: a[i], Change: Removed})
			default:
				diffValue(out, at(i), a[i], b[i])
			}
		}
		return
	}
	// lcs[i][j] is the length of the longest common subsequence of a[i:]
	// and b[j:].
	lcs := make([][]int, n+1)
	for i := range lcs {
		lcs[i] = make([]int, m+1)
	}
	for i := n - 1; i >= 0; i-- {
		for j := m - 1; j >= 0; j-- {
			if reflect.DeepEqual(a[i], b[j]) {
				lcs[i][j] = lcs[i+1][j+1] + 1
			} else {
				lcs[i][j] = max(lcs[i+1][j], lcs[i][j+1])
			}
		}
	}
	// The alignment: for each item of b, the index of the equal item of a
	// matched with it, or -1.
	match := make([]int, m)
	for j := range match {
		match[j] = -1
	}
	for i, j := 0, 0; i < n && j < m; {
		switch {
		case reflect.DeepEqual(a[i], b[j]) && lcs[i][j] == lcs[i+1][j+1]+1:
			match[j] = i
			i++
			j++
		case lcs[i+1][j] >= lcs[i][j+1]:
			i++
		default:
			j++
		}
	}
	slideInsertions(match, b, n)
	// gap reports the unmatched a[i0:i] and b[j0:j].
	gap := func(i0, i, j0, j int) {
		k := 0
		for ; i0+k < i && j0+k < j; k++ {
			diffValue(out, at(j0+k), a[i0+k], b[j0+k])
		}
		for x := i0 + k; x < i; x++ {
			*out = append(*out, FieldChange{Path: at(x), Old: a[x], Change: Removed})
		}
		for y := j0 + k; y < j; y++ {
			*out = append(*out, FieldChange{Path: at(y), New: b[y], Change: Added})
		}
	}
	i0, j0 := 0, 0
	for j, i := range match {
		if i >= 0 {
			gap(i0, i, j0, j)
			i0, j0 = i+1, j+1
		}
	}
	gap(i0, n, j0, m)
}

// slideInsertions moves each run of inserted items of b (match < 0) up
// while the item before it is matched, no item of a is removed between
// them, and it equals the run's last item: the same alignment with the
// same number of changes, but an inserted flag and value, "--x", "v",
// before an existing "--x", "w", then reads as such rather than as "v",
// "--x" after the existing flag. n is the length of a.
func slideInsertions(match []int, b []any, n int) {
	m := len(match)
	for s := 0; s < m; {
		if match[s] >= 0 {
			s++
			continue
		}
		e := s
		for e < m && match[e] < 0 {
			e++
		}
		// b[s:e] is inserted before a[next].
		next := n
		if e < m {
			next = match[e]
		}
		for s > 0 && match[s-1] == next-1 && match[s-1] >= 0 && reflect.DeepEqual(b[s-1], b[e-1]) {
			match[e-1], match[s-1] = match[s-1], -1
			next = match[e-1]
			s--
			e--
		}
		s = e // matched, or the end
	}
}

// names returns the "name" of every item, and whether each has a distinct
// string one. An empty list qualifies, so it is keyed like its other side.
func names(l []any) ([]string, bool) {
	out := make([]string, len(l))
	seen := map[string]bool{}
	for i, x := range l {
		m, ok := x.(map[string]any)
		if !ok {
			return nil, false
		}
		n, ok := m["name"].(string)
		if !ok || seen[n] {
			return nil, false
		}
		seen[n] = true
		out[i] = n
	}
	return out, true
}

// word is a map key written after a dot; others are bracketed and quoted.
var word = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_-]*$`)

// joinKey appends a map key to a path.
func joinKey(p, k string) string {
	if !word.MatchString(k) {
		return p + "[" + strconv.Quote(k) + "]"
	}
	if p == "" {
		return k
	}
	return p + "." + k
}

// pathOf returns the path of nested map keys.
func pathOf(keys ...string) string {
	p := ""
	for _, k := range keys {
		p = joinKey(p, k)
	}
	return p
}

// plainName is a list item name written without quotes.
var plainName = regexp.MustCompile(`^[A-Za-z0-9_.-]+$`)

// quoteName writes a list item's name in a path.
func quoteName(n string) string {
	if plainName.MatchString(n) {
		return n
	}
	return strconv.Quote(n)
}

// schedule returns a CronWorkflow's schedule, nil for no object.
func schedule(m map[string]any) *Schedule {
	if m == nil {
		return nil
	}
	s := &Schedule{Timezone: str(m, "spec", "timezone")}
	if l, ok := get(m, "spec", "schedules").([]any); ok {
		for _, x := range l {
			if c, ok := x.(string); ok {
				s.Schedules = append(s.Schedules, c)
			}
		}
	}
	if c := str(m, "spec", "schedule"); c != "" { // Argo's older field
		s.Schedules = append(s.Schedules, c)
	}
	return s
}

// templatesOf returns a pipeline's WorkflowTemplates in name order.
func templatesOf(objs map[objectKey]map[string]any, pl [2]string) []map[string]any {
	var keys []objectKey
	for k := range objs {
		if k.namespace == pl[0] && k.pipeline == pl[1] && k.kind == kindTemplate {
			keys = append(keys, k)
		}
	}
	slices.SortFunc(keys, objectKey.compare)
	out := make([]map[string]any, len(keys))
	for i, k := range keys {
		out[i] = objs[k]
	}
	return out
}

// imagesOf maps each Argo template of the WorkflowTemplates to the
// distinct container images it runs, sorted.
func imagesOf(wts []map[string]any) map[string][]string {
	out := map[string][]string{}
	for _, wt := range wts {
		for _, t := range list(get(wt, "spec", "templates")) {
			tm, ok := t.(map[string]any)
			if !ok {
				continue
			}
			name, _ := tm["name"].(string)
			var images []string
			for _, c := range containersOf(tm) {
				if img, ok := c["image"].(string); ok && img != "" {
					images = append(images, img)
				}
			}
			if manifest, ok := get(tm, "resource", "manifest").(map[string]any); ok {
				walkPodSpecs(manifest, func(spec map[string]any) {
					for _, l := range []string{"initContainers", "containers"} {
						for _, c := range list(spec[l]) {
							if img, ok := get(c, "image").(string); ok && img != "" {
								images = append(images, img)
							}
						}
					}
				})
			}
			if len(images) == 0 {
				continue
			}
			images = append(out[name], images...)
			slices.Sort(images)
			out[name] = slices.Compact(images)
		}
	}
	return out
}

// containersOf returns the containers of an Argo template.
func containersOf(t map[string]any) []map[string]any {
	var out []map[string]any
	add := func(v any) {
		if m, ok := v.(map[string]any); ok {
			out = append(out, m)
		}
	}
	add(t["container"])
	add(t["script"])
	for _, l := range []any{t["initContainers"], t["sidecars"], get(t, "containerSet", "containers")} {
		for _, c := range list(l) {
			add(c)
		}
	}
	return out
}

// walkPodSpecs calls f on every map in v holding a "containers" list: the
// pod specs of a manifest.
func walkPodSpecs(v any, f func(map[string]any)) {
	switch v := v.(type) {
	case map[string]any:
		if _, ok := v["containers"].([]any); ok {
			f(v)
			return
		}
		for _, k := range slices.Sorted(maps.Keys(v)) {
			walkPodSpecs(v[k], f)
		}
	case []any:
		for _, x := range v {
			walkPodSpecs(x, f)
		}
	}
}

// gpuHours estimates the GPU-hours of one run of a WorkflowTemplate.
func gpuHours(wt map[string]any) float64 {
	if h, ok := number(str(wt, "metadata", "annotations", AnnotGPUHours)); ok {
		return h
	}
	total := 0.0
	for _, t := range list(get(wt, "spec", "templates")) {
		tm, ok := t.(map[string]any)
		if !ok {
			continue
		}
		deadline, _ := number(get(tm, "activeDeadlineSeconds"))
		gpus := 0.0
		for _, c := range containersOf(tm) {
			gpus += gpuLimit(c)
		}
		if manifest, ok := get(tm, "resource", "manifest").(map[string]any); ok && get(manifest, "kind") == "MPIJob" {
			if deadline == 0 {
				deadline, _ = number(get(manifest, "spec", "runPolicy", "activeDeadlineSeconds"))
			}
			specs, _ := get(manifest, "spec", "mpiReplicaSpecs").(map[string]any)
			for _, role := range slices.Sorted(maps.Keys(specs)) {
				replicas, ok := number(get(specs[role], "replicas"))
				if !ok {
					replicas = 1
				}
				perPod := 0.0
				for _, c := range list(get(specs[role], "template", "spec", "containers")) {
					if cm, ok := c.(map[string]any); ok {
						perPod += gpuLimit(cm)
					}
				}
				gpus += replicas * perPod
			}
		}
		total += gpus * deadline / 3600
	}
	return total
}

// gpuLimit returns a container's GPU limit (or request, without one).
func gpuLimit(c map[string]any) float64 {
	for _, k := range []string{"limits", "requests"} {
		if n, ok := number(get(c, "resources", k, ResourceGPU)); ok {
			return n
		}
	}
	return 0
}

// costPerRun reads a WorkflowTemplate's cost annotation.
func costPerRun(wt map[string]any) float64 {
	s := strings.TrimSpace(str(wt, "metadata", "annotations", AnnotCostPerRun))
	s = strings.TrimSpace(strings.TrimSuffix(strings.TrimPrefix(s, "$"), "USD"))
	n, _ := number(s)
	return n
}

// number reads a float64 or a string holding a number.
func number(v any) (float64, bool) {
	switch v := v.(type) {
	case float64:
		return v, true
	case string:
		n, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
		return n, err == nil
	}
	return 0, false
}

// get walks maps by keys; nil when a step is missing.
func get(v any, keys ...string) any {
	for _, k := range keys {
		m, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = m[k]
	}
	return v
}

// str is get for a string; "" when absent.
func str(v any, keys ...string) string {
	s, _ := get(v, keys...).(string)
	return s
}

// list is v as a list; nil when it is not one.
func list(v any) []any {
	l, _ := v.([]any)
	return l
}
