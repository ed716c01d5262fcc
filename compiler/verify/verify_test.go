package verify_test

import (
	"bytes"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"cairn.dev/cairn/compiler"
	"cairn.dev/cairn/compiler/emit"
	"cairn.dev/cairn/compiler/internal/monorepo"
	"cairn.dev/cairn/compiler/verify"
)

// examples returns the rendered output of every example, by path in the
// rendered set.
func examples(t testing.TB) map[string][]byte {
	t.Helper()
	roots, err := filepath.Glob("../../examples/*/rendered")
	if err != nil || len(roots) == 0 {
		t.Fatalf("no rendered examples: %v", err)
	}
	files := map[string][]byte{}
	for _, root := range roots {
		err := filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return err
			}
			data, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			rel, err := filepath.Rel(root, p)
			if err != nil {
				return err
			}
			rel = filepath.ToSlash(rel)
			if _, dup := files[rel]; dup && filepath.Base(rel) != "kustomization.yaml" {
				t.Fatalf("two examples render %s", rel)
			}
			files[rel] = data
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	return files
}

const (
	fraudWT   = "payments-ml/fraud/workflowtemplate.yaml"
	fraudCron = "payments-ml/fraud/cronworkflow.yaml"
	bertWT    = "nlp-research/bert-pretrain/workflowtemplate.yaml"
	// The train template of bert-pretrain, the MPIJob.
	bertTrain    = "spec.templates[3].resource" // after ingest-corpus and validate-corpus
	bertManifest = bertTrain + ".manifest"
)

// edit returns the examples with file edited: each pair of strings is an
// old text, which must occur in the file, and its replacement.
func edit(t *testing.T, file string, pairs ...string) map[string][]byte {
	t.Helper()
	files := maps.Clone(examples(t))
	s := string(files[file])
	for i := 0; i < len(pairs); i += 2 {
		if !strings.Contains(s, pairs[i]) {
			t.Fatalf("%s does not contain %q", file, pairs[i])
		}
		s = strings.ReplaceAll(s, pairs[i], pairs[i+1])
	}
	files[file] = []byte(s)
	return files
}

// want checks that probs holds a problem of the file, object, field and
// check whose message contains msg.
func want(t *testing.T, probs []verify.Problem, file, object, field, check, msg string) {
	t.Helper()
	for _, p := range probs {
		if p.File == file && p.Object == object && p.Field == field && p.Check == check && strings.Contains(p.Msg, msg) {
			return
		}
	}
	var b strings.Builder
	for _, p := range probs {
		fmt.Fprintf(&b, "\n\t%s", p)
	}
	t.Errorf("no %s problem at %s: %s: %s containing %q; got:%s", check, file, object, field, msg, b.String())
}

func TestExamplesPass(t *testing.T) {
	files := examples(t)
	if len(files) < 5 {
		t.Fatalf("only %d files", len(files))
	}
	for _, p := range verify.Files(files) {
		t.Error(p)
	}
}

// TestMonorepoPasses checks every shape of pipeline the generated
// monorepo has (MPI, spot GPU, CPU; with and without evaluation and a
// schedule).
func TestMonorepoPasses(t *testing.T) {
	res := compileMonorepo(t, 20)
	for _, p := range verify.Files(res) {
		t.Error(p)
	}
}

func TestArgoLintMissingTemplate(t *testing.T) {
	files := edit(t, fraudWT, "name: train\n        template: train\n", "name: train\n        template: no-such-template\n")
	probs := verify.Files(files)
	want(t, probs, fraudWT, "WorkflowTemplate payments-ml/fraud", "spec.templates[0]", verify.CheckArgoLint, "no-such-template")
}

func TestArgoLintCronMissingWorkflowTemplate(t *testing.T) {
	files := edit(t, fraudCron, "workflowTemplateRef:\n      name: fraud\n", "workflowTemplateRef:\n      name: fraud-v2\n")
	probs := verify.Files(files)
	want(t, probs, fraudCron, "CronWorkflow payments-ml/fraud", "spec.workflowSpec.workflowTemplateRef.name", verify.CheckArgoLint, `"fraud-v2"`)

	// The template must be in the set: the CronWorkflow alone fails.
	alone := map[string][]byte{fraudCron: examples(t)[fraudCron]}
	want(t, verify.Files(alone), fraudCron, "CronWorkflow payments-ml/fraud", "spec.workflowSpec.workflowTemplateRef.name", verify.CheckArgoLint, `"fraud"`)

	// A template of the same name in another namespace does not count.
	other := maps.Clone(examples(t))
	other[fraudWT] = []byte(strings.ReplaceAll(string(other[fraudWT]), "namespace: payments-ml\n", "namespace: elsewhere\n"))
	want(t, verify.Files(other), fraudCron, "CronWorkflow payments-ml/fraud", "spec.workflowSpec.workflowTemplateRef.name", verify.CheckArgoLint, `"fraud"`)
}

