package steps

import (
	"bytes"
	"compress/gzip"
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"
	"gocloud.dev/blob"
	"gocloud.dev/blob/fileblob"

	"cairn.dev/cairn/attest/lineage"
	"cairn.dev/cairn/attest/oci"
	"cairn.dev/cairn/attest/sign"
)

// fakeS3 is an in-process S3 server over HTTP, read through s3blob with an
// endpoint override, and the requests it served.
type fakeS3 struct {
	t   testing.TB
	url string

	mu         sync.Mutex
	gets       int   // whole-object GETs
	getBytes   int64 // bytes they returned
	ranges     int   // ranged GETs
	rangeBytes int64 // bytes they returned
}

// newFakeS3 starts a server holding the given buckets, and sets static
// credentials in the environment (and no way to find others).
func newFakeS3(t testing.TB, buckets ...string) *fakeS3 {
	t.Helper()
	backend := s3mem.New()
	for _, b := range buckets {
		if err := backend.CreateBucket(b); err != nil {
			t.Fatal(err)
		}
	}
	fs := &fakeS3{t: t}
	h := gofakes3.New(backend).Server()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// Counted as written, before the client can see the bytes.
		cw := &countingWriter{ResponseWriter: w}
		object := r.Method == http.MethodGet && !r.URL.Query().Has("list-type") && strings.Count(strings.Trim(r.URL.Path, "/"), "/") > 0
		if object {
			ranged := r.Header.Get("Range") != ""
			fs.mu.Lock()
			if ranged {
				fs.ranges++
			} else {
				fs.gets++
			}
			fs.mu.Unlock()
			cw.add = func(n int64) {
				fs.mu.Lock()
				defer fs.mu.Unlock()
				if ranged {
					fs.rangeBytes += n
				} else {
					fs.getBytes += n
				}
			}
		}
		h.ServeHTTP(cw, r)
	}))
	t.Cleanup(srv.Close)
	fs.url = srv.URL
	noAWSConfig(t)
	t.Setenv("AWS_ACCESS_KEY_ID", "test")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "test")
	return fs
}

// noAWSConfig leaves the AWS SDK nothing to find credentials in beyond
// what the test sets: no shared files, no instance metadata.
func noAWSConfig(t testing.TB) {
	dir := t.TempDir()
	for k, v := range map[string]string{
		"AWS_CONFIG_FILE": filepath.Join(dir, "config"), "AWS_SHARED_CREDENTIALS_FILE": filepath.Join(dir, "credentials"),
		"AWS_EC2_METADATA_DISABLED": "true", "AWS_PROFILE": "", "AWS_SESSION_TOKEN": "", "AWS_REGION": "", "AWS_DEFAULT_REGION": "",
		"AWS_WEB_IDENTITY_TOKEN_FILE": "", "AWS_CONTAINER_CREDENTIALS_FULL_URI": "", "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI": "",
		"AWS_ACCESS_KEY_ID": "", "AWS_SECRET_ACCESS_KEY": "",
	} {
		t.Setenv(k, v)
	}
}

// countingWriter calls add with the size of each write, before writing.
type countingWriter struct {
	http.ResponseWriter
	add func(int64)
}

func (w *countingWriter) Write(p []byte) (int, error) {
	if w.add != nil {
		w.add(int64(len(p)))
	}
	return w.ResponseWriter.Write(p)
}

// uri returns the s3:// URI of bucket/key on the server.
func (fs *fakeS3) uri(bucketKey string) string {
	return "s3://" + bucketKey + "?endpoint=" + url.QueryEscape(fs.url) + "&use_path_style=true&region=us-east-1"
}

// upload copies the files under dir to bucket/prefix, as keys of their
// paths relative to dir, through s3blob.
func (fs *fakeS3) upload(bucket, prefix, dir string) {
	t := fs.t
	t.Helper()
	ctx := context.Background()
	b, err := blob.OpenBucket(ctx, fs.uri(bucket))
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	err = filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
		if err != nil || fi.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return b.WriteAll(ctx, strings.TrimPrefix(prefix+"/"+filepath.ToSlash(rel), "/"), data, nil)
	})
	if err != nil {
		t.Fatal(err)
	}
}

