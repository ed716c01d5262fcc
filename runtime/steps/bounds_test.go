package steps

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// hasControl reports whether s holds a control byte (ESC included) or DEL.
func hasControl(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < ' ' || s[i] == 0x7f {
			return true
		}
	}
	return false
}

// TestValidateQuotesData: cell values, column names from a header and file
// names that hold terminal escape sequences are shown quoted, so no
// failure line holds a raw control byte.
func TestValidateQuotesData(t *testing.T) {
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{
		"a.csv":              "amount,\x1b[31mhour,\x1b[31mhour\n1.5,2,3\n",
		"b.csv":              "amount,hour\n1.5,\x1b[2J\n",
		"c\x1b]0;pwned\a.csv": "amount,hour\n2000000,1\n",
	})
	spec := DatasetSpec{
		Name: "d", URI: dir, Format: FormatCSV,
		Columns: map[string]ColumnSpec{"amount": {Type: TypeFloat}, "hour": {Type: TypeInt}},
		Checks:  DataChecks{Ranges: map[string]Range{"amount": {Max: f64(1000)}}},
	}
	_, failures := validate(t, spec, dir)
	got := strings.Join(failureStrings(failures), "\n")
	for _, want := range []string{
		`dataset d: a.csv: format csv: column "\x1b[31mhour" appears twice in the header`,
		`dataset d: column hour: missing (not in a.csv; a.csv has amount, "\x1b[31mhour", "\x1b[31mhour")`,
		`dataset d: column hour: type int: observed "\x1b[2J" (row 1 of b.csv; 1 value is not int)`,
		`dataset d: column amount: range max 1000: observed 2000000 (row 1 of "c\x1b]0;pwned\a.csv"; 1 value above the max)`,
	} {
		if !strings.Contains(got, want) {
			t.Errorf("failures:\n%s\nwant a line\n%s", got, want)
		}
	}
	for _, f := range failureStrings(failures) {
		if hasControl(f) {
			t.Errorf("failure holds raw control bytes: %q", f)
		}
	}
}

// TestDriftQuotesData: a column name with an escape sequence is quoted in
// drift's errors and summary.
func TestDriftQuotesData(t *testing.T) {
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{
		"ref/a.csv": "x,\x1b[2Jy\n1,a\n2,b\n",
		"cur/a.csv": "x,\x1b[2Jy\n1,a\n2,a\n",
	})
	rep, err := Drift(context.Background(), DriftOptions{Reference: filepath.Join(dir, "ref"), Current: filepath.Join(dir, "cur"), Threshold: 0.1})
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	if err := rep.WriteSummary(&b); err != nil {
		t.Fatal(err)
	}
	if hasControl(strings.ReplaceAll(b.String(), "\n", "")) || !strings.Contains(b.String(), `"\x1b[2Jy"`) {
		t.Errorf("drift summary %q: want the column name quoted, no raw control bytes", b.String())
	}
	_, err = Drift(context.Background(), DriftOptions{Reference: filepath.Join(dir, "ref"), Current: filepath.Join(dir, "cur"), Threshold: 0.1,
		Features: []string{"\x1b[2Jz"}})
	if err == nil || hasControl(err.Error()) || !strings.Contains(err.Error(), `feature "\x1b[2Jz" is not a column`) {
		t.Errorf("Drift with an unknown feature: error %q, want the feature quoted", err)
	}
}

