package steps

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/binary"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"maps"
	"slices"
	"strconv"
)

// scanner reads one file of a dataset into its result.
type scanner struct {
	ctx       context.Context
	chk       *checker
	file      int // index in the sorted file list
	res       *fileResult
	maxRecord int64 // see ValidateOptions.MaxRecordBytes; 0 is the default
}

// DefaultMaxRecordBytes is the longest record validate-data and drift read
// by default: a CSV record (its line, or its lines when a quoted field
// holds newlines), a line of JSON lines or a line of text. Memory grows
// with the longest record read, so a longer one fails the file, named with
// its line, instead of being read whole.
const DefaultMaxRecordBytes = 16 << 20

// errRecordTooLong is returned by a recordLimit past its limit.
var errRecordTooLong = errors.New("record too long")

// recordLimit passes on at most max bytes (plus the read-ahead of a
// reader above it, slack) past the start of the current record, and
// counts the lines passed on.
type recordLimit struct {
	r     io.Reader
	max   int64
	n     int64 // bytes passed on
	limit int64 // n stops here
	lines int64 // newlines passed on
}

// limitSlack covers what encoding/csv's own buffer reads ahead.
const limitSlack = 4096

func newRecordLimit(r io.Reader, max int64) *recordLimit {
	l := &recordLimit{r: r, max: max}
	l.next(0)
	return l
}

// next marks offset as the start of the next record.
func (l *recordLimit) next(offset int64) { l.limit = offset + l.max + limitSlack }

func (l *recordLimit) Read(p []byte) (int, error) {
	if l.n >= l.limit {
		return 0, errRecordTooLong
	}
	if rest := l.limit - l.n; int64(len(p)) > rest {
		p = p[:rest]
	}
	k, err := l.r.Read(p)
	l.n += int64(k)
	l.lines += int64(bytes.Count(p[:k], []byte{'\n'}))
	return k, err
}

// tooLong reports a record of more than the maximum size at line.
func (s *scanner) tooLong(format string, line int64) {
	s.res.problem(format, fmt.Sprintf("line %d: a record longer than the maximum of %s (%d bytes); the rest of the file is not read",
		line, humanBytes(s.max()), s.max()))
}

func (s *scanner) max() int64 {
	if s.maxRecord > 0 {
		return s.maxRecord
	}
	return DefaultMaxRecordBytes
}

// ctxEvery is how many rows pass between checks for cancellation.
const ctxEvery = 1 << 16

const readBuffer = 256 << 10

// open returns a reader of the file's content (decompressed when gz is
// set) that hashes every byte of the file on the way, and a function that
// hashes what is left once reading stops.
func open(f io.Reader, hc *hashCounter, gz bool) (io.Reader, func() error, error) {
	raw := io.TeeReader(f, hc)
	drain := func() error { return copyAll(io.Discard, raw) }
	if !gz {
		return bufio.NewReaderSize(raw, readBuffer), drain, nil
	}
	zr, err := gzip.NewReader(bufio.NewReaderSize(raw, readBuffer))
	if err != nil {
		return nil, drain, err
	}
	return bufio.NewReaderSize(zr, readBuffer), drain, nil
}

func copyAll(w io.Writer, r io.Reader) error {
	buf := make([]byte, readBuffer)
	_, err := io.CopyBuffer(w, r, buf)
	return err
}

