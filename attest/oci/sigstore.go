package oci

import (
	"bytes"
	"context"
	"fmt"
	"io"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"golang.org/x/sync/errgroup"
)

// Helpers for packages that attach objects to artifacts (signatures,
// attestations): they work on any manifest, not only on models, and go
// through a Store, so a layout and a registry behave alike.

// Resolve returns the descriptor and the bytes of the manifest ref names:
// its digest, else its tag, else "latest".
func Resolve(ctx context.Context, store Store, ref Ref) (v1.Descriptor, []byte, error) {
	desc, raw, err := store.GetManifest(ctx, ref.reference())
	if err != nil {
		return v1.Descriptor{}, nil, fmt.Errorf("reading %s: %w", ref, err)
	}
	return desc, raw, nil
}

// WriteImage stores img in the store and points tag at it: the config and
// the layers the store lacks, several at once, then the manifest by
// digest, then the tag, so a failed write moves no tag. It returns the
// manifest's descriptor.
func WriteImage(ctx context.Context, store Store, img v1.Image, tag string, opts Options) (v1.Descriptor, error) {
	raw, err := img.RawManifest()
	if err != nil {
		return v1.Descriptor{}, fmt.Errorf("writing %s: %w", tag, err)
	}
	m, err := img.Manifest()
	if err != nil {
		return v1.Descriptor{}, fmt.Errorf("writing %s: %w", tag, err)
	}
	config, err := img.RawConfigFile()
	if err != nil {
		return v1.Descriptor{}, fmt.Errorf("writing %s: config: %w", tag, err)
	}
	layers, err := img.Layers()
	if err != nil {
		return v1.Descriptor{}, fmt.Errorf("writing %s: %w", tag, err)
	}
	if len(layers) != len(m.Layers) {
		return v1.Descriptor{}, fmt.Errorf("writing %s: %d layers, and the manifest lists %d", tag, len(layers), len(m.Layers))
	}
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(opts.concurrency())
	g.Go(func() error {
		open := func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(config)), nil }
		return putBlobIfMissing(gctx, store, m.Config, open)
	})
	for i, ld := range m.Layers {
		g.Go(func() error {
			d, err := layers[i].Digest()
			if err != nil {
				return fmt.Errorf("layer %s: %w", ld.Digest, err)
			}
			if d != ld.Digest {
				return fmt.Errorf("layer %d has digest %s, and the manifest lists %s", i, d, ld.Digest)
			}
			return putBlobIfMissing(gctx, store, ld, layers[i].Compressed)
		})
	}
	if err := g.Wait(); err != nil {
		return v1.Descriptor{}, fmt.Errorf("writing %s: %w", tag, err)
	}
	desc, _, err := describeManifest(raw, v1.Hash{})
	if err != nil {
		return v1.Descriptor{}, fmt.Errorf("writing %s: %w", tag, err)
	}
	desc.ArtifactType = m.ArtifactType
	if err := store.PutManifest(ctx, desc, raw); err != nil {
		return v1.Descriptor{}, fmt.Errorf("writing %s: %w", tag, err)
	}
	if err := store.Tag(ctx, tag, desc); err != nil {
		return v1.Descriptor{}, fmt.Errorf("writing %s: %w", tag, err)
	}
	return desc, nil
}

// putBlobIfMissing sends a blob unless the store holds it.
func putBlobIfMissing(ctx context.Context, store Store, desc v1.Descriptor, open func() (io.ReadCloser, error)) error {
	ok, err := store.HasBlob(ctx, desc)
	if err != nil {
		return err
	}
	if ok {
		return nil
	}
	return store.PutBlob(ctx, desc, open)
}