func TestArgoLintCronSchedule(t *testing.T) {
	files := edit(t, fraudCron, `- "0 3 * * 1"`, `- "0 3 * * 8"`)
	want(t, verify.Files(files), fraudCron, "CronWorkflow payments-ml/fraud", "", verify.CheckArgoLint, "cron schedule")
}

func TestConditions(t *testing.T) {
	files := edit(t, bertWT,
		"successCondition: status.replicaStatuses.Launcher.succeeded == 1", `successCondition: "status.replicaStatuses.Launcher.succeeded >= 1"`,
		`failureCondition: "status.replicaStatuses.Launcher.failed > 0"`, `failureCondition: "status.replicaStatuses.Launcher.failed > 0,status.replicaStatuses.Worker.failed > 0"`)
	probs := verify.Files(files)
	obj := "WorkflowTemplate nlp-research/bert-pretrain"
	want(t, probs, bertWT, obj, bertTrain+".successCondition", verify.CheckCondition, "cannot parse")
	want(t, probs, bertWT, obj, bertTrain+".failureCondition", verify.CheckCondition, "any one of them matches")

	// A key that names no field of the MPIJob never matches.
	files = edit(t, bertWT, "successCondition: status.replicaStatuses.Launcher.succeeded == 1", "successCondition: status.replicaStatus.Launcher.succeeded == 1")
	want(t, verify.Files(files), bertWT, obj, bertTrain+".successCondition", verify.CheckCondition, "MPIJob has no field status.replicaStatus.Launcher.succeeded")
	files = edit(t, bertWT, `failureCondition: "status.replicaStatuses.Launcher.failed > 0"`, `failureCondition: "status.replicaStatuses.Launcher.failures > 0"`)
	want(t, verify.Files(files), bertWT, obj, bertTrain+".failureCondition", verify.CheckCondition, "failures of the object go unnoticed")

	// Greater-than needs an integer.
	files = edit(t, bertWT, `failureCondition: "status.replicaStatuses.Launcher.failed > 0"`, `failureCondition: "status.replicaStatuses.Launcher.failed > none"`)
	want(t, verify.Files(files), bertWT, obj, bertTrain+".failureCondition", verify.CheckCondition, "cannot parse")
}

func TestMPIJobNamesTooLong(t *testing.T) {
	long := "bert-pretrain-with-a-rather-long-name-x" // 39 characters: fits Argo's 52 for a cron, not the pods
	files := edit(t, bertWT,
		"  name: bert-pretrain\n  namespace: nlp-research\n", "  name: "+long+"\n  namespace: nlp-research\n",
		`\"replicas\": 2,`, `\"replicas\": 1000,`)
	probs := verify.Files(files)
	want(t, probs, bertWT, "WorkflowTemplate nlp-research/"+long, bertManifest+" > metadata.name", verify.CheckMPIJob, "-worker-999")
	if len(probs) != 1 {
		t.Errorf("want the one problem of the name, got %v", probs)
	}

	// The same job of 2 workers under the example's name fits.
	files = edit(t, bertWT, `\"replicas\": 2,`, `\"replicas\": 3,`)
	if probs := verify.Files(files); probs != nil {
		t.Errorf("3 workers: %v", probs)
	}
}

func TestMPIJobRejected(t *testing.T) {
	obj := "WorkflowTemplate nlp-research/bert-pretrain"
	files := edit(t, bertWT, `\"replicas\": 2,`, `\"replicas\": 0,`)
	want(t, verify.Files(files), bertWT, obj, bertManifest+" > spec.mpiReplicaSpecs[Worker].replicas", verify.CheckMPIJob, "greater than or equal to 1")

	files = edit(t, bertWT, `\"Launcher\": {`, `\"Driver\": {`)
	want(t, verify.Files(files), bertWT, obj, bertManifest+" > spec.mpiReplicaSpecs[Launcher]", verify.CheckMPIJob, "must have Launcher replica spec")

	// mpi-operator's defaults apply first: no restart policy is fine.
	files = edit(t, bertWT, `\"restartPolicy\": \"Never\",`, ``)
	if probs := verify.Files(files); probs != nil {
		t.Errorf("worker without restartPolicy: %v", probs)
	}
	files = edit(t, bertWT, `\"restartPolicy\": \"Never\",`, `\"restartPolicy\": \"Always\",`)
	want(t, verify.Files(files), bertWT, obj, bertManifest+" > spec.mpiReplicaSpecs[Worker].restartPolicy", verify.CheckMPIJob, "Unsupported value")
}

