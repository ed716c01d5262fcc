package lower_test

import (
	"math/rand"
	"reflect"
	"strings"
	"testing"
	"time"

	argotmpl "github.com/argoproj/argo-workflows/v3/util/template"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"

	"cairn.dev/cairn/compiler/ir"
	"cairn.dev/cairn/compiler/ir/irtest"
	"cairn.dev/cairn/compiler/lower"
	"cairn.dev/cairn/compiler/lower/lowertest"
)

// cluster is the cluster block a compile fills from the schema's defaults.
func cluster() ir.Cluster {
	return ir.Cluster{
		GPUTypeLabel: "nvidia.com/gpu.product",
		GPUTaint:     "nvidia.com/gpu",
		SpotSelector: map[string]string{"karpenter.sh/capacity-type": "spot"},
	}
}

// pipeline is a small pipeline with every field a compile fills: one
// dataset, one feature step reading it and a training step reading both.
func pipeline() *ir.Pipeline {
	pl := irtest.Pipeline("fraud")
	pl.Data["transactions"].Columns = map[string]*ir.Column{}
	pl.Train.Hyperparameters = nil
	pl.Train.Inputs = []string{"features", "transactions"}
	pl.Evaluate = nil
	return pl
}

func TestParseDuration(t *testing.T) {
	for _, tc := range []struct {
		in      string
		want    time.Duration
		wantErr string // substring of the error; "" for none
	}{
		{"90s", 90 * time.Second, ""},
		{"30m", 30 * time.Minute, ""},
		{"4h", 4 * time.Hour, ""},
		{"1d", 24 * time.Hour, ""},
		{"1d12h", 36 * time.Hour, ""},
		{"1d2h3m4s", 26*time.Hour + 3*time.Minute + 4*time.Second, ""},
		{"0d1s", time.Second, ""},
		{"100h", 100 * time.Hour, ""},
		{"90m", 90 * time.Minute, ""},
		{"10000d", 10000 * 24 * time.Hour, ""}, // the longest allowed
		{"9999d23h59m60s", 10000 * 24 * time.Hour, ""},
		{"10000d1s", 0, "too long"},
		{"240001h", 0, "too long"},
		{"", 0, "want a number of days"},
		{"0s", 0, "must be positive"},
		{"0d0h0m0s", 0, "must be positive"},
		{"1h1d", 0, "want a number of days"}, // largest unit first
		{"1.5h", 0, "want a number of days"},
		{"-1h", 0, "want a number of days"},
		{"1w", 0, "want a number of days"},
		{"1H", 0, "want a number of days"},
		{"h", 0, "want a number of days"},
		{" 1h", 0, "want a number of days"},
		{"1h ", 0, "want a number of days"},
		{"1h1h", 0, "want a number of days"},
		{"12725830d", 0, "too long"},
		{"99999999999999999999s", 0, "too long"},
	} {
		got, err := ir.ParseDuration(tc.in)
		if tc.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("ParseDuration(%q) = %v, %v, want an error containing %q", tc.in, got, err, tc.wantErr)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("ParseDuration(%q) = %v, %v, want %v", tc.in, got, err, tc.want)
		}
	}
}

// Regression test for a bug of commit 1f079c9: ParseDuration's bound
// (1<<40 seconds per unit) was far above what a time.Duration holds (about
// 9.2e9 seconds) and the sum of the units was not checked, so large
// durations wrapped around int64. Some wrapped to a small positive duration
// that was accepted: "213504d" parsed as 25m26s and "18446744074s" as 290ms
// (activeDeadlineSeconds 0), and the maxRunCost policy check used the
// wrapped value (see TestMaxRunCostHugeMaxRuntime in compiler/check). Others
// wrapped negative and got the misleading "must be positive". Fixed by
// counting seconds against a bound (10000d).
func TestParseDurationOverflow(t *testing.T) {
	for _, in := range []string{
		"106752d",        // one day over the largest time.Duration
		"106751d24h",     // each unit in range, the sum over
		"213504d",        // wraps to 25m26s
		"18446744074s",   // wraps to 290ms
		"1099511627776s", // 1<<40 seconds, allowed by the current bound
		"12725829d",      // the largest number of days the current bound allows
	} {
		got, err := ir.ParseDuration(in)
		if err == nil || !strings.Contains(err.Error(), "too long") {
			t.Errorf("ParseDuration(%q) = %v, %v, want an error containing \"too long\"", in, got, err)
		}
	}
}

