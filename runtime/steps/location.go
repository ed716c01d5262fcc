package steps

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"

	"gocloud.dev/blob"
	_ "gocloud.dev/blob/azureblob" // azblob://
	_ "gocloud.dev/blob/gcsblob"   // gs://
	_ "gocloud.dev/blob/s3blob"    // s3://
	"gocloud.dev/gcerrors"
	"gocloud.dev/gcp"
)

// A location names a dataset, a model folder or a file: a local path, a
// file:// URI, or an object-store URI read through gocloud.dev/blob:
//
//	s3://BUCKET/PREFIX       Amazon S3 and S3-compatible stores
//	gs://BUCKET/PREFIX       Google Cloud Storage
//	azblob://CONTAINER/PREFIX, az://CONTAINER/PREFIX   Azure Blob Storage
//
// The URI's query holds the driver's options, e.g. for an S3-compatible
// store "?endpoint=http://minio:9000&use_path_style=true&region=us-east-1";
// credentials come from the environment as each cloud's SDK finds them
// (AWS_ACCESS_KEY_ID, GOOGLE_APPLICATION_CREDENTIALS, AZURE_STORAGE_ACCOUNT,
// workload identity, ...).

// objectSchemes maps the object-store URI schemes read here to the
// gocloud.dev/blob scheme that opens them.
var objectSchemes = map[string]string{
	"s3":     "s3",
	"gs":     "gs",
	"azblob": "azblob",
	"az":     "azblob", // the spelling of the schemas' #URI
}

// IsObjectStore reports whether location is an object-store URI that the
// steps read (s3://, gs://, azblob:// or az://).
func IsObjectStore(location string) bool {
	m := schemeRE.FindStringSubmatch(location)
	return m != nil && objectSchemes[strings.ToLower(m[1])] != ""
}

// joinLocation appends slash-separated elements to a location's path,
// keeping an object-store URI's query (its driver options) at the end.
func joinLocation(base string, elem ...string) string {
	q := ""
	if IsObjectStore(base) {
		if b, query, ok := strings.Cut(base, "?"); ok {
			base, q = b, "?"+query
		}
	}
	return strings.TrimSuffix(base, "/") + "/" + strings.Join(elem, "/") + q
}

// withoutQuery returns an object-store URI without its query: the name
// of the data, not how to reach it.
func withoutQuery(location string) string {
	if IsObjectStore(location) {
		location, _, _ = strings.Cut(location, "?")
	}
	return location
}

// errNoObjects marks a prefix that holds no objects.
var errNoObjects = errors.New("nothing under the prefix")

// objectStore is a key, or a key prefix, in a bucket.
type objectStore struct {
	uri    string // scheme://bucket/prefix as given, without the query: for messages
	bucket *blob.Bucket
	prefix string // no leading "/"; "" for the whole bucket
}

// objectConcurrency is the least number of objects read at once: reading
// from an object store waits on the network more than on the CPU.
const objectConcurrency = 16

// openObjectStore opens the bucket of an object-store URI; the caller
// closes it.
func openObjectStore(ctx context.Context, location string) (*objectStore, error) {
	u, err := url.Parse(location)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", location, err)
	}
	scheme := strings.ToLower(u.Scheme)
	driver := objectSchemes[scheme]
	if driver == "" {
		return nil, fmt.Errorf("%s: not an object-store URI", location)
	}
	shown := scheme + "://" + u.Host + u.EscapedPath()
	if u.Host == "" {
		return nil, fmt.Errorf("%s: no bucket named (want %s://BUCKET/PREFIX)", shown, scheme)
	}
	if driver == "gs" && u.Query().Get("anonymous") != "true" && u.Query().Get("access_id") != "-" {
		// gcsblob prints a warning on stdout and goes on without
		// credentials when it finds none; find them first.
		if _, err := gcp.DefaultCredentials(ctx); err != nil {
			return nil, fmt.Errorf("%s: opening the bucket: %s: %w", shown, noCredentials(driver), err)
		}
	}
	q := u.Query()
	if driver == "s3" && !q.Has("response_checksum_validation") {
		// Ranged GETs (Parquet) carry no whole-object checksum, and the
		// SDK logs a warning for each response it cannot validate; the
		// steps hash every byte themselves, and TLS guards the transfer.
		q.Set("response_checksum_validation", "when_required")
	}
	bu := url.URL{Scheme: driver, Host: u.Host, RawQuery: q.Encode()}
	b, err := blob.OpenBucket(ctx, bu.String())
	if err != nil {
		if driver == "azblob" && (strings.Contains(err.Error(), "AccountName") || strings.Contains(err.Error(), "credential")) {
			return nil, fmt.Errorf("%s: opening the bucket: %s: %w", shown, noCredentials(driver), err)
		}
		return nil, fmt.Errorf("%s: opening the bucket: %w", shown, err)
	}
	return &objectStore{uri: shown, bucket: b, prefix: strings.TrimPrefix(u.Path, "/")}, nil
}

