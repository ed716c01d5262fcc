package steps

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"hash"
	"io"
	"maps"
	"math"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"

	"golang.org/x/sync/errgroup"
)

// Snapshot describes a validated dataset snapshot: what validate-data
// writes to snapshot.json and what the pack step records as lineage.
type Snapshot struct {
	Name               string          `json:"name"`
	URI                string          `json:"uri"`
	Path               string          `json:"path,omitempty"` // the location read, when it is not the URI
	Snapshot           string          `json:"snapshot,omitempty"`
	Format             string          `json:"format"`
	Digest             string          `json:"digest"`
	ColumnSchemaDigest string          `json:"columnSchemaDigest"`
	Files              int             `json:"files"`
	Bytes              int64           `json:"bytes"`
	Rows               int64           `json:"rows"`
	PII                bool            `json:"pii"` // the dataset or one of its columns is marked pii
	PIIColumns         []string        `json:"piiColumns"`
	DerivedFrom        []string        `json:"derivedFrom"`
	Columns            []ColumnSummary `json:"columns"`
	ExtraColumns       []string        `json:"extraColumns"` // in the data but not declared
	Checks             []Check         `json:"checks"`       // the checks that passed
	Notes              []string        `json:"notes,omitempty"`
	Manifest           []FileDigest    `json:"-"` // the files, sorted by path
}

// ColumnSummary is what the data held in one declared column.
type ColumnSummary struct {
	Name     string `json:"name"`
	Type     string `json:"type"`
	Nullable bool   `json:"nullable"`
	PII      bool   `json:"pii"`
	Nulls    int64  `json:"nulls"`
	Min      string `json:"min,omitempty"` // numeric columns
	Max      string `json:"max,omitempty"`
}

// Check is one check a dataset passed.
type Check struct {
	Column   string `json:"column,omitempty"`
	Rule     string `json:"rule"`
	Observed string `json:"observed"`
}

// Failure is one failed check of a dataset.
type Failure struct {
	Dataset  string `json:"dataset"`
	Column   string `json:"column,omitempty"`
	File     string `json:"file,omitempty"` // for a problem of one file, its manifest path
	Rule     string `json:"rule"`
	Observed string `json:"observed,omitempty"`
	Detail   string `json:"detail,omitempty"` // where, and how many
}

// String returns the failure as one line:
//
//	dataset D: column C: RULE: observed VALUE (DETAIL)
//
// Names and values read from the data are shown as written when they are
// printable text, else quoted as Go strings (see MaxShown), so the line
// holds no control bytes.
func (f Failure) String() string {
	var b strings.Builder
	b.WriteString("dataset " + showData(f.Dataset) + ": ")
	if f.Column != "" {
		b.WriteString("column " + showData(f.Column) + ": ")
	} else if f.File != "" {
		b.WriteString(showData(f.File) + ": ")
	}
	b.WriteString(f.Rule)
	if f.Observed != "" {
		b.WriteString(": observed " + f.Observed)
	}
	if f.Detail != "" {
		b.WriteString(" (" + f.Detail + ")")
	}
	return b.String()
}

// ValidateOptions tune ValidateDataWith.
type ValidateOptions struct {
	// Concurrency is the number of files read at once; 0 means
	// GOMAXPROCS, and at least 16 in an object store.
	Concurrency int
	// MaxRecordBytes is the longest record (a CSV record, a line of JSON
	// lines or of text, its line end included) read; a longer one fails
	// its file, named with its line. 0 means DefaultMaxRecordBytes.
	MaxRecordBytes int64
}

