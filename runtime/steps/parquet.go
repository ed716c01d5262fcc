package steps

import (
	"fmt"
	"io"
	"strings"

	"github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/deprecated"
	"github.com/parquet-go/parquet-go/format"
)

// parquetValues is how many values are decoded at a time.
const parquetValues = 4096

// parquet reads a Parquet file: the footer first, then each declared
// column's chunk of each row group, page by page, so memory holds one page
// of one column at a time. f is the file, of size bytes: a local file, or
// an object read by ranges; the caller hashes the file apart.
func (s *scanner) parquet(f io.ReaderAt, size int64) error {
	pf, err := parquet.OpenFile(f, size, parquet.SkipPageIndex(true), parquet.SkipBloomFilters(true), parquet.ReadBufferSize(readBuffer))
	if err != nil {
		s.res.problem(FormatParquet, err.Error())
		for i := range s.res.cols {
			s.res.cols[i].absent = true
		}
		return nil
	}
	schema := pf.Schema()
	fields := map[string]parquet.Field{}
	for _, fd := range schema.Fields() {
		fields[fd.Name()] = fd
		s.res.header = append(s.res.header, fd.Name())
		if _, ok := s.chk.byName[fd.Name()]; !ok {
			s.res.extra = append(s.res.extra, fd.Name())
		}
	}
	type use struct {
		leaf  int // leaf column index
		col   *column
		stats *colStats
		kind  numKind
	}
	var uses []use
	for ci := range s.chk.cols {
		c := &s.chk.cols[ci]
		st := &s.res.cols[ci]
		fd, ok := fields[c.name]
		if !ok {
			st.absent = true
			continue
		}
		kind, observed := parquetFits(c.spec.Type, fd)
		if observed != "" {
			st.schemaType = observed
			continue
		}
		leaf, ok := schema.Lookup(c.name)
		if !ok {
			st.schemaType = "parquet " + describeParquet(fd)
			continue
		}
		uses = append(uses, use{leaf.ColumnIndex, c, st, kind})
	}
	s.res.rows = pf.NumRows()
	var base int64
	buf := make([]parquet.Value, parquetValues)
	for gi, rg := range pf.RowGroups() {
		chunks := rg.ColumnChunks()
		for _, u := range uses {
			if err := s.parquetChunk(chunks[u.leaf], base, buf, u.col, u.stats, u.kind); err != nil {
				if err == s.ctx.Err() {
					return err
				}
				s.res.problem(FormatParquet, fmt.Sprintf("column %s, row group %d: %v", u.col.name, gi, err))
				return nil
			}
		}
		base += rg.NumRows()
	}
	return nil
}

// numKind says how to read a Parquet column's values as numbers.
type numKind int

const (
	notNumber numKind = iota
	signedInt
	unsignedInt
	floating
)

// parquetChunk checks the values of one column chunk; base is the number
// of rows of the file before the chunk's row group.
func (s *scanner) parquetChunk(cc parquet.ColumnChunk, base int64, buf []parquet.Value, c *column, st *colStats, kind numKind) error {
	pages := cc.Pages()
	defer pages.Close()
	row := base
	for {
		p, err := pages.ReadPage()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		vr := p.Values()
		for {
			n, err := vr.ReadValues(buf)
			for _, v := range buf[:n] {
				row++
				if v.IsNull() {
					st.null(loc{s.file, row})
					continue
				}
				switch kind {
				case signedInt:
					if v.Kind() == parquet.Int32 {
						st.number(c, float64(v.Int32()), loc{s.file, row}, "")
					} else {
						st.number(c, float64(v.Int64()), loc{s.file, row}, "")
					}
				case unsignedInt:
					if v.Kind() == parquet.Int32 {
						st.number(c, float64(v.Uint32()), loc{s.file, row}, "")
					} else {
						st.number(c, float64(v.Uint64()), loc{s.file, row}, "")
					}
				case floating:
					if v.Kind() == parquet.Float {
						st.number(c, float64(v.Float()), loc{s.file, row}, "")
					} else {
						st.number(c, v.Double(), loc{s.file, row}, "")
					}
				}
			}
			if err == io.EOF {
				break
			}
			if err != nil {
				parquet.Release(p)
				return err
			}
		}
		parquet.Release(p)
		if err := s.ctx.Err(); err != nil {
			return err
		}
	}
}

