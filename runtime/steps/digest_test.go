package steps

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"testing"
)

func TestManifestFormat(t *testing.T) {
	files := []FileDigest{
		{Path: "sub/b.csv", SHA256: "bb"},
		{Path: "a.csv", SHA256: "aa"},
		{Path: "odd\\name\n.csv", SHA256: "cc"},
	}
	got := string(Manifest(files))
	want := "aa  a.csv\n" + "\\cc  odd\\\\name\\n.csv\n" + "bb  sub/b.csv\n"
	if got != want {
		t.Errorf("Manifest = %q, want %q", got, want)
	}
	sum := sha256.Sum256([]byte(want))
	if d := SnapshotDigest(files); d != "sha256:"+hex.EncodeToString(sum[:]) {
		t.Errorf("SnapshotDigest = %s, want the sha256 of the manifest", d)
	}
	if SnapshotDigest(nil) != "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855" {
		t.Errorf("SnapshotDigest(nil) = %s, want the digest of no bytes", SnapshotDigest(nil))
	}
}

// snapshotDigest validates the CSV dataset at dir and returns its digest.
func snapshotDigest(t *testing.T, dir string) string {
	t.Helper()
	snap, failures := validate(t, fraudSpec(dir, 1), "")
	if len(failures) > 0 {
		t.Fatalf("failures: %q", failureStrings(failures))
	}
	return snap.Digest
}

func TestSnapshotDigestStable(t *testing.T) {
	a := map[string]string{"part-00000.csv": goodCSV(50, 0), "part-00001.csv": goodCSV(50, 50), "x/part-00002.csv": goodCSV(5, 100)}
	order := []string{"x/part-00002.csv", "part-00001.csv", "part-00000.csv"}

	d1 := filepath.Join(t.TempDir(), "one")
	writeFiles(t, d1, a)
	// Another folder, another name, files written in another order.
	d2 := filepath.Join(t.TempDir(), "elsewhere", "two")
	for _, name := range order {
		writeFiles(t, d2, map[string]string{name: a[name]})
	}
	first := snapshotDigest(t, d1)
	if second := snapshotDigest(t, d2); second != first {
		t.Errorf("digest in another folder and order %s, want %s", second, first)
	}
	files, err := DigestLocation(context.Background(), d2, FormatCSV)
	if err != nil {
		t.Fatal(err)
	}
	if d := SnapshotDigest(files); d != first {
		t.Errorf("DigestLocation gives %s, ValidateData %s", d, first)
	}
	// Concurrency does not change it.
	snap, _, err := ValidateDataWith(context.Background(), fraudSpec(d1, 1), "", ValidateOptions{Concurrency: 1})
	if err != nil || snap.Digest != first {
		t.Errorf("digest read one file at a time %s (%v), want %s", snap.Digest, err, first)
	}

	// Through a symbolic link to the folder.
	link := filepath.Join(t.TempDir(), "link")
	if err := os.Symlink(d1, link); err != nil {
		t.Fatal(err)
	}
	if d := snapshotDigest(t, link); d != first {
		t.Errorf("digest through a link %s, want %s", d, first)
	}

	// One byte changed.
	b := []byte(a["part-00001.csv"])
	b[len(b)-2] ^= 1 // the last is_fraud: 0 <-> 1
	writeFiles(t, d2, map[string]string{"part-00001.csv": string(b)})
	if changed := snapshotDigest(t, d2); changed == first {
		t.Error("digest unchanged after a byte of a file changed")
	}
	// A renamed file.
	writeFiles(t, d2, map[string]string{"part-00001.csv": a["part-00001.csv"]})
	if snapshotDigest(t, d2) != first {
		t.Fatal("digest not restored")
	}
	if err := os.Rename(filepath.Join(d2, "part-00001.csv"), filepath.Join(d2, "part-00009.csv")); err != nil {
		t.Fatal(err)
	}
	if snapshotDigest(t, d2) == first {
		t.Error("digest unchanged after a file was renamed")
	}
}

func TestSnapshotDigestOneFile(t *testing.T) {
	d1, d2 := t.TempDir(), t.TempDir()
	writeFiles(t, d1, map[string]string{"data.csv": goodCSV(10, 0)})
	writeFiles(t, d2, map[string]string{"data.csv": goodCSV(10, 0)})
	s1, _ := validate(t, fraudSpec("", 1), filepath.Join(d1, "data.csv"))
	s2, _ := validate(t, fraudSpec("", 1), "file://"+filepath.ToSlash(filepath.Join(d2, "data.csv")))
	if s1.Digest != s2.Digest || s1.Manifest[0].Path != "data.csv" {
		t.Errorf("one file: digests %s and %s, manifest path %q; want equal digests and the base name", s1.Digest, s2.Digest, s1.Manifest[0].Path)
	}
	if s2.Path == "" || s2.URI != "" {
		t.Errorf("snapshot uri %q path %q, want the location read as path", s2.URI, s2.Path)
	}
}

func TestLocalPath(t *testing.T) {
	for in, want := range map[string]string{
		"data/x":                 "data/x",
		"/abs/x":                 "/abs/x",
		"file:///abs/x%20y":      "/abs/x y",
		"file://localhost/abs/x": "/abs/x",
	} {
		if got, err := LocalPath(in); err != nil || got != filepath.FromSlash(want) {
			t.Errorf("LocalPath(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, in := range []string{"", "s3://b/k", "GS://b/k", "https://example.com/x", "hdfs://nn/x", "file://host/x", "weird://x"} {
		if _, err := LocalPath(in); err == nil {
			t.Errorf("LocalPath(%q): no error", in)
		}
	}
}

func sha256Hex(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}
