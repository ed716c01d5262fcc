package oci

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"sync"
	"syscall"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"golang.org/x/sync/errgroup"
)

// defaultBackoff is the retry schedule of registry requests: four tries,
// waiting about 1 s, 2 s and 4 s between them.
var defaultBackoff = remote.Backoff{Duration: time.Second, Factor: 2, Jitter: 0.1, Steps: 4}

// remoteStore is one repository of a registry, reached through
// go-containerregistry's remote package. The pusher (push scope) and the
// puller (pull scope) are made at first use, so a store that only reads
// never asks for push access.
type remoteStore struct {
	repo name.Repository
	opts []remote.Option

	pushOnce sync.Once
	pusher   *remote.Pusher
	pushErr  error

	swapOnce   sync.Once
	swapPusher *remote.Pusher
	swapErr    error

	pullOnce sync.Once
	puller   *remote.Puller
	pullErr  error

	mu        sync.Mutex
	manifests map[v1.Hash][]byte // manifests put, for Tag
}

func newRemoteStore(ref Ref, o *Options) (*remoteStore, error) {
	nameOpts := []name.Option{name.StrictValidation}
	if o.Insecure {
		nameOpts = append(nameOpts, name.Insecure)
	}
	repo, err := name.NewRepository(ref.Registry+"/"+ref.Repository, nameOpts...)
	if err != nil {
		return nil, fmt.Errorf("repository %s/%s: %w", ref.Registry, ref.Repository, err)
	}
	keychain := o.Keychain
	if keychain == nil {
		keychain = authn.DefaultKeychain
	}
	tr := o.Transport
	if tr == nil {
		t := remote.DefaultTransport.(*http.Transport).Clone()
		if o.Insecure {
			t.TLSClientConfig = &tls.Config{InsecureSkipVerify: true}
		}
		// Larger buffers than net/http's 4 KiB cut the system calls per
		// blob.
		t.WriteBufferSize = 256 << 10
		t.ReadBufferSize = 256 << 10
		tr = t
	}
	backoff := defaultBackoff
	if o.backoff != nil {
		backoff = *o.backoff
	}
	return &remoteStore{
		repo: repo,
		opts: []remote.Option{
			remote.WithAuthFromKeychain(keychain),
			remote.WithTransport(tr),
			remote.WithRetryBackoff(backoff),
			remote.WithRetryPredicate(retryable),
			remote.WithUserAgent("cairn"),
		},
		manifests: map[v1.Hash][]byte{},
	}, nil
}

// retryable reports whether a failed request is worth another try: the
// registry or the network said the failure is temporary (5xx, 429, 408),
// or the connection broke.
func retryable(err error) bool {
	if err == nil || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return false
	}
	var temp interface{ Temporary() bool }
	if errors.As(err, &temp) && temp.Temporary() {
		return true
	}
	return errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) ||
		errors.Is(err, syscall.EPIPE) || errors.Is(err, syscall.ECONNRESET) ||
		errors.Is(err, net.ErrClosed)
}

// errBlobRace marks a manifest the registry refused because a blob it
// names looked unknown or invalid for a moment: the distribution
// registry's filesystem storage rewrites a repository's link to a blob in
// place, so a writer storing the same blob at that moment (as signers of
// one artifact do: cosign's payload is the same for every key) makes it
// unreadable. Writing the manifest again succeeds.
var errBlobRace = errors.New("a blob it names was being stored by another writer")

// markBlobRace wraps err with errBlobRace when the registry refused a
// manifest for an unknown blob or an invalid digest.
func markBlobRace(err error) error {
	var terr *transport.Error
	if !errors.As(err, &terr) {
		return err
	}
	for _, d := range terr.Errors {
		switch d.Code {
		case transport.ManifestBlobUnknownErrorCode, transport.BlobUnknownErrorCode, transport.DigestInvalidErrorCode:
			return fmt.Errorf("%w (%w)", errBlobRace, err)
		}
	}
	return err
}

func (s *remoteStore) getPusher() (*remote.Pusher, error) {
	s.pushOnce.Do(func() { s.pusher, s.pushErr = remote.NewPusher(s.opts...) })
	if s.pushErr != nil {
		return nil, fmt.Errorf("registry %s: %w", s.repo, s.pushErr)
	}
	return s.pusher, nil
}

