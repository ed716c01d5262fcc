// Package monorepo generates a realistic Cairn monorepo for benchmarks: a
// CUE module holding the specs of many teams, each team a CUE package with
// its own project (namespace) and pipelines modelled on examples/fraud,
// examples/recsys and examples/bert-pretrain.
//
// The layout of a repository of N pipelines is
//
//	cue.mod/module.cue                    module "example.com/mono@v0"
//	teams/teamNN/project.cue              package teamNN: project settings and policy
//	teams/teamNN/pipelines_MM.cue         PipelinesPerFile pipelines each
//
// with PipelinesPerTeam pipelines per team (the last team may have fewer).
// Pipeline g (0-based over the whole repository) is shaped by g alone, so
// the output is the same, byte for byte, for the same N:
//
//   - data: two datasets when g%3 == 0, else one; a dataset of every fifth
//     pipeline holds personal data, so the team's namespace is approved
//     for it in policy.pii;
//   - one feature step reading every dataset;
//   - training by g%10: 9 an MPIJob of 2 nodes × 8 H100; 2, 4, 6 and 8 on
//     CPU; otherwise one spot GPU (L4 or A100);
//   - evaluation with gates unless g%3 == 2;
//   - a schedule when g is even.
//
// Each team's policy prices GPUs and CPUs, caps a run at 3000 USD and
// relaxes policy.requireDigests (the images are pinned by tag).
package monorepo

import (
	"fmt"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"

	"cuelang.org/go/cue/format"
)

// Module is the module path of the generated repository.
const Module = "example.com/mono@v0"

// Layout of the generated repository.
const (
	PipelinesPerFile = 10
	FilesPerTeam     = 5
	PipelinesPerTeam = PipelinesPerFile * FilesPerTeam
)

// Write writes a repository of the given number of pipelines under dir,
// creating dir if needed. Files already in dir that the repository does
// not name are left alone.
func Write(dir string, pipelines int) error {
	files, err := Files(pipelines)
	if err != nil {
		return err
	}
	names := make([]string, 0, len(files))
	for name := range files {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(p, files[name], 0o644); err != nil {
			return err
		}
	}
	return nil
}

// Files returns the files of a repository of the given number of
// pipelines, by slash path relative to the module root.
func Files(pipelines int) (map[string][]byte, error) {
	if pipelines < 0 {
		return nil, fmt.Errorf("monorepo: negative number of pipelines %d", pipelines)
	}
	files := map[string][]byte{
		"cue.mod/module.cue": []byte(fmt.Sprintf("module: %q\nlanguage: version: \"v0.17.0\"\n", Module)),
	}
	teams := (pipelines + PipelinesPerTeam - 1) / PipelinesPerTeam
	for t := 0; t < teams; t++ {
		first := t * PipelinesPerTeam
		last := min(first+PipelinesPerTeam, pipelines) // exclusive
		pkg := TeamPackage(t)
		dir := path.Join("teams", pkg)
		if err := addFormatted(files, path.Join(dir, "project.cue"), projectFile(t, first, last)); err != nil {
			return nil, err
		}
		for f, start := 0, first; start < last; f, start = f+1, start+PipelinesPerFile {
			end := min(start+PipelinesPerFile, last)
			var b strings.Builder
			fmt.Fprintf(&b, "package %s\n", pkg)
			for g := start; g < end; g++ {
				b.WriteString("\n")
				writePipeline(&b, t, g)
			}
			if err := addFormatted(files, path.Join(dir, fmt.Sprintf("pipelines_%02d.cue", f+1)), []byte(b.String())); err != nil {
				return nil, err
			}
		}
	}
	return files, nil
}

// addFormatted adds a CUE file to files as `cue fmt` writes it.
func addFormatted(files map[string][]byte, name string, src []byte) error {
	out, err := format.Source(src)
	if err != nil {
		return fmt.Errorf("monorepo: formatting %s: %w", name, err)
	}
	files[name] = out
	return nil
}

