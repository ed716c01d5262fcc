package steps

import (
	"compress/gzip"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"cairn.dev/cairn/internal/atomicfile"
)

// Drift compares the distribution of recent feature values with the
// training snapshot by population stability index (PSI). For each feature,
// with r_i and c_i the shares of the reference and current rows in bin i,
//
//	PSI = Σ_i (c_i − r_i) · ln(c_i / r_i)
//
// where a share of 0 (an empty bin) counts as DriftEpsilon so that the
// logarithm stays finite. A numeric feature has DriftBins bins cut at the
// reference's deciles: edge k (k = 1..9) is the reference value of
// nearest rank ⌈k·n/10⌉ in sorted order, equal edges merged, and a value
// falls in the first bin whose edge is ≥ it (the last bin is open). A
// categorical feature has one bin per category seen in either dataset.
// Empty cells are skipped. A feature has drifted when its PSI exceeds the
// threshold (0.1 is a moderate shift, 0.2 a significant one by the usual
// rule of thumb).
const (
	DriftBins    = 10
	DriftEpsilon = 1e-4
)

// Feature kinds of a drift report.
const (
	KindNumeric     = "numeric"
	KindCategorical = "categorical"
)

// DriftOptions are the drift step's inputs.
type DriftOptions struct {
	// Reference and Current are CSV datasets: a file or a folder of CSV
	// files, local or in an object store.
	Reference, Current string
	// Features to compare; empty compares every column both hold.
	Features  []string
	Threshold float64
	// MaxRecordBytes is the longest CSV record read; 0 means
	// DefaultMaxRecordBytes.
	MaxRecordBytes int64
}

// DriftReport is what the drift step found, written as JSON.
type DriftReport struct {
	Reference string         `json:"reference"`
	Current   string         `json:"current"`
	Threshold float64        `json:"threshold"`
	Drifted   bool           `json:"drifted"`
	Features  []FeatureDrift `json:"features"`
}

// FeatureDrift is one feature's comparison.
type FeatureDrift struct {
	Name          string  `json:"name"`
	Kind          string  `json:"kind"`
	PSI           float64 `json:"psi"`
	Drifted       bool    `json:"drifted"`
	ReferenceRows int     `json:"referenceRows"`
	CurrentRows   int     `json:"currentRows"`
	// Edges are a numeric feature's bin edges; Bins name the categories
	// of a categorical one.
	Edges []float64 `json:"edges,omitempty"`
	Bins  []string  `json:"categories,omitempty"`
}

// DriftedFeatures returns the names of the features that drifted.
func (r *DriftReport) DriftedFeatures() []string {
	var out []string
	for _, f := range r.Features {
		if f.Drifted {
			out = append(out, f.Name)
		}
	}
	return out
}

// Drift reads both datasets and computes the PSI of each feature.
func Drift(ctx context.Context, o DriftOptions) (*DriftReport, error) {
	if o.Threshold <= 0 {
		return nil, fmt.Errorf("drift: threshold %v: want a number above 0", o.Threshold)
	}
	maxRecord := o.MaxRecordBytes
	if maxRecord <= 0 {
		maxRecord = DefaultMaxRecordBytes
	}
	ref, err := readColumns(ctx, o.Reference, maxRecord)
	if err != nil {
		return nil, fmt.Errorf("drift: reference: %w", err)
	}
	cur, err := readColumns(ctx, o.Current, maxRecord)
	if err != nil {
		return nil, fmt.Errorf("drift: current: %w", err)
	}
	feats := o.Features
	if len(feats) == 0 {
		for name := range ref {
			if _, ok := cur[name]; ok {
				feats = append(feats, name)
			}
		}
		sort.Strings(feats)
		if len(feats) == 0 {
			return nil, errors.New("drift: the datasets share no column")
		}
	}
	rep := &DriftReport{Reference: o.Reference, Current: o.Current, Threshold: o.Threshold}
	for _, name := range feats {
		r, ok := ref[name]
		if !ok {
			return nil, fmt.Errorf("drift: feature %s is not a column of the reference %s", quoteData(name), showData(o.Reference))
		}
		c, ok := cur[name]
		if !ok {
			return nil, fmt.Errorf("drift: feature %s is not a column of the current data %s", quoteData(name), showData(o.Current))
		}
		r, c = nonEmpty(r), nonEmpty(c)
		if len(r) == 0 || len(c) == 0 {
			return nil, fmt.Errorf("drift: feature %s has no values in the reference or the current data", quoteData(name))
		}
		f := FeatureDrift{Name: name, ReferenceRows: len(r), CurrentRows: len(c)}
		rn, rok := numbers(r)
		cn, cok := numbers(c)
		if rok && cok {
			f.Kind = KindNumeric
			f.PSI, f.Edges = NumericPSI(rn, cn)
		} else {
			f.Kind = KindCategorical
			f.PSI, f.Bins = CategoricalPSI(r, c)
		}
		f.PSI = round(f.PSI)
		f.Drifted = f.PSI > o.Threshold
		rep.Drifted = rep.Drifted || f.Drifted
		rep.Features = append(rep.Features, f)
	}
	return rep, nil
}

