package lineage

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"
	"time"
)

// DatasetSnapshot is the predicate of type PredicateDatasetSnapshot: one
// dataset as the run read it.
type DatasetSnapshot struct {
	// Name is the dataset's name in the spec.
	Name string `json:"name"`
	URI  string `json:"uri"`
	// SnapshotID is the snapshot the spec names, if any.
	SnapshotID string `json:"snapshotId,omitempty"`
	Format     string `json:"format,omitempty"`
	// Digest is the content digest: the sha256 of the file manifest (see
	// ContentDigest).
	Digest DigestSet `json:"digest"`
	Files  int       `json:"files"`
	Bytes  int64     `json:"bytes"`
	Rows   int64     `json:"rows"`
	// SchemaDigest is the sha256 of the column schema (see SchemaDigest);
	// absent when the spec declares no columns.
	SchemaDigest DigestSet   `json:"schemaDigest,omitempty"`
	Sensitivity  Sensitivity `json:"sensitivity"`
	// DerivedFrom are the URIs of the datasets this one was made from.
	DerivedFrom []string `json:"derivedFrom,omitempty"`
	// CapturedOn is when the files were hashed.
	CapturedOn *time.Time `json:"capturedOn,omitempty"`
}

// Sensitivity says whether a dataset holds personal information.
type Sensitivity struct {
	// PII is true when the dataset, or one of its columns, is marked pii.
	PII bool `json:"pii"`
	// PIIColumns are the columns marked pii, sorted.
	PIIColumns []string `json:"piiColumns,omitempty"`
}

// File is one file of a dataset snapshot.
type File struct {
	// Path is relative to the dataset's root, with forward slashes.
	Path string
	// Digest is the file's sha256, "sha256:<hex>" or bare hex.
	Digest string
	Size   int64
}

// Column is one column of a dataset's schema, as the spec declares it.
type Column struct {
	Nullable bool   `json:"nullable"`
	PII      bool   `json:"pii"`
	Type     string `json:"type"`
}

// SnapshotInput is what the validate-data step knows about a dataset.
type SnapshotInput struct {
	Name, URI, Snapshot, Format string
	Files                       []File
	Rows                        int64
	Columns                     map[string]Column
	// PII is the dataset's own pii mark.
	PII         bool
	DerivedFrom []string
	Captured    time.Time
}

// NewDatasetSnapshot returns the dataset-snapshot predicate, computing the
// content digest of the files and the digest of the column schema.
func NewDatasetSnapshot(in SnapshotInput) (*DatasetSnapshot, error) {
	var errs []error
	if in.Name == "" || in.URI == "" {
		errs = append(errs, fmt.Errorf("want a name and a URI"))
	}
	if in.Rows < 0 {
		errs = append(errs, fmt.Errorf("rows: %d is negative", in.Rows))
	}
	digest, _, err := ContentDigest(in.Files)
	if err != nil {
		errs = append(errs, err)
	}
	s := &DatasetSnapshot{
		Name:        in.Name,
		URI:         in.URI,
		SnapshotID:  in.Snapshot,
		Format:      in.Format,
		Files:       len(in.Files),
		Rows:        in.Rows,
		Sensitivity: Sensitivity{PII: in.PII},
		DerivedFrom: in.DerivedFrom,
		CapturedOn:  utc(in.Captured),
	}
	if err == nil {
		s.Digest, _ = ParseDigest(digest)
	}
	for _, f := range in.Files {
		s.Bytes += f.Size
	}
	if len(in.Columns) > 0 {
		sd, err := SchemaDigest(in.Columns)
		if err != nil {
			errs = append(errs, err)
		} else {
			s.SchemaDigest, _ = ParseDigest(sd)
		}
	}
	for _, c := range slices.Sorted(maps.Keys(in.Columns)) {
		if in.Columns[c].PII {
			s.Sensitivity.PII = true
			s.Sensitivity.PIIColumns = append(s.Sensitivity.PIIColumns, c)
		}
	}
	if len(errs) > 0 {
		return nil, fmt.Errorf("dataset snapshot %q: %w", in.Name, errors.Join(errs...))
	}
	return s, nil
}

// ContentDigest returns the content digest of a dataset's files,
// "sha256:<hex>", and the manifest it is the digest of (see Manifest): the
// output of
//
//	find . -type f -printf '%P\n' | LC_ALL=C sort | xargs -d '\n' sha256sum
//
// in the dataset's folder. An empty path, a digest that is not sha256, a
// path listed twice and an empty list are refused.
func ContentDigest(files []File) (string, []byte, error) {
	if len(files) == 0 {
		return "", nil, fmt.Errorf("no files")
	}
	seen := make(map[string]bool, len(files))
	for _, f := range files {
		if f.Path == "" {
			return "", nil, fmt.Errorf("a file with no path")
		}
		if seen[f.Path] {
			return "", nil, fmt.Errorf("file %s: listed twice", f.Path)
		}
		seen[f.Path] = true
		if h := strings.TrimPrefix(f.Digest, "sha256:"); len(h) != 64 || !hexRE.MatchString(h) {
			return "", nil, fmt.Errorf("file %s: digest %q: want sha256:<64 hex digits>", f.Path, f.Digest)
		}
	}
	m := Manifest(files)
	sum := sha256.Sum256(m)
	return "sha256:" + hex.EncodeToString(sum[:]), m, nil
}

// Manifest returns the snapshot manifest of files in sha256sum's format,
// so "sha256sum -c" run in the dataset's folder checks it: one line per
// file, sorted by path (byte order), "<sha256 hex>  <path>\n", the path
// relative to the dataset's folder with forward slashes. As sha256sum
// does, a path holding a backslash, a newline or a carriage return is
// written with "\\", "\n" and "\r" and its line starts with a backslash.
// A digest may carry its "sha256:" prefix; digests are not checked.
func Manifest(files []File) []byte {
	sorted := append([]File(nil), files...)
	sort.Slice(sorted, func(i, j int) bool { return sorted[i].Path < sorted[j].Path })
	var b bytes.Buffer
	for _, f := range sorted {
		p := f.Path
		if strings.ContainsAny(p, "\\\n\r") {
			b.WriteByte('\\')
			p = strings.NewReplacer(`\`, `\\`, "\n", `\n`, "\r", `\r`).Replace(p)
		}
		b.WriteString(strings.TrimPrefix(f.Digest, "sha256:"))
		b.WriteString("  ")
		b.WriteString(p)
		b.WriteByte('\n')
	}
	return b.Bytes()
}

// SchemaDigest returns "sha256:<hex>" of the column schema's canonical
// JSON: an object from column name to {"nullable","pii","type"}, every
// key sorted, compact, no insignificant space.
func SchemaDigest(columns map[string]Column) (string, error) {
	raw, err := marshal(columns)
	if err != nil {
		return "", fmt.Errorf("column schema: %w", err)
	}
	sum := sha256.Sum256(raw)
	return "sha256:" + hex.EncodeToString(sum[:]), nil
}

// validate checks the fields the dataset-snapshot predicate requires.
func (s *DatasetSnapshot) validate() error {
	if s.Name == "" || s.URI == "" {
		return fmt.Errorf("want name and uri")
	}
	if len(s.Digest) == 0 {
		return fmt.Errorf("no content digest")
	}
	return nil
}