func TestSeconds(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want int64
	}{
		{"4h", 14400},
		{"1d12h", 129600},
		{"90s", 90},
		{"2h", 7200},
		{"24h", 86400},
		{"1d2h3m4s", 93784},
	} {
		got, err := lower.Seconds(tc.in)
		if err != nil || got != tc.want {
			t.Errorf("Seconds(%q) = %d, %v, want %d", tc.in, got, err, tc.want)
		}
	}
	for _, in := range []string{"", "4", "4x", "0s"} {
		if got, err := lower.Seconds(in); err == nil {
			t.Errorf("Seconds(%q) = %d, nil, want an error", in, got)
		}
	}
}

// TestEscaper: the first brace of each "{{" in a user string becomes
// $(CAIRN_LB), so Argo finds no tag and Kubernetes gives the "{" back; "$"
// sequences are kept or doubled so that Kubernetes' expansion of the
// escaped string equals its expansion of the user's. That both hold
// through Argo's own substitution is checked in escape_test.go and, on the
// compiled templates, in compiler/lower/argo.
func TestEscaper(t *testing.T) {
	for _, tc := range []struct {
		in, want string
		used     bool
	}{
		{"", "", false},
		{"plain", "plain", false},
		{"{", "{", false},
		{"}}", "}}", false},
		{"{ {", "{ {", false},
		{"$(CAIRN_MODEL)", "$(CAIRN_MODEL)", false},
		{"$$", "$$", false},
		{"{{", "$(CAIRN_LB){", true},
		{"{{workflow.name}}", "$(CAIRN_LB){workflow.name}}", true},
		{"a{{b}}c", "a$(CAIRN_LB){b}}c", true},
		{"{{{", "$(CAIRN_LB)$(CAIRN_LB){", true},
		{"{{{{", "$(CAIRN_LB)$(CAIRN_LB)$(CAIRN_LB){", true},
		{"$(HOME)/{{x}}", "$(HOME)/$(CAIRN_LB){x}}", true},
		{"${{ secrets.X }}", "$$$(CAIRN_LB){ secrets.X }}", true},
		{"$$ {{", "$$ $(CAIRN_LB){", true},
		{"$({{x}})", "$$($(CAIRN_LB){x}})", true},
		// The user's own $(CAIRN_LB) is Kubernetes' literal escape of it.
		{"$(CAIRN_LB)", "$$(CAIRN_LB)", false},
		{"$(CAIRN_LB){{", "$$(CAIRN_LB)$(CAIRN_LB){", true},
		{"$$(CAIRN_LB)", "$$(CAIRN_LB)", false},
		{"$$$(CAIRN_LB)", "$$$$(CAIRN_LB)", false},
		{"$(CAIRN_LBX) $(CAIRN_LB", "$(CAIRN_LBX) $(CAIRN_LB", false},
	} {
		var esc lower.Escaper
		got := esc.String(tc.in)
		if got != tc.want || esc.Used != tc.used {
			t.Errorf("Escaper.String(%q) = %q, Used %v, want %q, Used %v", tc.in, got, esc.Used, tc.want, tc.used)
		}
		if strings.Contains(got, "{{") {
			t.Errorf("Escaper.String(%q) = %q, holds {{", tc.in, got)
		}
	}
}

func TestEscaperStringsAndEnv(t *testing.T) {
	var esc lower.Escaper
	in := []string{"python", "--name={{workflow.name}}", "$(CAIRN_MODEL)"}
	want := []string{"python", "--name=$(CAIRN_LB){workflow.name}}", "$(CAIRN_MODEL)"}
	if got := esc.Strings(in); !reflect.DeepEqual(got, want) {
		t.Errorf("Escaper.Strings(%q) = %q, want %q", in, got, want)
	}
	env := []corev1.EnvVar{{Name: "A", Value: "a"}}
	wantEnv := []corev1.EnvVar{{Name: lower.BraceVar, Value: "{"}, {Name: "A", Value: "a"}}
	if got := esc.Env(env); !reflect.DeepEqual(got, wantEnv) {
		t.Errorf("Escaper.Env(%v) after escaping a brace = %v, want %v", env, got, wantEnv)
	}
	var unused lower.Escaper
	unused.Strings([]string{"no", "braces"})
	if got := unused.Env(env); !reflect.DeepEqual(got, env) {
		t.Errorf("Escaper.Env(%v) without braces = %v, want it unchanged", env, got)
	}
}

