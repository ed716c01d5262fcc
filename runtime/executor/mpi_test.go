package executor

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	wfv1 "github.com/argoproj/argo-workflows/v3/pkg/apis/workflow/v1alpha1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/yaml"
)

func TestMPIRunArgv(t *testing.T) {
	tests := []struct {
		in   []string
		root bool
		want []string
	}{
		{
			[]string{"mpirun", "-np", "16", "--bind-to", "none", "--map-by", "slot", "-x", "A", "python", "train.py", "-n", "5"}, false,
			[]string{"mpirun", "--oversubscribe", "-np", "4", "--bind-to", "none", "--map-by", "slot", "-x", "A", "python", "train.py", "-n", "5"},
		},
		{
			[]string{"mpirun", "-np", "16", "python", "x"}, true,
			[]string{"mpirun", "--oversubscribe", "--allow-run-as-root", "-np", "4", "python", "x"},
		},
		{
			[]string{"mpirun", "--np=16", "--mca", "btl", "tcp", "--oversubscribe", "./x"}, false,
			[]string{"mpirun", "--np=4", "--mca", "btl", "tcp", "--oversubscribe", "./x"},
		},
		{
			[]string{"/usr/bin/mpirun", "-x", "A", "python", "x"}, false,
			[]string{"/usr/bin/mpirun", "--oversubscribe", "-x", "A", "-np", "4", "python", "x"},
		},
		{
			[]string{"python", "train.py", "-np", "9"}, true,
			[]string{"mpirun", "--oversubscribe", "--allow-run-as-root", "-np", "4", "python", "train.py", "-np", "9"},
		},
	}
	for _, tt := range tests {
		if got := mpirunArgv(tt.in, 4, tt.root); !slices.Equal(got, tt.want) {
			t.Errorf("mpirunArgv(%q) =\n%q, want\n%q", tt.in, got, tt.want)
		}
	}
}