// NumericPSI returns the PSI of current against reference over the
// reference's decile bins, and the bin edges.
func NumericPSI(reference, current []float64) (float64, []float64) {
	sorted := append([]float64(nil), reference...)
	sort.Float64s(sorted)
	n := len(sorted)
	var edges []float64
	for k := 1; k < DriftBins; k++ {
		rank := int(math.Ceil(float64(k*n) / DriftBins))
		e := sorted[max(rank, 1)-1]
		if len(edges) == 0 || e > edges[len(edges)-1] {
			edges = append(edges, e)
		}
	}
	count := func(vals []float64) []float64 {
		c := make([]float64, len(edges)+1)
		for _, v := range vals {
			c[sort.SearchFloat64s(edges, v)]++ // first edge >= v
		}
		return shares(c, len(vals))
	}
	return psi(count(reference), count(current)), edges
}

// CategoricalPSI returns the PSI of current against reference over the
// categories of both, and the categories, sorted.
func CategoricalPSI(reference, current []string) (float64, []string) {
	seen := map[string]bool{}
	for _, v := range reference {
		seen[v] = true
	}
	for _, v := range current {
		seen[v] = true
	}
	cats := make([]string, 0, len(seen))
	for c := range seen {
		cats = append(cats, c)
	}
	sort.Strings(cats)
	index := map[string]int{}
	for i, c := range cats {
		index[c] = i
	}
	count := func(vals []string) []float64 {
		c := make([]float64, len(cats))
		for _, v := range vals {
			c[index[v]]++
		}
		return shares(c, len(vals))
	}
	return psi(count(reference), count(current)), cats
}

func shares(counts []float64, n int) []float64 {
	for i := range counts {
		counts[i] /= float64(n)
	}
	return counts
}

// psi sums (c − r)·ln(c/r) over the bins, empty bins counting as
// DriftEpsilon.
func psi(r, c []float64) float64 {
	sum := 0.0
	for i := range r {
		ri, ci := math.Max(r[i], DriftEpsilon), math.Max(c[i], DriftEpsilon)
		sum += (ci - ri) * math.Log(ci/ri)
	}
	return sum
}

func round(v float64) float64 { return math.Round(v*1e6) / 1e6 }

func nonEmpty(vals []string) []string {
	out := vals[:0:0]
	for _, v := range vals {
		if v = strings.TrimSpace(v); v != "" {
			out = append(out, v)
		}
	}
	return out
}

// numbers parses every value as a number; false when one is not.
func numbers(vals []string) ([]float64, bool) {
	out := make([]float64, len(vals))
	for i, v := range vals {
		f, err := strconv.ParseFloat(v, 64)
		if err != nil || math.IsNaN(f) {
			return nil, false
		}
		out[i] = f
	}
	return out, true
}

