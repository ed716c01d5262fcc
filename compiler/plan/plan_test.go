package plan

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"

	"cairn.dev/cairn/compiler"
	"cairn.dev/cairn/compiler/emit"
)

// writeTree writes files under dir.
func writeTree(t *testing.T, dir string, files map[string][]byte) {
	t.Helper()
	for name, data := range files {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func TestCheckDir(t *testing.T) {
	compiled := map[string][]byte{
		"ns/p/workflowtemplate.yaml": []byte(emit.Header + "kind: WorkflowTemplate\n"),
		"ns/p/cronworkflow.yaml":     []byte(emit.Header + "kind: CronWorkflow\n"),
	}
	emit.AddKustomizations(compiled)
	with := func(edit func(m map[string][]byte)) map[string][]byte {
		m := map[string][]byte{}
		for k, v := range compiled {
			m[k] = v
		}
		edit(m)
		return m
	}
	tests := []struct {
		name string
		disk map[string][]byte // nil: no folder at all
		want []FileChange
	}{
		{"identical", compiled, nil},
		{"added", with(func(m map[string][]byte) { delete(m, "ns/p/cronworkflow.yaml") }),
			[]FileChange{{"ns/p/cronworkflow.yaml", Added}}},
		{"removed", with(func(m map[string][]byte) {
			m["ns/q/workflowtemplate.yaml"] = []byte(emit.Header + "kind: WorkflowTemplate\n")
		}),
			[]FileChange{{"ns/q/workflowtemplate.yaml", Removed}}},
		{"changed", with(func(m map[string][]byte) {
			m["ns/p/cronworkflow.yaml"] = []byte(emit.Header + "kind: CronWorkflow\nspec: {}\n")
		}),
			[]FileChange{{"ns/p/cronworkflow.yaml", Changed}}},
		{"missing folder", nil, []FileChange{
			{"kustomization.yaml", Added},
			{"ns/kustomization.yaml", Added},
			{"ns/p/cronworkflow.yaml", Added},
			{"ns/p/kustomization.yaml", Added},
			{"ns/p/workflowtemplate.yaml", Added},
		}},
		{"foreign file", with(func(m map[string][]byte) {
			m["README.md"] = []byte("hand-written\n")
			m["ns/p/workflowtemplate.yaml"] = []byte("kind: WorkflowTemplate\n") // same object, no header
		}), []FileChange{{"README.md", Removed}, {"ns/p/workflowtemplate.yaml", Changed}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "rendered")
			if tt.disk != nil {
				writeTree(t, out, tt.disk)
			}
			got, err := CheckDir(out, compiled)
			if err != nil {
				t.Fatalf("CheckDir(%s) error: %v", tt.name, err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("CheckDir(%s) = %v, want %v", tt.name, got, tt.want)
			}
		})
	}
}

func TestCheckDirNotAFolder(t *testing.T) {
	f := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(f, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if got, err := CheckDir(f, nil); err == nil {
		t.Errorf("CheckDir(a file) = %v, nil, want an error", got)
	}
}

// TestCheckDirWritten checks CheckDir against the folder emit.Write
// makes of a real compile.
func TestCheckDirWritten(t *testing.T) {
	res := compile(t, "fraud")
	out := filepath.Join(t.TempDir(), "rendered")
	if err := emit.Write(out, res.Files); err != nil {
		t.Fatal(err)
	}
	if got, err := CheckDir(out, res.Files); err != nil || got != nil {
		t.Errorf("CheckDir(written fraud) = %v, %v, want nil, nil", got, err)
	}
	head := compile(t, "fraud", `cron: "0 3 * * 1"`, `cron: "0 4 * * 1"`)
	// Every object carries the spec digest, so each one changes.
	want := []FileChange{
		{"payments-ml/fraud/cronworkflow.yaml", Changed}, {"payments-ml/fraud/drift-cronworkflow.yaml", Changed},
		{"payments-ml/fraud/prometheusrule.yaml", Changed}, {"payments-ml/fraud/role.yaml", Changed},
		{"payments-ml/fraud/rolebinding.yaml", Changed}, {"payments-ml/fraud/serviceaccount.yaml", Changed},
		{"payments-ml/fraud/workflowtemplate.yaml", Changed},
	}
	if got, err := CheckDir(out, head.Files); err != nil || !reflect.DeepEqual(got, want) {
		t.Errorf("CheckDir(written fraud, new cron) = %v, %v, want %v, nil", got, err, want)
	}
}

// compile compiles a copy of an example, its spec edited by replacing
// each edits[i] (which must occur) by edits[i+1], once.
func compile(t *testing.T, example string, edits ...string) *compiler.Result {
	t.Helper()
	return compileWith(t, compiler.Options{}, example, edits...)
}

func compileWith(t *testing.T, opts compiler.Options, example string, edits ...string) *compiler.Result {
	t.Helper()
	src := filepath.Join("../../examples", example)
	specs, err := filepath.Glob(filepath.Join(src, "*.cue"))
	if err != nil || len(specs) == 0 {
		t.Fatalf("examples/%s: no .cue files (%v)", example, err)
	}
	module, err := os.ReadFile(filepath.Join(src, "cue.mod", "module.cue"))
	if err != nil {
		t.Fatal(err)
	}
	files := map[string]string{"cue.mod/module.cue": string(module)}
	var names []string
	for _, p := range specs {
		data, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		files[filepath.Base(p)] = string(data)
		names = append(names, filepath.Base(p))
	}
edits:
	for i := 0; i+1 < len(edits); i += 2 {
		for _, name := range names {
			if strings.Contains(files[name], edits[i]) {
				files[name] = strings.Replace(files[name], edits[i], edits[i+1], 1)
				continue edits
			}
		}
		t.Fatalf("examples/%s: %q not found", example, edits[i])
	}
	dir := t.TempDir()
	for name, text := range files {
		writeTree(t, dir, map[string][]byte{name: []byte(text)})
	}
	opts.Dir = dir
	res, err := compiler.Compile(opts)
	if err != nil {
		t.Fatalf("compiling edited examples/%s: %v", example, err)
	}
	return res
}

// isEstimate reports whether a path is one of the compiler's estimate
// annotations, checked through the Summary rather than field by field.
func isEstimate(path string) bool {
	return strings.HasPrefix(path, `metadata.annotations["cairn.dev/cost-per-`) ||
		path == `metadata.annotations["`+AnnotGPUHours+`"]`
}

// withoutEstimates drops the estimate annotations from every file, so
// that Diff computes GPU-hours itself.
func withoutEstimates(files map[string][]byte) map[string][]byte {
	out := map[string][]byte{}
	for name, data := range files {
		var lines []string
		for _, l := range strings.SplitAfter(string(data), "\n") {
			if t := strings.TrimSpace(l); strings.HasPrefix(t, AnnotGPUHours+":") || strings.HasPrefix(t, "cairn.dev/cost-per-") {
				continue
			}
			lines = append(lines, l)
		}
		out[name] = []byte(strings.Join(lines, ""))
	}
	return out
}

// fieldSummary lists an object's field changes written "path change",
// without the estimate annotations.
func fieldSummary(o ObjectChange) []string {
	var out []string
	for _, f := range o.Fields {
		if isEstimate(f.Path) {
			continue
		}
		out = append(out, f.Path+" "+f.Change)
	}
	return out
}

// objectSummary is an ObjectChange written "kind ns/name change".
func objectSummary(p *Plan) []string {
	var out []string
	for _, o := range p.Objects {
		out = append(out, o.Kind+" "+o.Namespace+"/"+o.Name+" "+o.Change)
	}
	return out
}

const (
	digest   = `metadata.annotations["cairn.dev/spec-digest"] changed`
	packSpec = "spec.templates[name=pack].container.args[1]."
)

// imageIn returns the first image in compiled files that starts with
// prefix, as the compiler wrote it (with its digest, when pinned).
func imageIn(t *testing.T, files map[string][]byte, prefix string) string {
	t.Helper()
	// Plain YAML, or the JSON of an MPIJob manifest inside a quoted string.
	re := regexp.MustCompile(`image\\?"?: \\?"?(` + regexp.QuoteMeta(prefix) + `[^"\s\\]*)`)
	for _, name := range emit.Names(files) {
		if m := re.FindSubmatch(files[name]); m != nil {
			return string(m[1])
		}
	}
	t.Fatalf("no image %s... in the compiled files", prefix)
	return ""
}

func TestDiffFraud(t *testing.T) {
	base := compile(t, "fraud").Files
	trainImage := imageIn(t, base, "registry.example.com/payments/train:1.4.2")
	trainImage2 := strings.Replace(trainImage, "1.4.2", "1.5.0", 1)
	platform := imageIn(t, base, "ghcr.io/cairn-dev/cairn:")
	cron := &Schedule{Schedules: []string{"0 3 * * 1"}, Timezone: "UTC"}
	tests := []struct {
		name      string
		edits     []string
		objects   []string
		template  []string // fields of the WorkflowTemplate
		cron      []string // fields of the CronWorkflow
		schedules []ScheduleMove
		images    []ImageChange
		gpuHours  [2]float64
	}{
		{
			name:     "train image",
			edits:    []string{"train:1.4.2", "train:1.5.0"}, // the first is train's, then evaluate's
			objects:  []string{"WorkflowTemplate payments-ml/fraud changed"},
			template: []string{digest, "spec.templates[name=train].container.image changed", packSpec + "pipeline.train.image changed"},
			images:   []ImageChange{{"payments-ml", "fraud", "train", []string{trainImage}, []string{trainImage2}}},
			gpuHours: [2]float64{4, 4},
		},
		{
			name:      "cron",
			edits:     []string{`cron: "0 3 * * 1"`, `cron: "0 4 * * 1"`},
			objects:   []string{"CronWorkflow payments-ml/fraud changed", "WorkflowTemplate payments-ml/fraud changed"},
			cron:      []string{digest, "spec.schedules[0] changed"},
			template:  []string{digest, packSpec + "pipeline.schedule.cron changed"},
			schedules: []ScheduleMove{{"payments-ml", "fraud", cron, &Schedule{Schedules: []string{"0 4 * * 1"}, Timezone: "UTC"}}},
			gpuHours:  [2]float64{4, 4},
		},
		{
			name:    "two GPUs",
			edits:   []string{"gpusPerNode: 1", "gpusPerNode: 2"},
			objects: []string{"WorkflowTemplate payments-ml/fraud changed"},
			template: []string{digest, `spec.templates[name=train].container.resources.limits["nvidia.com/gpu"] changed`,
				packSpec + "pipeline.train.compute.gpusPerNode changed"},
			// 1 GPU × 4h, then 2 GPUs × 4h.
			gpuHours: [2]float64{4, 8},
		},
		{
			name:      "no schedule",
			edits:     []string{`schedule: cron: "0 3 * * 1"`, ""},
			objects:   []string{"CronWorkflow payments-ml/fraud removed", "WorkflowTemplate payments-ml/fraud changed"},
			template:  []string{digest, packSpec + "pipeline.schedule removed"},
			schedules: []ScheduleMove{{"payments-ml", "fraud", cron, nil}},
			gpuHours:  [2]float64{4, 4},
		},
		{
			name: "new dataset",
			edits: []string{"\tfeatures: \"build-features\"",
				"\tdata: merchants: {uri: \"s3://payments-data/merchants\", format: \"parquet\"}\n\tfeatures: \"build-features\""},
			objects: []string{"WorkflowTemplate payments-ml/fraud changed"},
			template: []string{
				digest,
				"spec.templates[name=main].dag.tasks[name=validate-merchants] added",
				"spec.templates[name=main].dag.tasks[name=pack].arguments.parameters[name=digest-merchants] added",
				"spec.templates[name=main].dag.tasks[name=pack].depends changed",
				"spec.templates[name=validate-merchants] added",
				packSpec + "pipeline.data.merchants added",
				// --dataset-digest merchants=... goes in before the
				// transactions' pair: two arguments added.
				"spec.templates[name=pack].container.args[16] added",
				"spec.templates[name=pack].container.args[17] added",
				"spec.templates[name=pack].inputs.parameters[name=digest-merchants] added",
			},
			images:   []ImageChange{{"payments-ml", "fraud", "validate-merchants", nil, []string{platform}}},
			gpuHours: [2]float64{4, 4},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			head := compile(t, "fraud", tt.edits...).Files
			p, err := Diff(base, head)
			if err != nil {
				t.Fatalf("Diff(%s) error: %v", tt.name, err)
			}
			if got := objectSummary(p); !slices.Equal(got, tt.objects) {
				t.Errorf("Diff(%s).Objects = %q, want %q", tt.name, got, tt.objects)
			}
			for _, o := range p.Objects {
				want := map[string][]string{"WorkflowTemplate": tt.template, "CronWorkflow": tt.cron}[o.Kind]
				if got := fieldSummary(o); !slices.Equal(got, want) {
					t.Errorf("Diff(%s) %s fields = %q, want %q", tt.name, o.Kind, got, want)
				}
			}
			s := p.Summary
			if s.TemplatesChanged != 1 {
				t.Errorf("Diff(%s).Summary.TemplatesChanged = %d, want 1", tt.name, s.TemplatesChanged)
			}
			if !reflect.DeepEqual(s.SchedulesMoved, tt.schedules) {
				t.Errorf("Diff(%s).Summary.SchedulesMoved = %+v, want %+v", tt.name, s.SchedulesMoved, tt.schedules)
			}
			if !reflect.DeepEqual(s.ImagesChanged, tt.images) {
				t.Errorf("Diff(%s).Summary.ImagesChanged = %+v, want %+v", tt.name, s.ImagesChanged, tt.images)
			}
			if s.GPUHours != tt.gpuHours {
				t.Errorf("Diff(%s).Summary.GPUHours = %v, want %v", tt.name, s.GPUHours, tt.gpuHours)
			}
			computed, err := Diff(withoutEstimates(base), withoutEstimates(head))
			if err != nil {
				t.Fatal(err)
			}
			if got := computed.Summary.GPUHours; got != tt.gpuHours {
				t.Errorf("Diff(%s without estimate annotations).Summary.GPUHours = %v, want %v", tt.name, got, tt.gpuHours)
			}
		})
	}
}

func TestDiffFieldValues(t *testing.T) {
	p, err := Diff(withoutEstimates(compile(t, "fraud").Files), withoutEstimates(compile(t, "fraud", "gpusPerNode: 1", "gpusPerNode: 2").Files))
	if err != nil {
		t.Fatal(err)
	}
	want := []FieldChange{
		{Path: `spec.templates[name=train].container.resources.limits["nvidia.com/gpu"]`, Old: "1", New: "2", Change: Changed},
		{Path: packSpec + "pipeline.train.compute.gpusPerNode", Old: 1.0, New: 2.0, Change: Changed},
	}
	if len(p.Objects) != 1 || len(p.Objects[0].Fields) != 3 {
		t.Fatalf("Diff(two GPUs) = %+v, want one object with three fields", p.Objects)
	}
	if got := p.Objects[0].Fields[1:]; !reflect.DeepEqual(got, want) {
		t.Errorf("Diff(two GPUs) fields = %+v, want %+v", got, want)
	}
	d := p.Objects[0].Fields[0]
	if o, n := d.Old.(string), d.New.(string); !strings.HasPrefix(o, "sha256:") || !strings.HasPrefix(n, "sha256:") || o == n {
		t.Errorf("Diff(two GPUs) digest = %q -> %q, want two different sha256 digests", o, n)
	}
}

func TestDiffNoChanges(t *testing.T) {
	tests := []struct {
		name       string
		base, head *compiler.Result
	}{
		{"identical", compile(t, "fraud"), compile(t, "fraud")},
		{"other commit", compileWith(t, compiler.Options{GitCommit: "1111111"}, "fraud"),
			compileWith(t, compiler.Options{GitCommit: "2222222", Dirty: true}, "fraud")},
		{"commit added", compile(t, "fraud"), compileWith(t, compiler.Options{GitCommit: "2222222"}, "fraud")},
		{"kustomization only", compile(t, "fraud"), func() *compiler.Result {
			r := compile(t, "fraud")
			r.Files["kustomization.yaml"] = append(r.Files["kustomization.yaml"], "# edited\n"...)
			return r
		}()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := Diff(tt.base.Files, tt.head.Files)
			if err != nil {
				t.Fatalf("Diff(%s) error: %v", tt.name, err)
			}
			if !p.Empty() || !reflect.DeepEqual(*p, Plan{}) {
				t.Errorf("Diff(%s) = %+v, want an empty plan", tt.name, p)
			}
			var b bytes.Buffer
			if err := p.Text(&b, true); err != nil || b.String() != "no changes\n" {
				t.Errorf("Diff(%s).Text = %q, %v, want %q", tt.name, b.String(), err, "no changes\n")
			}
		})
	}
}

func TestDiffMPI(t *testing.T) {
	// Without the compiler's estimate, so that the MPIJob is read.
	base := withoutEstimates(compile(t, "bert-pretrain").Files)
	const mpi = "spec.templates[name=train].resource.manifest.spec."
	image := imageIn(t, base, "registry.example.com/nlp/bert-pretrain:3.1.0")
	image2 := strings.Replace(image, "3.1.0", "3.2.0", 1)
	platform := imageIn(t, base, "ghcr.io/cairn-dev/cairn:")
	t.Run("added", func(t *testing.T) {
		p, err := Diff(nil, base)
		if err != nil {
			t.Fatal(err)
		}
		want := []string{
			"Role nlp-research/cairn-pipeline-bert-pretrain added", "RoleBinding nlp-research/cairn-pipeline-bert-pretrain added",
			"ServiceAccount nlp-research/cairn-pipeline-bert-pretrain added", "WorkflowTemplate nlp-research/bert-pretrain added",
		}
		if got := objectSummary(p); !slices.Equal(got, want) {
			t.Errorf("Diff(nil, bert).Objects = %q, want %q", got, want)
		}
		// 2 nodes × 8 GPUs × 2h.
		if got, want := p.Summary.GPUHours, [2]float64{0, 32}; got != want {
			t.Errorf("Diff(nil, bert).Summary.GPUHours = %v, want %v", got, want)
		}
		ingest := imageIn(t, base, "registry.example.com/nlp/corpus-tools:")
		wantImages := []ImageChange{
			{"nlp-research", "bert-pretrain", "ingest-corpus", nil, []string{ingest}},
			{"nlp-research", "bert-pretrain", "pack", nil, []string{platform}},
			{"nlp-research", "bert-pretrain", "train", nil, []string{image}},
			{"nlp-research", "bert-pretrain", "validate-corpus", nil, []string{platform}},
		}
		if got := p.Summary.ImagesChanged; !reflect.DeepEqual(got, wantImages) {
			t.Errorf("Diff(nil, bert).Summary.ImagesChanged = %+v, want %+v", got, wantImages)
		}
		back, err := Diff(base, nil)
		if err != nil {
			t.Fatal(err)
		}
		if got, want := back.Summary.GPUHours, [2]float64{32, 0}; got != want {
			t.Errorf("Diff(bert, nil).Summary.GPUHours = %v, want %v", got, want)
		}
	})
	t.Run("image and GPUs", func(t *testing.T) {
		head := compile(t, "bert-pretrain", "bert-pretrain:3.1.0", "bert-pretrain:3.2.0", "gpusPerNode: 8", "gpusPerNode: 4").Files
		p, err := Diff(base, withoutEstimates(head))
		if err != nil {
			t.Fatal(err)
		}
		wantFields := []string{
			digest,
			mpi + "mpiReplicaSpecs.Launcher.template.spec.containers[name=launcher].command[2] changed", // mpirun -np 16 -> 8
			mpi + "mpiReplicaSpecs.Launcher.template.spec.containers[name=launcher].image changed",
			mpi + "mpiReplicaSpecs.Worker.template.spec.containers[name=worker].image changed",
			mpi + `mpiReplicaSpecs.Worker.template.spec.containers[name=worker].resources.limits["nvidia.com/gpu"] changed`,
			mpi + "slotsPerWorker changed",
			packSpec + "pipeline.train.compute.gpusPerNode changed",
			packSpec + "pipeline.train.image changed",
		}
		if len(p.Objects) != 1 {
			t.Fatalf("Diff(bert image and GPUs).Objects = %q, want one", objectSummary(p))
		}
		if got := fieldSummary(p.Objects[0]); !slices.Equal(got, wantFields) {
			t.Errorf("Diff(bert image and GPUs) fields = %q, want %q", got, wantFields)
		}
		wantImages := []ImageChange{{"nlp-research", "bert-pretrain", "train", []string{image}, []string{image2}}}
		if got := p.Summary.ImagesChanged; !reflect.DeepEqual(got, wantImages) {
			t.Errorf("Diff(bert image and GPUs).Summary.ImagesChanged = %+v, want %+v", got, wantImages)
		}
		// 2 nodes × 8 GPUs × 2h, then 2 × 4 × 2h.
		if got, want := p.Summary.GPUHours, [2]float64{32, 16}; got != want {
			t.Errorf("Diff(bert image and GPUs).Summary.GPUHours = %v, want %v", got, want)
		}
		// The compiler's annotation, where it writes one, agrees.
		annotated, err := Diff(compile(t, "bert-pretrain").Files, head)
		if err != nil {
			t.Fatal(err)
		}
		if got, want := annotated.Summary.GPUHours, [2]float64{32, 16}; got != want {
			t.Errorf("Diff(bert image and GPUs, annotated).Summary.GPUHours = %v, want %v", got, want)
		}
	})
}

// annotate adds annotations to the WorkflowTemplate of a compiled set.
func annotate(t *testing.T, files map[string][]byte, name string, annotations ...string) map[string][]byte {
	t.Helper()
	const anchor = "  annotations:\n"
	out := map[string][]byte{}
	for k, v := range files {
		out[k] = v
	}
	text := string(files[name])
	if !strings.Contains(text, anchor) {
		t.Fatalf("%s has no annotations", name)
	}
	var add string
	for i := 0; i+1 < len(annotations); i += 2 {
		add += "    " + annotations[i] + ": " + annotations[i+1] + "\n"
	}
	out[name] = []byte(strings.Replace(text, anchor, anchor+add, 1))
	return out
}

func TestDiffAnnotations(t *testing.T) {
	const wt = "payments-ml/fraud/workflowtemplate.yaml"
	base := withoutEstimates(compile(t, "fraud").Files)
	head := withoutEstimates(compile(t, "fraud", "gpusPerNode: 1", "gpusPerNode: 2").Files)
	tests := []struct {
		name       string
		base, head map[string][]byte
		gpuHours   [2]float64
		cost       [2]float64
	}{
		{"computed", base, head, [2]float64{4, 8}, [2]float64{}},
		{"gpu-hours annotation", annotate(t, base, wt, AnnotGPUHours, `"2.5"`), annotate(t, head, wt, AnnotGPUHours, `"5"`),
			[2]float64{2.5, 5}, [2]float64{}},
		{"cost annotation", annotate(t, base, wt, AnnotCostPerRun, `"3.2"`), annotate(t, head, wt, AnnotCostPerRun, `"$6.40"`),
			[2]float64{4, 8}, [2]float64{3.2, 6.4}},
		{"cost added", base, annotate(t, head, wt, AnnotCostPerRun, `"6.4 USD"`), [2]float64{4, 8}, [2]float64{0, 6.4}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := Diff(tt.base, tt.head)
			if err != nil {
				t.Fatalf("Diff(%s) error: %v", tt.name, err)
			}
			if p.Summary.GPUHours != tt.gpuHours || p.Summary.Cost != tt.cost {
				t.Errorf("Diff(%s).Summary GPUHours, Cost = %v, %v, want %v, %v", tt.name, p.Summary.GPUHours, p.Summary.Cost, tt.gpuHours, tt.cost)
			}
		})
	}
}

