package oci

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"cairn.dev/cairn/internal/atomicfile"
)

// annotationRefName names a manifest in a layout's index.json.
const annotationRefName = "org.opencontainers.image.ref.name"

// layoutStore is an OCI image layout on disk. Blobs are written to a
// temporary file, checked and renamed, so a blob that exists is whole;
// index.json is replaced the same way, under an flock(2) on
// index.json.lock, so writers in several processes never lose one
// another's tags. Writers in one process are also serialized per layout.
// The first write through a store removes the temporaries that killed
// writers left (see staleAfter).
type layoutStore struct {
	dir   string
	path  layout.Path
	mu    *sync.Mutex
	swept sync.Once
}

// layoutLockFile is the file in a layout that writers of index.json lock.
const layoutLockFile = "index.json.lock"

// blobTempPrefix starts the names of a layout's temporary blobs.
const blobTempPrefix = ".tmp-"

// layoutLocks holds one mutex per layout folder (absolute path).
var layoutLocks sync.Map

func newLayoutStore(dir string) *layoutStore {
	key := dir
	if abs, err := filepath.Abs(dir); err == nil {
		key = abs
	}
	mu, _ := layoutLocks.LoadOrStore(key, &sync.Mutex{})
	return &layoutStore{dir: dir, path: layout.Path(dir), mu: mu.(*sync.Mutex)}
}

func (s *layoutStore) blobPath(h v1.Hash) string {
	return filepath.Join(s.dir, "blobs", h.Algorithm, h.Hex)
}

// exists reports whether the folder holds a layout.
func (s *layoutStore) exists() (bool, error) {
	_, err := os.Stat(filepath.Join(s.dir, "index.json"))
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("layout %s: %w", s.dir, err)
	}
	return true, nil
}

// lock takes the layout's index lock, shared with other processes.
func (s *layoutStore) lock(ctx context.Context) (*fileLock, error) {
	l, err := acquireLock(ctx, filepath.Join(s.dir, layoutLockFile))
	if err != nil {
		return nil, fmt.Errorf("layout %s: %w", s.dir, err)
	}
	return l, nil
}

// create makes the layout if the folder does not hold one yet, and
// sweeps the temporaries of killed writers. A folder that exists, holds
// other things and no layout is refused.
func (s *layoutStore) create(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if ok, err := s.exists(); err != nil {
		return err
	} else if !ok {
		if err := s.createLocked(ctx); err != nil {
			return err
		}
	}
	s.swept.Do(func() { s.sweep(ctx) })
	return nil
}

// createLocked writes a new layout, under the index lock so that two
// processes creating it at once do not replace each other's index.json.
func (s *layoutStore) createLocked(ctx context.Context) error {
	entries, err := os.ReadDir(s.dir)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("layout %s: %w", s.dir, err)
	}
	for _, e := range entries {
		if e.Name() != layoutLockFile {
			return fmt.Errorf("layout %s: the folder is not empty and holds no OCI image layout (no index.json)", s.dir)
		}
	}
	if err := os.MkdirAll(s.dir, 0o755); err != nil {
		return fmt.Errorf("creating layout %s: %w", s.dir, err)
	}
	l, err := s.lock(ctx)
	if err != nil {
		return err
	}
	defer l.release()
	if ok, err := s.exists(); ok || err != nil {
		return err
	}
	if _, err := layout.Write(s.dir, empty.Index); err != nil {
		return fmt.Errorf("creating layout %s: %w", s.dir, err)
	}
	return nil
}

// sweep removes the temporary blobs of writers that are gone, and, under
// the index lock (which every writer of index.json holds), any temporary
// index.json left behind. Failures are ignored.
func (s *layoutStore) sweep(ctx context.Context) {
	sweepTemps(filepath.Join(s.dir, "blobs", "sha256"), blobTempPrefix)
	l, err := s.lock(ctx)
	if err != nil {
		return
	}
	defer l.release()
	entries, _ := os.ReadDir(s.dir)
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), ".tmp-index.json-") {
			os.Remove(filepath.Join(s.dir, e.Name()))
		}
	}
}

func (s *layoutStore) HasBlob(_ context.Context, desc v1.Descriptor) (bool, error) {
	fi, err := os.Stat(s.blobPath(desc.Digest))
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("layout %s: blob %s: %w", s.dir, desc.Digest, err)
	}
	return fi.Mode().IsRegular() && fi.Size() == desc.Size, nil
}

func (s *layoutStore) PutBlob(ctx context.Context, desc v1.Descriptor, open func() (io.ReadCloser, error)) error {
	if err := s.create(ctx); err != nil {
		return err
	}
	if ok, err := s.HasBlob(ctx, desc); ok || err != nil {
		return err
	}
	r, err := open()
	if err != nil {
		return err
	}
	defer r.Close()
	return s.writeBlob(ctx, desc, r)
}