func (fs *fakeS3) counts() (gets, ranges int, getBytes, rangeBytes int64) {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	return fs.gets, fs.ranges, fs.getBytes, fs.rangeBytes
}

// testfsRoot is the folder the testfs:// scheme reads, through fileblob:
// testfs://BUCKET/PREFIX is the folder testfsRoot/BUCKET.
var (
	testfsOnce sync.Once
	testfsMu   sync.Mutex
	testfsRoot string
)

type testfsOpener struct{}

func (testfsOpener) OpenBucketURL(_ context.Context, u *url.URL) (*blob.Bucket, error) {
	testfsMu.Lock()
	defer testfsMu.Unlock()
	return fileblob.OpenBucket(filepath.Join(testfsRoot, u.Host), nil)
}

// useTestfs makes testfs://BUCKET/PREFIX an object-store location read
// through fileblob from root/BUCKET.
func useTestfs(t *testing.T, root string) {
	testfsOnce.Do(func() {
		blob.DefaultURLMux().RegisterBucket("testfs", testfsOpener{})
		objectSchemes["testfs"] = "testfs"
	})
	testfsMu.Lock()
	testfsRoot = root
	testfsMu.Unlock()
}

func gz(t *testing.T, s string) string {
	var b bytes.Buffer
	w := gzip.NewWriter(&b)
	w.Write([]byte(s))
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

// TestValidateObjectStore: a dataset gives the same snapshot (digest,
// manifest, rows, columns, failures) read from a local folder, from S3 and
// through fileblob, for each format; hidden objects and _SUCCESS markers
// are skipped as locally.
func TestValidateObjectStore(t *testing.T) {
	s3 := newFakeS3(t, "data")
	fsRoot := t.TempDir()
	useTestfs(t, fsRoot)

	bad := strings.Replace(goodCSV(30, 0), ",c3,", ",,", 1) // a null card_id
	parquetDir := t.TempDir()
	writeParquet(t, filepath.Join(parquetDir, "part-00000.parquet"), txRows(300, 0))
	writeParquet(t, filepath.Join(parquetDir, "sub", "part-00001.parquet"), txRows(200, 300))
	pq0, _ := os.ReadFile(filepath.Join(parquetDir, "part-00000.parquet"))
	pq1, _ := os.ReadFile(filepath.Join(parquetDir, "sub", "part-00001.parquet"))

	jsonlSpec := fraudSpec("", 1)
	jsonlSpec.Format = FormatJSONL
	textSpec := DatasetSpec{Name: "docs", Format: FormatText}
	parquetSpec := fraudSpec("", 500)
	parquetSpec.Format = FormatParquet
	tests := []struct {
		name  string
		spec  DatasetSpec
		files map[string]string
		fails int
	}{
		{name: "csv", spec: fraudSpec("", 100), files: map[string]string{
			"part-00000.csv": goodCSV(50, 0), "part-00001.csv.gz": gz(t, goodCSV(50, 50)), "x/part-00002.csv": goodCSV(5, 100),
			"_SUCCESS": "", ".hidden.csv": "junk", "_tmp/part-9.csv": "junk", "notes.md": "not data",
		}},
		{name: "csv failures", spec: fraudSpec("", 1000), files: map[string]string{"a.csv": bad, "b/b.csv": "amount\n1\n"}, fails: 9},
		{name: "jsonl", spec: jsonlSpec, files: map[string]string{
			"p0.jsonl":  `{"transaction_id":"t1","card_id":"c1","amount":3.5,"hour":4,"is_fraud":0}` + "\n",
			"p1.ndjson": `{"transaction_id":"t2","card_id":null,"amount":-1,"hour":40,"is_fraud":1}` + "\n",
		}, fails: 5},
		{name: "text", spec: textSpec, files: map[string]string{"a.txt": "one\ntwo\n", "b/c.txt.gz": gz(t, "three")}},
		{name: "parquet", spec: parquetSpec, files: map[string]string{"part-00000.parquet": string(pq0), "sub/part-00001.parquet": string(pq1)}},
		{name: "parquet not parquet", spec: parquetSpec, files: map[string]string{"a.parquet": "PAR1 not really", "b.parquet": string(pq0[:len(pq0)/2])}, fails: 9},
	}
	ctx := context.Background()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			local := filepath.Join(t.TempDir(), "ds")
			writeFiles(t, local, tt.files)
			prefix := "runs/uid-1/" + strings.ReplaceAll(tt.name, " ", "-")
			s3.upload("data", prefix, local)
			writeFiles(t, filepath.Join(fsRoot, "bkt", prefix), tt.files)

			want, wantFail, err := ValidateData(ctx, tt.spec, local)
			if err != nil {
				t.Fatal(err)
			}
			if len(wantFail) != tt.fails {
				t.Fatalf("local failures %q, want %d", failureStrings(wantFail), tt.fails)
			}
			for _, loc := range []string{s3.uri("data/" + prefix), s3.uri("data/" + prefix + "/"), "testfs://bkt/" + prefix} {
				got, gotFail, err := ValidateDataWith(ctx, tt.spec, loc, ValidateOptions{Concurrency: 2})
				if err != nil {
					t.Fatalf("ValidateData(%s): %v", loc, err)
				}
				if got.Digest != want.Digest || !reflect.DeepEqual(got.Manifest, want.Manifest) {
					t.Errorf("ValidateData(%s) digest %s, manifest %v; want %s, %v (local)", loc, got.Digest, got.Manifest, want.Digest, want.Manifest)
				}
				got.Path, want.Path = "", ""
				if !reflect.DeepEqual(got, want) {
					t.Errorf("ValidateData(%s) = %+v, want %+v (local)", loc, got, want)
				}
				if !reflect.DeepEqual(failureStrings(gotFail), failureStrings(wantFail)) {
					t.Errorf("ValidateData(%s) failures %q, want %q (local)", loc, failureStrings(gotFail), failureStrings(wantFail))
				}
				files, err := DigestLocation(ctx, loc, tt.spec.Format)
				if err != nil || SnapshotDigest(files) != want.Digest {
					t.Errorf("DigestLocation(%s) = %s, %v; want %s", loc, SnapshotDigest(files), err, want.Digest)
				}
			}
		})
	}
}

