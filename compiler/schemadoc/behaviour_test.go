package schemadoc_test

import (
	"math"
	"regexp"
	"strings"
	"testing"

	"cairn.dev/cairn/compiler/check"
	"cairn.dev/cairn/compiler/ir"
	"cairn.dev/cairn/compiler/ir/irtest"
	"cairn.dev/cairn/compiler/lower"
	"cairn.dev/cairn/compiler/lower/argo"
)

// envExample is a documented example of a step's variable name:
// input "raw-events" is $(CAIRN_INPUT_RAW_EVENTS).
var envExample = regexp.MustCompile(`(dataset|input|output) "([a-z0-9-]+)" is \$\((CAIRN_(?:INPUT|OUTPUT)_[A-Z0-9_]+)\)`)

// TestEnvNameExamples checks that the reference gives an example of the
// variable each kind of input and output is passed in, and that lowering
// a pipeline using the example's name gives the step that variable.
func TestEnvNameExamples(t *testing.T) {
	tables := specTables(t)
	for _, c := range []struct {
		def, field, kind string
		step             func(name string) (pl *ir.Pipeline, template string)
	}{
		{"#Dataset", "ingest", "dataset", func(name string) (*ir.Pipeline, string) {
			pl := withDataset(name)
			pl.Data[name].Ingest = &ir.IngestStep{
				Image: "registry.example.com/ingest:1", Command: []string{"ingest"},
				Env: map[string]string{}, Resources: ir.Resources{CPU: "1", Memory: "2Gi"}, MaxRuntime: "2h",
			}
			return pl, argo.IngestTask(name)
		}},
		{"#FeatureStep", "inputs", "input", func(name string) (*ir.Pipeline, string) {
			return withDataset(name), argo.FeatureTask("build-features")
		}},
		{"#FeatureStep", "outputs", "output", func(name string) (*ir.Pipeline, string) {
			return withOutput(name), argo.FeatureTask("build-features")
		}},
		{"#Train", "inputs", "input", func(name string) (*ir.Pipeline, string) {
			return withOutput(name), argo.TaskTrain
		}},
		{"#Evaluate", "inputs", "input", func(name string) (*ir.Pipeline, string) {
			return withOutput(name), argo.TaskEvaluate
		}},
	} {
		rw, ok := tables[c.def][c.field]
		if !ok {
			t.Errorf("the reference has no row %s.%s", c.def, c.field)
			continue
		}
		ms := envExample.FindAllStringSubmatch(rw.desc, -1)
		if len(ms) == 0 {
			t.Errorf("%s.%s gives no example of its variable (%s \"a-b\" is $(CAIRN_..._A_B)): %s", c.def, c.field, c.kind, rw.desc)
			continue
		}
		for _, m := range ms {
			if m[1] != c.kind {
				t.Errorf("%s.%s: example of a %s, want a %s: %s", c.def, c.field, m[1], c.kind, m[0])
				continue
			}
			name, want := m[2], m[3]
			pl, template := c.step(name)
			p := irtest.Project()
			wt, err := argo.WorkflowTemplate(p, pl, `{}`, lower.Meta{})
			if err != nil {
				t.Fatalf("%s.%s: WorkflowTemplate(%s) error: %v", c.def, c.field, name, err)
			}
			var env []string
			for _, tm := range wt.Spec.Templates {
				if tm.Name == template && tm.Container != nil {
					for _, e := range tm.Container.Env {
						env = append(env, e.Name)
					}
				}
			}
			found := false
			for _, e := range env {
				found = found || e == want
			}
			if !found {
				t.Errorf("%s.%s documents %s %q as $(%s); the lowered %q step has %v", c.def, c.field, c.kind, name, want, template, env)
			}
		}
	}
}

// withDataset returns the fixture pipeline with its dataset renamed to
// name, which the feature step reads.
func withDataset(name string) *ir.Pipeline {
	pl := irtest.Pipeline("fraud")
	d := pl.Data["transactions"]
	delete(pl.Data, "transactions")
	d.Name = name
	pl.Data[name] = d
	pl.Features["build-features"].Inputs = []string{name}
	return pl
}

// withOutput returns the fixture pipeline with its feature output renamed
// to name, which training and evaluation read.
func withOutput(name string) *ir.Pipeline {
	pl := irtest.Pipeline("fraud")
	pl.Features["build-features"].Outputs = []string{name}
	pl.Train.Inputs = []string{name}
	pl.Evaluate.Inputs = []string{name}
	return pl
}

// pricedSteps matches the sentence of #Prices that says which steps cost
// cpu × cpuHour × maxRuntime hours.
var pricedSteps = regexp.MustCompile(`; ([^;]*) cost cpu × cpuHour × maxRuntime hours`)

// TestIngestPricedAsDocumented checks that the reference says ingest
// steps are priced, where #Prices lists the priced steps and on the
// ingest field, and that the cost estimate prices them so: cpu × cpuHour
// × maxRuntime hours.
func TestIngestPricedAsDocumented(t *testing.T) {
	tables := specTables(t)
	if rw := tables["#Dataset"]["ingest"]; !strings.Contains(rw.desc, "estimated cost") {
		t.Errorf("#Dataset.ingest does not say the step counts in the estimated cost: %s", rw.desc)
	}
	doc := specProse(t, "#Prices")
	m := pricedSteps.FindStringSubmatch(doc)
	if m == nil {
		t.Fatalf("#Prices does not say which steps cost cpu × cpuHour × maxRuntime hours: %s", doc)
	}
	if !strings.Contains(m[1], "ingest") {
		t.Errorf("#Prices prices %q; ingest steps are priced too", m[1])
	}

	p := irtest.Project()
	cpuHour := 0.5
	p.Policy.Prices.CPUHour = &cpuHour
	pl := irtest.Pipeline("fraud")
	base, err := check.EstimateCost(p, pl)
	if err != nil {
		t.Fatal(err)
	}
	pl.Data["transactions"].Ingest = &ir.IngestStep{
		Image: "registry.example.com/ingest:1", Command: []string{"ingest"},
		Env: map[string]string{}, Resources: ir.Resources{CPU: "3", Memory: "2Gi"}, MaxRuntime: "90m",
	}
	got, err := check.EstimateCost(p, pl)
	if err != nil {
		t.Fatal(err)
	}
	if d, want := got.CostPerRun-base.CostPerRun, 3*cpuHour*1.5; math.Abs(d-want) > 1e-9 {
		t.Errorf("EstimateCost with an ingest step of cpu 3 for 90m at cpuHour %v costs %v more, want %v", cpuHour, d, want)
	}
}

// specProse returns the paragraphs of the section of def in the
// reference, before its table.
func specProse(t *testing.T, def string) string {
	t.Helper()
	md := string(renderSpec(t))
	_, sec, ok := strings.Cut(md, "\n## "+def+"\n")
	if !ok {
		t.Fatalf("the reference has no section %s", def)
	}
	sec, _, _ = strings.Cut(sec, "\n| ")
	sec, _, _ = strings.Cut(sec, "\n## ")
	return strings.Join(strings.Fields(sec), " ")
}
