package audit

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"sync"
	"testing"
	"time"

	"golang.org/x/sync/errgroup"

	"cairn.dev/cairn/attest/lineage"
	"cairn.dev/cairn/attest/oci"
	"cairn.dev/cairn/attest/sign"
)

// modelsPerLayout is how many generated models share one OCI layout
// (each layout's index.json is read at every tag lookup).
const modelsPerLayout = 25

// benchFixture is a generated store of signed models with provenance.
type benchFixture struct {
	root     string
	key      *sign.PublicKey
	models   []string // digests
	datasets []string // URIs
}

var benchCache sync.Map // n -> *benchFixture

// benchStore generates n signed and attested models in the default store
// of a folder under the system's temporary folder, reused by later runs
// (with the key stored next to it): model i is trained on dataset i/10
// (so each dataset feeds 10 models), every dataset k>0 is derived from
// dataset k-1's URI when k%5 != 0, and every 10th model is fine-tuned
// from the model before it.
func benchStore(b *testing.B, n int) *benchFixture {
	if f, ok := benchCache.Load(n); ok {
		return f.(*benchFixture)
	}
	root := filepath.Join(os.TempDir(), "cairn-audit-bench", strconv.Itoa(n))
	f := &benchFixture{root: root}
	for i := 0; i < n/10+1; i++ {
		f.datasets = append(f.datasets, fmt.Sprintf("s3://bench/data/%d", i))
	}
	done := filepath.Join(root, "complete")
	if _, err := os.Stat(done); err != nil {
		os.RemoveAll(root)
		start := time.Now()
		if err := generate(b, root, n); err != nil {
			b.Fatal(err)
		}
		b.Logf("generated %d signed models in %s", n, time.Since(start).Round(time.Millisecond))
	}
	pub, err := os.ReadFile(filepath.Join(root, "cosign.pub"))
	if err != nil {
		b.Fatal(err)
	}
	if f.key, err = sign.ParsePublicKey("cosign.pub", pub); err != nil {
		b.Fatal(err)
	}
	digests, err := os.ReadFile(filepath.Join(root, "digests"))
	if err != nil {
		b.Fatal(err)
	}
	for i := 0; i+71 <= len(digests); i += 72 {
		f.models = append(f.models, string(digests[i:i+71]))
	}
	if len(f.models) != n {
		b.Fatalf("fixture %s holds %d models, want %d", root, len(f.models), n)
	}
	benchCache.Store(n, f)
	return f
}