// Close closes the bucket.
func (o *objectStore) Close() error { return o.bucket.Close() }

// keyURI returns the URI of a key of the bucket, for messages.
func (o *objectStore) keyURI(key string) string {
	scheme, rest, _ := strings.Cut(o.uri, "://")
	bucket, _, _ := strings.Cut(rest, "/")
	return scheme + "://" + bucket + "/" + key
}

// fail describes an error of the store about uri: what was done, and what
// went wrong in words (no credentials, no such bucket, access denied)
// before the driver's own message.
func (o *objectStore) fail(uri, doing string, err error) error {
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("%s: %s: %w", uri, doing, err)
	}
	msg := err.Error()
	var why string
	switch {
	case strings.Contains(msg, "failed to refresh cached credentials") || strings.Contains(msg, "failed to retrieve credentials") ||
		strings.Contains(msg, "could not find default credentials") || strings.Contains(msg, "DefaultAzureCredential"):
		scheme, _, _ := strings.Cut(o.uri, "://")
		why = noCredentials(objectSchemes[scheme])
	case strings.Contains(msg, "region is required") || strings.Contains(msg, "Invalid region"):
		why = "no region (set AWS_REGION, or add ?region=REGION to the URI)"
	case gcerrors.Code(err) == gcerrors.PermissionDenied:
		why = "access denied (check the credentials and the bucket's policy)"
	case gcerrors.Code(err) == gcerrors.NotFound && (doing == "listing" || strings.Contains(msg, "NoSuchBucket") || strings.Contains(msg, "ContainerNotFound")):
		// Listing a prefix with nothing under it is no error: NotFound is the bucket.
		scheme, rest, _ := strings.Cut(o.uri, "://")
		bucket, _, _ := strings.Cut(rest, "/")
		why = fmt.Sprintf("no such bucket %q (%s://%s)", bucket, scheme, bucket)
	case gcerrors.Code(err) == gcerrors.NotFound:
		why = "no such object"
	}
	if why != "" {
		return fmt.Errorf("%s: %s: %s: %w", uri, doing, why, err)
	}
	return fmt.Errorf("%s: %s: %w", uri, doing, err)
}

// noCredentials says that no credentials were found for a driver, and
// where they are looked for.
func noCredentials(driver string) string {
	switch driver {
	case "s3":
		return "no credentials for S3 (set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, AWS_PROFILE, or a workload identity such as IRSA)"
	case "gs":
		return "no credentials for Google Cloud Storage (set GOOGLE_APPLICATION_CREDENTIALS, or use workload identity)"
	case "azblob":
		return "no credentials for Azure Blob Storage (set AZURE_STORAGE_ACCOUNT and AZURE_STORAGE_KEY, or use workload identity)"
	}
	return "no credentials for the object store"
}

// objectFile is one object under the prefix.
type objectFile struct {
	key  string
	rel  string // relative to the prefix, forward slashes; the base name when the prefix is the object
	size int64
}