// ValidateData reads the dataset at location (a path, a file:// URI or an
// object-store URI, see IsObjectStore; the spec's URI when empty) and runs
// the spec's checks: every declared column is present in every file with
// values of its type, non-nullable columns have no nulls, no column has
// more nulls than maxNullFraction, there are at least minRows rows, and
// numbers lie in their ranges. Each file is read once, streaming, several
// files at once, and hashed on the way; in an object store each object is
// one streamed GET, and a Parquet object is hashed by one and decoded from
// ranged GETs of its footer and the declared columns' chunks.
//
// Every failed check is returned, with the snapshot as far as it was read;
// the error is for data that cannot be read at all (no such folder,
// nothing under an object-store prefix, no credentials, an I/O error).
// With no error and no failure the snapshot is complete and its Digest
// identifies the data.
//
// Values in text formats (CSV, and strings in JSON lines for timestamps)
// are checked so: an empty field is a null; int parses as a base-10 int64
// ("+5" and "-5" included, no spaces); float as Go's strconv.ParseFloat
// ("1e3", "NaN" and "Inf" included; NaN fails any range); bool as one of 1,
// t, T, TRUE, true, True, 0, f, F, FALSE, false, False; timestamp as RFC
// 3339 with a "T" or a space between date and time, with or without a zone
// offset, or a date alone (2006-01-02). In JSON lines a null or a missing
// key is a null, and values must be JSON strings, numbers (int: without a
// fraction or exponent) or booleans as the type says. In Parquet a declared
// column must be a top-level, non-repeated field whose type fits: string
// BYTE_ARRAY (plain, STRING, ENUM, JSON, BSON) or UUID; int INT32 or INT64
// (plain or INT); float FLOAT, DOUBLE or an int; bool BOOLEAN; timestamp
// TIMESTAMP, DATE or INT96. Text files have rows (lines) and no columns;
// TFRecord files have rows (records, their framing and CRCs checked) and
// their columns are not read. A record (a CSV record, a line of JSON lines
// or of text) longer than ValidateOptions.MaxRecordBytes, 16 MiB by
// default, fails its file, named with its line, and ends its reading, so
// memory stays bounded by the maximum.
func ValidateData(ctx context.Context, spec DatasetSpec, location string) (*Snapshot, []Failure, error) {
	return ValidateDataWith(ctx, spec, location, ValidateOptions{})
}

// ValidateDataWith is ValidateData with options.
func ValidateDataWith(ctx context.Context, spec DatasetSpec, location string, opts ValidateOptions) (*Snapshot, []Failure, error) {
	if err := spec.Check(); err != nil {
		return nil, nil, err
	}
	if location == "" {
		location = spec.URI
	}
	var files []dataFile
	var store *objectStore
	if IsObjectStore(location) {
		o, err := openObjectStore(ctx, location)
		if err != nil {
			return nil, nil, fmt.Errorf("dataset %s: %w", spec.Name, err)
		}
		defer o.Close()
		store = o
		files, err = o.listFiles(ctx, spec.Format)
		if err != nil {
			return nil, nil, fmt.Errorf("dataset %s: %w", spec.Name, err)
		}
	} else {
		path, err := LocalPath(location)
		if err != nil {
			return nil, nil, fmt.Errorf("dataset %s: %w", spec.Name, err)
		}
		files, err = listFiles(path, spec.Format)
		if err != nil {
			return nil, nil, fmt.Errorf("dataset %s: %w", spec.Name, err)
		}
	}
	v := &validation{spec: spec, chk: newChecker(spec), files: files, store: store, results: make([]fileResult, len(files)), maxRecord: opts.MaxRecordBytes}
	limit := opts.Concurrency
	if limit <= 0 && store != nil {
		limit = max(runtime.GOMAXPROCS(0), objectConcurrency)
	}
	err := forEach(ctx, len(files), limit, func(i int) error { return v.scan(ctx, i) })
	if err != nil {
		return nil, nil, fmt.Errorf("dataset %s: %w", spec.Name, err)
	}
	snap, failures := v.finish()
	if location != spec.URI {
		snap.Path = location
	}
	return snap, failures, nil
}

// forEach calls fn for 0..n-1, at most limit at once (GOMAXPROCS when 0),
// and returns the first error.
func forEach(ctx context.Context, n, limit int, fn func(i int) error) error {
	if limit <= 0 {
		limit = runtime.GOMAXPROCS(0)
	}
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(limit)
	for i := range n {
		if gctx.Err() != nil {
			break
		}
		g.Go(func() error { return fn(i) })
	}
	if err := g.Wait(); err != nil {
		return err
	}
	return ctx.Err()
}

// column is a declared column and its range.
type column struct {
	name string
	spec ColumnSpec
	rng  *Range
}

// checker holds the declared columns in name order.
type checker struct {
	cols   []column
	byName map[string]int
}

func newChecker(spec DatasetSpec) *checker {
	c := &checker{byName: map[string]int{}}
	for _, name := range slices.Sorted(maps.Keys(spec.Columns)) {
		col := column{name: name, spec: spec.Columns[name]}
		if r, ok := spec.Checks.Ranges[name]; ok {
			col.rng = &r
		}
		c.byName[name] = len(c.cols)
		c.cols = append(c.cols, col)
	}
	return c
}

// loc is a place in the dataset: a file (its index in the sorted list) and a
// 1-based row (or line).
type loc struct {
	file int
	row  int64
}

