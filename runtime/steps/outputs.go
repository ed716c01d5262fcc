package steps

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"text/tabwriter"

	"cairn.dev/cairn/internal/atomicfile"
)

// Output files of validate-data.
const (
	DigestFile   = "digest"          // "sha256:<hex>", no newline: the workflow's output parameter
	SnapshotFile = "snapshot.json"   // the Snapshot
	ManifestFile = "manifest.sha256" // the Manifest the digest is computed over
)

// WriteOutputs writes the snapshot's digest, snapshot.json and manifest
// into dir, creating it. Each file is written under a temporary name and
// renamed, the digest last, so a reader never sees a partial file.
func (s *Snapshot) WriteOutputs(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	var js bytes.Buffer
	enc := json.NewEncoder(&js)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	if err := enc.Encode(s); err != nil {
		return err
	}
	for _, f := range []struct {
		name string
		data []byte
	}{
		{ManifestFile, Manifest(s.Manifest)},
		{SnapshotFile, js.Bytes()},
		{DigestFile, []byte(s.Digest)},
	} {
		if err := atomicfile.Write(filepath.Join(dir, f.name), f.data, 0o644); err != nil {
			return err
		}
	}
	return nil
}

// WriteSummary prints a short account of the snapshot: totals, the digest
// and a table of the declared columns.
func (s *Snapshot) WriteSummary(w io.Writer) error {
	fmt.Fprintf(w, "dataset %s: %d rows in %d %s (%s), %d %s passed\n",
		showData(s.Name), s.Rows, s.Files, plural(int64(s.Files), "file", "files"), humanBytes(s.Bytes),
		len(s.Checks), plural(int64(len(s.Checks)), "check", "checks"))
	fmt.Fprintf(w, "digest %s\n", s.Digest)
	if len(s.Columns) > 0 {
		var tb bytes.Buffer
		tw := tabwriter.NewWriter(&tb, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "COLUMN\tTYPE\tNULLS\tMIN\tMAX\t")
		for _, c := range s.Columns {
			name := showData(c.Name)
			if c.PII {
				name += " (pii)"
			}
			typ := c.Type
			if !c.Nullable {
				typ += " not null"
			}
			fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\t\n", name, typ, c.Nulls, shorten(c.Min), shorten(c.Max))
		}
		tw.Flush()
		if _, err := w.Write(trimLines(tb.Bytes())); err != nil {
			return err
		}
	}
	if len(s.ExtraColumns) > 0 {
		fmt.Fprintf(w, "undeclared columns: %s\n", nameList(s.ExtraColumns, 20))
	}
	for _, n := range s.Notes {
		fmt.Fprintf(w, "note: %s\n", escapeControls(n))
	}
	return nil
}

// trimLines removes the spaces at the ends of lines.
func trimLines(b []byte) []byte {
	lines := bytes.SplitAfter(b, []byte("\n"))
	var out []byte
	for _, l := range lines {
		nl := bytes.HasSuffix(l, []byte("\n"))
		l = bytes.TrimRight(l, " \n")
		out = append(out, l...)
		if nl {
			out = append(out, '\n')
		}
	}
	return out
}

func humanBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return strconv.FormatInt(n, 10) + " B"
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}