// listAll returns the objects under the prefix, sorted by key, skipping
// folder markers (keys ending in "/"). A prefix with nothing under it that
// is itself an object gives that object. An empty result is errNoObjects.
func (o *objectStore) listAll(ctx context.Context) ([]objectFile, error) {
	dir := o.prefix
	if dir != "" && !strings.HasSuffix(dir, "/") {
		dir += "/"
	}
	var out []objectFile
	it := o.bucket.List(&blob.ListOptions{Prefix: dir})
	for {
		obj, err := it.Next(ctx)
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, o.fail(o.uri, "listing", err)
		}
		if obj.IsDir || strings.HasSuffix(obj.Key, "/") {
			continue
		}
		out = append(out, objectFile{key: obj.Key, rel: strings.TrimPrefix(obj.Key, dir), size: obj.Size})
	}
	if len(out) == 0 && o.prefix != "" && !strings.HasSuffix(o.prefix, "/") {
		attrs, err := o.bucket.Attributes(ctx, o.prefix)
		switch {
		case err == nil:
			return []objectFile{{key: o.prefix, rel: path.Base(o.prefix), size: attrs.Size}}, nil
		case gcerrors.Code(err) != gcerrors.NotFound:
			return nil, o.fail(o.uri, "reading the attributes", err)
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%s: %w (no objects)", o.uri, errNoObjects)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].rel < out[j].rel })
	return out, nil
}

// listFiles returns the data files of a dataset of the format under the
// prefix, as the local listFiles does for a folder: sorted by manifest
// path, names ending with one of the format's extensions, skipping names
// (of the object or of a folder above it, below the prefix) starting with
// "." or "_". A prefix that is itself an object is taken as it is.
func (o *objectStore) listFiles(ctx context.Context, format string) ([]dataFile, error) {
	objs, err := o.listAll(ctx)
	if err != nil {
		return nil, err
	}
	if len(objs) == 1 && objs[0].key == o.prefix {
		return []dataFile{{path: objs[0].key, rel: objs[0].rel, size: objs[0].size}}, nil
	}
	exts := Extensions(format)
	var files []dataFile
	for _, ob := range objs {
		if hiddenPath(ob.rel) || !hasExt(path.Base(ob.rel), exts) {
			continue
		}
		files = append(files, dataFile{path: ob.key, rel: ob.rel, size: ob.size})
	}
	if len(files) == 0 && format == "" {
		return nil, fmt.Errorf("%s: %w (only hidden objects)", o.uri, errNoObjects)
	}
	if len(files) == 0 {
		return nil, fmt.Errorf("%s: no %s files under the prefix (names ending in %s)", o.uri, format, strings.Join(exts, ", "))
	}
	return files, nil
}

// hiddenPath reports whether a segment of a relative path starts with "."
// or "_".
func hiddenPath(rel string) bool {
	for _, seg := range strings.Split(rel, "/") {
		if strings.HasPrefix(seg, ".") || strings.HasPrefix(seg, "_") {
			return true
		}
	}
	return false
}

// open returns a stream of the object at key.
func (o *objectStore) open(ctx context.Context, key string) (io.ReadCloser, error) {
	r, err := o.bucket.NewReader(ctx, key, nil)
	if err != nil {
		return nil, o.fail(o.keyURI(key), "opening", err)
	}
	return &objectReader{r: r, o: o, key: key}, nil
}

// objectReader names the object in its read errors.
type objectReader struct {
	r   *blob.Reader
	o   *objectStore
	key string
}

func (r *objectReader) Read(p []byte) (int, error) {
	n, err := r.r.Read(p)
	if err != nil && err != io.EOF {
		err = r.o.fail(r.o.keyURI(r.key), "reading", err)
	}
	return n, err
}

func (r *objectReader) Close() error { return r.r.Close() }

// readerAt returns an io.ReaderAt of the object at key, of the given size,
// that reads each range it is asked for with a ranged GET: a Parquet
// reader fetches the footer and the column chunks it needs, not the whole
// file.
func (o *objectStore) readerAt(ctx context.Context, key string, size int64) io.ReaderAt {
	return &rangeReaderAt{ctx: ctx, o: o, key: key, size: size}
}

type rangeReaderAt struct {
	ctx  context.Context
	o    *objectStore
	key  string
	size int64
}

// ReadAt reads len(p) bytes at off, or up to the end of the object, which
// gives io.EOF with them.
func (r *rangeReaderAt) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, fmt.Errorf("%s: read at negative offset %d", r.o.keyURI(r.key), off)
	}
	if off >= r.size {
		return 0, io.EOF
	}
	n := int64(len(p))
	if rest := r.size - off; n > rest {
		n = rest
	}
	if n == 0 {
		return 0, nil
	}
	br, err := r.o.bucket.NewRangeReader(r.ctx, r.key, off, n, nil)
	if err != nil {
		return 0, r.o.fail(r.o.keyURI(r.key), fmt.Sprintf("reading bytes %d-%d", off, off+n-1), err)
	}
	defer br.Close()
	got, err := io.ReadFull(br, p[:n])
	if err != nil {
		return got, r.o.fail(r.o.keyURI(r.key), fmt.Sprintf("reading bytes %d-%d", off, off+n-1), err)
	}
	if got < len(p) {
		return got, io.EOF
	}
	return got, nil
}

