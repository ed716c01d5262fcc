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
// "sha256:<hex>", and the manifest it is the digest of: one line per
// file, sorted by path (bytewise), each "<sha256 hex>  <path>\n", the
// output of
//
//	find . -type f -printf '%P\n' | LC_ALL=C sort | xargs -d '\n' sha256sum
//
// in the dataset's folder. Paths holding a newline, a carriage return or
// a backslash, which sha256sum would escape, are refused, and so is a path
// listed twice.
func ContentDigest(files []File) (string, []byte, error) {
	type line struct{ path, hex string }
	lines := make([]line, 0, len(files))
	for _, f := range files {
		if f.Path == "" || strings.ContainsAny(f.Path, "\n\r\\") {
			return "", nil, fmt.Errorf("file %q: a path must be non-empty and hold no newline, carriage return or backslash", f.Path)
		}
		h := strings.TrimPrefix(f.Digest, "sha256:")
		if len(h) != 64 || !hexRE.MatchString(h) {
			return "", nil, fmt.Errorf("file %s: digest %q: want sha256:<64 hex digits>", f.Path, f.Digest)
		}
		lines = append(lines, line{f.Path, h})
	}
	if len(lines) == 0 {
		return "", nil, fmt.Errorf("no files")
	}
	sort.Slice(lines, func(i, j int) bool { return lines[i].path < lines[j].path })
	var buf bytes.Buffer
	for i, l := range lines {
		if i > 0 && lines[i-1].path == l.path {
			return "", nil, fmt.Errorf("file %s: listed twice", l.path)
		}
		buf.WriteString(l.hex + "  " + l.path + "\n")
	}
	sum := sha256.Sum256(buf.Bytes())
	return "sha256:" + hex.EncodeToString(sum[:]), buf.Bytes(), nil
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