func (s *remoteStore) getPuller() (*remote.Puller, error) {
	s.pullOnce.Do(func() { s.puller, s.pullErr = remote.NewPuller(s.opts...) })
	if s.pullErr != nil {
		return nil, fmt.Errorf("registry %s: %w", s.repo, s.pullErr)
	}
	return s.puller, nil
}

// notFound marks registry 404 errors as ErrNotFound.
func notFound(what string, err error) error {
	var terr *transport.Error
	if errors.As(err, &terr) && terr.StatusCode == http.StatusNotFound {
		return wrapNotFound(what, err)
	}
	return fmt.Errorf("%s: %w", what, err)
}

func (s *remoteStore) HasBlob(ctx context.Context, desc v1.Descriptor) (bool, error) {
	p, err := s.getPuller()
	if err != nil {
		return false, err
	}
	l, err := p.Layer(ctx, s.repo.Digest(desc.Digest.String()))
	if err != nil {
		return false, fmt.Errorf("registry %s: blob %s: %w", s.repo, desc.Digest, err)
	}
	exister, ok := l.(interface{ Exists() (bool, error) })
	if !ok {
		return false, fmt.Errorf("registry %s: blob %s: cannot check existence", s.repo, desc.Digest)
	}
	ok, err = exister.Exists()
	if err != nil {
		return false, fmt.Errorf("registry %s: blob %s: %w", s.repo, desc.Digest, err)
	}
	return ok, nil
}

func (s *remoteStore) PutBlob(ctx context.Context, desc v1.Descriptor, open func() (io.ReadCloser, error)) error {
	p, err := s.getPusher()
	if err != nil {
		return err
	}
	if err := p.Upload(ctx, s.repo, &blobLayer{desc: desc, open: open}); err != nil {
		return fmt.Errorf("registry %s: uploading blob %s: %w", s.repo, desc.Digest, err)
	}
	return nil
}

func (s *remoteStore) GetBlob(ctx context.Context, desc v1.Descriptor) (io.ReadCloser, error) {
	p, err := s.getPuller()
	if err != nil {
		return nil, err
	}
	what := fmt.Sprintf("registry %s: blob %s", s.repo, desc.Digest)
	l, err := p.Layer(ctx, s.repo.Digest(desc.Digest.String()))
	if err != nil {
		return nil, notFound(what, err)
	}
	rc, err := l.Compressed()
	if err != nil {
		return nil, notFound(what, err)
	}
	return rc, nil
}

func (s *remoteStore) PutManifest(ctx context.Context, desc v1.Descriptor, raw []byte) error {
	p, err := s.getPusher()
	if err != nil {
		return err
	}
	if err := p.Push(ctx, s.repo.Digest(desc.Digest.String()), rawManifest{raw, desc.MediaType}); err != nil {
		return fmt.Errorf("registry %s: putting manifest %s: %w", s.repo, desc.Digest, markBlobRace(err))
	}
	s.mu.Lock()
	s.manifests[desc.Digest] = raw
	s.mu.Unlock()
	return nil
}

func (s *remoteStore) GetManifest(ctx context.Context, reference string) (v1.Descriptor, []byte, error) {
	p, err := s.getPuller()
	if err != nil {
		return v1.Descriptor{}, nil, err
	}
	var (
		ref  name.Reference
		want v1.Hash
	)
	if h, err := v1.NewHash(reference); err == nil {
		ref, want = s.repo.Digest(reference), h
	} else {
		ref = s.repo.Tag(reference)
	}
	d, err := p.Get(ctx, ref)
	if err != nil {
		return v1.Descriptor{}, nil, notFound(fmt.Sprintf("registry %s: manifest %s", s.repo, reference), err)
	}
	desc, raw, err := describeManifest(d.Manifest, want)
	if err != nil {
		return v1.Descriptor{}, nil, fmt.Errorf("registry %s: %w", s.repo, err)
	}
	return desc, raw, nil
}