// download copies every object under the prefix into dir, at its path
// relative to the prefix, streaming each to disk; it returns how many
// files it wrote. Keys that would leave dir ("..", absolute) are refused.
func (o *objectStore) download(ctx context.Context, dir string) (int, error) {
	objs, err := o.listAll(ctx)
	if err != nil {
		return 0, err
	}
	for _, ob := range objs {
		rel := path.Clean(ob.rel)
		if rel == "." || path.IsAbs(rel) || rel == ".." || strings.HasPrefix(rel, "../") {
			return 0, fmt.Errorf("%s: the key leaves the prefix; not downloaded", o.keyURI(ob.key))
		}
		if err := o.downloadFile(ctx, ob, filepath.Join(dir, filepath.FromSlash(rel))); err != nil {
			return 0, err
		}
	}
	return len(objs), nil
}

func (o *objectStore) downloadFile(ctx context.Context, ob objectFile, dst string) error {
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return err
	}
	r, err := o.open(ctx, ob.key)
	if err != nil {
		return err
	}
	defer r.Close()
	f, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return err
	}
	if err := copyAll(f, r); err != nil {
		f.Close()
		return fmt.Errorf("downloading %s: %w", o.keyURI(ob.key), err)
	}
	return f.Close()
}

// readObject reads the object the URI names, up to limit bytes.
func readObject(ctx context.Context, location string, limit int64) ([]byte, string, error) {
	o, err := openObjectStore(ctx, location)
	if err != nil {
		return nil, location, err
	}
	defer o.Close()
	if o.prefix == "" || strings.HasSuffix(o.prefix, "/") {
		return nil, o.uri, fmt.Errorf("%s: names a folder, not an object", o.uri)
	}
	r, err := o.open(ctx, o.prefix)
	if err != nil {
		return nil, o.uri, err
	}
	defer r.Close()
	data, err := io.ReadAll(io.LimitReader(r, limit+1))
	if err != nil {
		return nil, o.uri, err
	}
	if int64(len(data)) > limit {
		return nil, o.uri, fmt.Errorf("%s: larger than %d bytes", o.uri, limit)
	}
	return data, o.uri, nil
}

// FetchFolder makes the folder at location available on local disk: a
// local path or file:// URI is returned as it is, with a cleanup that does
// nothing; the objects under an object-store prefix are downloaded into a
// new temporary folder (each streamed to disk), which cleanup removes.
func FetchFolder(ctx context.Context, location string) (dir string, cleanup func(), err error) {
	if !IsObjectStore(location) {
		p, err := LocalPath(location)
		return p, func() {}, err
	}
	o, err := openObjectStore(ctx, location)
	if err != nil {
		return "", nil, err
	}
	defer o.Close()
	tmp, err := os.MkdirTemp("", "cairn-fetch-*")
	if err != nil {
		return "", nil, err
	}
	cleanup = func() { os.RemoveAll(tmp) }
	if _, err := o.download(ctx, tmp); err != nil {
		cleanup()
		return "", nil, err
	}
	return tmp, cleanup, nil
}