// TestObjectStoreOneObject: a URI naming one object is that file, its
// manifest path its base name, as for a local file.
func TestObjectStoreOneObject(t *testing.T) {
	s3 := newFakeS3(t, "data")
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{"tx/data.csv": goodCSV(10, 10)})
	s3.upload("data", "", dir)
	ctx := context.Background()
	want, _ := validate(t, fraudSpec("", 1), filepath.Join(dir, "tx", "data.csv"))
	got, fails, err := ValidateData(ctx, fraudSpec("", 1), s3.uri("data/tx/data.csv"))
	if err != nil || len(fails) > 0 {
		t.Fatalf("ValidateData(one object) = %v, %q", err, failureStrings(fails))
	}
	if got.Digest != want.Digest || got.Manifest[0].Path != "data.csv" || got.Rows != 10 {
		t.Errorf("one object: digest %s, manifest %v, rows %d; want %s, data.csv, 10", got.Digest, got.Manifest, got.Rows, want.Digest)
	}
}

// TestParquetRangeReads: a Parquet object is decoded from ranged GETs of
// its footer and the declared column's chunks, not by downloading the
// file again: the ranges fetched are a small part of it.
func TestParquetRangeReads(t *testing.T) {
	type wide struct {
		ID      int64  `parquet:"id"`
		Payload string `parquet:"payload"` // undeclared, most of the bytes
	}
	rows := make([]wide, 4000)
	for i := range rows {
		rows[i] = wide{ID: int64(i), Payload: strings.Repeat(string(rune('a'+i%26)), 500) + itoa(i*7919)}
	}
	dir := t.TempDir()
	p := filepath.Join(dir, "w.parquet")
	writeParquetRows(t, p, rows)
	fi, _ := os.Stat(p)
	s3 := newFakeS3(t, "data")
	s3.upload("data", "wide", dir)
	spec := DatasetSpec{Name: "wide", Format: FormatParquet, Columns: map[string]ColumnSpec{"id": {Type: TypeInt}},
		Checks: DataChecks{MinRows: i64(4000), Ranges: map[string]Range{"id": {Min: f64(0), Max: f64(3998)}}}}
	want, wantFail := validate(t, spec, dir)
	got, gotFail, err := ValidateData(context.Background(), spec, s3.uri("data/wide"))
	if err != nil {
		t.Fatal(err)
	}
	if got.Digest != want.Digest || !reflect.DeepEqual(failureStrings(gotFail), failureStrings(wantFail)) || len(gotFail) != 1 {
		t.Errorf("S3: digest %s, failures %q; want %s, %q (local; one: id above the max)", got.Digest, failureStrings(gotFail), want.Digest, failureStrings(wantFail))
	}
	gets, ranges, getBytes, rangeBytes := s3.counts()
	if gets != 1 || getBytes != fi.Size() {
		t.Errorf("whole-object GETs %d of %d bytes, want 1 of %d (the hash)", gets, getBytes, fi.Size())
	}
	if ranges == 0 || rangeBytes > fi.Size()/4 {
		t.Errorf("ranged GETs %d of %d bytes in all, want a few reading less than a quarter of the %d-byte file", ranges, rangeBytes, fi.Size())
	}
	t.Logf("file %d bytes: %d ranged GETs read %d bytes", fi.Size(), ranges, rangeBytes)
}

