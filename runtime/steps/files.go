package steps

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"sort"
	"strings"

	"cairn.dev/cairn/attest/lineage"
)

// objectStores are URI schemes of object stores and remote file systems;
// those of objectSchemes are read through gocloud.dev/blob, not as local
// paths.
var objectStores = map[string]bool{
	"s3": true, "s3a": true, "s3n": true, "gs": true, "gcs": true, "az": true, "azure": true,
	"abfs": true, "abfss": true, "wasb": true, "wasbs": true, "adl": true, "hdfs": true,
	"oss": true, "cos": true, "r2": true, "http": true, "https": true, "hf": true,
}

var schemeRE = regexp.MustCompile(`^([a-zA-Z][a-zA-Z0-9+.-]*)://`)

// LocalPath returns the local file or folder a dataset location names: a
// path, or a file:// URI. Object-store URIs (s3://, gs://, ...) are refused
// with an error that names them: they are not local paths (see
// IsObjectStore).
func LocalPath(location string) (string, error) {
	if location == "" {
		return "", fmt.Errorf("no location given")
	}
	m := schemeRE.FindStringSubmatch(location)
	if m == nil {
		return location, nil
	}
	scheme := strings.ToLower(m[1])
	switch {
	case scheme == "file":
		u, err := url.Parse(location)
		if err != nil {
			return "", fmt.Errorf("%s: %w", location, err)
		}
		if u.Host != "" && u.Host != "localhost" {
			return "", fmt.Errorf("%s: file URIs must name a local path (file:///path), not host %q", location, u.Host)
		}
		if u.Path == "" {
			return "", fmt.Errorf("%s: no path", location)
		}
		return filepath.FromSlash(u.Path), nil
	case objectSchemes[scheme] != "":
		return "", fmt.Errorf("%s: an object-store URI (%s://), not a local path", location, scheme)
	case objectStores[scheme]:
		return "", fmt.Errorf("%s: %s:// is not read (object stores are read as s3://, gs://, azblob:// or az:// URIs); use a local copy", location, scheme)
	}
	return "", fmt.Errorf("%s: unsupported URI scheme %q (want a local path or a file:// URI)", location, scheme)
}

// Extensions returns the file name endings of a format's data files.
func Extensions(format string) []string {
	switch format {
	case FormatCSV:
		return []string{".csv", ".csv.gz"}
	case FormatParquet:
		return []string{".parquet"}
	case FormatJSONL:
		return []string{".jsonl", ".ndjson", ".jsonl.gz", ".ndjson.gz"}
	case FormatText:
		return []string{".txt", ".txt.gz"}
	case FormatTFRecord:
		return []string{".tfrecord", ".tfrecords", ".tfrecord.gz", ".tfrecords.gz"}
	}
	return nil
}

// dataFile is one file of a dataset: its path on disk, or its key in the
// object store, and its path in the manifest.
type dataFile struct {
	path string // on disk, or the object's key
	rel  string // relative to the dataset's folder, with forward slashes; the base name for a single file
	size int64
}

// listFiles returns the data files of a dataset at path, sorted by their
// manifest path. A file is taken as it is, whatever its name; a folder is
// walked for regular files, or links to them, whose names end with one of
// the format's extensions (links to folders below it are not followed);
// names starting with "." or "_" (hidden files, _SUCCESS markers,
// _delta_log) are skipped along with what they hold.
func listFiles(path, format string) ([]dataFile, error) {
	fi, err := os.Stat(path)
	if err != nil {
		if os.IsNotExist(err) {
			return nil, fmt.Errorf("%s: no such file or folder", path)
		}
		return nil, err
	}
	if !fi.IsDir() {
		if !fi.Mode().IsRegular() {
			return nil, fmt.Errorf("%s: not a regular file or a folder", path)
		}
		return []dataFile{{path: path, rel: filepath.Base(path), size: fi.Size()}}, nil
	}
	if real, err := filepath.EvalSymlinks(path); err == nil {
		path = real // WalkDir does not descend into a link, even at the root
	}
	exts := Extensions(format)
	var files []dataFile
	err = filepath.WalkDir(path, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if p == path {
			return nil
		}
		name := d.Name()
		if strings.HasPrefix(name, ".") || strings.HasPrefix(name, "_") {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		if d.IsDir() || !hasExt(name, exts) {
			return nil
		}
		info, err := os.Stat(p) // follows a link to a file
		if err != nil {
			return err
		}
		if !info.Mode().IsRegular() {
			return nil
		}
		rel, err := filepath.Rel(path, p)
		if err != nil {
			return err
		}
		files = append(files, dataFile{path: p, rel: filepath.ToSlash(rel), size: info.Size()})
		return nil
	})
	if err != nil {
		return nil, err
	}
	if len(files) == 0 && format == "" {
		return nil, fmt.Errorf("%s: no files", path)
	}
	if len(files) == 0 {
		return nil, fmt.Errorf("%s: no %s files (names ending in %s)", path, format, strings.Join(exts, ", "))
	}
	sort.Slice(files, func(i, j int) bool { return files[i].rel < files[j].rel })
	return files, nil
}