// TeamPackage returns the package name, and folder name under teams/, of
// team t (0-based).
func TeamPackage(t int) string { return fmt.Sprintf("team%02d", t+1) }

// TeamNamespace returns the namespace of team t (0-based).
func TeamNamespace(t int) string { return fmt.Sprintf("team-%02d", t+1) }

// domain is a kind of model a team builds, with the shape of its data.
type domain struct {
	name        string
	description string
	format      string // model format
	framework   string
	dataFormat  string
	columns     []column
	refName     string // the second dataset, when there is one
	refColumns  []column
	metrics     []string // gate metrics
	higherIsBad bool     // gates are upper bounds (losses, errors)
}

type column struct {
	name     string
	typ      string
	nullable bool
	pii      bool
	min, max string // a range check, for numeric columns; "" for none
}

var domains = []domain{
	{
		name: "fraud", description: "Card fraud detection: scores transactions.",
		format: "xgboost", framework: "xgboost 2.1", dataFormat: "parquet",
		columns: []column{
			{name: "transaction_id", typ: "string"},
			{name: "card_id", typ: "string", pii: true},
			{name: "amount", typ: "float", min: "0", max: "1000000"},
			{name: "merchant_category", typ: "string", nullable: true},
			{name: "hour", typ: "int", nullable: true, min: "0", max: "23"},
			{name: "is_fraud", typ: "int", min: "0", max: "1"},
		},
		refName: "merchants",
		refColumns: []column{
			{name: "merchant_id", typ: "string"},
			{name: "country", typ: "string", nullable: true},
			{name: "risk_score", typ: "float", nullable: true, min: "0", max: "1"},
		},
		metrics: []string{"auc", "precision"},
	},
	{
		name: "churn", description: "Subscriber churn: who cancels in the next 30 days.",
		format: "lightgbm", framework: "lightgbm 4.5", dataFormat: "parquet",
		columns: []column{
			{name: "account_id", typ: "string"},
			{name: "email", typ: "string", nullable: true, pii: true},
			{name: "tenure_days", typ: "int", min: "0"},
			{name: "monthly_spend", typ: "float", nullable: true, min: "0"},
			{name: "support_tickets", typ: "int", nullable: true, min: "0", max: "1000"},
			{name: "churned", typ: "bool"},
		},
		refName: "plans",
		refColumns: []column{
			{name: "plan_id", typ: "string"},
			{name: "price", typ: "float", min: "0"},
		},
		metrics: []string{"auc", "recall"},
	},
	{
		name: "recsys", description: "Product recommendations from browsing events and the catalog.",
		format: "onnx", framework: "pytorch 2.5", dataFormat: "parquet",
		columns: []column{
			{name: "user_id", typ: "string"},
			{name: "item_id", typ: "string"},
			{name: "event", typ: "string"},
			{name: "ts", typ: "timestamp"},
		},
		refName: "catalog",
		refColumns: []column{
			{name: "item_id", typ: "string"},
			{name: "category", typ: "string", nullable: true},
			{name: "price", typ: "float", nullable: true, min: "0"},
		},
		metrics: []string{"ndcg_at_10", "recall_at_50"},
	},
	{
		name: "demand", description: "Daily demand forecast per store and product.",
		format: "safetensors", framework: "pytorch 2.5", dataFormat: "csv",
		columns: []column{
			{name: "store_id", typ: "string"},
			{name: "sku", typ: "string"},
			{name: "date", typ: "timestamp"},
			{name: "units", typ: "int", min: "0", max: "100000"},
			{name: "promo", typ: "bool", nullable: true},
		},
		refName: "calendar",
		refColumns: []column{
			{name: "date", typ: "timestamp"},
			{name: "holiday", typ: "bool"},
		},
		metrics:     []string{"mape", "wape"},
		higherIsBad: true,
	},
	{
		name: "search-rank", description: "Learning-to-rank for site search.",
		format: "pytorch", framework: "pytorch 2.5", dataFormat: "jsonl",
		columns: []column{
			{name: "query_id", typ: "string"},
			{name: "doc_id", typ: "string"},
			{name: "position", typ: "int", min: "1", max: "100"},
			{name: "clicked", typ: "bool"},
			{name: "dwell_seconds", typ: "float", nullable: true, min: "0"},
		},
		refName: "documents",
		refColumns: []column{
			{name: "doc_id", typ: "string"},
			{name: "title", typ: "string", nullable: true},
		},
		metrics: []string{"ndcg_at_10", "mrr"},
	},
	{
		name: "eta", description: "Delivery time estimates for open orders.",
		format: "xgboost", framework: "xgboost 2.1", dataFormat: "parquet",
		columns: []column{
			{name: "order_id", typ: "string"},
			{name: "distance_km", typ: "float", min: "0", max: "500"},
			{name: "prep_minutes", typ: "float", nullable: true, min: "0", max: "240"},
			{name: "courier_id", typ: "string", nullable: true, pii: true},
			{name: "delivered_minutes", typ: "float", min: "0"},
		},
		refName: "weather",
		refColumns: []column{
			{name: "city", typ: "string"},
			{name: "hour", typ: "timestamp"},
			{name: "rain_mm", typ: "float", nullable: true, min: "0"},
		},
		metrics:     []string{"mae_minutes", "p90_error_minutes"},
		higherIsBad: true,
	},
	{
		name: "lm-pretrain", description: "Transformer pre-training on the tokenized text corpus.",
		format: "pytorch", framework: "pytorch 2.5", dataFormat: "tfrecord",
		columns: []column{
			{name: "input_ids", typ: "string"},
			{name: "length", typ: "int", min: "1", max: "8192"},
		},
		refName: "eval-corpus",
		refColumns: []column{
			{name: "input_ids", typ: "string"},
		},
		metrics:     []string{"perplexity"},
		higherIsBad: true,
	},
}

