package oci

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"hash"
	"io"
	"os"
	"path/filepath"
	"sync"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/stream"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// blobStreamer is a Store that takes a blob whose digest it learns while
// the blob is sent, so a file never seen before is read once: hashed on
// its way to the store rather than hashed, then read again to be sent.
type blobStreamer interface {
	// StreamBlob stores the size bytes open returns and gives their
	// digest. open is called again for each retry.
	StreamBlob(ctx context.Context, size int64, open func() (io.ReadCloser, error)) (v1.Hash, error)
}

// hashingReader hashes what is read through it and counts it.
type hashingReader struct {
	r io.Reader
	h hash.Hash
	n int64
}

func (h *hashingReader) Read(p []byte) (int, error) {
	n, err := h.r.Read(p)
	h.h.Write(p[:n])
	h.n += int64(n)
	return n, err
}

func (h *hashingReader) digest() v1.Hash {
	return v1.Hash{Algorithm: "sha256", Hex: hex.EncodeToString(h.h.Sum(nil))}
}

// StreamBlob writes the blob to a temporary file beside the blobs while
// hashing it, then renames it to its digest.
func (s *layoutStore) StreamBlob(ctx context.Context, size int64, open func() (io.ReadCloser, error)) (_ v1.Hash, err error) {
	if err := s.create(ctx); err != nil {
		return v1.Hash{}, err
	}
	dir := filepath.Join(s.dir, "blobs", "sha256")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return v1.Hash{}, fmt.Errorf("layout %s: %w", s.dir, err)
	}
	r, err := open()
	if err != nil {
		return v1.Hash{}, err
	}
	defer r.Close()
	f, err := os.CreateTemp(dir, tempPrefix(blobTempPrefix)+"stream-*")
	if err != nil {
		return v1.Hash{}, fmt.Errorf("layout %s: %w", s.dir, err)
	}
	holdLock(f)
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(f.Name())
		}
	}()
	if err := f.Chmod(0o644); err != nil {
		return v1.Hash{}, fmt.Errorf("layout %s: %w", s.dir, err)
	}
	hr := &hashingReader{r: ctxReader{ctx, r}, h: sha256.New()}
	buf := getBuffer()
	defer putBuffer(buf)
	if _, err := io.CopyBuffer(f, hr, *buf); err != nil {
		return v1.Hash{}, fmt.Errorf("layout %s: writing blob: %w", s.dir, err)
	}
	if hr.n != size {
		return v1.Hash{}, fmt.Errorf("layout %s: blob: got %d bytes, want %d (did the file change?)", s.dir, hr.n, size)
	}
	if err := f.Close(); err != nil {
		return v1.Hash{}, fmt.Errorf("layout %s: writing blob: %w", s.dir, err)
	}
	h := hr.digest()
	if err := os.Rename(f.Name(), s.blobPath(h)); err != nil {
		return v1.Hash{}, fmt.Errorf("layout %s: storing blob %s: %w", s.dir, h, err)
	}
	return h, nil
}

// StreamBlob uploads the blob through go-containerregistry as a layer
// whose digest is not computed yet: it is sent in one PATCH of an upload
// session, hashed on the way, and committed with the digest known at the
// end. Transient failures are retried, reading the blob again.
func (s *remoteStore) StreamBlob(ctx context.Context, size int64, open func() (io.ReadCloser, error)) (v1.Hash, error) {
	p, err := s.getPusher()
	if err != nil {
		return v1.Hash{}, err
	}
	l := &streamingLayer{size: size, open: open}
	if err := p.Upload(ctx, s.repo, l); err != nil {
		return v1.Hash{}, fmt.Errorf("registry %s: uploading blob: %w", s.repo, err)
	}
	return l.Digest()
}

// streamingLayer is a blob hashed as it is read. Its digest is
// stream.ErrNotComputed until the last byte is read, which makes
// go-containerregistry upload it without asking first whether the
// registry holds it, and commit it with the digest it has at the end.
type streamingLayer struct {
	size int64
	open func() (io.ReadCloser, error)

	mu     sync.Mutex
	digest *v1.Hash
}

func (l *streamingLayer) Digest() (v1.Hash, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.digest == nil {
		return v1.Hash{}, stream.ErrNotComputed
	}
	return *l.digest, nil
}

func (l *streamingLayer) DiffID() (v1.Hash, error) { return l.Digest() }
func (l *streamingLayer) Size() (int64, error)     { return l.size, nil }
func (l *streamingLayer) MediaType() (types.MediaType, error) {
	return types.MediaType("application/octet-stream"), nil
}
func (l *streamingLayer) Uncompressed() (io.ReadCloser, error) { return l.Compressed() }

// Compressed opens the blob for one try of the upload; the digest is set
// when that try has read exactly size bytes.
func (l *streamingLayer) Compressed() (io.ReadCloser, error) {
	rc, err := l.open()
	if err != nil {
		return nil, err
	}
	return &streamReader{rc: rc, hr: hashingReader{r: rc, h: sha256.New()}, l: l}, nil
}

type streamReader struct {
	rc io.ReadCloser
	hr hashingReader
	l  *streamingLayer
}

func (r *streamReader) Read(p []byte) (int, error) {
	n, err := r.hr.Read(p)
	if r.hr.n > r.l.size {
		return n, fmt.Errorf("read more than %d bytes (did the file change?)", r.l.size)
	}
	if err == io.EOF {
		if r.hr.n != r.l.size {
			return n, fmt.Errorf("read %d bytes, want %d (did the file change?)", r.hr.n, r.l.size)
		}
		h := r.hr.digest()
		r.l.mu.Lock()
		r.l.digest = &h
		r.l.mu.Unlock()
	}
	return n, err
}

func (r *streamReader) Close() error { return r.rc.Close() }