// argoSubst runs Argo's own template substitution three times over s, as
// its controller does for globals and then for inputs; ok is false when
// Argo refuses the text.
func argoSubst(s string) (string, bool) {
	vars := map[string]any{"workflow.name": "wf-x", "workflow.uid": "uid-1", "inputs.parameters.x": "X"}
	for range 3 {
		tmpl, err := argotmpl.NewTemplate(s)
		if err != nil {
			return s, false
		}
		if s, err = tmpl.Replace(vars, true); err != nil {
			return s, false
		}
	}
	return s, true
}

// userVars are variables a container defines for its user; CAIRN_LB is
// never one of them.
var userVars = map[string]string{"CAIRN_INPUT_X": "s3://x", "HOME": "/home/u"}

// withBrace returns vars with CAIRN_LB defined as the container does.
func withBrace(vars map[string]string) map[string]string {
	out := map[string]string{lower.BraceVar: "{"}
	for k, v := range vars {
		out[k] = v
	}
	return out
}

// checkRoundTrip checks that the escaped s survives Argo unchanged and
// that Kubernetes gives the program what it gives for s with the user's
// variables: whether or not the container defines CAIRN_LB (another of
// its strings may need it), and with it when s itself needs it.
func checkRoundTrip(t *testing.T, s string) {
	t.Helper()
	var esc lower.Escaper
	got := esc.String(s)
	if strings.Contains(got, "{{") {
		t.Fatalf("Escaper.String(%q) = %q, holds {{", s, got)
	}
	after, ok := argoSubst(got)
	if !ok || after != got {
		t.Fatalf("Argo substitution of escaped %q (from %q) = %q, %v; want it unchanged", got, s, after, ok)
	}
	want := lowertest.KubeExpand(s, userVars)
	withLB := lowertest.KubeExpand(after, withBrace(userVars))
	if withLB != want {
		t.Fatalf("Kubernetes gives %q for escaped %q with %s defined, want %q as for the user's %q", withLB, got, lower.BraceVar, want, s)
	}
	if without := lowertest.KubeExpand(after, userVars); !esc.Used && without != want {
		t.Fatalf("Kubernetes gives %q for escaped %q without %s, want %q as for the user's %q", without, got, lower.BraceVar, want, s)
	}
}

// TestEscaperRoundTrip: through Argo's substitution and Kubernetes'
// expansion every user string reaches the program as Kubernetes alone
// would have given it; with no "$" in it, as the user wrote it. A user's
// own "$(CAIRN_LB)" stays literal even when the container defines the
// variable for another of its strings.
func TestEscaperRoundTrip(t *testing.T) {
	cases := []string{
		"", "plain", "{{", "{{{", "$(CAIRN_LB)", "$(CAIRN_LB){{", "{{$(CAIRN_LB)", "$$(CAIRN_LB)", "$$$(CAIRN_LB)",
		"$($(CAIRN_LB))", "$(CAIRN_LB{{)", "$({{CAIRN_LB)", "echo $(CAIRN_LB) {{workflow.name}}", "$(HOME)/{{x}}/$(CAIRN_LB)",
		"${{ secrets.X }}", "$({{x}})", "$(", "$", "{{$", "$$", "$é{{", "}}{{workflow.uid}}{{",
	}
	rng := rand.New(rand.NewSource(2))
	parts := []string{"{", "}", "$", "(", ")", "x", "CAIRN_LB", "$(CAIRN_LB)", "CAIRN_INPUT_X", "HOME", "=", "'", "é"}
	for range 5000 {
		var b strings.Builder
		for range rng.Intn(14) {
			b.WriteString(parts[rng.Intn(len(parts))])
		}
		cases = append(cases, b.String())
	}
	for _, s := range cases {
		checkRoundTrip(t, s)
		if !strings.Contains(s, "$") {
			var esc lower.Escaper
			after, _ := argoSubst(esc.String(s))
			if got := lowertest.KubeExpand(after, map[string]string{lower.BraceVar: "{"}); got != s {
				t.Errorf("round trip of %q = %q, want the user's string", s, got)
			}
		}
	}
	// One container: the brace of one string defines CAIRN_LB for all.
	var esc lower.Escaper
	cmd := esc.Strings([]string{"--name={{workflow.name}}", "--lit=$(CAIRN_LB)"})
	env := esc.Env(nil)
	vars := map[string]string{}
	for _, e := range env {
		vars[e.Name] = e.Value
	}
	if got := lowertest.KubeExpand(cmd[1], vars); got != "--lit=$(CAIRN_LB)" {
		t.Errorf("a user's $(CAIRN_LB) beside a {{ in the same container reaches the program as %q, want it as written", got)
	}
}