// TestObjectStoreErrors: a missing bucket, an empty prefix, a prefix with
// no files of the format, missing credentials and a missing metrics
// object are errors that name the URI and say what failed.
func TestObjectStoreErrors(t *testing.T) {
	s3 := newFakeS3(t, "data")
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{"docs/readme.md": "x", "_SUCCESS": ""})
	s3.upload("data", "ds", dir)
	ctx := context.Background()
	tests := []struct {
		location string
		want     []string
	}{
		{s3.uri("nobucket/ds"), []string{"dataset transactions: s3://nobucket/ds: listing: no such bucket \"nobucket\""}},
		{s3.uri("data/empty"), []string{"dataset transactions: s3://data/empty: nothing under the prefix"}},
		{s3.uri("data/ds"), []string{"dataset transactions: s3://data/ds: no csv files under the prefix (names ending in .csv, .csv.gz)"}},
		{"s3:///ds", []string{"no bucket named"}},
		{"hdfs://nn/x", []string{"hdfs:// is not read"}},
	}
	for _, tt := range tests {
		_, _, err := ValidateData(ctx, fraudSpec("", 1), tt.location)
		for _, w := range tt.want {
			if err == nil || !strings.Contains(err.Error(), w) {
				t.Errorf("ValidateData(%s) error %v, want %q", tt.location, err, w)
			}
		}
	}
	if _, err := DigestLocation(ctx, s3.uri("data/empty"), ""); err == nil || !strings.Contains(err.Error(), "s3://data/empty: nothing under the prefix") {
		t.Errorf("DigestLocation(empty prefix) error %v, want nothing under the prefix", err)
	}
	if _, err := ReadMetrics(s3.uri("data/run/evaluation/metrics.json")); err == nil ||
		err.Error() != "metrics file s3://data/run/evaluation/metrics.json: no such object (did the evaluation write it?)" {
		t.Errorf("ReadMetrics(missing object) error %v", err)
	}

	t.Run("no credentials", func(t *testing.T) {
		noAWSConfig(t)
		_, _, err := ValidateData(ctx, fraudSpec("", 1), s3.uri("data/ds"))
		if err == nil || !strings.Contains(err.Error(), "dataset transactions: s3://data/ds: listing: no credentials for S3 (set AWS_ACCESS_KEY_ID") {
			t.Errorf("ValidateData without credentials: error %v, want no credentials", err)
		}
	})
	t.Run("no region", func(t *testing.T) {
		_, _, err := ValidateData(ctx, fraudSpec("", 1), "s3://data/ds")
		if err == nil || !strings.Contains(err.Error(), "s3://data/ds: listing: no region") {
			t.Errorf("ValidateData without a region: error %v, want no region", err)
		}
	})
	t.Run("no credentials elsewhere", func(t *testing.T) {
		dir := t.TempDir()
		for k, v := range map[string]string{"GOOGLE_APPLICATION_CREDENTIALS": filepath.Join(dir, "none.json"), "HOME": dir,
			"CLOUDSDK_CONFIG": dir, "GCE_METADATA_HOST": "127.0.0.1:1", "AZURE_STORAGE_ACCOUNT": "", "AZURE_STORAGE_KEY": ""} {
			t.Setenv(k, v)
		}
		for loc, want := range map[string]string{
			"gs://bucket/x": "dataset transactions: gs://bucket/x: opening the bucket: no credentials for Google Cloud Storage",
			"az://c/x":      "dataset transactions: az://c/x: opening the bucket: no credentials for Azure Blob Storage",
		} {
			_, _, err := ValidateData(ctx, fraudSpec("", 1), loc)
			if err == nil || !strings.Contains(err.Error(), want) {
				t.Errorf("ValidateData(%s) error %v, want %q", loc, err, want)
			}
		}
	})
	// gofakes3 checks no signatures, so wrong credentials cannot be shown
	// here; an access denied is reported as gcerrors.PermissionDenied.
}