// writeBlob copies r into the blob desc names, checking its size and
// digest before the blob appears under its name.
func (s *layoutStore) writeBlob(ctx context.Context, desc v1.Descriptor, r io.Reader) (err error) {
	if desc.Digest.Algorithm != "sha256" {
		return fmt.Errorf("layout %s: blob %s: only sha256 digests are supported", s.dir, desc.Digest)
	}
	dir := filepath.Dir(s.blobPath(desc.Digest))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("layout %s: %w", s.dir, err)
	}
	f, err := os.CreateTemp(dir, tempPrefix(blobTempPrefix)+desc.Digest.Hex[:12]+"-*")
	if err != nil {
		return fmt.Errorf("layout %s: %w", s.dir, err)
	}
	holdLock(f)
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(f.Name())
		}
	}()
	if err := f.Chmod(0o644); err != nil {
		return fmt.Errorf("layout %s: %w", s.dir, err)
	}
	h := sha256.New()
	buf := getBuffer()
	defer putBuffer(buf)
	n, err := io.CopyBuffer(io.MultiWriter(f, h), io.LimitReader(ctxReader{ctx, r}, desc.Size+1), *buf)
	if err != nil {
		return fmt.Errorf("layout %s: writing blob %s: %w", s.dir, desc.Digest, err)
	}
	if n != desc.Size {
		return fmt.Errorf("layout %s: blob %s: got %d bytes, want %d", s.dir, desc.Digest, n, desc.Size)
	}
	if got := "sha256:" + hex.EncodeToString(h.Sum(nil)); got != desc.Digest.String() {
		return fmt.Errorf("layout %s: blob %s: content has digest %s", s.dir, desc.Digest, got)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("layout %s: writing blob %s: %w", s.dir, desc.Digest, err)
	}
	if err := os.Rename(f.Name(), s.blobPath(desc.Digest)); err != nil {
		return fmt.Errorf("layout %s: storing blob %s: %w", s.dir, desc.Digest, err)
	}
	return nil
}

func (s *layoutStore) GetBlob(_ context.Context, desc v1.Descriptor) (io.ReadCloser, error) {
	rc, err := s.path.Blob(desc.Digest)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, wrapNotFound(fmt.Sprintf("layout %s: blob %s", s.dir, desc.Digest), err)
	}
	if err != nil {
		return nil, fmt.Errorf("layout %s: blob %s: %w", s.dir, desc.Digest, err)
	}
	return rc, nil
}

func (s *layoutStore) PutManifest(ctx context.Context, desc v1.Descriptor, raw []byte) error {
	open := func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(raw)), nil }
	return s.PutBlob(ctx, desc, open)
}

func (s *layoutStore) GetManifest(ctx context.Context, reference string) (v1.Descriptor, []byte, error) {
	var desc v1.Descriptor
	if h, err := v1.NewHash(reference); err == nil {
		desc.Digest = h
	} else {
		index, err := s.index()
		if err != nil {
			return v1.Descriptor{}, nil, err
		}
		found := false
		for _, d := range index.Manifests {
			if d.Annotations[annotationRefName] == reference {
				desc, found = d, true
			}
		}
		if !found {
			return v1.Descriptor{}, nil, fmt.Errorf("layout %s: tag %s: %w", s.dir, reference, ErrNotFound)
		}
	}
	rc, err := s.GetBlob(ctx, desc)
	if err != nil {
		return v1.Descriptor{}, nil, err
	}
	defer rc.Close()
	raw, err := io.ReadAll(io.LimitReader(rc, maxManifestSize+1))
	if err != nil {
		return v1.Descriptor{}, nil, fmt.Errorf("layout %s: manifest %s: %w", s.dir, desc.Digest, err)
	}
	return describeManifest(raw, desc.Digest)
}

// maxManifestSize bounds the manifests read into memory.
const maxManifestSize = 4 << 20

// describeManifest returns the descriptor of a raw manifest, checking it
// against want when want is set.
func describeManifest(raw []byte, want v1.Hash) (v1.Descriptor, []byte, error) {
	if len(raw) > maxManifestSize {
		return v1.Descriptor{}, nil, fmt.Errorf("manifest larger than %d bytes", maxManifestSize)
	}
	h, n, err := v1.SHA256(bytes.NewReader(raw))
	if err != nil {
		return v1.Descriptor{}, nil, fmt.Errorf("hashing manifest: %w", err)
	}
	if want != (v1.Hash{}) && h != want {
		return v1.Descriptor{}, nil, fmt.Errorf("manifest %s: content has digest %s", want, h)
	}
	var m struct {
		MediaType types.MediaType `json:"mediaType"`
	}
	if err := json.Unmarshal(raw, &m); err != nil {
		return v1.Descriptor{}, nil, fmt.Errorf("manifest %s: %w", h, err)
	}
	mt := m.MediaType
	if mt == "" {
		mt = types.OCIManifestSchema1
	}
	return v1.Descriptor{MediaType: mt, Digest: h, Size: n}, raw, nil
}