func (a loc) before(b loc) bool { return a.file < b.file || a.file == b.file && a.row < b.row }

// colStats is what one file, or all, held in one declared column.
type colStats struct {
	absent     bool   // the file lacks the column
	keyAbsent  bool   // no row of the file (JSON lines) has the key
	schemaType string // the file's type for the column, when it does not fit the declared type

	nulls     int64
	firstNull loc

	bad      int64 // values not of the declared type
	firstBad loc
	badValue string

	n                int64 // numbers seen (NaN excluded)
	min, max         float64
	minAt, maxAt     loc
	minText, maxText string // the values as written, when known
	below, above     int64  // numbers outside the range
	nan              int64
	firstNaN         loc
}

func (s *colStats) null(at loc) {
	if s.nulls == 0 {
		s.firstNull = at
	}
	s.nulls++
}

func (s *colStats) badType(at loc, value string) {
	if s.bad == 0 {
		s.firstBad, s.badValue = at, value
	}
	s.bad++
}

// number records a number of the column; text is the value as written, or
// empty.
func (s *colStats) number(c *column, v float64, at loc, text string) {
	if v != v {
		if s.nan == 0 {
			s.firstNaN = at
		}
		s.nan++
		return
	}
	if s.n == 0 || v < s.min {
		s.min, s.minAt, s.minText = v, at, text
	}
	if s.n == 0 || v > s.max {
		s.max, s.maxAt, s.maxText = v, at, text
	}
	s.n++
	if r := c.rng; r != nil {
		if r.Min != nil && v < *r.Min {
			s.below++
		}
		if r.Max != nil && v > *r.Max {
			s.above++
		}
	}
}

// merge adds the stats of a later file.
func (s *colStats) merge(o *colStats) {
	if o.nulls > 0 {
		if s.nulls == 0 || o.firstNull.before(s.firstNull) {
			s.firstNull = o.firstNull
		}
		s.nulls += o.nulls
	}
	if o.bad > 0 {
		if s.bad == 0 || o.firstBad.before(s.firstBad) {
			s.firstBad, s.badValue = o.firstBad, o.badValue
		}
		s.bad += o.bad
	}
	if o.nan > 0 {
		if s.nan == 0 || o.firstNaN.before(s.firstNaN) {
			s.firstNaN = o.firstNaN
		}
		s.nan += o.nan
	}
	if o.n > 0 {
		if s.n == 0 || o.min < s.min || o.min == s.min && o.minAt.before(s.minAt) {
			s.min, s.minAt, s.minText = o.min, o.minAt, o.minText
		}
		if s.n == 0 || o.max > s.max || o.max == s.max && o.maxAt.before(s.maxAt) {
			s.max, s.maxAt, s.maxText = o.max, o.maxAt, o.maxText
		}
		s.n += o.n
	}
	s.below += o.below
	s.above += o.above
}

// text checks one value given as text (a CSV field; a JSON string for a
// timestamp) against the column's type.
func (c *column) text(s *colStats, v string, at loc) {
	if v == "" {
		s.null(at)
		return
	}
	switch c.spec.Type {
	case TypeInt:
		i, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			s.badType(at, v)
			return
		}
		s.number(c, float64(i), at, v)
	case TypeFloat:
		f, err := strconv.ParseFloat(v, 64)
		if err != nil && !isRangeError(err) {
			s.badType(at, v)
			return
		}
		s.number(c, f, at, v)
	case TypeBool:
		if _, err := strconv.ParseBool(v); err != nil {
			s.badType(at, v)
		}
	case TypeTimestamp:
		if !isTimestamp(v) {
			s.badType(at, v)
		}
	}
}

func isRangeError(err error) bool {
	ne, ok := err.(*strconv.NumError)
	return ok && ne.Err == strconv.ErrRange
}

// fileResult is what one file held.
type fileResult struct {
	digest   FileDigest
	rows     int64
	cols     []colStats // as checker.cols
	header   []string   // the file's columns, as far as known
	extra    []string   // columns of the file that are not declared
	problems []Failure  // the file could not be read to the end, or is malformed
	notes    []string
}

// validation is one run of ValidateData.
type validation struct {
	spec    DatasetSpec
	chk     *checker
	files   []dataFile
	store   *objectStore // the files' bucket; nil when they are local
	results []fileResult
	// maxRecord is ValidateOptions.MaxRecordBytes.
	maxRecord int64
}

