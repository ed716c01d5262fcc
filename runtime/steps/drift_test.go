package steps

import (
	"context"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// The wanted values are computed by hand from the formula in drift.go:
// PSI = Σ (c − r)·ln(c/r), empty bins counting as 0.0001.
func TestCategoricalPSI(t *testing.T) {
	ref := append(repeat("a", 50), repeat("b", 50)...)
	cur := append(repeat("a", 80), repeat("b", 20)...)
	// (0.8−0.5)·ln(0.8/0.5) + (0.2−0.5)·ln(0.2/0.5)
	// = 0.3·0.4700036 + 0.3·0.9162907 = 0.4158883
	got, cats := CategoricalPSI(ref, cur)
	if !near(got, 0.4158883) || !reflect.DeepEqual(cats, []string{"a", "b"}) {
		t.Errorf("CategoricalPSI = %v, %v; want 0.4158883, [a b]", got, cats)
	}
	if got, _ := CategoricalPSI(ref, ref); got != 0 {
		t.Errorf("CategoricalPSI(same) = %v, want 0", got)
	}
	// A category each side lacks: shares a, b, c of 0.5, 0.5, 0 against
	// 0.5, 0, 0.5: (0.0001−0.5)·ln(0.0001/0.5) + (0.5−0.0001)·ln(0.5/0.0001)
	// = 2·0.4999·8.5171932 = 8.5154898
	got, _ = CategoricalPSI(append(repeat("a", 5), repeat("b", 5)...), append(repeat("a", 5), repeat("c", 5)...))
	if !near(got, 8.5154898) {
		t.Errorf("CategoricalPSI(new category) = %v, want 8.5154898", got)
	}
}

func TestNumericPSI(t *testing.T) {
	ref := []float64{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}
	// Deciles of 1..10 by nearest rank ⌈k·10/10⌉: edges 1..9, ten bins
	// of 0.1 each.
	got, edges := NumericPSI(ref, ref)
	if got != 0 || !reflect.DeepEqual(edges, []float64{1, 2, 3, 4, 5, 6, 7, 8, 9}) {
		t.Errorf("NumericPSI(same) = %v, edges %v; want 0, 1..9", got, edges)
	}
	// Half the values in the first bin, half in the last, eight empty:
	// 2·(0.5−0.1)·ln(5) + 8·(0.0001−0.1)·ln(0.001)
	// = 2·0.4·1.6094379 + 8·0.0999·6.9077553 = 1.2875503 + 5.5206780
	cur := []float64{1, 1, 1, 1, 1, 10, 10, 10, 10, 10}
	if got, _ := NumericPSI(ref, cur); !near(got, 6.8082283) {
		t.Errorf("NumericPSI(split) = %v, want 6.8082283", got)
	}
	// Equal deciles merge: the reference 0×8, 1×2 has edges [0 1] and
	// bins ≤0, (0,1], >1 with shares 0.8, 0.2, 0; the current 0, 1, 2, 2
	// has 0.25, 0.25, 0.5:
	// (0.25−0.8)·ln(0.25/0.8) + (0.25−0.2)·ln(1.25) + (0.5−0.0001)·ln(5000)
	// = 0.6397415 + 0.0111572 + 4.2577363 = 4.9086350
	got, edges = NumericPSI([]float64{0, 0, 0, 0, 0, 0, 0, 0, 1, 1}, []float64{0, 1, 2, 2})
	if !near(got, 4.9086350) || !reflect.DeepEqual(edges, []float64{0, 1}) {
		t.Errorf("NumericPSI(ties) = %v, edges %v; want 4.9086350, [0 1]", got, edges)
	}
}

func TestDrift(t *testing.T) {
	dir := t.TempDir()
	var ref, cur strings.Builder
	ref.WriteString("amount,merchant_category,ignored\n")
	cur.WriteString("amount,merchant_category,ignored\n")
	for i := 1; i <= 100; i++ {
		cat := "grocery"
		if i%2 == 0 {
			cat = "travel"
		}
		ref.WriteString(itoa(i) + "," + cat + ",x\n")
		cur.WriteString(itoa(i) + ",grocery,\n") // same amounts, one category
	}
	writeFiles(t, dir, map[string]string{"ref/part-0.csv": ref.String(), "cur.csv": cur.String()})
	o := DriftOptions{
		Reference: filepath.Join(dir, "ref"), Current: "file://" + filepath.Join(dir, "cur.csv"),
		Features: []string{"amount", "merchant_category"}, Threshold: 0.2,
	}
	rep, err := Drift(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	if !rep.Drifted || len(rep.Features) != 2 {
		t.Fatalf("Drift = %+v, want two features and drift", rep)
	}
	amount, cat := rep.Features[0], rep.Features[1]
	if amount.Kind != KindNumeric || amount.PSI != 0 || amount.Drifted || amount.ReferenceRows != 100 {
		t.Errorf("amount = %+v, want numeric, PSI 0, no drift", amount)
	}
	// 0.5/0.5 against 1/0: (1−0.5)·ln(2) + (0.0001−0.5)·ln(0.0002)
	// = 0.3465736 + 4.2577449 = 4.6043185, reported to six decimals.
	if cat.Kind != KindCategorical || cat.PSI != 4.604318 || !cat.Drifted {
		t.Errorf("merchant_category = %+v, want categorical, PSI 4.604318, drift", cat)
	}
	if got := rep.DriftedFeatures(); !reflect.DeepEqual(got, []string{"merchant_category"}) {
		t.Errorf("DriftedFeatures = %v", got)
	}
	report, outputs := filepath.Join(dir, "out", "report.json"), filepath.Join(dir, "outputs")
	if err := rep.WriteDriftOutputs(report, outputs); err != nil {
		t.Fatal(err)
	}
	var back DriftReport
	if b, err := os.ReadFile(report); err != nil || json.Unmarshal(b, &back) != nil || !back.Drifted {
		t.Errorf("report.json = %s, %v", b, err)
	}
	if b, _ := os.ReadFile(filepath.Join(outputs, "drifted")); string(b) != "true" {
		t.Errorf("outputs/drifted = %q, want true", b)
	}

	// Every shared column when none is named; the empty cells of
	// "ignored" in the current data leave it no values.
	o.Features = nil
	if _, err := Drift(context.Background(), o); err == nil || !strings.Contains(err.Error(), `"ignored" has no values`) {
		t.Errorf("Drift(all columns) = %v, want the empty column named", err)
	}
	o.Features = []string{"nope"}
	if _, err := Drift(context.Background(), o); err == nil || !strings.Contains(err.Error(), `feature "nope" is not a column`) {
		t.Errorf("Drift(missing feature) = %v", err)
	}
	o.Features, o.Threshold = []string{"amount"}, 0
	if _, err := Drift(context.Background(), o); err == nil {
		t.Error("Drift with threshold 0 succeeded")
	}
}

func repeat(s string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = s
	}
	return out
}

func near(got, want float64) bool { return math.Abs(got-want) < 1e-6 }
