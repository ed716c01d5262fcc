package steps

import (
	"bytes"
	"compress/gzip"
	"context"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// setField sets the field of column col in data row row (1-based) of a CSV
// without quotes.
func setField(csv string, row int, col, value string) string {
	lines := strings.Split(csv, "\n")
	header := strings.Split(lines[0], ",")
	ci := -1
	for i, h := range header {
		if h == col {
			ci = i
		}
	}
	f := strings.Split(lines[row], ",")
	f[ci] = value
	lines[row] = strings.Join(f, ",")
	return strings.Join(lines, "\n")
}

// dropColumn removes a column from a CSV without quotes.
func dropColumn(csv, col string) string {
	lines := strings.Split(csv, "\n")
	ci := -1
	for i, h := range strings.Split(lines[0], ",") {
		if h == col {
			ci = i
		}
	}
	for i, l := range lines {
		if l == "" {
			continue
		}
		f := strings.Split(l, ",")
		lines[i] = strings.Join(append(f[:ci:ci], f[ci+1:]...), ",")
	}
	return strings.Join(lines, "\n")
}

func TestValidateCSVChecks(t *testing.T) {
	good := goodCSV(200, 0)
	tests := []struct {
		name  string
		files map[string]string
		spec  func(*DatasetSpec)
		want  []string
	}{
		{name: "valid", files: map[string]string{"part-00000.csv": good}},
		{
			name:  "missing column",
			files: map[string]string{"part-00000.csv": dropColumn(good, "hour")},
			want:  []string{"dataset transactions: column hour: missing (not in part-00000.csv; part-00000.csv has transaction_id, card_id, amount, merchant_category, is_fraud)"},
		},
		{
			name:  "wrong type",
			files: map[string]string{"part-00000.csv": setField(setField(good, 5, "hour", "3pm"), 9, "hour", "4.5")},
			want:  []string{`dataset transactions: column hour: type int: observed "3pm" (row 5 of part-00000.csv; 2 values are not int)`},
		},
		{
			name:  "null in a non-nullable column",
			files: map[string]string{"part-00000.csv": setField(good, 10, "card_id", "")},
			want:  []string{"dataset transactions: column card_id: not nullable: observed 1 null (first at row 10 of part-00000.csv)"},
		},
		{
			name: "null fraction over the limit",
			files: map[string]string{"part-00000.csv": func() string {
				s := good
				for _, r := range []int{1, 2, 3, 4, 5, 6, 7, 9} {
					s = setField(s, r, "merchant_category", "")
				}
				return s
			}()},
			want: []string{"dataset transactions: column merchant_category: maxNullFraction 0.02: observed 0.05 (10 nulls in 200 rows)"},
		},
		{
			name:  "too few rows",
			files: map[string]string{"part-00000.csv": good},
			spec:  func(s *DatasetSpec) { s.Checks.MinRows = i64(1000) },
			want:  []string{"dataset transactions: minRows 1000: observed 200 rows (in 1 file)"},
		},
		{
			name:  "below min",
			files: map[string]string{"part-00000.csv": setField(setField(good, 20, "amount", "-3.5"), 30, "amount", "-1")},
			want:  []string{"dataset transactions: column amount: range min 0: observed -3.5 (row 20 of part-00000.csv; 2 values below the min)"},
		},
		{
			name: "above max, in the second file",
			files: map[string]string{
				"part-00000.csv": good,
				"part-00001.csv": setField(goodCSV(50, 200), 8, "amount", "1250000.5"),
			},
			want: []string{"dataset transactions: column amount: range max 1000000: observed 1250000.5 (row 8 of part-00001.csv; 1 value above the max)"},
		},
		{
			name:  "NaN against a range",
			files: map[string]string{"part-00000.csv": setField(good, 3, "amount", "NaN")},
			want:  []string{"dataset transactions: column amount: range 0..1000000: observed NaN (row 3 of part-00000.csv; 1 NaN value)"},
		},
		{
			name: "every failure is reported",
			files: map[string]string{
				"a.csv": setField(setField(setField(good, 2, "is_fraud", "2"), 3, "hour", "-1"), 4, "transaction_id", ""),
				"b.csv": dropColumn(goodCSV(10, 500), "card_id"),
			},
			spec: func(s *DatasetSpec) { s.Checks.MinRows = i64(1000) },
			want: []string{
				"dataset transactions: column card_id: missing (not in b.csv; b.csv has transaction_id, amount, merchant_category, hour, is_fraud)",
				"dataset transactions: column hour: range min 0: observed -1 (row 3 of a.csv; 1 value below the min)",
				"dataset transactions: column is_fraud: range max 1: observed 2 (row 2 of a.csv; 1 value above the max)",
				"dataset transactions: column transaction_id: not nullable: observed 1 null (first at row 4 of a.csv)",
				"dataset transactions: minRows 1000: observed 210 rows (in 2 files)",
			},
		},
		{
			name:  "rows with the wrong number of fields",
			files: map[string]string{"part-00000.csv": strings.Replace(good, "t11,", "t11,x,", 1)},
			want:  []string{"dataset transactions: part-00000.csv: format csv: row 12 has 7 fields, the header 6 (1 row with the wrong number of fields, not checked)"},
		},
		{
			name:  "a bare quote",
			files: map[string]string{"part-00000.csv": strings.Replace(good, "t11,", `t"11,`, 1)},
			want: []string{
				`dataset transactions: part-00000.csv: format csv: line 13, column 2: bare " in non-quoted-field`,
				"dataset transactions: column merchant_category: maxNullFraction 0.02: observed 0.09091 (1 null in 11 rows)",
				"dataset transactions: minRows 100: observed 11 rows (in 1 file)",
			},
		},
		{
			name:  "an empty file",
			files: map[string]string{"part-00000.csv": good, "part-00001.csv": ""},
			spec: func(s *DatasetSpec) {
				s.Columns = map[string]ColumnSpec{"amount": {Type: TypeFloat}}
				s.Checks.Ranges = nil
			},
			want: []string{
				"dataset transactions: part-00001.csv: format csv: empty file: no header row",
				"dataset transactions: column amount: missing (not in part-00001.csv)",
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			writeFiles(t, dir, tt.files)
			spec := fraudSpec(dir, 100)
			if tt.spec != nil {
				tt.spec(&spec)
			}
			snap, failures := validate(t, spec, "")
			if got := failureStrings(failures); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("failures:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tt.want, "\n"))
			}
			if snap == nil || !strings.HasPrefix(snap.Digest, "sha256:") || len(snap.Digest) != 71 {
				t.Errorf("snapshot digest %v, want sha256:<64 hex>", snap)
			}
		})
	}
}

func TestValidateCSVSnapshot(t *testing.T) {
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{
		"part-00000.csv":      goodCSV(100, 0),
		"sub/part-00001.csv":  addColumn(goodCSV(100, 100), "note", "x"),
		"_SUCCESS":            "",
		".hidden.csv":         "not,read\n",
		"_tmp/part-00009.csv": "not,read\n",
		"README.md":           "not data",
	})
	snap, failures := validate(t, fraudSpec("file://"+filepath.ToSlash(dir), 200), "")
	if len(failures) > 0 {
		t.Fatalf("failures: %v", failureStrings(failures))
	}
	if snap.Files != 2 || snap.Rows != 200 || !reflect.DeepEqual(snap.ExtraColumns, []string{"note"}) {
		t.Errorf("snapshot files %d rows %d extra %v, want 2, 200, [note]", snap.Files, snap.Rows, snap.ExtraColumns)
	}
	if got := []string{snap.Manifest[0].Path, snap.Manifest[1].Path}; !reflect.DeepEqual(got, []string{"part-00000.csv", "sub/part-00001.csv"}) {
		t.Errorf("manifest paths %v", got)
	}
	if !snap.PII || !reflect.DeepEqual(snap.PIIColumns, []string{"card_id"}) {
		t.Errorf("pii %v %v, want true [card_id]", snap.PII, snap.PIIColumns)
	}
	var amount ColumnSummary
	for _, c := range snap.Columns {
		if c.Name == "amount" {
			amount = c
		}
	}
	if amount.Min != "0.25" || amount.Max != "199.25" {
		t.Errorf("amount min %s max %s, want 0.25 and 199.25", amount.Min, amount.Max)
	}
	var rules []string
	for _, c := range snap.Checks {
		if c.Column == "amount" || c.Column == "" {
			rules = append(rules, c.Column+" "+c.Rule+" = "+c.Observed)
		}
	}
	want := []string{
		"amount present = in 2 of 2 files",
		"amount type float = 200 values",
		"amount not nullable = 0 nulls",
		"amount maxNullFraction 0.02 = 0",
		"amount range min 0 = 0.25",
		"amount range max 1000000 = 199.25",
		" minRows 200 = 200 rows",
	}
	if !reflect.DeepEqual(rules, want) {
		t.Errorf("checks passed:\n%s\nwant:\n%s", strings.Join(rules, "\n"), strings.Join(want, "\n"))
	}

	out := t.TempDir()
	if err := snap.WriteOutputs(out); err != nil {
		t.Fatal(err)
	}
	digest, _ := os.ReadFile(filepath.Join(out, DigestFile))
	if string(digest) != snap.Digest {
		t.Errorf("digest file %q, want %q", digest, snap.Digest)
	}
	manifest, _ := os.ReadFile(filepath.Join(out, ManifestFile))
	if !bytes.Equal(manifest, Manifest(snap.Manifest)) || strings.Count(string(manifest), "\n") != 2 {
		t.Errorf("manifest file %q", manifest)
	}
	js, _ := os.ReadFile(filepath.Join(out, SnapshotFile))
	for _, want := range []string{`"digest": "` + snap.Digest, `"rows": 200`, `"files": 2`, `"columnSchemaDigest": "sha256:`} {
		if !strings.Contains(string(js), want) {
			t.Errorf("snapshot.json lacks %s:\n%s", want, js)
		}
	}
}