// hashCounter hashes and counts what is written to it.
type hashCounter struct {
	h hash.Hash
	n int64
}

func (h *hashCounter) Write(p []byte) (int, error) {
	h.n += int64(len(p))
	return h.h.Write(p)
}

// scan reads file i, filling results[i].
func (v *validation) scan(ctx context.Context, i int) (err error) {
	df := v.files[i]
	res := &v.results[i]
	res.cols = make([]colStats, len(v.chk.cols))
	sctx, cancel := context.WithCancel(ctx) // ends the hashing of a Parquet object early
	src, err := v.open(sctx, df)
	if err != nil {
		cancel()
		return err
	}
	defer func() { src.Close() }()
	defer cancel()
	hc := &hashCounter{h: sha256.New()}
	// hashed, when set, gives the end of the file's hashing apart from its
	// decoding (a Parquet object: one streamed GET beside the range reads).
	var hashed chan error
	defer func() {
		if r := recover(); r != nil { // a malformed file can panic a decoder
			res.problem(v.spec.Format, fmt.Sprintf("reading failed: %v", r))
			err = nil
			if hashed == nil {
				src.Close()
				again, err2 := v.open(ctx, df)
				if err2 != nil {
					err = err2
					return
				}
				src = again
				hc = &hashCounter{h: sha256.New()}
				err = copyAll(hc, src)
			}
		}
		if hashed != nil {
			if herr := <-hashed; err == nil {
				err = herr
			}
		}
		if err == nil {
			res.digest = FileDigest{Path: df.rel, SHA256: hex.EncodeToString(hc.h.Sum(nil)), Size: hc.n}
		}
	}()
	sc := scanner{ctx: ctx, chk: v.chk, file: i, res: res, maxRecord: v.maxRecord}
	switch v.spec.Format {
	case FormatCSV:
		return sc.csv(src, hc, isGzip(df.rel))
	case FormatParquet:
		if v.store == nil {
			f := src.(*os.File)
			if err := copyAll(hc, f); err != nil {
				return err
			}
			return sc.parquet(f, hc.n)
		}
		hashed = make(chan error, 1)
		go func(r io.Reader) { hashed <- copyAll(hc, r) }(src)
		err := sc.parquet(v.store.readerAt(ctx, df.path, df.size), df.size)
		if err != nil {
			cancel()
		}
		return err
	case FormatJSONL:
		return sc.jsonl(src, hc, isGzip(df.rel))
	case FormatText:
		return sc.text(src, hc, isGzip(df.rel))
	case FormatTFRecord:
		return sc.tfrecord(src, hc, isGzip(df.rel))
	}
	return fmt.Errorf("format %q: not supported", v.spec.Format)
}

// open returns a stream of a file of the dataset: the *os.File of a
// local file, or a streamed GET of an object.
func (v *validation) open(ctx context.Context, df dataFile) (io.ReadCloser, error) {
	if v.store == nil {
		return os.Open(df.path)
	}
	return v.store.open(ctx, df.path)
}

func (r *fileResult) problem(format, msg string) {
	r.problems = append(r.problems, Failure{File: r.digest.Path, Rule: "format " + format + ": " + escapeControls(msg)})
}

func isGzip(name string) bool { return strings.HasSuffix(strings.ToLower(name), ".gz") }