var gpuTypes = []struct {
	name  string
	price string
}{
	{"NVIDIA-L4", "0.8"},
	{"NVIDIA-A100-SXM4-80GB", "1.8"},
	{"NVIDIA-H100-80GB-HBM3", "2.5"},
}

var crons = []struct{ cron, timezone string }{
	{"0 3 * * 1", ""},
	{"30 2 * * *", ""},
	{"@daily", ""},
	{"15 */6 * * *", "Europe/Paris"},
	{"0 4 1 * *", "America/New_York"},
}

func domainOf(g int) domain { return domains[g%len(domains)] }

// PipelineName returns the name of pipeline g (0-based over the
// repository).
func PipelineName(g int) string { return fmt.Sprintf("%s-%04d", domainOf(g).name, g) }

// isPII says whether pipeline g reads a dataset holding personal data.
func isPII(g int) bool { return g%5 == 0 }

func projectFile(t, first, last int) []byte {
	ns := TeamNamespace(t)
	var b strings.Builder
	fmt.Fprintf(&b, `package %s

import "cairn.dev/schemas"

project: schemas.#Project & {
	name:          %q
	namespace:     %q
	modelRegistry: "registry.example.com/%s"
	storage: root: "s3://ml-artifacts/cairn/%s"
	labels: {
		team:          %q
		"cost-center": "cc-%d"
	}
	policy: {
		requireDigests: false
		maxGPUsPerRun:  16
		prices: {
			cpuHour: 0.04
			gpuHour: {
`, TeamPackage(t), TeamPackage(t), ns, ns, ns, ns, 1000+t+1)
	for _, gt := range gpuTypes {
		fmt.Fprintf(&b, "\t\t\t\t%q: %s\n", gt.name, gt.price)
	}
	b.WriteString("\t\t\t}\n\t\t}\n\t\tbudget: perRun: 3000\n")
	for g := first; g < last; g++ {
		if isPII(g) {
			fmt.Fprintf(&b, "\t\tpii: {\n\t\t\tnamespaces: [%q]\n\t\t\tapprover: \"privacy@example.com\"\n\t\t}\n", ns)
			break
		}
	}
	b.WriteString("\t}\n}\n")
	return []byte(b.String())
}

