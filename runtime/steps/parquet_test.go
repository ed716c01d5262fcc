package steps

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/parquet-go/parquet-go"
)

// txRow is a transactions row as Parquet, nullable columns optional.
type txRow struct {
	TransactionID    string  `parquet:"transaction_id"`
	CardID           *string `parquet:"card_id,optional"`
	Amount           float64 `parquet:"amount"`
	MerchantCategory *string `parquet:"merchant_category,optional"`
	Hour             *int32  `parquet:"hour,optional"`
	IsFraud          int64   `parquet:"is_fraud"`
}

func sp(s string) *string { return &s }
func i32(v int32) *int32  { return &v }

func txRows(n, start int) []txRow {
	rows := make([]txRow, n)
	for i := range rows {
		j := start + i
		rows[i] = txRow{
			TransactionID: "t" + itoa(j),
			CardID:        sp("c" + itoa(j%37)),
			Amount:        float64(j%500) + 0.25,
			Hour:          i32(int32(j % 24)),
			IsFraud:       int64(j % 2),
		}
		if j%100 != 7 {
			rows[i].MerchantCategory = sp("grocery")
		}
	}
	return rows
}

// writeParquetRows writes rows with parquet-go's defaults.
func writeParquetRows[T any](t testing.TB, path string, rows []T) {
	t.Helper()
	if err := parquet.WriteFile(path, rows); err != nil {
		t.Fatal(err)
	}
}

// writeParquet writes rows with small row groups and pages, so that row
// numbers cross both.
func writeParquet[T any](t testing.TB, path string, rows []T) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := parquet.WriteFile(path, rows, parquet.MaxRowsPerRowGroup(64), parquet.PageBufferSize(256)); err != nil {
		t.Fatal(err)
	}
}

func TestValidateParquetChecks(t *testing.T) {
	tests := []struct {
		name string
		edit func(rows []txRow)
		spec func(*DatasetSpec)
		want []string
	}{
		{name: "valid"},
		{
			name: "null in a non-nullable column",
			edit: func(r []txRow) { r[150].CardID = nil },
			want: []string{"dataset transactions: column card_id: not nullable: observed 1 null (first at row 151 of part-00000.parquet)"},
		},
		{
			name: "null fraction over the limit",
			edit: func(r []txRow) {
				for i := range 20 {
					r[i].Hour = nil
				}
			},
			want: []string{"dataset transactions: column hour: maxNullFraction 0.02: observed 0.1 (20 nulls in 200 rows)"},
		},
		{
			name: "too few rows",
			spec: func(s *DatasetSpec) { s.Checks.MinRows = i64(201) },
			want: []string{"dataset transactions: minRows 201: observed 200 rows (in 1 file)"},
		},
		{
			name: "below min and above max",
			edit: func(r []txRow) { r[70].Amount = -0.5; r[199].Amount = 1250000.5; r[130].Hour = i32(99) },
			want: []string{
				"dataset transactions: column amount: range min 0: observed -0.5 (row 71 of part-00000.parquet; 1 value below the min)",
				"dataset transactions: column amount: range max 1000000: observed 1250000.5 (row 200 of part-00000.parquet; 1 value above the max)",
				"dataset transactions: column hour: range max 23: observed 99 (row 131 of part-00000.parquet; 1 value above the max)",
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			rows := txRows(200, 0)
			if tt.edit != nil {
				tt.edit(rows)
			}
			writeParquet(t, filepath.Join(dir, "part-00000.parquet"), rows)
			spec := fraudSpec(dir, 100)
			spec.Format = FormatParquet
			if tt.spec != nil {
				tt.spec(&spec)
			}
			snap, failures := validate(t, spec, "")
			if got := failureStrings(failures); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("failures:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tt.want, "\n"))
			}
			if snap.Rows != 200 {
				t.Errorf("rows %d, want 200", snap.Rows)
			}
		})
	}
}

// badTxRow has amount as a string, is_fraud as a bool and no hour.
type badTxRow struct {
	TransactionID    string  `parquet:"transaction_id"`
	CardID           string  `parquet:"card_id"`
	Amount           string  `parquet:"amount"`
	MerchantCategory *string `parquet:"merchant_category,optional"`
	IsFraud          bool    `parquet:"is_fraud"`
	Tags             []int32 `parquet:"tags,list"`
}