// csv reads a CSV file: a header row naming the columns, then one record
// per row. A record longer than the maximum record size ends the reading.
func (s *scanner) csv(f io.Reader, hc *hashCounter, gz bool) error {
	r, drain, err := open(f, hc, gz)
	if err != nil {
		s.res.problem(FormatCSV, err.Error())
		return drain()
	}
	lim := newRecordLimit(r, s.max())
	cr := csv.NewReader(lim)
	cr.ReuseRecord = true
	cr.FieldsPerRecord = -1
	uses, ok := s.csvHeader(cr, lim)
	if !ok {
		return drain()
	}
	var row, short int64
	var firstShort int64
	var shortLen int
	for start := cr.InputOffset(); ; start = cr.InputOffset() {
		lim.next(start)
		rec, err := cr.Read()
		if err == io.EOF {
			break
		}
		if err == nil && cr.InputOffset()-start > s.max() {
			line, _ := cr.FieldPos(0)
			s.tooLong(FormatCSV, int64(line))
			break
		}
		if errors.Is(err, errRecordTooLong) {
			s.tooLong(FormatCSV, lim.lines+1)
			break
		}
		if err != nil {
			s.res.problem(FormatCSV, csvErr(err))
			break
		}
		row++
		if len(rec) != len(s.res.header) {
			if short == 0 {
				firstShort, shortLen = row, len(rec)
			}
			short++
			continue
		}
		at := loc{s.file, row}
		for _, u := range uses {
			u.col.text(u.stats, rec[u.field], at)
		}
		if row%ctxEvery == 0 {
			if err := s.ctx.Err(); err != nil {
				return err
			}
		}
	}
	s.res.rows = row
	if short > 0 {
		s.res.problem(FormatCSV, fmt.Sprintf("row %d has %d fields, the header %d (%d %s with the wrong number of fields, not checked)",
			firstShort, shortLen, len(s.res.header), short, plural(short, "row", "rows")))
	}
	return drain()
}

// csvUse is a declared column of a CSV file: its field and its stats.
type csvUse struct {
	field int
	col   *column
	stats *colStats
}

// csvHeader reads the header row; ok is false when the file cannot be
// read past it (the problem is recorded).
func (s *scanner) csvHeader(cr *csv.Reader, lim *recordLimit) (uses []csvUse, ok bool) {
	header, err := cr.Read()
	switch {
	case err == nil && cr.InputOffset() > s.max():
		s.tooLong(FormatCSV, 1)
		return nil, false
	case err == io.EOF:
		s.res.problem(FormatCSV, "empty file: no header row")
		for i := range s.res.cols {
			s.res.cols[i].absent = true
		}
		return nil, false
	case errors.Is(err, errRecordTooLong):
		s.tooLong(FormatCSV, lim.lines+1)
		return nil, false
	case err != nil:
		s.res.problem(FormatCSV, csvErr(err))
		return nil, false
	}
	header = append([]string(nil), header...)
	if len(header) > 0 {
		header[0] = trimBOM(header[0])
	}
	s.res.header = header
	seen := map[string]int{}
	for i, h := range header {
		if _, dup := seen[h]; dup {
			s.res.problem(FormatCSV, fmt.Sprintf("column %s appears twice in the header", quoteData(h)))
			continue
		}
		seen[h] = i
		if _, ok := s.chk.byName[h]; !ok {
			s.res.extra = append(s.res.extra, h)
		}
	}
	for ci := range s.chk.cols {
		i, ok := seen[s.chk.cols[ci].name]
		if !ok {
			s.res.cols[ci].absent = true
			continue
		}
		uses = append(uses, csvUse{i, &s.chk.cols[ci], &s.res.cols[ci]})
	}
	return uses, true
}

func csvErr(err error) string {
	var pe *csv.ParseError
	if errors.As(err, &pe) {
		return fmt.Sprintf("line %d, column %d: %v", pe.Line, pe.Column, pe.Err)
	}
	return err.Error()
}

func trimBOM(s string) string {
	if len(s) >= 3 && s[0] == 0xEF && s[1] == 0xBB && s[2] == 0xBF {
		return s[3:]
	}
	return s
}

// maxExtraKeys bounds the undeclared keys a JSON-lines file reports.
const maxExtraKeys = 100

