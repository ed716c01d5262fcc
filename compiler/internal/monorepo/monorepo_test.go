package monorepo_test

import (
	"bytes"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"cairn.dev/cairn/compiler"
	"cairn.dev/cairn/compiler/internal/monorepo"
)

func TestDeterministic(t *testing.T) {
	a, err := monorepo.Files(120)
	if err != nil {
		t.Fatal(err)
	}
	b, err := monorepo.Files(120)
	if err != nil {
		t.Fatal(err)
	}
	if !maps.EqualFunc(a, b, bytes.Equal) {
		t.Fatal("two repositories of 120 pipelines differ")
	}

	// Write gives the same bytes as Files.
	dir := t.TempDir()
	if err := monorepo.Write(dir, 120); err != nil {
		t.Fatal(err)
	}
	for name, want := range a {
		got, err := os.ReadFile(filepath.Join(dir, filepath.FromSlash(name)))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s on disk differs from Files", name)
		}
	}
}

func TestLayout(t *testing.T) {
	for _, tc := range []struct {
		pipelines, teams, specFiles int
	}{
		{0, 0, 0},
		{1, 1, 1},
		{10, 1, 1},
		{11, 1, 2},
		{50, 1, 5},
		{51, 2, 6},
		{1000, 20, 100},
	} {
		files, err := monorepo.Files(tc.pipelines)
		if err != nil {
			t.Fatal(err)
		}
		teams, specFiles, pipelines := 0, 0, 0
		for name, data := range files {
			switch {
			case name == "cue.mod/module.cue":
			case strings.HasSuffix(name, "/project.cue"):
				teams++
			case strings.Contains(name, "/pipelines_"):
				specFiles++
				pipelines += strings.Count(string(data), "project: pipelines: ")
			default:
				t.Errorf("%d pipelines: unexpected file %s", tc.pipelines, name)
			}
		}
		if teams != tc.teams || specFiles != tc.specFiles || pipelines != tc.pipelines {
			t.Errorf("%d pipelines: got %d teams, %d spec files, %d pipelines; want %d, %d, %d",
				tc.pipelines, teams, specFiles, pipelines, tc.teams, tc.specFiles, tc.pipelines)
		}
	}
	if _, err := monorepo.Files(-1); err == nil {
		t.Error("Files(-1) succeeded")
	}
}

// The MPIJob a template creates may be written as YAML or as JSON.
var (
	mpiJob = regexp.MustCompile(`\\?"?kind\\?"?: *\\?"?MPIJob`)
	oneGPU = regexp.MustCompile(`"?nvidia\.com/gpu"?: *"1"`)
)

// TestCompiles compiles a generated repository and checks that it holds
// the mix of pipelines the package promises.
func TestCompiles(t *testing.T) {
	const n = 120
	dir := t.TempDir()
	if err := monorepo.Write(dir, n); err != nil {
		t.Fatal(err)
	}
	res, err := compiler.Compile(compiler.Options{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Pipelines) != n {
		t.Fatalf("compiled %d pipelines, want %d", len(res.Pipelines), n)
	}
	if len(res.Warnings) > 0 {
		t.Errorf("policy warnings: %v", res.Warnings)
	}
	for _, p := range res.Pipelines {
		if !p.Priced || p.CostPerRun <= 0 || p.CostPerRun > 3000 {
			t.Errorf("%s/%s: estimated at %.2f USD a run (priced %v), want a price within the budget", p.Namespace, p.Name, p.CostPerRun, p.Priced)
		}
	}
	namespaces := map[string]int{}
	var mpi, cron, gpu, gates int
	for _, p := range res.Pipelines {
		namespaces[p.Namespace]++
		for _, f := range p.Files {
			data := string(res.Files[f])
			switch filepath.Base(f) {
			case "cronworkflow.yaml":
				cron++
			case "workflowtemplate.yaml":
				if mpiJob.MatchString(data) {
					mpi++
				}
				if oneGPU.MatchString(data) {
					gpu++
				}
				if strings.Contains(data, "name: gate") {
					gates++
				}
			}
		}
	}
	wantNS := map[string]int{"team-01": 50, "team-02": 50, "team-03": 20}
	if !maps.Equal(namespaces, wantNS) {
		t.Errorf("pipelines by namespace: %v, want %v", namespaces, wantNS)
	}
	// g%10 == 9 is MPI; g even has a schedule; g%3 != 2 has gates; five in
	// ten train on one GPU.
	if mpi != n/10 {
		t.Errorf("%d MPI pipelines, want %d", mpi, n/10)
	}
	if cron != n/2 {
		t.Errorf("%d scheduled pipelines, want %d", cron, n/2)
	}
	if gates != n/3*2 {
		t.Errorf("%d gated pipelines, want %d", gates, n/3*2)
	}
	if gpu != n/2 {
		t.Errorf("%d single-GPU pipelines, want %d", gpu, n/2)
	}
}

// TestWriteTo writes a repository for measuring the CLIs by hand:
//
//	CAIRN_MONOREPO_DIR=/tmp/mono CAIRN_MONOREPO_PIPELINES=1000 \
//		go test ./compiler/internal/monorepo -run TestWriteTo
func TestWriteTo(t *testing.T) {
	dir := os.Getenv("CAIRN_MONOREPO_DIR")
	if dir == "" {
		t.Skip("CAIRN_MONOREPO_DIR is not set")
	}
	n, err := strconv.Atoi(os.Getenv("CAIRN_MONOREPO_PIPELINES"))
	if err != nil {
		t.Fatalf("CAIRN_MONOREPO_PIPELINES: %v", err)
	}
	if err := monorepo.Write(dir, n); err != nil {
		t.Fatal(err)
	}
	files, _ := monorepo.Files(n)
	t.Logf("wrote %d files, %d pipelines, to %s", len(files), n, dir)
}