func TestValidateParquetSchema(t *testing.T) {
	dir := t.TempDir()
	writeParquet(t, filepath.Join(dir, "a.parquet"), txRows(100, 0))
	writeParquet(t, filepath.Join(dir, "b.parquet"), []badTxRow{{TransactionID: "x", CardID: "c", Amount: "12", IsFraud: true}})
	spec := fraudSpec(dir, 100)
	spec.Format = FormatParquet
	spec.Columns["tags"] = ColumnSpec{Type: TypeInt, Nullable: true}
	snap, failures := validate(t, spec, "")
	want := []string{
		"dataset transactions: column amount: type float: observed parquet BYTE_ARRAY (STRING) (b.parquet)",
		"dataset transactions: column hour: missing (not in b.parquet; b.parquet has transaction_id, card_id, amount, merchant_category, is_fraud, tags)",
		"dataset transactions: column is_fraud: type int: observed parquet BOOLEAN (b.parquet)",
		"dataset transactions: column tags: missing (not in a.parquet; a.parquet has transaction_id, card_id, amount, merchant_category, hour, is_fraud)",
		"dataset transactions: column tags: type int: observed parquet group (LIST) (b.parquet)",
	}
	if got := failureStrings(failures); !reflect.DeepEqual(got, want) {
		t.Errorf("failures:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if snap.Rows != 101 {
		t.Errorf("rows %d, want 101", snap.Rows)
	}
}

func TestValidateParquetNotParquet(t *testing.T) {
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{"a.parquet": "this is not parquet at all"})
	spec := DatasetSpec{Name: "d", Format: FormatParquet, Columns: map[string]ColumnSpec{"x": {Type: TypeInt}}}
	_, failures := validate(t, spec, dir)
	got := failureStrings(failures)
	if len(got) != 2 || !strings.HasPrefix(got[0], "dataset d: a.parquet: format parquet: ") || got[1] != "dataset d: column x: missing (not in a.parquet)" {
		t.Errorf("failures %q, want the file named and the column missing", got)
	}
}

// typesRow covers the Parquet types each declared type accepts.
type typesRow struct {
	S  string  `parquet:"s"`
	I8 int8    `parquet:"i8"`
	U  uint32  `parquet:"u"`
	F  float32 `parquet:"f"`
	FI int64   `parquet:"fi"`
	B  bool    `parquet:"b"`
	TS int64   `parquet:"ts,timestamp(millisecond)"`
	D  int32   `parquet:"d,date"`
}

func TestValidateParquetTypes(t *testing.T) {
	dir := t.TempDir()
	writeParquet(t, filepath.Join(dir, "t.parquet"), []typesRow{{S: "a", I8: -3, U: 4000000000, F: 1.5, FI: 7, B: true, TS: 1700000000000, D: 19000}})
	spec := DatasetSpec{Name: "t", Format: FormatParquet, Columns: map[string]ColumnSpec{
		"s": {Type: TypeString}, "i8": {Type: TypeInt}, "u": {Type: TypeInt}, "f": {Type: TypeFloat},
		"fi": {Type: TypeFloat}, "b": {Type: TypeBool}, "ts": {Type: TypeTimestamp}, "d": {Type: TypeTimestamp},
	}, Checks: DataChecks{Ranges: map[string]Range{"u": {Max: f64(4e9)}, "i8": {Min: f64(-3)}}}}
	snap, failures := validate(t, spec, dir)
	if len(failures) > 0 {
		t.Fatalf("failures: %q", failureStrings(failures))
	}
	got := map[string]string{}
	for _, c := range snap.Columns {
		got[c.Name] = c.Min + ".." + c.Max
	}
	want := map[string]string{"s": "..", "i8": "-3..-3", "u": "4000000000..4000000000", "f": "1.5..1.5", "fi": "7..7", "b": "..", "ts": "..", "d": ".."}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("column min..max %v, want %v", got, want)
	}
}