// addColumn adds a column with one value in every row.
func addColumn(csv, name, value string) string {
	lines := strings.Split(strings.TrimSuffix(csv, "\n"), "\n")
	lines[0] += "," + name
	for i := 1; i < len(lines); i++ {
		lines[i] += "," + value
	}
	return strings.Join(lines, "\n") + "\n"
}

func TestValidateTypes(t *testing.T) {
	spec := DatasetSpec{Name: "events", Format: FormatCSV, Columns: map[string]ColumnSpec{
		"ok":   {Type: TypeBool, Nullable: true},
		"ts":   {Type: TypeTimestamp, Nullable: true},
		"n":    {Type: TypeInt, Nullable: true},
		"x":    {Type: TypeFloat, Nullable: true},
		"name": {Type: TypeString, Nullable: true},
	}}
	good := "ok,ts,n,x,name\n" +
		"true,2026-01-02T03:04:05Z,1,1.5,a\n" +
		"false,2026-01-02 03:04:05.123+02:00,-2,1e3,b\n" +
		"1,2026-01-02,+3,-Inf,\"quoted, with comma\"\n" +
		"F,2026-01-02T03:04:05,0,0x1p-2,\n" +
		",2026-01-02T03:04,,,\n"
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{"e.csv": good})
	if _, failures := validate(t, spec, dir); len(failures) > 0 {
		t.Errorf("failures: %v", failureStrings(failures))
	}
	bad := "ok,ts,n,x,name\n" +
		"yes,2026-13-02,1.0,one,a\n" +
		"no,02/01/2026,9223372036854775808,1,b\n"
	writeFiles(t, dir, map[string]string{"e.csv": bad})
	_, failures := validate(t, spec, dir)
	want := []string{
		`dataset events: column n: type int: observed "1.0" (row 1 of e.csv; 2 values are not int)`,
		`dataset events: column ok: type bool: observed "yes" (row 1 of e.csv; 2 values are not bool)`,
		`dataset events: column ts: type timestamp: observed "2026-13-02" (row 1 of e.csv; 2 values are not timestamp)`,
		`dataset events: column x: type float: observed "one" (row 1 of e.csv; 1 value is not float)`,
	}
	if got := failureStrings(failures); !reflect.DeepEqual(got, want) {
		t.Errorf("failures:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func TestValidateGzipCSV(t *testing.T) {
	dir := t.TempDir()
	var b bytes.Buffer
	zw := gzip.NewWriter(&b)
	zw.Write([]byte(setField(goodCSV(150, 0), 40, "hour", "24")))
	zw.Close()
	if err := os.WriteFile(filepath.Join(dir, "part-0.csv.gz"), b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	snap, failures := validate(t, fraudSpec(dir, 100), "")
	want := []string{"dataset transactions: column hour: range max 23: observed 24 (row 40 of part-0.csv.gz; 1 value above the max)"}
	if got := failureStrings(failures); !reflect.DeepEqual(got, want) {
		t.Errorf("failures %q, want %q", got, want)
	}
	if snap.Rows != 150 || snap.Bytes != int64(b.Len()) {
		t.Errorf("rows %d bytes %d, want 150 and %d (the compressed size)", snap.Rows, snap.Bytes, b.Len())
	}
}

func TestValidateJSONL(t *testing.T) {
	spec := DatasetSpec{Name: "events", Format: FormatJSONL,
		Columns: map[string]ColumnSpec{
			"user":  {Type: TypeString, Nullable: false},
			"n":     {Type: TypeInt, Nullable: true},
			"score": {Type: TypeFloat, Nullable: true},
			"ts":    {Type: TypeTimestamp, Nullable: true},
			"gone":  {Type: TypeBool, Nullable: true},
		},
		Checks: DataChecks{Ranges: map[string]Range{"score": {Max: f64(1)}}},
	}
	data := `{"user":"a","n":1,"score":0.5,"ts":"2026-01-02T00:00:00Z","extra":[1]}
{"user":"b","n":2.5,"score":1.5,"ts":"2026-01-02"}

{"user":null,"n":3,"ts":5}
not json
`
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{"e.jsonl": data})
	snap, failures := validate(t, spec, dir)
	want := []string{
		"dataset events: e.jsonl: format jsonl: line 5: invalid character 'o' in literal null (expecting 'u') (1 line is not a JSON object, not checked)",
		"dataset events: column gone: missing (not in e.jsonl)",
		`dataset events: column n: type int: observed "2.5" (line 2 of e.jsonl; 1 value is not int)`,
		"dataset events: column score: range max 1: observed 1.5 (line 2 of e.jsonl; 1 value above the max)",
		`dataset events: column ts: type timestamp: observed "5" (line 4 of e.jsonl; 1 value is not timestamp)`,
		"dataset events: column user: not nullable: observed 1 null (first at line 4 of e.jsonl)",
	}
	if got := failureStrings(failures); !reflect.DeepEqual(got, want) {
		t.Errorf("failures:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if snap.Rows != 3 || !reflect.DeepEqual(snap.ExtraColumns, []string{"extra"}) {
		t.Errorf("rows %d extra %v, want 3 [extra]", snap.Rows, snap.ExtraColumns)
	}
}

func TestValidateText(t *testing.T) {
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{"corpus-00000.txt": "one\ntwo\n", "corpus-00001.txt": "three\nfour", "vocab.json": "{}"})
	spec := DatasetSpec{Name: "corpus", Format: FormatText, Checks: DataChecks{MinRows: i64(5)}}
	snap, failures := validate(t, spec, dir)
	want := []string{"dataset corpus: minRows 5: observed 4 rows (in 2 files)"}
	if got := failureStrings(failures); !reflect.DeepEqual(got, want) {
		t.Errorf("failures %q, want %q", got, want)
	}
	if snap.Files != 2 {
		t.Errorf("files %d, want 2 (.txt only)", snap.Files)
	}
}

// tfrecord frames records as TFRecord does.
func tfrecord(records ...string) []byte {
	var b bytes.Buffer
	for _, r := range records {
		var n [8]byte
		for i := range 8 {
			n[i] = byte(uint64(len(r)) >> (8 * i))
		}
		b.Write(n[:])
		b.Write(le32(maskedCRC(n[:])))
		b.WriteString(r)
		b.Write(le32(maskedCRC([]byte(r))))
	}
	return b.Bytes()
}

func le32(v uint32) []byte { return []byte{byte(v), byte(v >> 8), byte(v >> 16), byte(v >> 24)} }

func TestValidateTFRecord(t *testing.T) {
	dir := t.TempDir()
	good := tfrecord("a", "bb", "ccc")
	if err := os.WriteFile(filepath.Join(dir, "train.tfrecord"), good, 0o644); err != nil {
		t.Fatal(err)
	}
	spec := DatasetSpec{Name: "images", Format: FormatTFRecord, Columns: map[string]ColumnSpec{"image": {Type: TypeString}}, Checks: DataChecks{MinRows: i64(3)}}
	snap, failures := validate(t, spec, dir)
	if len(failures) > 0 || snap.Rows != 3 {
		t.Errorf("failures %v rows %d, want none and 3", failureStrings(failures), snap.Rows)
	}
	if len(snap.Notes) != 1 || !strings.Contains(snap.Notes[0], "columns are not read") {
		t.Errorf("notes %q, want one saying columns are not checked", snap.Notes)
	}
	bad := append([]byte(nil), good...)
	bad[len(bad)-6] ^= 1 // a byte of the last record's data
	os.WriteFile(filepath.Join(dir, "train.tfrecord"), bad, 0o644)
	_, failures = validate(t, spec, dir)
	want := []string{
		"dataset images: train.tfrecord: format tfrecord: record 3: data checksum mismatch",
		"dataset images: minRows 3: observed 2 rows (in 1 file)",
	}
	if got := failureStrings(failures); !reflect.DeepEqual(got, want) {
		t.Errorf("failures %q, want %q", got, want)
	}
}

func TestValidateErrors(t *testing.T) {
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{"notes.md": "x"})
	tests := []struct {
		location string
		want     string
	}{
		{"hdfs://nn/transactions/2026-11", "dataset transactions: hdfs://nn/transactions/2026-11: hdfs:// is not read (object stores are read as s3://, gs://, azblob:// or az:// URIs); use a local copy"},
		{"ftp://host/x", `unsupported URI scheme "ftp"`},
		{"file://otherhost/x", `file URIs must name a local path (file:///path), not host "otherhost"`},
		{filepath.Join(dir, "nope"), "nope: no such file or folder"},
		{dir, "no csv files (names ending in .csv, .csv.gz)"},
	}
	for _, tt := range tests {
		_, _, err := ValidateData(context.Background(), fraudSpec("", 1), tt.location)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("ValidateData(%s) error %v, want %q", tt.location, err, tt.want)
		}
	}
}

func TestValidateCancel(t *testing.T) {
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{"a.csv": goodCSV(10, 0)})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, _, err := ValidateData(ctx, fraudSpec(dir, 1), ""); err == nil {
		t.Error("ValidateData with a cancelled context: no error")
	}
}

// FuzzValidateCSV: any bytes as a CSV file are validated without panic or
// error, and give the same digest when read twice.
func FuzzValidateCSV(f *testing.F) {
	for _, s := range []string{goodCSV(3, 0), "a,b\n1,2\n", "\"x", "amount\n\"1\n2\"\n", "\xef\xbb\xbfamount,hour\n-1,25\n", ""} {
		f.Add([]byte(s))
	}
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, data []byte) {
		p := filepath.Join(dir, "f.csv")
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
		spec := fraudSpec("", 1)
		s1, _, err := ValidateData(context.Background(), spec, p)
		if err != nil {
			t.Fatalf("ValidateData: %v", err)
		}
		s2, _, _ := ValidateData(context.Background(), spec, p)
		if s1.Digest != s2.Digest || s1.Rows < 0 {
			t.Errorf("digests %s, %s; rows %d", s1.Digest, s2.Digest, s1.Rows)
		}
	})
}