func TestReadMetricsObjectStore(t *testing.T) {
	s3 := newFakeS3(t, "runs")
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{"uid-1/evaluation/metrics.json": `{"auc": 0.95, "eval": {"loss": 0.2}}`, "uid-1/bad.json": `{"auc": }`,
		"uid-1/nan.json": `{"auc": 0.95, "eval": {"loss": NaN}}`})
	s3.upload("runs", "cairn", dir)
	m, err := ReadMetrics(s3.uri("runs/cairn/uid-1/evaluation/metrics.json"))
	if err != nil {
		t.Fatal(err)
	}
	results, ok := m.Gate(map[string]string{"auc": ">= 0.92"})
	if !ok || len(results) != 1 || results[0].Observed != 0.95 {
		t.Errorf("gate on S3 metrics = %v, %v; want auc 0.95 passing", results, ok)
	}
	_, err = ReadMetrics(s3.uri("runs/cairn/uid-1/nan.json"))
	if err == nil || err.Error() != `metrics file s3://runs/cairn/uid-1/nan.json: line 1, column 32: metric "eval.loss": NaN is not a finite number` {
		t.Errorf("NaN: %v", err)
	}
	_, err = ReadMetrics(s3.uri("runs/cairn/uid-1/bad.json"))
	if err == nil || !strings.HasPrefix(err.Error(), "metrics file s3://runs/cairn/uid-1/bad.json: invalid JSON at line 1, column 9") {
		t.Errorf("bad JSON: %v", err)
	}
	_, err = ReadMetrics(s3.uri("runs/cairn/uid-1/"))
	if err == nil || !strings.Contains(err.Error(), "names a folder, not an object") {
		t.Errorf("folder: %v", err)
	}
}