func TestMPIJobNamespace(t *testing.T) {
	files := edit(t, bertWT, `\"namespace\": \"nlp-research\"`, `\"namespace\": \"training\"`)
	want(t, verify.Files(files), bertWT, "WorkflowTemplate nlp-research/bert-pretrain", bertManifest+" > metadata.namespace", verify.CheckResource, "cross-namespace")
}

func TestSchema(t *testing.T) {
	obj := "WorkflowTemplate payments-ml/fraud"
	// An unknown field.
	files := edit(t, fraudWT, "  entrypoint: main\n", "  entrypoint: main\n  templatez: []\n")
	want(t, verify.Files(files), fraudWT, obj, "spec.templatez", verify.CheckSchema, "unknown field")

	// A field in the wrong case: Kubernetes decodes case-sensitively.
	files = edit(t, fraudWT, "  entrypoint: main\n", "  entryPoint: main\n")
	want(t, verify.Files(files), fraudWT, obj, "spec.entryPoint", verify.CheckSchema, "unknown field")

	// Wrong types, which both the decoding and the OpenAPI schema reject.
	files = edit(t, fraudWT, "  entrypoint: main\n", "  entrypoint: 5\n")
	probs := verify.Files(files)
	want(t, probs, fraudWT, obj, "spec.entrypoint", verify.CheckSchema, "cannot unmarshal number")
	want(t, probs, fraudWT, obj, "spec.entrypoint", verify.CheckSchema, "OpenAPI: spec.entrypoint in body must be of type string")

	files = edit(t, fraudWT, "  entrypoint: main\n", "  entrypoint: main\n  activeDeadlineSeconds: abc\n")
	probs = verify.Files(files)
	want(t, probs, fraudWT, obj, "spec.activeDeadlineSeconds", verify.CheckSchema, "cannot unmarshal string")
	want(t, probs, fraudWT, obj, "spec.activeDeadlineSeconds", verify.CheckSchema, "must be of type integer")

	// A value Argo's Go type takes but its OpenAPI schema (and its full
	// CRD) does not: only the OpenAPI check finds it.
	files = edit(t, fraudWT, "value: s3://payments-ml-artifacts/cairn/payments-ml/fraud\n", "value: 5\n")
	probs = verify.Files(files)
	want(t, probs, fraudWT, obj, "spec.arguments.parameters[0].value", verify.CheckSchema, "must be of type string")
	if len(probs) != 1 {
		t.Errorf("want only the OpenAPI problem, got %v", probs)
	}

	// Required by the OpenAPI schema.
	files = edit(t, fraudWT, "    - description: \"URI under which each run writes its outputs, one folder per workflow uid\"\n      name: run-root\n",
		"    - description: \"URI under which each run writes its outputs, one folder per workflow uid\"\n")
	want(t, verify.Files(files), fraudWT, obj, "spec.arguments.parameters[0].name", verify.CheckSchema, "is required")

	// Int-or-string fields take both.
	files = edit(t, fraudWT, "      limit: 3\n", "      limit: \"3\"\n")
	if probs := verify.Files(files); probs != nil {
		t.Errorf("limit as a string: %v", probs)
	}

	// Inside the MPIJob.
	bert := "WorkflowTemplate nlp-research/bert-pretrain"
	files = edit(t, bertWT, `\"slotsPerWorker\": 8,`, `\"slotsPerWorkers\": 8,`)
	want(t, verify.Files(files), bertWT, bert, bertManifest+" > spec.slotsPerWorkers", verify.CheckSchema, "unknown field")
	files = edit(t, bertWT, `\"slotsPerWorker\": 8,`, `\"slotsPerWorker\": \"8\",`)
	want(t, verify.Files(files), bertWT, bert, bertManifest+" > spec.slotsPerWorker", verify.CheckSchema, "must be of type integer")
	// Quantities are checked by the decoding of the pod template.
	files = edit(t, bertWT, `\"cpu\": \"96\",`, `\"cpu\": \"96 cores\",`)
	want(t, verify.Files(files), bertWT, bert, bertManifest, verify.CheckSchema, "quantities must match")
}