// jsonl reads a JSON-lines file: one JSON object per line; blank lines are
// skipped. A key missing from a row is a null in that row; a declared
// column is missing only when no row of any file has it.
func (s *scanner) jsonl(f io.Reader, hc *hashCounter, gz bool) error {
	r, drain, err := open(f, hc, gz)
	if err != nil {
		s.res.problem(FormatJSONL, err.Error())
		return drain()
	}
	br := r.(*bufio.Reader)
	present := make([]bool, len(s.chk.cols))
	extra := map[string]bool{}
	var line, bad, firstBad int64
	var badMsg string
	var obj map[string]json.RawMessage
	var buf []byte
	for {
		b, err := readLine(br, buf[:0], s.max())
		buf = b
		if err == errRecordTooLong {
			s.tooLong(FormatJSONL, line+1)
			break
		}
		if len(b) > 0 {
			line++
			b = bytes.TrimSpace(b)
			if len(b) > 0 {
				clear(obj)
				if uerr := json.Unmarshal(b, &obj); uerr != nil || obj == nil {
					if bad == 0 {
						firstBad, badMsg = line, "not a JSON object"
						if uerr != nil {
							badMsg = uerr.Error()
						}
					}
					bad++
				} else {
					s.res.rows++
					at := loc{s.file, line}
					for ci := range s.chk.cols {
						c := &s.chk.cols[ci]
						raw, ok := obj[c.name]
						if ok {
							present[ci] = true
						}
						c.json(&s.res.cols[ci], raw, at)
					}
					if len(extra) < maxExtraKeys {
						for k := range obj {
							if _, ok := s.chk.byName[k]; !ok {
								extra[k] = true
							}
						}
					}
				}
			}
			if line%ctxEvery == 0 {
				if err := s.ctx.Err(); err != nil {
					return err
				}
			}
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			s.res.problem(FormatJSONL, err.Error())
			break
		}
	}
	for ci := range s.chk.cols {
		if !present[ci] && s.res.rows > 0 {
			// Absent from every row of this file: nulls here; missing only
			// when no file has it (see finish).
			s.res.cols[ci].keyAbsent = true
		}
	}
	s.res.extra = slices.Sorted(maps.Keys(extra))
	s.res.header = nil
	if bad > 0 {
		s.res.problem(FormatJSONL, fmt.Sprintf("line %d: %s (%d %s, not checked)", firstBad, badMsg, bad, plural(bad, "line is not a JSON object", "lines are not JSON objects")))
	}
	return drain()
}

// readLine appends the next line of br, its newline included, to buf; a
// line longer than max returns errRecordTooLong, having read no more of it
// than max bytes and the reader's buffer.
func readLine(br *bufio.Reader, buf []byte, max int64) ([]byte, error) {
	for {
		chunk, err := br.ReadSlice('\n')
		if int64(len(buf)+len(chunk)) > max {
			return buf, errRecordTooLong
		}
		buf = append(buf, chunk...)
		if err != bufio.ErrBufferFull {
			return buf, err
		}
	}
}

// json checks one JSON value of the column; raw is nil when the key is
// absent.
func (c *column) json(s *colStats, raw json.RawMessage, at loc) {
	if len(raw) == 0 || string(raw) == "null" {
		s.null(at)
		return
	}
	kind := jsonKind(raw)
	switch c.spec.Type {
	case TypeString:
		if kind != "string" {
			s.badType(at, string(raw))
		}
	case TypeBool:
		if kind != "bool" {
			s.badType(at, string(raw))
		}
	case TypeTimestamp:
		var str string
		if kind != "string" || json.Unmarshal(raw, &str) != nil || !isTimestamp(str) {
			s.badType(at, string(raw))
		}
	case TypeInt:
		i, err := strconv.ParseInt(string(raw), 10, 64)
		if kind != "number" || err != nil {
			s.badType(at, string(raw))
			return
		}
		s.number(c, float64(i), at, string(raw))
	case TypeFloat:
		if kind != "number" {
			s.badType(at, string(raw))
			return
		}
		v, err := strconv.ParseFloat(string(raw), 64)
		if err != nil && !isRangeError(err) {
			s.badType(at, string(raw))
			return
		}
		s.number(c, v, at, string(raw))
	}
}

func jsonKind(raw json.RawMessage) string {
	switch raw[0] {
	case '"':
		return "string"
	case 't', 'f':
		return "bool"
	case '{':
		return "object"
	case '[':
		return "array"
	}
	return "number"
}