func hasExt(name string, exts []string) bool {
	if len(exts) == 0 {
		return true // no format: every file
	}
	l := strings.ToLower(name)
	for _, e := range exts {
		if strings.HasSuffix(l, e) && len(l) > len(e) {
			return true
		}
	}
	return false
}

// FileDigest is the content digest of one file of a dataset.
type FileDigest struct {
	Path   string `json:"path"`   // relative to the dataset's folder, forward slashes
	SHA256 string `json:"sha256"` // lower-case hex
	Size   int64  `json:"size"`
}

// Manifest returns the snapshot manifest of files: lineage.Manifest, the
// format of sha256sum's output.
func Manifest(files []FileDigest) []byte {
	lf := make([]lineage.File, len(files))
	for i, f := range files {
		lf[i] = lineage.File{Path: f.Path, Digest: f.SHA256, Size: f.Size}
	}
	return lineage.Manifest(lf)
}

// SnapshotDigest returns the content digest of a dataset snapshot,
// "sha256:<hex>" of its Manifest: the same files give the same digest
// whatever the folder they are in, the order they were written in or the
// machine.
func SnapshotDigest(files []FileDigest) string {
	sum := sha256.Sum256(Manifest(files))
	return "sha256:" + hex.EncodeToString(sum[:])
}

// DigestLocation hashes the data files of a dataset of the given format at
// location (a path, a file:// URI or an object-store URI) without checking
// their content; format "" takes every file (a feature output of no
// declared format). The same files give the same digests wherever they
// are: manifest paths are relative to the folder or the prefix.
func DigestLocation(ctx context.Context, location, format string) ([]FileDigest, error) {
	if IsObjectStore(location) {
		return digestObjects(ctx, location, format)
	}
	path, err := LocalPath(location)
	if err != nil {
		return nil, err
	}
	files, err := listFiles(path, format)
	if err != nil {
		return nil, err
	}
	out := make([]FileDigest, len(files))
	err = forEach(ctx, len(files), 0, func(i int) error {
		f, err := os.Open(files[i].path)
		if err != nil {
			return err
		}
		defer f.Close()
		h := sha256.New()
		n, err := io.Copy(h, f)
		if err != nil {
			return fmt.Errorf("%s: %w", files[i].path, err)
		}
		out[i] = FileDigest{Path: files[i].rel, SHA256: hex.EncodeToString(h.Sum(nil)), Size: n}
		return nil
	})
	return out, err
}

// digestObjects is DigestLocation of an object-store prefix: each object
// streamed through the hash, several at once.
func digestObjects(ctx context.Context, location, format string) ([]FileDigest, error) {
	o, err := openObjectStore(ctx, location)
	if err != nil {
		return nil, err
	}
	defer o.Close()
	files, err := o.listFiles(ctx, format)
	if err != nil {
		return nil, err
	}
	out := make([]FileDigest, len(files))
	err = forEach(ctx, len(files), max(runtime.GOMAXPROCS(0), objectConcurrency), func(i int) error {
		r, err := o.open(ctx, files[i].path)
		if err != nil {
			return err
		}
		defer r.Close()
		h := sha256.New()
		n, err := io.CopyBuffer(h, r, make([]byte, readBuffer))
		if err != nil {
			return err
		}
		out[i] = FileDigest{Path: files[i].rel, SHA256: hex.EncodeToString(h.Sum(nil)), Size: n}
		return nil
	})
	return out, err
}
