package executor

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	wfv1 "github.com/argoproj/argo-workflows/v3/pkg/apis/workflow/v1alpha1"
	mpiv2 "github.com/kubeflow/mpi-operator/pkg/apis/kubeflow/v2beta1"
	"sigs.k8s.io/yaml"
)

// An MPI step is a resource template creating a kubeflow.org/v2beta1
// MPIJob. Locally its launcher container runs as a container step would,
// with mpirun starting the ranks on this machine: as many as the job's
// workers × slotsPerWorker, or Options.Ranks; with --oversubscribe (one
// machine rarely has a slot per rank) and --allow-run-as-root when running
// as root. A launcher command that is not mpirun is run under mpirun.

// mpiJob is an MPI step's job, parsed.
type mpiJob struct {
	job      *mpiv2.MPIJob
	launcher container
	ranks    int // in the job
}

// parseMPIJob parses a resource template's manifest as an MPIJob.
func parseMPIJob(task string, tmpl *wfv1.Template) (*mpiJob, error) {
	res := tmpl.Resource
	if res.Action != "create" {
		return nil, fmt.Errorf("step %s: resource action %q cannot run locally; only an MPIJob created by the step can", task, res.Action)
	}
	var head struct {
		APIVersion string `json:"apiVersion"`
		Kind       string `json:"kind"`
	}
	if err := yaml.Unmarshal([]byte(res.Manifest), &head); err != nil {
		return nil, fmt.Errorf("step %s: reading the resource manifest: %w", task, err)
	}
	if head.Kind != "MPIJob" || head.APIVersion != mpiv2.SchemeGroupVersion.String() {
		return nil, fmt.Errorf("step %s creates a %s (%s), which cannot run locally; of resources, only %s MPIJobs can", task, head.Kind, head.APIVersion, mpiv2.SchemeGroupVersion)
	}
	var job mpiv2.MPIJob
	if err := yaml.Unmarshal([]byte(res.Manifest), &job); err != nil {
		return nil, fmt.Errorf("step %s: reading the MPIJob: %w", task, err)
	}
	spec := job.Spec.MPIReplicaSpecs[mpiv2.MPIReplicaTypeLauncher]
	if spec == nil || len(spec.Template.Spec.Containers) == 0 {
		return nil, fmt.Errorf("step %s: the MPIJob has no launcher container", task)
	}
	pod := spec.Template.Spec
	m := &mpiJob{job: &job, launcher: container{c: &pod.Containers[0], volumes: pod.Volumes}}
	workers := int32(1)
	if w := job.Spec.MPIReplicaSpecs[mpiv2.MPIReplicaTypeWorker]; w != nil && w.Replicas != nil {
		workers = *w.Replicas
	}
	slots := int32(1)
	if job.Spec.SlotsPerWorker != nil {
		slots = *job.Spec.SlotsPerWorker
	}
	m.ranks = int(max(workers, 1) * max(slots, 1))
	return m, nil
}

// localRanks is how many ranks an MPI step runs here.
func (r *runner) localRanks(m *mpiJob) int {
	if r.opts.Ranks > 0 {
		return r.opts.Ranks
	}
	return m.ranks
}

// checkMPI checks that mpirun is here.
func (r *runner) checkMPI(task string, m *mpiJob) error {
	if _, err := lookPath("mpirun", r.baseEnv["PATH"], r.opts.Dir); err != nil {
		return fmt.Errorf("step %s runs %d MPI ranks and needs mpirun from Open MPI on PATH: apt-get install openmpi-bin (Debian, Ubuntu), dnf install openmpi (Fedora) or brew install open-mpi (macOS)", task, r.localRanks(m))
	}
	return nil
}

// prepareMPI turns a substituted MPI step into the launcher's program.
func (r *runner) prepareMPI(task string, tmpl *wfv1.Template, root string, deadline time.Duration, deadlineFrom string) (*step, error) {
	m, err := parseMPIJob(task, tmpl)
	if err != nil {
		return nil, err
	}
	s, err := r.prepareContainer(task, m.launcher, tmpl.Outputs.Parameters, root)
	if err != nil {
		return nil, err
	}
	s.deadline, s.deadlineFrom = deadline, deadlineFrom
	ranks := r.localRanks(m)
	s.argv = mpirunArgv(s.argv, ranks, os.Geteuid() == 0)
	s.notes = append(s.notes, fmt.Sprintf("MPI: the job runs %d ranks; %d run here", m.ranks, ranks))
	if ads := m.job.Spec.RunPolicy.ActiveDeadlineSeconds; ads != nil && *ads > 0 {
		if d := time.Duration(*ads) * time.Second; s.deadline == 0 || d < s.deadline {
			s.deadline, s.deadlineFrom = d, fmt.Sprintf("the MPIJob's runPolicy.activeDeadlineSeconds %d", *ads)
		}
	}
	return s, nil
}

// mpirunOptsWithValue are the mpirun options that take a value, so the
// scan for -np stops at the program.
var mpirunOptsWithValue = map[string]int{
	"-np": 1, "--np": 1, "-n": 1, "--n": 1, "-c": 1, "-N": 1, "-npernode": 1, "--npernode": 1,
	"-x": 1, "--bind-to": 1, "-bind-to": 1, "--map-by": 1, "-map-by": 1, "--rank-by": 1, "-rank-by": 1,
	"-H": 1, "-host": 1, "--host": 1, "-hostfile": 1, "--hostfile": 1, "-machinefile": 1, "--machinefile": 1,
	"-wdir": 1, "--wdir": 1, "-wd": 1, "--prefix": 1, "-output-filename": 1, "--output-filename": 1,
	"--cpus-per-proc": 1, "--cpus-per-rank": 1, "-mca": 2, "--mca": 2, "-gmca": 2, "--gmca": 2,
	"--tag-output": 0, "--timestamp-output": 0,
}

// mpirunArgv rewrites a launcher's command for this machine: the rank
// count set to ranks, --oversubscribe, and --allow-run-as-root for root.
// A command that is not mpirun runs under mpirun.
func mpirunArgv(argv []string, ranks int, root bool) []string {
	n := strconv.Itoa(ranks)
	base := filepath.Base(argv[0])
	if base != "mpirun" && base != "mpiexec" && base != "orterun" {
		argv = append([]string{"mpirun", "-np", n}, argv...)
	}
	out := []string{argv[0]}
	has := map[string]bool{}
	for _, a := range argv[1:] {
		has[a] = true
	}
	if !has["--oversubscribe"] && !has["-oversubscribe"] {
		out = append(out, "--oversubscribe")
	}
	if root && !has["--allow-run-as-root"] && !has["-allow-run-as-root"] {
		out = append(out, "--allow-run-as-root")
	}
	setNP := false
	i := 1
	for i < len(argv) {
		a := argv[i]
		if !strings.HasPrefix(a, "-") {
			break // the program
		}
		opt, _, inline := strings.Cut(a, "=")
		switch opt {
		case "-np", "--np", "-n", "--n", "-c":
			if inline {
				out = append(out, opt+"="+n)
				i++
			} else {
				out = append(out, a, n)
				i += 2
			}
			setNP = true
			continue
		}
		k := 0
		if !inline {
			k = mpirunOptsWithValue[opt]
		}
		end := min(i+1+k, len(argv))
		out = append(out, argv[i:end]...)
		i = end
	}
	if !setNP {
		out = append(out, "-np", n)
	}
	return append(out, argv[i:]...)
}