// TestValidateRecordCap: a record longer than the maximum record size
// fails its file, named with the file and the line; one at the maximum
// is read.
func TestValidateRecordCap(t *testing.T) {
	const cap = 1024
	long := strings.Repeat("x", cap)
	for _, tt := range []struct {
		format, name, data, want string
	}{
		{FormatCSV, "f.csv", "s\nok\n" + long + "\nok\n", "line 3"},
		{FormatCSV, "f.csv", "s\nok\n\"" + strings.Repeat("ab\n", cap/2) + "\"\n", "line 3"}, // a quoted field of short lines
		{FormatCSV, "f.csv", long + "\n1\n", "line 1"},                                         // the header
		{FormatCSV, "f.csv", "s\n" + strings.Repeat("y", 300*cap) + "\n", "line 2"},
		{FormatJSONL, "f.jsonl", `{"s": "ok"}` + "\n\n" + `{"s": "` + long + `"}` + "\n", "line 3"},
		{FormatText, "f.txt", "a\nb\nc\n" + long + "\n", "line 4"},
		{FormatText, "f.txt", "a\n" + strings.Repeat("z", 3*readBuffer), "line 2"},
	} {
		dir := t.TempDir()
		writeFiles(t, dir, map[string]string{tt.name: tt.data})
		spec := DatasetSpec{Name: "d", URI: dir, Format: tt.format}
		if tt.format != FormatText {
			spec.Columns = map[string]ColumnSpec{"s": {Type: TypeString, Nullable: true}}
		}
		_, failures, err := ValidateDataWith(context.Background(), spec, dir, ValidateOptions{MaxRecordBytes: cap})
		if err != nil {
			t.Fatal(err)
		}
		want := "dataset d: " + tt.name + ": format " + tt.format + ": " + tt.want + ": a record longer than the maximum of 1.0 KiB (1024 bytes); the rest of the file is not read"
		if fs := failureStrings(failures); len(fs) == 0 || fs[0] != want {
			t.Errorf("%s %.40q...: failures %q, want first %q", tt.format, tt.data, fs, want)
		}
	}
	// At the maximum, line end included, a record is read.
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{"f.csv": "s\n" + long[:cap-1] + "\n", "g.txt": long[:cap-1] + "\n" + long})
	spec := DatasetSpec{Name: "d", URI: dir, Format: FormatCSV, Columns: map[string]ColumnSpec{"s": {Type: TypeString}}}
	for _, format := range []string{FormatCSV, FormatText} {
		spec.Format = format
		if format == FormatText {
			spec.Columns = nil
		}
		snap, failures, err := ValidateDataWith(context.Background(), spec, dir, ValidateOptions{MaxRecordBytes: cap})
		if err != nil || len(failures) > 0 || snap.Rows == 0 {
			t.Errorf("%s records at the maximum: %v, %v, rows %v; want them read", format, err, failureStrings(failures), snap)
		}
	}
}

// TestValidateRecordCapMemory: reading a CSV line 256 times the maximum
// record size allocates a small multiple of the maximum, not the line.
func TestValidateRecordCapMemory(t *testing.T) {
	const cap = 64 << 10
	dir := t.TempDir()
	line := bytes.Repeat([]byte("x"), 256*cap)
	if err := os.WriteFile(filepath.Join(dir, "f.csv"), append(append([]byte("s\n"), line...), '\n'), 0o644); err != nil {
		t.Fatal(err)
	}
	spec := DatasetSpec{Name: "d", URI: dir, Format: FormatCSV, Columns: map[string]ColumnSpec{"s": {Type: TypeString}}}
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	_, failures, err := ValidateDataWith(context.Background(), spec, dir, ValidateOptions{MaxRecordBytes: cap, Concurrency: 1})
	runtime.ReadMemStats(&after)
	if err != nil || len(failures) != 1 || !strings.Contains(failures[0].Rule, "line 2: a record longer than the maximum") {
		t.Fatalf("ValidateData: %v, %q; want the long record refused", err, failureStrings(failures))
	}
	// Buffers of the reading (256 KiB each) and the CSV reader's record,
	// at most a few times the maximum, bound what is allocated.
	alloc := after.TotalAlloc - before.TotalAlloc
	if limit := uint64(16*cap + 2<<20); alloc > limit {
		t.Errorf("reading a %d-byte line with a %d-byte maximum allocated %d bytes, want at most %d", len(line), cap, alloc, limit)
	}
	t.Logf("allocated %d bytes for a %d-byte line (maximum %d)", alloc, len(line), cap)
}
