package steps

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"math"
	"slices"
	"strconv"
	"strings"
)

// DatasetSpec is a dataset as the compiled workflow passes it to
// validate-data (--spec): the #Dataset of the pipeline's spec.
type DatasetSpec struct {
	Name        string                `json:"name"`
	URI         string                `json:"uri"`
	Format      string                `json:"format"`
	Snapshot    string                `json:"snapshot,omitempty"`
	DerivedFrom []string              `json:"derivedFrom"`
	PII         bool                  `json:"pii"`
	Columns     map[string]ColumnSpec `json:"columns"`
	Checks      DataChecks            `json:"checks"`
}

// ColumnSpec is one declared column. Nullable defaults to true when the JSON
// leaves it out, as in the schema.
type ColumnSpec struct {
	Type     string `json:"type"`
	Nullable bool   `json:"nullable"`
	PII      bool   `json:"pii"`
}

// UnmarshalJSON decodes a column, defaulting nullable to true.
func (c *ColumnSpec) UnmarshalJSON(b []byte) error {
	type plain ColumnSpec
	p := plain{Nullable: true}
	if err := json.Unmarshal(b, &p); err != nil {
		return err
	}
	*c = ColumnSpec(p)
	return nil
}

// DataChecks are the checks of a dataset.
type DataChecks struct {
	MinRows         *int64           `json:"minRows,omitempty"`
	MaxNullFraction *float64         `json:"maxNullFraction,omitempty"`
	Ranges          map[string]Range `json:"ranges"`
}

// Range bounds a numeric column inclusively; a nil end is open.
type Range struct {
	Min *float64 `json:"min,omitempty"`
	Max *float64 `json:"max,omitempty"`
}

// Column types.
const (
	TypeString    = "string"
	TypeInt       = "int"
	TypeFloat     = "float"
	TypeBool      = "bool"
	TypeTimestamp = "timestamp"
)

// Dataset formats.
const (
	FormatCSV      = "csv"
	FormatParquet  = "parquet"
	FormatJSONL    = "jsonl"
	FormatText     = "text"
	FormatTFRecord = "tfrecord"
)

// ParseDatasetSpec decodes and checks a dataset spec given as JSON.
func ParseDatasetSpec(data []byte) (DatasetSpec, error) {
	var s DatasetSpec
	if err := json.Unmarshal(data, &s); err != nil {
		return DatasetSpec{}, jsonError("dataset spec", data, err)
	}
	if err := s.Check(); err != nil {
		return DatasetSpec{}, err
	}
	return s, nil
}

// Check reports the first mistake that makes the spec unusable: an unknown
// format or column type, a range on a column that is not a declared number
// column, an empty range, or a check out of bounds.
func (s DatasetSpec) Check() error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if s.Name == "" {
		bad("dataset spec: no name")
	}
	switch s.Format {
	case FormatCSV, FormatParquet, FormatJSONL, FormatText, FormatTFRecord:
	case "":
		bad("dataset %s: no format (want csv, parquet, jsonl, text or tfrecord)", s.Name)
	default:
		bad("dataset %s: format %q: want csv, parquet, jsonl, text or tfrecord", s.Name, s.Format)
	}
	if s.Format == FormatText && len(s.Columns) > 0 {
		bad("dataset %s: format text has no columns, but %d are declared", s.Name, len(s.Columns))
	}
	for _, name := range slices.Sorted(maps.Keys(s.Columns)) {
		switch t := s.Columns[name].Type; t {
		case TypeString, TypeInt, TypeFloat, TypeBool, TypeTimestamp:
		default:
			bad("dataset %s: column %s: type %q: want string, int, float, bool or timestamp", s.Name, name, t)
		}
	}
	for _, name := range slices.Sorted(maps.Keys(s.Checks.Ranges)) {
		r := s.Checks.Ranges[name]
		c, ok := s.Columns[name]
		switch {
		case !ok:
			bad("dataset %s: range on undeclared column %q", s.Name, name)
		case c.Type != TypeInt && c.Type != TypeFloat:
			bad("dataset %s: range on column %q of type %s: ranges apply to int and float columns", s.Name, name, c.Type)
		}
		if r.Min != nil && r.Max != nil && *r.Min > *r.Max {
			bad("dataset %s: column %s: empty range: min %v is greater than max %v", s.Name, name, *r.Min, *r.Max)
		}
	}
	if f := s.Checks.MaxNullFraction; f != nil && (math.IsNaN(*f) || *f < 0 || *f > 1) {
		bad("dataset %s: maxNullFraction %v: want a fraction between 0 and 1", s.Name, *f)
	}
	if n := s.Checks.MinRows; n != nil && *n < 0 {
		bad("dataset %s: minRows %d: want 0 or more", s.Name, *n)
	}
	return errors.Join(errs...)
}

