package oci

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"runtime"
	"sort"

	"github.com/google/go-containerregistry/pkg/authn"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// Store is where artifacts live: one repository of a registry, or one OCI
// image layout. Its methods are safe for concurrent use.
type Store interface {
	// HasBlob reports whether the store holds the blob desc describes.
	HasBlob(ctx context.Context, desc v1.Descriptor) (bool, error)
	// PutBlob stores the blob desc describes, whose digest and size are
	// known, streaming it from open. The store refuses content whose
	// digest or size differ. open may be called again to retry.
	PutBlob(ctx context.Context, desc v1.Descriptor, open func() (io.ReadCloser, error)) error
	// GetBlob streams a blob. The caller verifies its digest.
	GetBlob(ctx context.Context, desc v1.Descriptor) (io.ReadCloser, error)
	// PutManifest stores a manifest by its digest, without tagging it.
	// Every blob it names must be stored first.
	PutManifest(ctx context.Context, desc v1.Descriptor, raw []byte) error
	// GetManifest returns the manifest a tag or digest names, with its
	// descriptor. The digest is computed from the bytes returned.
	GetManifest(ctx context.Context, reference string) (v1.Descriptor, []byte, error)
	// Tag points tag at a manifest already stored.
	Tag(ctx context.Context, tag string, desc v1.Descriptor) error
	// Tags lists the tags and the digests they point at, sorted by name.
	Tags(ctx context.Context) ([]Tag, error)
}

// Tag is a tag and the manifest digest it points at.
type Tag struct {
	Name   string
	Digest v1.Hash
}

// ErrNotFound is wrapped by errors about a missing layout, manifest, tag or
// blob, where the store can tell.
var ErrNotFound = errors.New("not found")

// Options are the settings every operation shares. The zero value works.
type Options struct {
	// Insecure allows plain HTTP and unverified TLS to registries.
	Insecure bool
	// Keychain finds registry credentials; nil means authn.DefaultKeychain
	// (the Docker configuration and its credential helpers).
	Keychain authn.Keychain
	// Concurrency is how many files are hashed, and how many blobs are
	// sent or received, at once; 0 means 4.
	Concurrency int
	// Progress, when set, receives events about each file. Calls are
	// serialized.
	Progress func(Progress)
	// Transport carries the HTTP requests to registries; nil means a
	// clone of go-containerregistry's default transport.
	Transport http.RoundTripper

	// backoff replaces the retry schedule (tests).
	backoff *remote.Backoff
}

func (o *Options) concurrency() int {
	if o.Concurrency > 0 {
		return o.Concurrency
	}
	return 4
}

// hashers is how many files are hashed at once: the concurrency, at most
// one per CPU.
func (o *Options) hashers() int {
	return max(1, min(o.concurrency(), runtime.GOMAXPROCS(0)))
}

// Phase is the step of a file's transfer a Progress event reports.
type Phase string

// Phases of Progress events.
const (
	// PhaseHash: the file is being hashed (push).
	PhaseHash Phase = "hash"
	// PhaseUpload: the blob is being sent (push, copy).
	PhaseUpload Phase = "upload"
	// PhaseSkip: the store already held the blob; nothing was sent.
	PhaseSkip Phase = "skip"
	// PhaseDownload: the blob is being received and written (pull).
	PhaseDownload Phase = "download"
	// PhaseDone: the file is stored or written.
	PhaseDone Phase = "done"
)

// Progress reports how far one file's transfer has come.
type Progress struct {
	// Path is the file's path in the model; "" for the config blob.
	Path  string
	Phase Phase
	// Bytes is how many bytes of this phase are done, of Size.
	Bytes int64
	Size  int64
}

// OpenStore returns the store ref names: the OCI image layout at
// ref.Layout, created at the first write, or the registry repository.
func OpenStore(ref Ref, opts Options) (Store, error) {
	if ref.IsLayout() {
		return newLayoutStore(ref.Layout), nil
	}
	return newRemoteStore(ref, &opts)
}

// sortTags sorts tags by name.
func sortTags(tags []Tag) []Tag {
	sort.Slice(tags, func(i, j int) bool { return tags[i].Name < tags[j].Name })
	return tags
}

// wrapNotFound marks err as ErrNotFound.
func wrapNotFound(what string, err error) error {
	return fmt.Errorf("%s: %w (%w)", what, ErrNotFound, err)
}