func generate(b *testing.B, root string, n int) error {
	priv, pub, err := sign.GenerateKeyPair([]byte("bench"))
	if err != nil {
		return err
	}
	signer, err := sign.NewSigner("bench.key", priv, []byte("bench"))
	if err != nil {
		return err
	}
	if err := os.MkdirAll(root, 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(root, "cosign.pub"), pub, 0o644); err != nil {
		return err
	}
	src := filepath.Join(root, "src")
	digests := make([]string, n)
	ctx := context.Background()
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(4)
	for l := 0; l*modelsPerLayout < n; l++ {
		g.Go(func() error {
			for i := l * modelsPerLayout; i < min(n, (l+1)*modelsPerLayout); i++ {
				dir := filepath.Join(src, strconv.Itoa(i))
				if err := os.MkdirAll(dir, 0o755); err != nil {
					return err
				}
				if err := os.WriteFile(filepath.Join(dir, "model.safetensors"), []byte("weights "+strconv.Itoa(i)), 0o644); err != nil {
					return err
				}
				ref, err := oci.ParseRef(fmt.Sprintf("bench/l%03d:m%d", l, i), root)
				if err != nil {
					return err
				}
				res, err := oci.Push(gctx, dir, ref, oci.PushOptions{Name: "m"})
				if err != nil {
					return err
				}
				byDigest := res.Ref
				byDigest.Tag = ""
				if _, err := sign.Sign(gctx, byDigest, signer, oci.Options{}); err != nil {
					return err
				}
				ds := i / 10
				in := lineage.TrainingInput{
					Pipeline: "bench", GitCommit: hexOf("c" + strconv.Itoa(i))[:40], SpecDigest: "sha256:" + hexOf("s"+strconv.Itoa(i%7)),
					Datasets: []lineage.Dataset{{Name: "d", URI: fmt.Sprintf("s3://bench/data/%d", ds), Digest: "sha256:" + hexOf("d"+strconv.Itoa(ds))}},
					Image:    "registry.example.com/train@sha256:" + hexOf("image"), RunID: "run-" + strconv.Itoa(i),
					Hyperparameters: map[string]any{"lr": float64(i%5) / 100}, Metrics: map[string]float64{"auc": 0.9},
				}
				if i%10 == 9 && digests[i-1] != "" {
					in.BaseModel = &lineage.Artifact{Ref: "base", Digest: digests[i-1]}
				}
				p, err := lineage.TrainingProvenance(in)
				if err != nil {
					return err
				}
				raw, _ := jsonMarshal(p)
				if _, err := sign.Attest(gctx, byDigest, signer, lineage.PredicateSLSAProvenance, raw, oci.Options{}); err != nil {
					return err
				}
				if ds > 0 && ds%5 != 0 && i%10 == 0 {
					s := lineage.DatasetSnapshot{Name: "d", URI: fmt.Sprintf("s3://bench/data/%d", ds), Digest: lineage.DigestSet{"sha256": hexOf("d" + strconv.Itoa(ds))},
						DerivedFrom: []string{fmt.Sprintf("s3://bench/data/%d", ds-1)}}
					raw, _ := jsonMarshal(s)
					if _, err := sign.Attest(gctx, byDigest, signer, lineage.PredicateDatasetSnapshot, raw, oci.Options{}); err != nil {
						return err
					}
				}
				digests[i] = res.Descriptor.Digest.String()
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return err
	}
	os.RemoveAll(src)
	var all []byte
	for _, d := range digests {
		all = append(all, d+"\n"...)
	}
	if err := os.WriteFile(filepath.Join(root, "digests"), all, 0o644); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(root, "complete"), nil, 0o644)
}

func benchSizes() []int {
	if s := os.Getenv("CAIRN_BENCH_MODELS"); s != "" {
		var out []int
		for _, f := range splitComma(s) {
			n, err := strconv.Atoi(f)
			if err == nil {
				out = append(out, n)
			}
		}
		return out
	}
	return []int{1000, 10000}
}

// BenchmarkIndex indexes the generated store into a new index: the
// first index of a registry. models/s is the indexing rate.
func BenchmarkIndex(b *testing.B) {
	for _, n := range benchSizes() {
		b.Run(strconv.Itoa(n), func(b *testing.B) {
			f := benchStore(b, n)
			refs, err := oci.LocalModels(f.root)
			if err != nil {
				b.Fatal(err)
			}
			b.ResetTimer()
			for range b.N {
				db, err := Open(filepath.Join(b.TempDir(), "audit.db"))
				if err != nil {
					b.Fatal(err)
				}
				start := time.Now()
				st, err := db.Index(context.Background(), refs, Options{Keys: []*sign.PublicKey{f.key}})
				if err != nil {
					b.Fatal(err)
				}
				el := time.Since(start)
				if st.Artifacts != n || st.Rejected != 0 {
					b.Fatalf("Index = %+v, want %d artifacts, none rejected", st, n)
				}
				b.ReportMetric(float64(n)/el.Seconds(), "models/s")
				start = time.Now()
				if st, err = db.Index(context.Background(), refs, Options{Keys: []*sign.PublicKey{f.key}}); err != nil || st.Unchanged != n {
					b.Fatalf("re-Index = %+v, %v", st, err)
				}
				b.ReportMetric(time.Since(start).Seconds(), "reindex-s")
				db.Close()
			}
		})
	}
}

var benchDB sync.Map // n -> path of an index of the store

func benchIndex(b *testing.B, n int) (*DB, *benchFixture) {
	f := benchStore(b, n)
	p, ok := benchDB.Load(n)
	path := filepath.Join(f.root, "audit.db")
	if _, err := os.Stat(path + ".complete"); !ok && err == nil {
		benchDB.Store(n, path)
		p, ok = path, true
	}
	if !ok {
		os.Remove(path)
		db, err := Open(path)
		if err != nil {
			b.Fatal(err)
		}
		refs, _ := oci.LocalModels(f.root)
		if _, err := db.Index(context.Background(), refs, Options{Keys: []*sign.PublicKey{f.key}}); err != nil {
			b.Fatal(err)
		}
		db.Close()
		os.WriteFile(path+".complete", nil, 0o644)
		benchDB.Store(n, path)
		p = path
	}
	db, err := OpenReadOnly(p.(string))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { db.Close() })
	return db, f
}

// latencies runs q for 1000 inputs and reports p50 and p99.
func latencies(b *testing.B, count int, q func(i int) error) {
	b.ResetTimer()
	var all []time.Duration
	for range b.N {
		for i := range count {
			start := time.Now()
			if err := q(i); err != nil {
				b.Fatal(err)
			}
			all = append(all, time.Since(start))
		}
	}
	sort.Slice(all, func(i, j int) bool { return all[i] < all[j] })
	b.ReportMetric(float64(all[len(all)/2].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(all[len(all)*99/100].Microseconds())/1000, "p99-ms")
}

// BenchmarkTrace traces models spread over the store (each with its
// dataset chain and, for every 10th, its base model).
func BenchmarkTrace(b *testing.B) {
	for _, n := range benchSizes() {
		b.Run(strconv.Itoa(n), func(b *testing.B) {
			db, f := benchIndex(b, n)
			ctx := context.Background()
			latencies(b, 1000, func(i int) error {
				t, err := db.Trace(ctx, f.models[(i*7919)%n], QueryOptions{})
				if err == nil && len(t.Nodes) < 6 {
					err = fmt.Errorf("trace of %s: %d nodes", t.Model, len(t.Nodes))
				}
				return err
			})
		})
	}
}

// BenchmarkUses asks which models each dataset reached, transitively
// through the derived datasets (up to 4 deep) and base models.
func BenchmarkUses(b *testing.B) {
	for _, n := range benchSizes() {
		b.Run(strconv.Itoa(n), func(b *testing.B) {
			db, f := benchIndex(b, n)
			ctx := context.Background()
			nd := n / 10
			latencies(b, 1000, func(i int) error {
				uses, err := db.Uses(ctx, f.datasets[(i*31)%nd], QueryOptions{})
				if err == nil && len(uses) < 10 {
					err = fmt.Errorf("uses of %s: %d models", f.datasets[(i*31)%nd], len(uses))
				}
				return err
			})
		})
	}
}