// mpiManifest is an MPIJob as the compiler writes it: 2 workers of 8
// slots, a launcher running mpirun over the training command.
func mpiManifest(t *testing.T, runPolicyDeadline int64, command ...string) string {
	t.Helper()
	job := map[string]any{
		"apiVersion": "kubeflow.org/v2beta1",
		"kind":       "MPIJob",
		"metadata":   map[string]any{"generateName": "{{workflow.name}}-"},
		"spec": map[string]any{
			"slotsPerWorker": 8,
			"runPolicy":      map[string]any{"activeDeadlineSeconds": runPolicyDeadline, "backoffLimit": 0},
			"mpiReplicaSpecs": map[string]any{
				"Launcher": map[string]any{"replicas": 1, "template": map[string]any{"spec": map[string]any{"containers": []any{map[string]any{
					"name": "launcher", "image": "registry.example.com/train:1", "command": command,
					"env": []any{
						map[string]any{"name": "CAIRN_MODEL", "value": "{{workflow.parameters.run-root}}/{{workflow.uid}}/model"},
						map[string]any{"name": "CAIRN_HPARAMS", "value": `{"lr":0.1}`},
					},
				}}}}},
				"Worker": map[string]any{"replicas": 2, "template": map[string]any{"spec": map[string]any{"containers": []any{map[string]any{
					"name": "worker", "image": "registry.example.com/train:1", "command": []string{"/usr/sbin/sshd", "-De"},
				}}}}},
			},
		},
	}
	data, err := json.MarshalIndent(job, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

func mpiTemplate(manifest string, deadline int) wfv1.Template {
	ads := intstr.FromInt(deadline)
	return wfv1.Template{Name: "train", ActiveDeadlineSeconds: &ads, Resource: &wfv1.ResourceTemplate{
		Action: "create", SetOwnerReference: true, Manifest: manifest,
		SuccessCondition: "status.replicaStatuses.Launcher.succeeded == 1",
		FailureCondition: "status.replicaStatuses.Launcher.failed > 0",
	}}
}

// fakeMPI puts an mpirun on the steps' PATH that records its arguments
// and the environment it got, then runs body.
func fakeMPI(t *testing.T, e *env, body string) {
	bin := filepath.Join(e.dir, "mpi-bin")
	writeScript(t, filepath.Join(bin, "mpirun"), `printf '%s\n' "$@" > mpirun.args; printf '%s' "$CAIRN_HPARAMS" > mpirun.hparams; `+body)
	e.opts.Env = append(os.Environ(), "PATH="+bin+string(os.PathListSeparator)+os.Getenv("PATH"))
}

func TestMPI(t *testing.T) {
	e := newEnv(t)
	fakeMPI(t, e, "exit 0")
	cmd := []string{"mpirun", "-np", "16", "--bind-to", "none", "-x", "CAIRN_MODEL", "python", "train.py", "--model", "$(CAIRN_MODEL)", "--hparams", "$(CAIRN_HPARAMS)"}
	wft := newWFT([]wfv1.DAGTask{task("train", "")}, mpiTemplate(mpiManifest(t, 3600, cmd...), 7200))
	res := e.run(wft)
	if !res.Succeeded() {
		t.Fatalf("run %s: %s", res.Status, taskOf(t, res, "train").Message)
	}
	args := strings.Split(strings.TrimSpace(e.read("mpirun.args")), "\n")
	want := []string{"--oversubscribe"}
	if os.Geteuid() == 0 {
		want = append(want, "--allow-run-as-root")
	}
	want = append(want, "-np", "16", "--bind-to", "none", "-x", "CAIRN_MODEL", "python", "train.py", "--model", filepath.Join(res.Dir, "model"), "--hparams", `{"lr":0.1}`)
	if !slices.Equal(args, want) {
		t.Errorf("mpirun ran with\n%q, want\n%q", args, want)
	}
	if got := e.read("mpirun.hparams"); got != `{"lr":0.1}` {
		t.Errorf("the launcher's environment: CAIRN_HPARAMS=%q", got)
	}
	if tr := taskOf(t, res, "train"); tr.Image != "registry.example.com/train:1" {
		t.Errorf("image %q, want the launcher's", tr.Image)
	}

	// --ranks runs fewer ranks on one machine.
	e.opts.Ranks = 2
	e.run(wft)
	if args := strings.Split(e.read("mpirun.args"), "\n"); !slices.Contains(args, "2") || slices.Contains(args, "16") {
		t.Errorf("with Ranks 2, mpirun ran with %q", args)
	}

	// A launcher that is not mpirun runs under it.
	e.opts.Ranks = 0
	e.run(newWFT([]wfv1.DAGTask{task("train", "")}, mpiTemplate(mpiManifest(t, 3600, "python", "train.py"), 7200)))
	if args := strings.Split(strings.TrimSpace(e.read("mpirun.args")), "\n"); !slices.Equal(args[len(args)-4:], []string{"-np", "16", "python", "train.py"}) {
		t.Errorf("wrapped launcher: mpirun ran with %q", args)
	}
}

func TestMPIDeadline(t *testing.T) {
	e := newEnv(t)
	fakeMPI(t, e, "exec sleep 60")
	// The job's own deadline (1s) is shorter than the step's (1h).
	res := e.run(newWFT([]wfv1.DAGTask{task("train", "")}, mpiTemplate(mpiManifest(t, 1, "mpirun", "-np", "16", "python"), 3600)))
	if tr := taskOf(t, res, "train"); tr.Status != wfv1.NodeFailed || !strings.Contains(tr.Message, "runPolicy.activeDeadlineSeconds 1") {
		t.Errorf("train: %s (%s), want Failed at the MPIJob's deadline", tr.Status, tr.Message)
	}
}

func TestMPIMissing(t *testing.T) {
	e := newEnv(t)
	e.opts.Env = append(os.Environ(), "PATH="+filepath.Join(e.dir, "empty"))
	_, err := Run(context.Background(), newWFT([]wfv1.DAGTask{task("train", "")}, mpiTemplate(mpiManifest(t, 1, "mpirun", "-np", "16", "python"), 3600)), e.opts)
	if err == nil || !strings.Contains(err.Error(), "step train runs 16 MPI ranks and needs mpirun from Open MPI") || !strings.Contains(err.Error(), "apt-get install openmpi-bin") {
		t.Errorf("no mpirun: error %v", err)
	}
}

func TestMPINotAnMPIJob(t *testing.T) {
	e := newEnv(t)
	tmpl := mpiTemplate("apiVersion: batch/v1\nkind: Job\n", 10)
	_, err := Run(context.Background(), newWFT([]wfv1.DAGTask{task("train", "")}, tmpl), e.opts)
	if err == nil || !strings.Contains(err.Error(), "step train creates a Job (batch/v1), which cannot run locally") {
		t.Errorf("a Job: error %v", err)
	}
}

// TestExamples runs the compiled examples' WorkflowTemplates, as
// committed, with fake programs: cairn's platform steps, python and
// mpirun record how they were called.
func TestExamples(t *testing.T) {
	for _, ex := range []struct{ file, secret string }{
		{"../../examples/fraud/rendered/payments-ml/fraud/workflowtemplate.yaml", "cairn-signing-key"},
		{"../../examples/bert-pretrain/rendered/nlp-research/bert-pretrain/workflowtemplate.yaml", "cairn-signing-key"},
	} {
		t.Run(filepath.Base(filepath.Dir(ex.file)), func(t *testing.T) {
			data, err := os.ReadFile(ex.file)
			if err != nil {
				t.Fatal(err)
			}
			var wft wfv1.WorkflowTemplate
			if err := yaml.UnmarshalStrict(data, &wft); err != nil {
				t.Fatal(err)
			}
			e := newEnv(t)
			bin := filepath.Join(e.dir, "fake-bin")
			// Each fake writes a digest (and deploy's storage-uri) where --outputs
			// says.
			const fake = `printf '%s %s\n' "$(basename "$0")" "$*" >> calls; [ -n "$COSIGN_PASSWORD" ] && echo "password $COSIGN_PASSWORD" >> calls
prev=; for a in "$@"; do [ "$prev" = --outputs ] && echo "sha256:$2" > "$a/digest" && echo "oci://x@sha256:$2" > "$a/storage-uri"; prev=$a; done; exit 0`
			writeScript(t, e.opts.Self, fake)
			writeScript(t, filepath.Join(bin, "python"), fake)
			writeScript(t, filepath.Join(bin, "python3"), fake)
			writeScript(t, filepath.Join(bin, "mpirun"), fake)
			keys := filepath.Join(e.dir, "keys")
			os.MkdirAll(keys, 0o755)
			os.WriteFile(filepath.Join(keys, "cosign.password"), []byte("pw"), 0o600)
			e.opts.Secrets = map[string]string{ex.secret: keys}
			e.opts.Env = append(os.Environ(), "PATH="+bin+string(os.PathListSeparator)+os.Getenv("PATH"))
			res := e.run(&wft)
			if !res.Succeeded() {
				for _, tr := range res.Tasks {
					t.Logf("%s: %s %s", tr.Name, tr.Status, tr.Message)
				}
				t.Fatalf("run %s", res.Status)
			}
			calls := e.read("calls")
			t.Logf("calls:\n%s", calls)
			for _, want := range []string{
				" step validate-data --dataset ",
				" --run-id " + res.ID + " ",
				" --model " + filepath.Join(res.Dir, "model") + " ",
				" --key " + filepath.Join(keys, "cosign.key") + " ",
				"=sha256:validate-data --spec-digest ",
				"password pw\n",
			} {
				if !strings.Contains(calls, want) {
					t.Errorf("calls lack %q", want)
				}
			}
			if strings.Contains(calls, "{{") || strings.Contains(calls, "$(") {
				t.Errorf("a call holds an unexpanded reference:\n%s", calls)
			}
			if filepath.Base(filepath.Dir(ex.file)) == "bert-pretrain" && !strings.Contains(calls, "mpirun --oversubscribe") {
				t.Errorf("bert-pretrain did not train under mpirun")
			}
		})
	}
}