// finish merges the files' results and runs the dataset-wide checks.
func (v *validation) finish() (*Snapshot, []Failure) {
	spec := v.spec
	snap := &Snapshot{
		Name: spec.Name, URI: spec.URI, Snapshot: spec.Snapshot, Format: spec.Format,
		ColumnSchemaDigest: ColumnSchemaDigest(spec.Columns),
		Files:              len(v.files),
		PIIColumns:         nonNil(spec.PIIColumns()),
		DerivedFrom:        nonNil(spec.DerivedFrom),
		Columns:            []ColumnSummary{},
		ExtraColumns:       []string{},
		Checks:             []Check{},
	}
	snap.PII = spec.PII || len(snap.PIIColumns) > 0
	var failures []Failure
	fail := func(f Failure) {
		f.Dataset = spec.Name
		failures = append(failures, f)
	}
	pass := func(col, rule, observed string) {
		snap.Checks = append(snap.Checks, Check{Column: col, Rule: rule, Observed: observed})
	}
	extra := map[string]bool{}
	notes := map[string]bool{}
	for i := range v.results {
		r := &v.results[i]
		r.digest.Path = v.files[i].rel
		snap.Manifest = append(snap.Manifest, r.digest)
		snap.Bytes += r.digest.Size
		snap.Rows += r.rows
		for _, p := range r.problems {
			p.File = v.files[i].rel
			fail(p)
		}
		for _, e := range r.extra {
			extra[e] = true
		}
		for _, n := range r.notes {
			if !notes[n] {
				notes[n] = true
				snap.Notes = append(snap.Notes, n)
			}
		}
	}
	snap.ExtraColumns = append(snap.ExtraColumns, slices.Sorted(maps.Keys(extra))...)
	snap.Digest = SnapshotDigest(snap.Manifest)
	where := func(at loc) string {
		unit := "row"
		if spec.Format == FormatJSONL || spec.Format == FormatText {
			unit = "line"
		}
		return fmt.Sprintf("%s %d of %s", unit, at.row, showData(v.files[at.file].rel))
	}

	columnsRead := spec.Format != FormatTFRecord && spec.Format != FormatText
	if !columnsRead && len(v.chk.cols) > 0 {
		snap.Notes = append(snap.Notes, fmt.Sprintf("format %s: columns are not read; the %d declared columns, their nulls and ranges were not checked", spec.Format, len(v.chk.cols)))
	}
	if !columnsRead && spec.Checks.MaxNullFraction != nil {
		snap.Notes = append(snap.Notes, fmt.Sprintf("format %s: maxNullFraction was not checked", spec.Format))
	}
	for ci := range v.chk.cols {
		c := &v.chk.cols[ci]
		sum := ColumnSummary{Name: c.name, Type: c.spec.Type, Nullable: c.spec.Nullable, PII: c.spec.PII}
		if !columnsRead {
			snap.Columns = append(snap.Columns, sum)
			continue
		}
		var all colStats
		var absent, mismatched []string
		var mismatch string
		var rowsWith int64 // rows of the files that have the column with a fitting type
		keyAbsent := 0
		for fi := range v.results {
			if v.results[fi].cols[ci].keyAbsent || v.results[fi].rows == 0 {
				keyAbsent++
			}
		}
		for fi := range v.results {
			s := &v.results[fi].cols[ci]
			switch {
			case spec.Format == FormatJSONL && keyAbsent == len(v.results):
				if s.keyAbsent {
					absent = append(absent, v.files[fi].rel)
				}
			case s.absent:
				absent = append(absent, v.files[fi].rel)
			case s.schemaType != "":
				if mismatch == "" {
					mismatch = s.schemaType
				}
				mismatched = append(mismatched, v.files[fi].rel)
			default:
				rowsWith += v.results[fi].rows
				all.merge(s)
			}
		}
		sum.Nulls = all.nulls
		if all.n > 0 {
			sum.Min, sum.Max = c.format(all.min, all.minText), c.format(all.max, all.maxText)
		}
		snap.Columns = append(snap.Columns, sum)

		ok := true
		if len(absent) > 0 {
			ok = false
			detail := "not in " + fileList(absent, len(v.files))
			if h := v.results[indexOf(v.files, absent[0])].header; len(h) > 0 {
				detail += "; " + showData(absent[0]) + " has " + nameList(h, 8)
			}
			fail(Failure{Column: c.name, Rule: "missing", Detail: detail})
		}
		if len(mismatched) > 0 {
			ok = false
			fail(Failure{Column: c.name, Rule: "type " + c.spec.Type, Observed: mismatch, Detail: fileList(mismatched, len(v.files))})
		}
		if ok {
			pass(c.name, "present", fmt.Sprintf("in %d of %d files", len(v.files), len(v.files)))
		}
		if rowsWith == 0 && len(absent)+len(mismatched) > 0 {
			continue
		}
		if all.bad > 0 {
			fail(Failure{Column: c.name, Rule: "type " + c.spec.Type, Observed: quoteData(all.badValue),
				Detail: fmt.Sprintf("%s; %d %s not %s", where(all.firstBad), all.bad, plural(all.bad, "value is", "values are"), c.spec.Type)})
		} else if ok {
			pass(c.name, "type "+c.spec.Type, fmt.Sprintf("%d values", rowsWith-all.nulls))
		}
		if !c.spec.Nullable {
			if all.nulls > 0 {
				fail(Failure{Column: c.name, Rule: "not nullable", Observed: fmt.Sprintf("%d %s", all.nulls, plural(all.nulls, "null", "nulls")),
					Detail: "first at " + where(all.firstNull)})
			} else {
				pass(c.name, "not nullable", "0 nulls")
			}
		}
		if m := spec.Checks.MaxNullFraction; m != nil {
			frac := 0.0
			if rowsWith > 0 {
				frac = float64(all.nulls) / float64(rowsWith)
			}
			rule := "maxNullFraction " + fmtNum(*m)
			if frac > *m {
				fail(Failure{Column: c.name, Rule: rule, Observed: fmtFraction(frac, *m),
					Detail: fmt.Sprintf("%d %s in %d rows", all.nulls, plural(all.nulls, "null", "nulls"), rowsWith)})
			} else {
				pass(c.name, rule, fmtFraction(frac, *m))
			}
		}
		if r := c.rng; r != nil {
			if r.Min != nil {
				rule := "range min " + fmtNum(*r.Min)
				if all.below > 0 {
					fail(Failure{Column: c.name, Rule: rule, Observed: shorten(c.format(all.min, all.minText)),
						Detail: fmt.Sprintf("%s; %d %s below the min", where(all.minAt), all.below, plural(all.below, "value", "values"))})
				} else if all.n > 0 {
					pass(c.name, rule, c.format(all.min, all.minText))
				}
			}
			if r.Max != nil {
				rule := "range max " + fmtNum(*r.Max)
				if all.above > 0 {
					fail(Failure{Column: c.name, Rule: rule, Observed: shorten(c.format(all.max, all.maxText)),
						Detail: fmt.Sprintf("%s; %d %s above the max", where(all.maxAt), all.above, plural(all.above, "value", "values"))})
				} else if all.n > 0 {
					pass(c.name, rule, c.format(all.max, all.maxText))
				}
			}
			if all.nan > 0 {
				fail(Failure{Column: c.name, Rule: "range " + rangeText(r), Observed: "NaN",
					Detail: fmt.Sprintf("%s; %d NaN %s", where(all.firstNaN), all.nan, plural(all.nan, "value", "values"))})
			}
		}
	}
	if m := spec.Checks.MinRows; m != nil {
		rule := fmt.Sprintf("minRows %d", *m)
		observed := fmt.Sprintf("%d rows", snap.Rows)
		if snap.Rows < *m {
			fail(Failure{Rule: rule, Observed: observed, Detail: fmt.Sprintf("in %d %s", len(v.files), plural(int64(len(v.files)), "file", "files"))})
		} else {
			pass("", rule, observed)
		}
	}
	return snap, failures
}