func writePipeline(b *strings.Builder, t, g int) {
	d := domainOf(g)
	name := PipelineName(g)
	ns := TeamNamespace(t)
	image := func(what string) string {
		return fmt.Sprintf("registry.example.com/%s/%s-%s:1.%d.%d", ns, d.name, what, g%7, g%13)
	}
	snapshot := fmt.Sprintf("2026-%02d-%02d", 1+g%12, 1+g%28)
	w := func(indent int, format string, args ...any) {
		b.WriteString(strings.Repeat("\t", indent))
		fmt.Fprintf(b, format, args...)
		b.WriteString("\n")
	}

	w(0, "project: pipelines: %q: {", name)
	w(1, "description: %q", d.description)
	w(1, "labels: tier: %q", []string{"critical", "standard", "experimental"}[g%3])

	// Datasets.
	module := strings.ReplaceAll(d.name, "-", "_") // the Python module
	datasets := []string{d.name}
	if g%3 == 0 {
		datasets = append(datasets, d.refName)
	}
	w(1, "data: {")
	for i, ds := range datasets {
		cols := d.columns
		if i == 1 {
			cols = d.refColumns
		}
		w(2, "%s: {", cueLabel(ds))
		w(3, "uri:      \"s3://%s-data/%s/%s\"", ns, ds, snapshot)
		w(3, "format:   %q", d.dataFormat)
		w(3, "snapshot: %q", snapshot)
		pii := i == 0 && isPII(g)
		if pii {
			w(3, "pii:      true")
		}
		if i == 0 && g%4 == 1 {
			w(3, "derivedFrom: [\"s3://%s-data/raw/%s\"]", ns, ds)
		}
		w(3, "columns: {")
		for _, c := range cols {
			var attrs []string
			attrs = append(attrs, fmt.Sprintf("type: %q", c.typ))
			if !c.nullable {
				attrs = append(attrs, "nullable: false")
			}
			if c.pii && pii {
				attrs = append(attrs, "pii: true")
			}
			w(4, "%s: {%s}", c.name, strings.Join(attrs, ", "))
		}
		w(3, "}")
		w(3, "checks: {")
		w(4, "minRows:         %d", []int{1000, 100000, 1000000}[(g+i)%3])
		w(4, "maxNullFraction: 0.0%d", 1+(g+i)%5)
		var ranged []column
		for _, c := range cols {
			if c.min != "" || c.max != "" {
				ranged = append(ranged, c)
			}
		}
		if len(ranged) > 0 {
			w(4, "ranges: {")
			for _, c := range ranged {
				var r []string
				if c.min != "" {
					r = append(r, "min: "+c.min)
				}
				if c.max != "" {
					r = append(r, "max: "+c.max)
				}
				w(5, "%s: {%s}", c.name, strings.Join(r, ", "))
			}
			w(4, "}")
		}
		w(3, "}")
		w(2, "}")
	}
	w(1, "}")

	// One feature step reading every dataset.
	cmd := []string{"python", "-m", module + ".features"}
	for _, ds := range datasets {
		cmd = append(cmd, "--"+ds, "$(CAIRN_INPUT_"+envName(ds)+")")
	}
	cmd = append(cmd, "--out", "$(CAIRN_OUTPUT_FEATURES)")
	w(1, "features: \"build-features\": {")
	w(2, "image: %q", image("features"))
	w(2, "command: %s", list(cmd))
	w(2, "inputs: %s", list(datasets))
	w(2, "outputs: [\"features\"]")
	w(2, "resources: {cpu: %q, memory: %q}", []string{"2", "4", "8"}[g%3], []string{"8Gi", "16Gi", "32Gi"}[g%3])
	if g%4 == 2 {
		w(2, "maxRuntime: \"3h\"")
	}
	w(1, "}")

	// Training.
	w(1, "train: {")
	w(2, "image: %q", image("train"))
	w(2, "command: %s", list([]string{"python", "-m", module + ".train", "--features", "$(CAIRN_INPUT_FEATURES)", "--model-dir", "$(CAIRN_MODEL)", "--hparams", "$(CAIRN_HPARAMS)"}))
	w(2, "inputs: [\"features\"]")
	w(2, "hyperparameters: {")
	w(3, "learning_rate: 0.0%d", 1+g%9)
	w(3, "epochs:        %d", 10+g%40)
	w(3, "batch_size:    %d", []int{256, 512, 1024, 4096}[g%4])
	w(3, "seed:          %d", 42+g)
	w(2, "}")
	switch kind := g % 10; {
	case kind == 9: // MPI, 2 nodes × 8 H100
		w(2, "env: {NCCL_DEBUG: \"WARN\", NCCL_IB_DISABLE: \"0\"}")
		w(2, "compute: {")
		w(3, "kind:        \"mpi\"")
		w(3, "nodes:       2")
		w(3, "gpusPerNode: 8")
		w(3, "gpuType:     %q", gpuTypes[2].name)
		w(3, "cpu:         \"96\"")
		w(3, "memory:      \"1600Gi\"")
		w(3, "maxRuntime:  \"48h\"")
		w(3, "retries:     2")
		w(2, "}")
	case kind%2 == 0 && kind != 0: // CPU
		w(2, "compute: {")
		w(3, "cpu:        %q", []string{"8", "16"}[g%2])
		w(3, "memory:     \"32Gi\"")
		w(3, "maxRuntime: \"3h\"")
		w(2, "}")
	default: // one spot GPU
		if g%2 == 1 {
			w(2, "env: OMP_NUM_THREADS: \"8\"")
		}
		w(2, "compute: {")
		w(3, "gpusPerNode: 1")
		w(3, "gpuType:     %q", gpuTypes[g%2].name)
		w(3, "cpu:         \"8\"")
		w(3, "memory:      \"32Gi\"")
		w(3, "spot:        true")
		w(3, "maxRuntime:  \"4h\"")
		w(2, "}")
	}
	w(1, "}")

	// Evaluation and gates.
	if g%3 != 2 {
		w(1, "evaluate: {")
		w(2, "image: %q", image("train"))
		w(2, "command: %s", list([]string{"python", "-m", module + ".evaluate", "--model-dir", "$(CAIRN_MODEL)", "--features", "$(CAIRN_INPUT_FEATURES)", "--metrics", "$(CAIRN_METRICS)"}))
		w(2, "inputs: [\"features\"]")
		w(2, "gates: {")
		for i, m := range d.metrics {
			if d.higherIsBad {
				w(3, "%s: \"<= %d.%d\"", m, 1+i*4, g%10)
			} else {
				w(3, "%s: \">= 0.%d\"", m, 70+(g+i)%25)
			}
		}
		w(2, "}")
		if g%4 == 0 {
			w(2, "resources: {cpu: \"4\", memory: \"16Gi\"}")
		}
		w(1, "}")
	}

	w(1, "model: {")
	w(2, "format:    %q", d.format)
	w(2, "framework: %q", d.framework)
	w(1, "}")

	if g%2 == 0 {
		c := crons[(g/2)%len(crons)]
		if c.timezone == "" {
			w(1, "schedule: cron: %q", c.cron)
		} else {
			w(1, "schedule: {cron: %q, timezone: %q}", c.cron, c.timezone)
		}
	}
	w(0, "}")
}

func envName(s string) string {
	return strings.ToUpper(strings.ReplaceAll(s, "-", "_"))
}

// cueLabel quotes a field name that is not a CUE identifier.
func cueLabel(s string) string {
	if strings.Contains(s, "-") {
		return fmt.Sprintf("%q", s)
	}
	return s
}

func list(elems []string) string {
	q := make([]string, len(elems))
	for i, e := range elems {
		q[i] = fmt.Sprintf("%q", e)
	}
	return "[" + strings.Join(q, ", ") + "]"
}