// PIIColumns returns the names of the columns marked pii, sorted.
func (s DatasetSpec) PIIColumns() []string {
	var out []string
	for _, name := range slices.Sorted(maps.Keys(s.Columns)) {
		if s.Columns[name].PII {
			out = append(out, name)
		}
	}
	return out
}

// ColumnSchemaDigest returns "sha256:<hex>" of the canonical JSON of the
// declared columns: an object keyed by column name whose values are
// {"nullable":B,"pii":B,"type":"T"}, keys sorted, no white space, no HTML
// escaping. No columns give the digest of "{}".
func ColumnSchemaDigest(columns map[string]ColumnSpec) string {
	var b bytes.Buffer
	b.WriteByte('{')
	for i, name := range slices.Sorted(maps.Keys(columns)) {
		c := columns[name]
		if i > 0 {
			b.WriteByte(',')
		}
		writeJSONString(&b, name)
		b.WriteString(`:{"nullable":`)
		b.WriteString(strconv.FormatBool(c.Nullable))
		b.WriteString(`,"pii":`)
		b.WriteString(strconv.FormatBool(c.PII))
		b.WriteString(`,"type":`)
		writeJSONString(&b, c.Type)
		b.WriteByte('}')
	}
	b.WriteByte('}')
	sum := sha256.Sum256(b.Bytes())
	return "sha256:" + hex.EncodeToString(sum[:])
}

// writeJSONString writes s as a JSON string without HTML escaping.
func writeJSONString(b *bytes.Buffer, s string) {
	enc := json.NewEncoder(b)
	enc.SetEscapeHTML(false)
	enc.Encode(s) // a string always encodes
	b.Truncate(b.Len() - 1)
}

// jsonError turns a decoding error of data into one that names what was
// read and, for syntax errors, the line and column.
func jsonError(what string, data []byte, err error) error {
	var se *json.SyntaxError
	if errors.As(err, &se) {
		if se.Offset >= int64(len(data)) && strings.HasPrefix(se.Error(), "unexpected end") {
			line, col := lineCol(data, int64(len(data))+1)
			return fmt.Errorf("%s: invalid JSON at line %d, column %d: unexpected end of input", what, line, col)
		}
		line, col := lineCol(data, se.Offset)
		return fmt.Errorf("%s: invalid JSON at line %d, column %d: %v", what, line, col, se)
	}
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		line, col := lineCol(data, te.Offset)
		where := ""
		if te.Field != "" {
			where = " at " + te.Field
		}
		return fmt.Errorf("%s: line %d, column %d: %s%s: want %s", what, line, col, te.Value, where, te.Type)
	}
	return fmt.Errorf("%s: %w", what, err)
}

// lineCol returns the 1-based line and column (in bytes) of offset in data.
// A syntax error's offset is just past the byte at fault.
func lineCol(data []byte, offset int64) (line, col int) {
	if offset > int64(len(data))+1 {
		offset = int64(len(data)) + 1
	}
	line, col = 1, 1
	for _, c := range data[:max(offset-1, 0)] {
		if c == '\n' {
			line, col = line+1, 1
		} else {
			col++
		}
	}
	return line, col
}
