package compiler_test

import (
	"encoding/json"
	"fmt"
	"io/fs"
	"path/filepath"
	"testing"

	"cuelang.org/go/cue"
	"cuelang.org/go/cue/cuecontext"
	"cuelang.org/go/cue/load"

	"cairn.dev/cairn/compiler"
	"cairn.dev/cairn/compiler/internal/monorepo"
	cairnload "cairn.dev/cairn/compiler/load"
	"cairn.dev/cairn/schemas"
)

// The compile benchmarks run on generated monorepos (see
// internal/monorepo) of these many pipelines, 50 to a team package. Run
// them with a fixed count of iterations so that the largest stays short:
//
//	go test ./compiler -run '^$' -bench 'Compile|CUEExport' -benchmem -benchtime 3x
//
// BenchmarkCUEExport does what a bare `cue export` of the same packages
// does, so the ratio of the two is the cost Cairn adds to evaluating the
// specs: checking, decoding, lowering and rendering YAML.
var benchSizes = []int{10, 100, 1000}

// benchRepo writes a generated monorepo of n pipelines to a temporary
// folder and returns its root.
func benchRepo(b *testing.B, n int) string {
	b.Helper()
	dir := b.TempDir()
	if err := monorepo.Write(dir, n); err != nil {
		b.Fatal(err)
	}
	return dir
}

// reportPerPipeline reports the time of one iteration divided by the
// number of pipelines.
func reportPerPipeline(b *testing.B, n int) {
	if b.N > 0 && n > 0 {
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(n), "ns/pipeline")
	}
}

func BenchmarkCompile(b *testing.B) {
	for _, n := range benchSizes {
		b.Run(fmt.Sprintf("pipelines=%d", n), func(b *testing.B) {
			dir := benchRepo(b, n)
			b.ReportAllocs()
			for b.Loop() {
				res, err := compiler.Compile(compiler.Options{Dir: dir})
				if err != nil {
					b.Fatal(err)
				}
				if len(res.Pipelines) != n {
					b.Fatalf("compiled %d pipelines, want %d", len(res.Pipelines), n)
				}
			}
			reportPerPipeline(b, n)
		})
	}
}

func BenchmarkCUEExport(b *testing.B) {
	for _, n := range benchSizes {
		b.Run(fmt.Sprintf("pipelines=%d", n), func(b *testing.B) {
			dir := benchRepo(b, n)
			b.ReportAllocs()
			for b.Loop() {
				if _, err := cueExport(dir); err != nil {
					b.Fatal(err)
				}
			}
			reportPerPipeline(b, n)
		})
	}
}

// cueExport is `cue export` of every package under root, in process: it
// loads them with the schemas overlaid where Cairn overlays them, builds
// each, checks it is concrete and marshals the whole value to JSON. It
// returns the JSON of each package.
func cueExport(root string) ([][]byte, error) {
	overlay := map[string]load.Source{}
	entries, err := fs.ReadDir(schemas.FS, ".")
	if err != nil {
		return nil, err
	}
	for _, e := range entries {
		data, err := fs.ReadFile(schemas.FS, e.Name())
		if err != nil {
			return nil, err
		}
		overlay[filepath.Join(root, filepath.FromSlash(cairnload.VendorDir), e.Name())] = load.FromBytes(data)
	}
	insts := load.Instances([]string{"./..."}, &load.Config{
		Dir:     root,
		Overlay: overlay,
		Env:     []string{}, // as Cairn: nothing from the host's CUE settings
	})
	ctx := cuecontext.New()
	var out [][]byte
	for _, bi := range insts {
		if bi.Err != nil {
			return nil, bi.Err
		}
		v := ctx.BuildInstance(bi)
		if err := v.Validate(cue.Concrete(true)); err != nil {
			return nil, err
		}
		data, err := v.MarshalJSON()
		if err != nil {
			return nil, err
		}
		out = append(out, data)
	}
	return out, nil
}

// TestCUEExportBaseline checks that the baseline exports every package of a
// generated repository, with every pipeline, defaults resolved.
func TestCUEExportBaseline(t *testing.T) {
	const n = 60
	dir := t.TempDir()
	if err := monorepo.Write(dir, n); err != nil {
		t.Fatal(err)
	}
	out, err := cueExport(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(out) != 2 {
		t.Fatalf("exported %d packages, want 2", len(out))
	}
	pipelines := 0
	for _, data := range out {
		var pkg struct {
			Project struct {
				ServiceAccount string
				Pipelines      map[string]struct {
					Train struct{ Compute struct{ Retries *int } }
				}
			}
		}
		if err := json.Unmarshal(data, &pkg); err != nil {
			t.Fatal(err)
		}
		if pkg.Project.ServiceAccount == "" {
			t.Errorf("project.serviceAccount has no default in %.200s", data)
		}
		for name, pl := range pkg.Project.Pipelines {
			if pl.Train.Compute.Retries == nil {
				t.Errorf("pipeline %s: train.compute.retries has no default", name)
			}
		}
		pipelines += len(pkg.Project.Pipelines)
	}
	if pipelines != n {
		t.Errorf("exported %d pipelines, want %d", pipelines, n)
	}
}
