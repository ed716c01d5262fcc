package steps

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

func f64(v float64) *float64 { return &v }
func i64(v int64) *int64     { return &v }

// fraudSpec is the transactions dataset of examples/fraud, at a folder.
func fraudSpec(uri string, minRows int64) DatasetSpec {
	return DatasetSpec{
		Name:   "transactions",
		URI:    uri,
		Format: FormatCSV,
		PII:    true,
		Columns: map[string]ColumnSpec{
			"transaction_id":    {Type: TypeString, Nullable: false},
			"card_id":           {Type: TypeString, Nullable: false, PII: true},
			"amount":            {Type: TypeFloat, Nullable: false},
			"merchant_category": {Type: TypeString, Nullable: true},
			"hour":              {Type: TypeInt, Nullable: true},
			"is_fraud":          {Type: TypeInt, Nullable: false},
		},
		Checks: DataChecks{
			MinRows:         i64(minRows),
			MaxNullFraction: f64(0.02),
			Ranges: map[string]Range{
				"amount":   {Min: f64(0), Max: f64(1000000)},
				"hour":     {Min: f64(0), Max: f64(23)},
				"is_fraud": {Min: f64(0), Max: f64(1)},
			},
		},
	}
}

// writeFiles writes name → content under dir.
func writeFiles(t testing.TB, dir string, files map[string]string) {
	t.Helper()
	for name, content := range files {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// goodCSV returns a valid transactions CSV of n rows, with merchant
// category null in one row of each 100.
func goodCSV(n, start int) string {
	var b strings.Builder
	b.WriteString("transaction_id,card_id,amount,merchant_category,hour,is_fraud\n")
	for i := start; i < start+n; i++ {
		cat := "grocery"
		if i%100 == 7 {
			cat = ""
		}
		b.WriteString("t" + itoa(i) + ",c" + itoa(i%37) + "," + itoa(i%500) + ".25," + cat + "," + itoa(i%24) + "," + itoa(i%2) + "\n")
	}
	return b.String()
}

func itoa(i int) string { return strconv.Itoa(i) }

// validate runs ValidateData and fails the test on an error.
func validate(t testing.TB, spec DatasetSpec, location string) (*Snapshot, []Failure) {
	t.Helper()
	snap, failures, err := ValidateData(context.Background(), spec, location)
	if err != nil {
		t.Fatalf("ValidateData(%s) error: %v", location, err)
	}
	return snap, failures
}

func failureStrings(fs []Failure) []string {
	var out []string
	for _, f := range fs {
		out = append(out, f.String())
	}
	return out
}