// FuzzEscaper: for any string, the escaped string survives Argo's
// substitution and Kubernetes then gives back what it gives for the
// user's string.
//
//	go test ./compiler/lower -run '^$' -fuzz FuzzEscaper -fuzztime 30s
func FuzzEscaper(f *testing.F) {
	for _, s := range []string{"", "{{workflow.name}}", "$(CAIRN_LB)", "$(CAIRN_LB){{", "$$(HOME){{", "$({{x}})", "${{", "$é"} {
		f.Add(s)
	}
	f.Fuzz(checkRoundTrip)
}

func TestJSONText(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{`{"a":"b"}`, `{"a":"b"}`},
		{`{"a":{"b":1}}`, `{"a":{"b":1}}`}, // "{" of JSON objects never doubles
		{`{"cmd":"{{workflow.name}}"}`, `{"cmd":"\u007b{workflow.name}}"}`},
		{`{"cost":"$(HOME) $5"}`, `{"cost":"\u0024(HOME) \u00245"}`},
	} {
		if got := lower.JSONText(tc.in); got != tc.want {
			t.Errorf("JSONText(%s) = %s, want %s", tc.in, got, tc.want)
		}
	}
}

func TestEnvName(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"transactions", "TRANSACTIONS"},
		{"build-features", "BUILD_FEATURES"},
		{"a-b-c1", "A_B_C1"},
	} {
		if got := lower.EnvName(tc.in); got != tc.want {
			t.Errorf("EnvName(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestInputURI(t *testing.T) {
	pl := pipeline()
	for _, tc := range []struct{ in, want string }{
		{"transactions", "s3://payments-data/transactions/2026-11"}, // #URI holds no "{", "}" or "$"
		{"features", lower.RunDir + "/features/build-features/features"},
	} {
		if got := lower.InputURI(pl, tc.in); got != tc.want {
			t.Errorf("InputURI(pl, %q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestEnv(t *testing.T) {
	pl := pipeline()
	user := map[string]string{
		"Z_USER":         "{{workflow.name}}",
		"A_USER":         "plain",
		"CAIRN_PIPELINE": "overridden", // Cairn's own variables win
		lower.BraceVar:   "}",          // and so does the brace
	}
	var esc lower.Escaper
	got := lower.Env(pl, map[string]string{"CAIRN_MODEL": lower.ModelURI}, []string{"transactions", "features"}, user, &esc)
	want := []corev1.EnvVar{
		{Name: "CAIRN_INPUT_FEATURES", Value: lower.RunDir + "/features/build-features/features"},
		{Name: "CAIRN_INPUT_TRANSACTIONS", Value: "s3://payments-data/transactions/2026-11"},
		{Name: "CAIRN_MODEL", Value: lower.RunDir + "/model"},
		{Name: "CAIRN_PIPELINE", Value: "fraud"},
		{Name: "CAIRN_RUN_DIR", Value: "{{workflow.parameters.run-root}}/{{workflow.uid}}"},
		{Name: "A_USER", Value: "plain"},
		{Name: "Z_USER", Value: "$(CAIRN_LB){workflow.name}}"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Env(...) = %v, want %v", got, want)
	}
	if !esc.Used {
		t.Errorf("Env(...) escaped %q, but Escaper.Used = false", user["Z_USER"])
	}
	if got := esc.Env(got); got[0] != (corev1.EnvVar{Name: lower.BraceVar, Value: "{"}) {
		t.Errorf("Escaper.Env(Env(...))[0] = %v, want %s={", got[0], lower.BraceVar)
	}
}

func TestResources(t *testing.T) {
	for _, tc := range []struct {
		cpu, memory string
		gpus        int
		wantGPU     string // limit, "" for none
	}{
		{"4", "16Gi", 0, ""},
		{"500m", "1Gi", 0, ""},
		{"8", "32Gi", 2, "2"},
		{"8", "32Gi", 8, "8"},
	} {
		r, err := lower.Resources(tc.cpu, tc.memory, tc.gpus)
		if err != nil {
			t.Errorf("Resources(%q, %q, %d) error: %v", tc.cpu, tc.memory, tc.gpus, err)
			continue
		}
		for _, list := range []corev1.ResourceList{r.Requests, r.Limits} {
			if q := list[corev1.ResourceCPU]; q.Cmp(resource.MustParse(tc.cpu)) != 0 {
				t.Errorf("Resources(%q, %q, %d) cpu = %s, want %s", tc.cpu, tc.memory, tc.gpus, q.String(), tc.cpu)
			}
			if q := list[corev1.ResourceMemory]; q.Cmp(resource.MustParse(tc.memory)) != 0 {
				t.Errorf("Resources(%q, %q, %d) memory = %s, want %s", tc.cpu, tc.memory, tc.gpus, q.String(), tc.memory)
			}
		}
		q, ok := r.Limits[lower.ResourceGPU]
		switch {
		case tc.wantGPU == "" && ok:
			t.Errorf("Resources(%q, %q, %d) GPU limit = %s, want none", tc.cpu, tc.memory, tc.gpus, q.String())
		case tc.wantGPU != "" && (!ok || q.String() != tc.wantGPU):
			t.Errorf("Resources(%q, %q, %d) GPU limit = %s (present %v), want %s", tc.cpu, tc.memory, tc.gpus, q.String(), ok, tc.wantGPU)
		}
		if _, ok := r.Requests[lower.ResourceGPU]; ok {
			t.Errorf("Resources(%q, %q, %d) requests GPUs, want them as a limit only", tc.cpu, tc.memory, tc.gpus)
		}
	}
	for _, tc := range []struct{ cpu, memory, wantErr string }{
		{"x", "1Gi", `cpu "x"`},
		{"1", "lots", `memory "lots"`},
	} {
		if _, err := lower.Resources(tc.cpu, tc.memory, 0); err == nil || !strings.Contains(err.Error(), tc.wantErr) {
			t.Errorf("Resources(%q, %q, 0) error = %v, want one containing %q", tc.cpu, tc.memory, err, tc.wantErr)
		}
	}
}

func TestPlacement(t *testing.T) {
	gpuTol := corev1.Toleration{Key: "nvidia.com/gpu", Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoSchedule}
	spotTol := corev1.Toleration{Key: "cloud.example.com/spot", Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoSchedule}
	withSpotTaint := cluster()
	withSpotTaint.SpotTaint = "cloud.example.com/spot"
	for _, tc := range []struct {
		name    string
		c       ir.Cluster
		gpus    int
		gpuType string
		spot    bool
		wantSel map[string]string
		wantTol []corev1.Toleration
	}{
		{"cpu", cluster(), 0, "", false, nil, nil},
		{"cpu, gpuType ignored", cluster(), 0, "NVIDIA-H100-80GB-HBM3", false, nil, nil},
		{"gpu with type", cluster(), 2, "NVIDIA-H100-80GB-HBM3", false,
			map[string]string{"nvidia.com/gpu.product": "NVIDIA-H100-80GB-HBM3"}, []corev1.Toleration{gpuTol}},
		{"gpu without type", cluster(), 1, "", false, nil, []corev1.Toleration{gpuTol}},
		{"cpu spot", cluster(), 0, "", true,
			map[string]string{"karpenter.sh/capacity-type": "spot"}, nil},
		{"gpu spot", cluster(), 2, "NVIDIA-L4", true,
			map[string]string{"nvidia.com/gpu.product": "NVIDIA-L4", "karpenter.sh/capacity-type": "spot"}, []corev1.Toleration{gpuTol}},
		{"gpu spot with spot taint", withSpotTaint, 2, "NVIDIA-L4", true,
			map[string]string{"nvidia.com/gpu.product": "NVIDIA-L4", "karpenter.sh/capacity-type": "spot"}, []corev1.Toleration{spotTol, gpuTol}},
		{"spot taint unused off spot", withSpotTaint, 0, "", false, nil, nil},
	} {
		sel, tol := lower.Placement(tc.c, tc.gpus, tc.gpuType, tc.spot)
		if !reflect.DeepEqual(sel, tc.wantSel) || !reflect.DeepEqual(tol, tc.wantTol) {
			t.Errorf("%s: Placement(cluster, %d, %q, %v) = %v, %v, want %v, %v", tc.name, tc.gpus, tc.gpuType, tc.spot, sel, tol, tc.wantSel, tc.wantTol)
		}
	}
}

func TestCanonicalJSON(t *testing.T) {
	for _, tc := range []struct {
		in   any
		want string
	}{
		{map[string]any{"b": 1, "a": "x<y&z"}, `{"a":"x<y&z","b":1}`},
		{map[string]string{}, `{}`},
		{[]string{"{{"}, `["{{"]`},
		{map[string]any{"z": nil, "a": []int{}}, `{"a":[],"z":null}`},
	} {
		if got := lower.CanonicalJSON(tc.in); got != tc.want {
			t.Errorf("CanonicalJSON(%v) = %s, want %s", tc.in, got, tc.want)
		}
	}
}