// format returns a number of the column as written, or formatted.
func (c *column) format(v float64, text string) string {
	if text != "" {
		return text
	}
	return fmtNum(v)
}

// fmtNum formats a number without an exponent unless it is huge or tiny.
func fmtNum(v float64) string {
	a := math.Abs(v)
	if a != 0 && (a >= 1e21 || a < 1e-6) || math.IsInf(v, 0) || math.IsNaN(v) {
		return strconv.FormatFloat(v, 'g', -1, 64)
	}
	return strconv.FormatFloat(v, 'f', -1, 64)
}

// fmtFraction formats a fraction to four significant digits, or in full
// where that would read as the limit.
func fmtFraction(frac, limit float64) string {
	s := strconv.FormatFloat(frac, 'g', 4, 64)
	if f, _ := strconv.ParseFloat(s, 64); f == limit && frac != limit {
		s = strconv.FormatFloat(frac, 'g', -1, 64)
	}
	return s
}

func rangeText(r *Range) string {
	lo, hi := "", ""
	if r.Min != nil {
		lo = fmtNum(*r.Min)
	}
	if r.Max != nil {
		hi = fmtNum(*r.Max)
	}
	return lo + ".." + hi
}

// fileList names files of a dataset of total files: all of them when
// three or fewer, else the first three and a count of the others, each
// shown by showData.
func fileList(files []string, total int) string {
	if len(files) == total && total > 3 {
		return fmt.Sprintf("any of the %d files (%s, ...)", total, showData(files[0]))
	}
	if len(files) <= 3 {
		return showList(files)
	}
	return fmt.Sprintf("%s and %d other files", showList(files[:3]), len(files)-3)
}

// nameList joins up to n names, each shown by showData, and counts the
// others.
func nameList(names []string, n int) string {
	if len(names) <= n {
		return showList(names)
	}
	return fmt.Sprintf("%s and %d more", showList(names[:n]), len(names)-n)
}

func indexOf(files []dataFile, rel string) int {
	for i, f := range files {
		if f.rel == rel {
			return i
		}
	}
	return 0
}

func plural(n int64, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}