// parquetFits tells whether a top-level Parquet field holds values of the
// declared type, and how to read them as numbers. When it does not, it
// returns what the field holds, e.g. "parquet BYTE_ARRAY (STRING)".
//
//	string     BYTE_ARRAY (plain, STRING, ENUM, JSON, BSON), FIXED_LEN_BYTE_ARRAY (UUID)
//	int        INT32, INT64 (plain or INT(bits, signed))
//	float      FLOAT, DOUBLE, and the int types
//	bool       BOOLEAN
//	timestamp  INT64 TIMESTAMP, INT32 DATE, INT96
func parquetFits(typ string, fd parquet.Field) (numKind, string) {
	if !fd.Leaf() || fd.Repeated() {
		return notNumber, "parquet " + describeParquet(fd)
	}
	t := fd.Type()
	logical := parquetLogical(t)
	kind := t.Kind()
	isInt := (kind == parquet.Int32 || kind == parquet.Int64) && (logical == "" || logical == "int" || logical == "uint")
	intKind := signedInt
	if logical == "uint" {
		intKind = unsignedInt
	}
	ok, num := false, notNumber
	switch typ {
	case TypeString:
		ok = kind == parquet.ByteArray && (logical == "" || logical == "string" || logical == "enum" || logical == "json" || logical == "bson") ||
			kind == parquet.FixedLenByteArray && logical == "uuid"
	case TypeInt:
		ok, num = isInt, intKind
	case TypeFloat:
		switch {
		case (kind == parquet.Float || kind == parquet.Double) && logical == "":
			ok, num = true, floating
		case isInt:
			ok, num = true, intKind
		}
	case TypeBool:
		ok = kind == parquet.Boolean
	case TypeTimestamp:
		ok = kind == parquet.Int64 && logical == "timestamp" || kind == parquet.Int32 && logical == "date" || kind == parquet.Int96
	}
	if !ok {
		return notNumber, "parquet " + describeParquet(fd)
	}
	return num, ""
}

// describeParquet names a field's Parquet type: "INT64", "BYTE_ARRAY
// (STRING)", "group", "repeated INT32".
func describeParquet(fd parquet.Field) string {
	if !fd.Leaf() {
		if fd.Repeated() {
			return "repeated group"
		}
		if l := fd.Type().LogicalType(); l != nil && l.Value != nil {
			return "group (" + l.String() + ")"
		}
		return "group"
	}
	t := fd.Type()
	s := t.Kind().String()
	if l := t.LogicalType(); l != nil && l.Value != nil {
		s += " (" + l.String() + ")"
	} else if l := parquetLogical(t); l != "" {
		s += " (" + strings.ToUpper(l) + ")"
	}
	if fd.Repeated() {
		s = "repeated " + s
	}
	return s
}

// parquetLogical names a type's logical annotation, from its logical type
// or, in older files, its converted type: "", "string", "int", "uint",
// "date", "timestamp", "decimal", ...
func parquetLogical(t parquet.Type) string {
	if l := t.LogicalType(); l != nil && l.Value != nil {
		switch v := l.Value.(type) {
		case *format.StringType:
			return "string"
		case *format.EnumType:
			return "enum"
		case *format.JsonType:
			return "json"
		case *format.BsonType:
			return "bson"
		case *format.UUIDType:
			return "uuid"
		case *format.DateType:
			return "date"
		case *format.TimestampType:
			return "timestamp"
		case *format.IntType:
			if !v.IsSigned {
				return "uint"
			}
			return "int"
		default:
			return strings.ToLower(l.String())
		}
	}
	if ct := t.ConvertedType(); ct != nil {
		switch *ct {
		case deprecated.UTF8:
			return "string"
		case deprecated.Enum:
			return "enum"
		case deprecated.Json:
			return "json"
		case deprecated.Bson:
			return "bson"
		case deprecated.Date:
			return "date"
		case deprecated.TimestampMillis, deprecated.TimestampMicros:
			return "timestamp"
		case deprecated.Int8, deprecated.Int16, deprecated.Int32, deprecated.Int64:
			return "int"
		case deprecated.Uint8, deprecated.Uint16, deprecated.Uint32, deprecated.Uint64:
			return "uint"
		case deprecated.Decimal:
			return "decimal"
		case deprecated.TimeMillis, deprecated.TimeMicros:
			return "time"
		case deprecated.Interval:
			return "interval"
		}
	}
	return ""
}