func TestUnknownKind(t *testing.T) {
	files := maps.Clone(examples(t))
	files["payments-ml/fraud/service.yaml"] = []byte("apiVersion: v1\nkind: Service\nmetadata:\n  name: fraud\n  namespace: payments-ml\n")
	want(t, verify.Files(files), "payments-ml/fraud/service.yaml", "Service payments-ml/fraud", "kind", verify.CheckSchema, "no schema is registered")
}

func TestDuplicateWorkflowTemplate(t *testing.T) {
	files := maps.Clone(examples(t))
	files["payments-ml/fraud/copy.yaml"] = files[fraudWT]
	want(t, verify.Files(files), "payments-ml/fraud/workflowtemplate.yaml", "WorkflowTemplate payments-ml/fraud", "metadata.name", verify.CheckArgoLint, "duplicate WorkflowTemplate")
}

func compileMonorepo(t testing.TB, n int) map[string][]byte {
	t.Helper()
	dir := t.TempDir()
	if err := monorepo.Write(dir, n); err != nil {
		t.Fatal(err)
	}
	res, err := compiler.Compile(compiler.Options{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	return res.Files
}

const benchPipelines = 1000

// BenchmarkVerify checks the compiled output of a generated monorepo of
// 1,000 pipelines (about 1,500 objects and 100 MPIJobs). It reports the
// wall and CPU time per pipeline; compare with BenchmarkArgoLintCLI.
func BenchmarkVerify(b *testing.B) {
	files := compileMonorepo(b, benchPipelines)
	if probs := verify.Files(files); probs != nil { // also builds the schemas
		b.Fatalf("%d problems, first %s", len(probs), probs[0])
	}
	b.ReportAllocs()
	b.ResetTimer()
	cpu := cpuTime()
	for b.Loop() {
		if probs := verify.Files(files); probs != nil {
			b.Fatal(probs[0])
		}
	}
	reportPerPipeline(b, cpuTime()-cpu)
}

// BenchmarkVerifyCached checks the same files with a warm cache, as a CI
// re-run or a pre-commit hook does, and with one namespace of 50 pipelines
// changed, as a typical pull request does.
func BenchmarkVerifyCached(b *testing.B) {
	files := compileMonorepo(b, benchPipelines)
	dir := b.TempDir()
	if probs := verify.FilesCached(files, dir); probs != nil {
		b.Fatalf("%d problems, first %s", len(probs), probs[0])
	}
	b.Run("warm", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if probs := verify.FilesCached(files, dir); probs != nil {
				b.Fatal(probs[0])
			}
		}
		reportPerPipeline(b, 0)
	})
	b.Run("one-namespace-changed", func(b *testing.B) {
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			b.StopTimer()
			changed := maps.Clone(files)
			for name, data := range changed {
				if strings.HasPrefix(name, "team-01/") && strings.HasSuffix(name, "/workflowtemplate.yaml") {
					changed[name] = append(bytes.Clone(data), fmt.Sprintf("# run %d\n", i)...)
				}
			}
			i++
			b.StartTimer()
			if probs := verify.FilesCached(changed, dir); probs != nil {
				b.Fatal(probs[0])
			}
		}
		reportPerPipeline(b, 0)
	})
}

// BenchmarkArgoLintCLI times `argo lint --offline` over the same files on
// disk, with the argo CLI on PATH (or at /tmp/argo), for comparison with
// BenchmarkVerify.
func BenchmarkArgoLintCLI(b *testing.B) {
	argo, err := exec.LookPath("argo")
	if err != nil {
		argo = "/tmp/argo" // where a CLI built from the module cache is kept
		if _, err := os.Stat(argo); err != nil {
			b.Skip("no argo CLI on PATH or at /tmp/argo")
		}
	}
	files := compileMonorepo(b, benchPipelines)
	dir := filepath.Join(b.TempDir(), "out")
	if err := emit.Write(dir, files); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	var cpu time.Duration
	for b.Loop() {
		cmd := exec.Command(argo, "lint", "--offline", dir)
		out, err := cmd.CombinedOutput()
		if err != nil {
			b.Fatalf("argo lint: %v\n%s", err, out)
		}
		cpu += cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()
	}
	reportPerPipeline(b, cpu)
}

func reportPerPipeline(b *testing.B, cpu time.Duration) {
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/benchPipelines, "ns/pipeline")
	if cpu > 0 {
		b.ReportMetric(float64(cpu.Nanoseconds())/float64(b.N)/benchPipelines, "cpu-ns/pipeline")
	}
}