// index reads index.json.
// indexCache holds the last index.json read of each layout, by path,
// with the stamp of the file it was read from: looking up a tag (as
// verifying, listing and indexing do, many times per layout) reads the
// file again only when it was replaced.
var indexCache sync.Map // string -> cachedIndex

type cachedIndex struct {
	stamp fileStamp
	index *v1.IndexManifest
}

// index returns the layout's index.json; the caller may change the
// returned value's Manifests slice.
func (s *layoutStore) index() (*v1.IndexManifest, error) {
	if ok, err := s.exists(); err != nil {
		return nil, err
	} else if !ok {
		return nil, fmt.Errorf("layout %s: no OCI image layout (index.json): %w", s.dir, ErrNotFound)
	}
	name := filepath.Join(s.dir, "index.json")
	if abs, err := filepath.Abs(name); err == nil {
		name = abs
	}
	fi, err := os.Stat(name)
	if err != nil {
		return nil, fmt.Errorf("layout %s: %w", s.dir, err)
	}
	st := stampOf(fi)
	if c, ok := indexCache.Load(name); ok && c.(cachedIndex).stamp == st {
		return copyIndex(c.(cachedIndex).index), nil
	}
	ii, err := s.path.ImageIndex()
	if err != nil {
		return nil, fmt.Errorf("layout %s: %w", s.dir, err)
	}
	index, err := ii.IndexManifest()
	if err != nil {
		return nil, fmt.Errorf("layout %s: reading index.json: %w", s.dir, err)
	}
	// A file replaced within the same clock tick as st could keep its
	// stamp; such a recent one is not cached.
	if !st.racy(time.Now()) {
		indexCache.Store(name, cachedIndex{st, copyIndex(index)})
	}
	return index, nil
}

func copyIndex(in *v1.IndexManifest) *v1.IndexManifest {
	out := *in
	out.Manifests = append([]v1.Descriptor(nil), in.Manifests...)
	return &out
}

func (s *layoutStore) Tag(ctx context.Context, tag string, desc v1.Descriptor) error {
	return s.moveTag(ctx, tag, desc, nil)
}

// SwapTag points tag at desc only if it names old now (the zero hash: if
// the tag does not exist), checked and changed under the index lock; it
// fails with ErrTagMoved otherwise.
func (s *layoutStore) SwapTag(ctx context.Context, tag string, old v1.Hash, desc v1.Descriptor) error {
	return s.moveTag(ctx, tag, desc, &old)
}

// moveTag points tag at desc, when old is set only if the tag names old.
// index.json is read, changed and replaced under the index lock.
func (s *layoutStore) moveTag(ctx context.Context, tag string, desc v1.Descriptor, old *v1.Hash) error {
	if ok, err := s.HasBlob(ctx, desc); err != nil {
		return err
	} else if !ok {
		return fmt.Errorf("layout %s: tagging %s: manifest %s is not stored", s.dir, tag, desc.Digest)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	l, err := s.lock(ctx)
	if err != nil {
		return err
	}
	defer l.release()
	index, err := s.index()
	if err != nil {
		return err
	}
	var current v1.Hash
	kept := index.Manifests[:0]
	for _, d := range index.Manifests {
		if d.Annotations[annotationRefName] != tag {
			kept = append(kept, d)
		} else {
			current = d.Digest
		}
	}
	if old != nil && current != *old {
		return fmt.Errorf("layout %s: tag %s names %s, not %s: %w", s.dir, tag, hashText(current), hashText(*old), ErrTagMoved)
	}
	entry := v1.Descriptor{
		MediaType:    desc.MediaType,
		Digest:       desc.Digest,
		Size:         desc.Size,
		ArtifactType: desc.ArtifactType,
		Annotations:  map[string]string{annotationRefName: tag},
	}
	index.Manifests = append(kept, entry)
	raw, err := json.MarshalIndent(index, "", "  ")
	if err != nil {
		return fmt.Errorf("layout %s: encoding index.json: %w", s.dir, err)
	}
	return atomicfile.Write(filepath.Join(s.dir, "index.json"), raw, 0o644)
}

// hashText writes a digest, or "nothing" for the zero hash.
func hashText(h v1.Hash) string {
	if h == (v1.Hash{}) {
		return "nothing"
	}
	return h.String()
}

func (s *layoutStore) Tags(context.Context) ([]Tag, error) {
	index, err := s.index()
	if err != nil {
		return nil, err
	}
	var tags []Tag
	for _, d := range index.Manifests {
		if name := d.Annotations[annotationRefName]; name != "" {
			tags = append(tags, Tag{Name: name, Digest: d.Digest})
		}
	}
	return sortTags(tags), nil
}

// ctxReader fails reads once its context is done.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}

// bufferSize is the size of the buffers files are read and written with.
const bufferSize = 1 << 20

var buffers = sync.Pool{New: func() any { b := make([]byte, bufferSize); return &b }}

func getBuffer() *[]byte  { return buffers.Get().(*[]byte) }
func putBuffer(b *[]byte) { buffers.Put(b) }