func TestDiffErrors(t *testing.T) {
	tests := []struct {
		name string
		head map[string][]byte
	}{
		{"not YAML", map[string][]byte{"ns/p/x.yaml": []byte("a: [\n")}},
		{"not an object", map[string][]byte{"ns/p/x.yaml": []byte("- a\n")}},
		{"no kind", map[string][]byte{"ns/p/x.yaml": []byte("metadata: {name: p}\n")}},
		{"duplicate", map[string][]byte{
			"ns/p/a.yaml": []byte("kind: WorkflowTemplate\nmetadata: {name: p, namespace: ns}\n"),
			"ns/p/b.yaml": []byte("kind: WorkflowTemplate\nmetadata: {name: p, namespace: ns}\n"),
		}},
	}
	for _, tt := range tests {
		if p, err := Diff(nil, tt.head); err == nil {
			t.Errorf("Diff(%s) = %+v, nil, want an error", tt.name, p)
		}
	}
}

// Small hand-written objects for the text tests.
const (
	smallTemplate = emit.Header + `apiVersion: argoproj.io/v1alpha1
kind: WorkflowTemplate
metadata:
  annotations:
    cairn.dev/spec-digest: sha256:%[1]s
  labels:
    cairn.dev/pipeline: p
  name: p
  namespace: ns
spec:
  templates:
  - activeDeadlineSeconds: 3600
    container:
      args:
      - --spec-digest
      - sha256:%[1]s
      image: %[2]s
      resources:
        limits:
          nvidia.com/gpu: "%[3]s"
    name: train
`
	smallCron = emit.Header + `apiVersion: argoproj.io/v1alpha1
kind: CronWorkflow
metadata:
  annotations:
    cairn.dev/spec-digest: sha256:%[1]s
  labels:
    cairn.dev/pipeline: %[2]s
  name: %[2]s
  namespace: ns
spec:
  schedules:
  - "%[3]s"
  timezone: UTC
`
)

