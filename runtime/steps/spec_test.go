package steps

import (
	"strings"
	"testing"
)

// compiledSpec is the transactions spec as the compiled fraud workflow
// passes it (with \u0024 escapes, and a field this package ignores).
const compiledSpec = `{"name":"transactions","uri":"s3://payments-data/transactions/2026-11","format":"parquet","snapshot":"2026-11-23","derivedFrom":[],"pii":true,"columns":{"amount":{"type":"float","nullable":false,"pii":false},"card_id":{"type":"string","nullable":false,"pii":true},"hour":{"type":"int","nullable":true,"pii":false},"is_fraud":{"type":"int","nullable":false,"pii":false},"merchant_category":{"type":"string","nullable":true,"pii":false},"transaction_id":{"type":"string","nullable":false,"pii":false}},"checks":{"minRows":100000,"maxNullFraction":0.02,"ranges":{"amount":{"min":0,"max":1000000},"hour":{"min":0,"max":23},"is_fraud":{"min":0,"max":1}}},"ingest":{"image":"x\u0024"}}`

func TestParseDatasetSpec(t *testing.T) {
	s, err := ParseDatasetSpec([]byte(compiledSpec))
	if err != nil {
		t.Fatal(err)
	}
	if s.Name != "transactions" || s.Format != FormatParquet || *s.Checks.MinRows != 100000 || *s.Checks.Ranges["amount"].Max != 1e6 || !s.Columns["card_id"].PII || s.Columns["amount"].Nullable {
		t.Errorf("ParseDatasetSpec = %+v", s)
	}
	// nullable defaults to true, as in the schema.
	s, err = ParseDatasetSpec([]byte(`{"name":"d","format":"csv","columns":{"a":{"type":"int"}}}`))
	if err != nil || !s.Columns["a"].Nullable {
		t.Errorf("column without nullable: %+v, %v; want nullable", s.Columns["a"], err)
	}

	for in, want := range map[string]string{
		`{"name":"d","format":"csv",}`:                                                                           "dataset spec: invalid JSON at line 1, column 28",
		`{"name":"d",` + "\n" + `"format":"csv"`:                                                                 "dataset spec: invalid JSON at line 2, column 15: unexpected end of input",
		`{"name":"d","format":"xls"}`:                                                                            `dataset d: format "xls": want csv, parquet, jsonl, text or tfrecord`,
		`{"name":"d","format":"csv","columns":{"a":{"type":"decimal"}}}`:                                         `dataset d: column a: type "decimal"`,
		`{"name":"d","format":"csv","checks":{"ranges":{"a":{"min":0}}}}`:                                        `dataset d: range on undeclared column "a"`,
		`{"name":"d","format":"csv","columns":{"a":{"type":"string"}},"checks":{"ranges":{"a":{"min":0}}}}`:      `range on column "a" of type string`,
		`{"name":"d","format":"csv","columns":{"a":{"type":"int"}},"checks":{"ranges":{"a":{"min":2,"max":1}}}}`: "empty range: min 2 is greater than max 1",
		`{"name":"d","format":"csv","checks":{"maxNullFraction":1.5}}`:                                           "maxNullFraction 1.5",
		`{"name":"d","format":"text","columns":{"a":{"type":"int"}}}`:                                            "format text has no columns",
		`{"format":"csv"}`: "dataset spec: no name",
		`{"name":"d","format":"csv","checks":{"minRows":"many"}}`: "dataset spec: line 1, column 53: string at checks.minRows: want int64",
	} {
		_, err := ParseDatasetSpec([]byte(in))
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("ParseDatasetSpec(%s) error %v, want %q", in, err, want)
		}
	}
}

func TestColumnSchemaDigest(t *testing.T) {
	a := map[string]ColumnSpec{"b": {Type: "int", Nullable: true}, "a": {Type: "string", PII: true}}
	// The canonical JSON, spelled out.
	want := ColumnSchemaDigest(nil)
	if want != "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a" {
		t.Errorf("digest of no columns %s, want that of {}", want)
	}
	got := ColumnSchemaDigest(a)
	if got != "sha256:"+sha256Hex(`{"a":{"nullable":false,"pii":true,"type":"string"},"b":{"nullable":true,"pii":false,"type":"int"}}`) {
		t.Errorf("ColumnSchemaDigest = %s, want the digest of the sorted canonical JSON", got)
	}
	b := map[string]ColumnSpec{"a": {Type: "string", PII: true}, "b": {Type: "int", Nullable: true}}
	if ColumnSchemaDigest(b) != got {
		t.Error("digest depends on map order")
	}
	b["b"] = ColumnSpec{Type: "float", Nullable: true}
	if ColumnSchemaDigest(b) == got {
		t.Error("digest unchanged by a type change")
	}
}