func (s *remoteStore) Tag(ctx context.Context, tag string, desc v1.Descriptor) error {
	p, err := s.getPusher()
	if err != nil {
		return err
	}
	return s.tagWith(ctx, p, tag, desc)
}

// tagOnce is Tag in one request, never retried: a tag moved after
// checking what it names must not land later than the check allows (see
// swapTag); a failure is retried by checking again.
func (s *remoteStore) tagOnce(ctx context.Context, tag string, desc v1.Descriptor) error {
	s.swapOnce.Do(func() {
		opts := append(slices.Clone(s.opts), remote.WithRetryBackoff(remote.Backoff{Duration: time.Millisecond, Factor: 1, Steps: 1}))
		s.swapPusher, s.swapErr = remote.NewPusher(opts...)
	})
	if s.swapErr != nil {
		return fmt.Errorf("registry %s: %w", s.repo, s.swapErr)
	}
	return s.tagWith(ctx, s.swapPusher, tag, desc)
}

// tagWith puts the manifest desc names under tag through p.
func (s *remoteStore) tagWith(ctx context.Context, p *remote.Pusher, tag string, desc v1.Descriptor) error {
	s.mu.Lock()
	raw, ok := s.manifests[desc.Digest]
	s.mu.Unlock()
	if !ok {
		var err error
		if _, raw, err = s.GetManifest(ctx, desc.Digest.String()); err != nil {
			return err
		}
	}
	if err := p.Push(ctx, s.repo.Tag(tag), rawManifest{raw, desc.MediaType}); err != nil {
		return fmt.Errorf("registry %s: tagging %s: %w", s.repo, tag, markBlobRace(err))
	}
	return nil
}

// headTag returns the digest tag names, or the zero hash when the tag
// does not exist.
func (s *remoteStore) headTag(ctx context.Context, tag string) (v1.Hash, error) {
	p, err := s.getPuller()
	if err != nil {
		return v1.Hash{}, err
	}
	d, err := p.Head(ctx, s.repo.Tag(tag))
	var terr *transport.Error
	if errors.As(err, &terr) && terr.StatusCode == http.StatusNotFound {
		return v1.Hash{}, nil
	}
	if err != nil {
		return v1.Hash{}, fmt.Errorf("registry %s: tag %s: %w", s.repo, tag, err)
	}
	return d.Digest, nil
}

func (s *remoteStore) Tags(ctx context.Context) ([]Tag, error) {
	p, err := s.getPuller()
	if err != nil {
		return nil, err
	}
	names, err := p.List(ctx, s.repo)
	if err != nil {
		return nil, notFound(fmt.Sprintf("registry %s: listing tags", s.repo), err)
	}
	tags := make([]Tag, len(names))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(8)
	for i, n := range names {
		g.Go(func() error {
			d, err := p.Head(gctx, s.repo.Tag(n))
			if err != nil {
				return fmt.Errorf("registry %s: tag %s: %w", s.repo, n, err)
			}
			tags[i] = Tag{Name: n, Digest: d.Digest}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	return sortTags(tags), nil
}

// rawManifest is a manifest go-containerregistry can put as it is.
type rawManifest struct {
	raw       []byte
	mediaType types.MediaType
}

func (m rawManifest) RawManifest() ([]byte, error)        { return m.raw, nil }
func (m rawManifest) MediaType() (types.MediaType, error) { return m.mediaType, nil }

// blobLayer is a blob of known digest and size, read from open, in the
// shape go-containerregistry uploads. It is never compressed.
type blobLayer struct {
	desc v1.Descriptor
	open func() (io.ReadCloser, error)
}

func (l *blobLayer) Digest() (v1.Hash, error)             { return l.desc.Digest, nil }
func (l *blobLayer) DiffID() (v1.Hash, error)             { return l.desc.Digest, nil }
func (l *blobLayer) Size() (int64, error)                 { return l.desc.Size, nil }
func (l *blobLayer) MediaType() (types.MediaType, error)  { return l.desc.MediaType, nil }
func (l *blobLayer) Compressed() (io.ReadCloser, error)   { return l.open() }
func (l *blobLayer) Uncompressed() (io.ReadCloser, error) { return l.open() }