// TestPackObjectStore: a model folder, metrics and feature outputs in an
// S3 run folder pack to the same model digest and feature digest as the
// same files on disk; the download is removed afterwards.
func TestPackObjectStore(t *testing.T) {
	ctx := context.Background()
	local, _ := packFixture(t)
	writeFiles(t, local.ModelDir, map[string]string{"weights/layer-0.bin": strings.Repeat("\x01\x02", 100000)})
	want, err := Pack(ctx, local)
	if err != nil {
		t.Fatal(err)
	}

	s3 := newFakeS3(t, "artifacts")
	s3.upload("artifacts", "cairn/runs/uid-1", local.RunDir)
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp)
	o, pk := packFixture(t)
	o.ModelDir = s3.uri("artifacts/cairn/runs/uid-1/model")
	o.Metrics = s3.uri("artifacts/cairn/runs/uid-1/evaluation/metrics.json")
	o.RunDir = s3.uri("artifacts/cairn/runs/uid-1/")
	got, err := Pack(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	if got.Digest != want.Digest || got.Files != 2 || got.Bytes != want.Bytes {
		t.Errorf("Pack(S3 model) digest %s, %d files, %d bytes; want %s, 2, %d (local)", got.Digest, got.Files, got.Bytes, want.Digest, want.Bytes)
	}
	if got.Verdict != want.Verdict {
		t.Errorf("verdict %q, want %q", got.Verdict, want.Verdict)
	}
	if entries, _ := os.ReadDir(tmp); len(entries) != 0 {
		t.Errorf("temporary folder holds %v after Pack, want it empty", entries)
	}
	feature := func(p *PackResult) string {
		for _, d := range p.Provenance.BuildDefinition.ResolvedDependencies {
			if d.Name == "build/features" {
				return d.Digest["sha256"]
			}
		}
		return ""
	}
	if f := feature(got); len(f) != 64 || f != feature(want) {
		t.Errorf("feature output digest from S3 %q, want %q (local)", f, feature(want))
	}
	if f := got.Provenance; f == nil {
		t.Fatal("no provenance")
	}
	latest, _ := oci.ParseRef(o.Repository+":latest", "")
	rep, err := sign.Verify(ctx, latest, []*sign.PublicKey{pk}, sign.VerifyOptions{Require: []string{lineage.PredicateSLSAProvenance}}, oci.Options{})
	if err != nil || !rep.OK || rep.Digest != got.Digest {
		t.Errorf("Verify(latest) = %+v, %v; want the S3 model %s verified", rep, err, got.Digest)
	}

	t.Run("empty model prefix", func(t *testing.T) {
		o, _ := packFixture(t)
		o.ModelDir = s3.uri("artifacts/cairn/runs/uid-2/model")
		_, err := Pack(ctx, o)
		if err == nil || !strings.Contains(err.Error(), "pack: model folder s3://artifacts/cairn/runs/uid-2/model: nothing under the prefix") {
			t.Errorf("Pack(empty model prefix) error %v", err)
		}
	})
}

func TestIsObjectStore(t *testing.T) {
	for in, want := range map[string]bool{
		"s3://b/k": true, "S3://b/k": true, "gs://b/k": true, "az://c/k": true, "azblob://c/k": true,
		"file:///x": false, "data/x": false, "hdfs://nn/x": false, "https://h/x": false, "": false,
	} {
		if got := IsObjectStore(in); got != want {
			t.Errorf("IsObjectStore(%q) = %v, want %v", in, got, want)
		}
	}
}

func TestHiddenPath(t *testing.T) {
	var hidden []string
	for _, p := range []string{"a.csv", "_SUCCESS", "x/.crc", "_delta_log/0.json", "a/b_c.csv", "a/_tmp/b.csv"} {
		if hiddenPath(p) {
			hidden = append(hidden, p)
		}
	}
	sort.Strings(hidden)
	if want := []string{"_SUCCESS", "_delta_log/0.json", "a/_tmp/b.csv", "x/.crc"}; !reflect.DeepEqual(hidden, want) {
		t.Errorf("hidden %q, want %q", hidden, want)
	}
}