// text counts the lines of a text file; a last line without a newline
// counts.
func (s *scanner) text(f io.Reader, hc *hashCounter, gz bool) error {
	r, drain, err := open(f, hc, gz)
	if err != nil {
		s.res.problem(FormatText, err.Error())
		return drain()
	}
	buf := make([]byte, readBuffer)
	var lines, cur int64 // cur: the bytes of the last line so far
	last := byte('\n')
	for {
		n, err := r.Read(buf)
		if n > 0 {
			nl, after, long := countLines(buf[:n], cur, s.max())
			if long {
				s.tooLong(FormatText, lines+nl+1)
				s.res.rows = lines + nl
				return drain()
			}
			lines, cur = lines+nl, after
			last = buf[n-1]
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			s.res.problem(FormatText, err.Error())
			break
		}
		if err := s.ctx.Err(); err != nil {
			return err
		}
	}
	if last != '\n' {
		lines++
	}
	s.res.rows = lines
	return drain()
}

// countLines counts the newlines of b, read after cur bytes of a line,
// and returns how many bytes of a line follow the last; long is true when
// a line is longer than max, n then counting the lines before it.
func countLines(b []byte, cur, max int64) (n, after int64, long bool) {
	for {
		i := bytes.IndexByte(b, '\n')
		if i < 0 {
			cur += int64(len(b))
			return n, cur, cur > max
		}
		if cur+int64(i)+1 > max {
			return n, 0, true
		}
		n, cur, b = n+1, 0, b[i+1:]
	}
}

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// maskedCRC is TFRecord's masked CRC-32C.
func maskedCRC(b []byte) uint32 {
	c := crc32.Checksum(b, castagnoli)
	return (c>>15 | c<<17) + 0xa282ead8
}

// tfrecord counts the records of a TFRecord file and checks their framing
// and checksums: each record is a little-endian uint64 length, the masked
// CRC-32C of those 8 bytes, the data, and the masked CRC-32C of the data.
func (s *scanner) tfrecord(f io.Reader, hc *hashCounter, gz bool) error {
	r, drain, err := open(f, hc, gz)
	if err != nil {
		s.res.problem(FormatTFRecord, err.Error())
		return drain()
	}
	var head [12]byte
	var data []byte
	var foot [4]byte
	for {
		if _, err := io.ReadFull(r, head[:]); err != nil {
			if err != io.EOF {
				s.res.problem(FormatTFRecord, fmt.Sprintf("record %d: truncated header", s.res.rows+1))
			}
			break
		}
		n := binary.LittleEndian.Uint64(head[:8])
		if binary.LittleEndian.Uint32(head[8:]) != maskedCRC(head[:8]) {
			s.res.problem(FormatTFRecord, fmt.Sprintf("record %d: length checksum mismatch", s.res.rows+1))
			break
		}
		if n > 1<<34 {
			s.res.problem(FormatTFRecord, fmt.Sprintf("record %d: length %d is implausible", s.res.rows+1, n))
			break
		}
		if uint64(cap(data)) < n {
			data = make([]byte, n)
		}
		data = data[:n]
		if _, err := io.ReadFull(r, data); err != nil {
			s.res.problem(FormatTFRecord, fmt.Sprintf("record %d: truncated data", s.res.rows+1))
			break
		}
		if _, err := io.ReadFull(r, foot[:]); err != nil {
			s.res.problem(FormatTFRecord, fmt.Sprintf("record %d: truncated checksum", s.res.rows+1))
			break
		}
		if binary.LittleEndian.Uint32(foot[:]) != maskedCRC(data) {
			s.res.problem(FormatTFRecord, fmt.Sprintf("record %d: data checksum mismatch", s.res.rows+1))
			break
		}
		s.res.rows++
		if s.res.rows%ctxEvery == 0 {
			if err := s.ctx.Err(); err != nil {
				return err
			}
		}
	}
	return drain()
}