// readColumns reads a CSV dataset (a file or a folder of .csv and .csv.gz
// files) into its columns by header name; a record longer than
// maxRecord bytes is an error.
func readColumns(ctx context.Context, location string, maxRecord int64) (map[string][]string, error) {
	dir, cleanup, err := FetchFolder(ctx, location)
	if err != nil {
		return nil, err
	}
	defer cleanup()
	files, err := listFiles(dir, FormatCSV)
	if err != nil {
		return nil, err
	}
	cols := map[string][]string{}
	for _, f := range files {
		if err := readCSVColumns(f.path, cols, maxRecord); err != nil {
			return nil, err
		}
	}
	return cols, nil
}

func readCSVColumns(path string, cols map[string][]string, maxRecord int64) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	var r io.Reader = f
	if strings.HasSuffix(strings.ToLower(path), ".gz") {
		gz, err := gzip.NewReader(f)
		if err != nil {
			return fmt.Errorf("%s: %w", showData(path), err)
		}
		defer gz.Close()
		r = gz
	}
	lim := newRecordLimit(r, maxRecord)
	cr := csv.NewReader(lim)
	cr.ReuseRecord = true
	header, err := cr.Read()
	if err := recordErr(path, cr, lim, 0, maxRecord, err); err != nil {
		return fmt.Errorf("%s: reading the header: %w", showData(path), err)
	}
	names := make([]string, len(header))
	for i, h := range header {
		names[i] = strings.TrimSpace(strings.TrimPrefix(h, "\ufeff"))
	}
	for {
		start := cr.InputOffset()
		lim.next(start)
		rec, err := cr.Read()
		if err == io.EOF {
			return nil
		}
		if err := recordErr(path, cr, lim, start, maxRecord, err); err != nil {
			return fmt.Errorf("%s: %w", showData(path), err)
		}
		for i, v := range rec {
			cols[names[i]] = append(cols[names[i]], v)
		}
	}
}

// recordErr returns err, or an error naming the line when the record read
// from start is longer than maxRecord.
func recordErr(path string, cr *csv.Reader, lim *recordLimit, start, maxRecord int64, err error) error {
	line := lim.lines + 1
	if err == nil && cr.InputOffset()-start > maxRecord {
		l, _ := cr.FieldPos(0)
		err, line = errRecordTooLong, int64(l)
	}
	if errors.Is(err, errRecordTooLong) {
		return fmt.Errorf("line %d: a record longer than the maximum of %s (%d bytes)", line, humanBytes(maxRecord), maxRecord)
	}
	return err
}

// WriteDriftOutputs writes the report as JSON to report (when set) and
// "true" or "false" to <outputs>/drifted (when outputs is set), which the
// drift CronWorkflow's retrain step is conditioned on.
func (r *DriftReport) WriteDriftOutputs(report, outputs string) error {
	if report != "" {
		data, err := json.MarshalIndent(r, "", "  ")
		if err != nil {
			return err
		}
		if err := os.MkdirAll(filepath.Dir(report), 0o755); err != nil {
			return err
		}
		if err := atomicfile.Write(report, append(data, '\n'), 0o644); err != nil {
			return err
		}
	}
	if outputs != "" {
		if err := os.MkdirAll(outputs, 0o755); err != nil {
			return err
		}
		return atomicfile.Write(filepath.Join(outputs, "drifted"), []byte(strconv.FormatBool(r.Drifted)), 0o644)
	}
	return nil
}

// WriteSummary prints one line per feature: name, kind, PSI, verdict.
func (r *DriftReport) WriteSummary(w io.Writer) error {
	for _, f := range r.Features {
		verdict := "ok"
		if f.Drifted {
			verdict = "drift"
		}
		if _, err := fmt.Fprintf(w, "%-24s %-11s psi %-10s %s\n", showData(f.Name), f.Kind, strconv.FormatFloat(f.PSI, 'f', 4, 64), verdict); err != nil {
			return err
		}
	}
	return nil
}