func smallSet(digest, image, gpus, cron string, withQ bool) map[string][]byte {
	files := map[string][]byte{
		"ns/p/workflowtemplate.yaml": fmt.Appendf(nil, smallTemplate, digest, image, gpus),
		"ns/p/cronworkflow.yaml":     fmt.Appendf(nil, smallCron, digest, "p", cron),
	}
	if withQ {
		files["ns/q/cronworkflow.yaml"] = fmt.Appendf(nil, smallCron, "0ld", "q", "@daily")
	}
	emit.AddKustomizations(files)
	return files
}

func smallPlan(t *testing.T) *Plan {
	t.Helper()
	p, err := Diff(smallSet("aaa", "train:1", "1", "0 3 * * 1", true), smallSet("bbb", "train:2", "2", "0 4 * * 1", false))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestText(t *testing.T) {
	var b bytes.Buffer
	if err := smallPlan(t).Text(&b, false); err != nil {
		t.Fatal(err)
	}
	want := `~ CronWorkflow ns/p
  metadata.annotations["cairn.dev/spec-digest"]:
-   sha256:aaa
+   sha256:bbb
  spec.schedules[0]:
-   "0 3 * * 1"
+   "0 4 * * 1"
~ WorkflowTemplate ns/p
  metadata.annotations["cairn.dev/spec-digest"]:
-   sha256:aaa
+   sha256:bbb
  spec.templates[name=train].container.image:
-   train:1
+   train:2
  spec.templates[name=train].container.resources.limits["nvidia.com/gpu"]:
-   "1"
+   "2"
- CronWorkflow ns/q

templates changed: 1
schedule moved: ns/p: 0 3 * * 1 -> 0 4 * * 1
schedule moved: ns/q: @daily -> (none)
image changed: ns/p/train: train:1 -> train:2
GPU-hours per run: 1.0 -> 2.0
`
	if got := b.String(); got != want {
		t.Errorf("Text(small, false) = \n%s\nwant\n%s", got, want)
	}
}

func TestTextColor(t *testing.T) {
	var plain, color bytes.Buffer
	p := smallPlan(t)
	if err := p.Text(&plain, false); err != nil {
		t.Fatal(err)
	}
	if err := p.Text(&color, true); err != nil {
		t.Fatal(err)
	}
	got := color.String()
	for _, want := range []string{red + "-   train:1" + reset, green + "+   train:2" + reset, yellow + "~ WorkflowTemplate ns/p" + reset, red + "- CronWorkflow ns/q" + reset} {
		if !strings.Contains(got, want) {
			t.Errorf("Text(small, true) = %q, want it to contain %q", got, want)
		}
	}
	stripped := strings.NewReplacer(red, "", green, "", yellow, "", reset, "").Replace(got)
	if stripped != plain.String() {
		t.Errorf("Text(small, true) without colors = %q, want %q", stripped, plain.String())
	}
	var again bytes.Buffer
	p.Text(&again, true)
	if again.String() != got {
		t.Errorf("Text(small, true) twice = %q then %q, want the same", got, again.String())
	}
}

func TestJSONRoundTrip(t *testing.T) {
	plans := map[string]*Plan{
		"small": smallPlan(t),
		"new dataset": func() *Plan {
			p, err := Diff(compile(t, "fraud").Files, compile(t, "fraud", "\tfeatures: \"build-features\"",
				"\tdata: merchants: {uri: \"s3://payments-data/merchants\", format: \"parquet\"}\n\tfeatures: \"build-features\"").Files)
			if err != nil {
				t.Fatal(err)
			}
			return p
		}(),
		"empty": {},
	}
	for name, p := range plans {
		var b bytes.Buffer
		if err := p.JSON(&b); err != nil {
			t.Fatalf("JSON(%s) error: %v", name, err)
		}
		var back Plan
		if err := json.Unmarshal(b.Bytes(), &back); err != nil {
			t.Fatalf("JSON(%s) does not decode: %v", name, err)
		}
		if len(p.Objects) > 0 && !reflect.DeepEqual(&back, p) {
			t.Errorf("JSON(%s) decoded = %+v, want %+v", name, back, *p)
		}
		var again bytes.Buffer
		if err := back.JSON(&again); err != nil || again.String() != b.String() {
			t.Errorf("JSON(decoded JSON(%s)) = %s, want %s", name, again.String(), b.String())
		}
	}
	var b bytes.Buffer
	smallPlan(t).JSON(&b)
	for _, key := range []string{`"objects"`, `"fields"`, `"path"`, `"old"`, `"new"`, `"change"`, `"summary"`,
		`"templatesChanged"`, `"schedulesMoved"`, `"imagesChanged"`, `"gpuHours"`, `"cost"`, `"before"`, `"after"`} {
		if !strings.Contains(b.String(), key) {
			t.Errorf("JSON(small) = %s, want key %s", b.String(), key)
		}
	}
	var empty bytes.Buffer
	(&Plan{}).JSON(&empty)
	if !strings.Contains(empty.String(), `"objects": []`) {
		t.Errorf("JSON(empty) = %s, want \"objects\": []", empty.String())
	}
}

func TestDiffValue(t *testing.T) {
	obj := func(kv ...any) map[string]any {
		m := map[string]any{}
		for i := 0; i+1 < len(kv); i += 2 {
			m[kv[i].(string)] = kv[i+1]
		}
		return m
	}
	l := func(x ...any) []any { return x }
	tests := []struct {
		name string
		a, b any
		want []FieldChange
	}{
		{"same", obj("x", l("a", 1.0)), obj("x", l("a", 1.0)), nil},
		{"scalar", obj("x", "a"), obj("x", "b"), []FieldChange{{"x", "a", "b", Changed}}},
		{"added key", obj(), obj("x", obj("y", true)), []FieldChange{{"x", nil, obj("y", true), Added}}},
		{"removed key", obj("x", false), obj(), []FieldChange{{"x", false, nil, Removed}}},
		{"quoted key", obj("a.b/c", "1"), obj("a.b/c", "2"), []FieldChange{{`["a.b/c"]`, "1", "2", Changed}}},
		{"list changed", obj("x", l("a", "b", "c")), obj("x", l("a", "B", "c")), []FieldChange{{"x[1]", "b", "B", Changed}}},
		{"list removed", obj("x", l("a", "b", "c")), obj("x", l("a", "c")), []FieldChange{{"x[1]", "b", nil, Removed}}},
		{"list appended", obj("x", l("a")), obj("x", l("a", "b")), []FieldChange{{"x[1]", nil, "b", Added}}},
		{"flag inserted", obj("args", l("--m", "M", "--d", "t", "--s", "D")), obj("args", l("--m", "M", "--d", "n", "--d", "t", "--s", "D")),
			[]FieldChange{{"args[2]", nil, "--d", Added}, {"args[3]", nil, "n", Added}}},
		{"flag appended", obj("args", l("--d", "t")), obj("args", l("--d", "t", "--d", "n")),
			[]FieldChange{{"args[2]", nil, "--d", Added}, {"args[3]", nil, "n", Added}}},
		{"named items", obj("x", l(obj("name", "p", "v", 1.0), obj("name", "q", "v", 2.0))),
			obj("x", l(obj("name", "q", "v", 2.0), obj("name", "p", "v", 3.0), obj("name", "r"))),
			[]FieldChange{{"x[name=p].v", 1.0, 3.0, Changed}, {"x[name=r]", nil, obj("name", "r"), Added}}},
		{"duplicate names", obj("x", l(obj("name", "p"), obj("name", "p"))), obj("x", l(obj("name", "p"), obj("name", "p", "v", 1.0))),
			[]FieldChange{{"x[1].v", nil, 1.0, Added}}},
		{"type changed", obj("x", "a"), obj("x", l("a")), []FieldChange{{"x", "a", l("a"), Changed}}},
	}
	for _, tt := range tests {
		var got []FieldChange
		diffValue(&got, "", tt.a, tt.b)
		if !reflect.DeepEqual(got, tt.want) {
			t.Errorf("diffValue(%s) = %+v, want %+v", tt.name, got, tt.want)
		}
	}
}

func TestDiffJSONStrings(t *testing.T) {
	wt := func(hparams, extra string) map[string][]byte {
		return map[string][]byte{"ns/p/workflowtemplate.yaml": []byte(emit.Header + `kind: WorkflowTemplate
metadata:
  annotations:
    cairn.dev/git-commit: ` + extra + `
  name: p
  namespace: ns
spec:
  templates:
  - container:
      args:
      - --git-commit
      - ` + extra + `
      env:
      - name: CAIRN_HPARAMS
        value: '` + hparams + `'
    name: train
`)}
	}
	p, err := Diff(wt(`{"lr":0.1,"depth":8}`, "aaa"), wt(`{"lr":0.05,"depth":8}`, "bbb"))
	if err != nil {
		t.Fatal(err)
	}
	want := []ObjectChange{{Namespace: "ns", Pipeline: "p", Kind: "WorkflowTemplate", Name: "p", Change: Changed, Fields: []FieldChange{
		{"spec.templates[name=train].container.env[name=CAIRN_HPARAMS].value.lr", 0.1, 0.05, Changed},
	}}}
	if !reflect.DeepEqual(p.Objects, want) {
		t.Errorf("Diff(hyperparameter) = %+v, want %+v", p.Objects, want)
	}
}
