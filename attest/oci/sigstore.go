package oci

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"time"

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
	desc, _, err := writeImage(ctx, store, img, tag, opts)
	if err != nil {
		return v1.Descriptor{}, err
	}
	if err := store.Tag(ctx, tag, desc); err != nil {
		return v1.Descriptor{}, fmt.Errorf("writing %s: %w", tag, err)
	}
	return desc, nil
}

// writeImage stores img's config, its layers the store lacks and its
// manifest by digest, without tagging it, and returns the manifest.
func writeImage(ctx context.Context, store Store, img v1.Image, tag string, opts Options) (v1.Descriptor, *v1.Manifest, error) {
	raw, err := img.RawManifest()
	if err != nil {
		return v1.Descriptor{}, nil, fmt.Errorf("writing %s: %w", tag, err)
	}
	m, err := img.Manifest()
	if err != nil {
		return v1.Descriptor{}, nil, fmt.Errorf("writing %s: %w", tag, err)
	}
	config, err := img.RawConfigFile()
	if err != nil {
		return v1.Descriptor{}, nil, fmt.Errorf("writing %s: config: %w", tag, err)
	}
	layers, err := img.Layers()
	if err != nil {
		return v1.Descriptor{}, nil, fmt.Errorf("writing %s: %w", tag, err)
	}
	if len(layers) != len(m.Layers) {
		return v1.Descriptor{}, nil, fmt.Errorf("writing %s: %d layers, and the manifest lists %d", tag, len(layers), len(m.Layers))
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
		return v1.Descriptor{}, nil, fmt.Errorf("writing %s: %w", tag, err)
	}
	desc, _, err := describeManifest(raw, v1.Hash{})
	if err != nil {
		return v1.Descriptor{}, nil, fmt.Errorf("writing %s: %w", tag, err)
	}
	desc.ArtifactType = m.ArtifactType
	if err := store.PutManifest(ctx, desc, raw); err != nil {
		return v1.Descriptor{}, nil, fmt.Errorf("writing %s: %w", tag, err)
	}
	return desc, m, nil
}

// ErrTagMoved is wrapped by the error of a tag update that found the tag
// moved by another writer since it was read.
var ErrTagMoved = errors.New("the tag was moved by another writer")

// tagSwapper is a store that can point a tag at a manifest only if the
// tag still names another, as one atomic step (an OCI layout, under its
// lock). A registry has no such operation.
type tagSwapper interface {
	SwapTag(ctx context.Context, tag string, old v1.Hash, desc v1.Descriptor) error
}

// EditFunc returns the image to replace base with: base is the manifest a
// tag names now, raw its bytes (nil when the tag does not exist). A nil
// image leaves the tag as it is.
type EditFunc func(ctx context.Context, base v1.Descriptor, raw []byte) (v1.Image, error)

// updateTries bounds the read-modify-write cycles of UpdateImage.
const updateTries = 20

// UpdateImage is a read-modify-write of the image a tag names (as for
// cosign's .sig and .att tags, to which each signer appends a layer) that
// loses no concurrent writer's update. It reads the tag, lets edit make
// the new image, writes it as WriteImage does, and moves the tag only if
// it still names the manifest read: a layout checks and moves it under its
// lock, in one step; a registry, which cannot, is asked just before the
// tag is moved. It then reads the tag back, after a pause on a registry,
// and checks that every layer the new image added is there. When another
// writer got in between, it starts again, after a short random wait, at
// most 20 times, and then fails; so it does when a registry refuses the
// manifest for a blob that another writer was storing at that moment
// (errBlobRace). It returns the manifest the tag names at
// the end (base when edit wrote nothing).
func UpdateImage(ctx context.Context, store Store, tag string, edit EditFunc, opts Options) (v1.Descriptor, error) {
	var err error
	for try := range updateTries {
		if try > 0 {
			if werr := sleepCtx(ctx, updateBackoff(try)); werr != nil {
				return v1.Descriptor{}, fmt.Errorf("updating %s: %w", tag, werr)
			}
		}
		var desc v1.Descriptor
		desc, err = updateOnce(ctx, store, tag, edit, opts)
		if !errors.Is(err, ErrTagMoved) && !errors.Is(err, errBlobRace) {
			return desc, err
		}
	}
	return v1.Descriptor{}, fmt.Errorf("updating %s: other writers moved the tag %d times in a row, giving up: %w", tag, updateTries, err)
}

// updateOnce is one read-modify-write cycle of UpdateImage; an error
// wrapping ErrTagMoved says it lost a race and should be run again.
func updateOnce(ctx context.Context, store Store, tag string, edit EditFunc, opts Options) (v1.Descriptor, error) {
	start := time.Now()
	base, raw, err := store.GetManifest(ctx, tag)
	if errors.Is(err, ErrNotFound) {
		base, raw = v1.Descriptor{}, nil
	} else if err != nil {
		return v1.Descriptor{}, fmt.Errorf("reading %s: %w", tag, err)
	}
	img, err := edit(ctx, base, raw)
	if err != nil || img == nil {
		return base, err
	}
	desc, m, err := writeImage(ctx, store, img, tag, opts)
	if err != nil {
		return v1.Descriptor{}, err
	}
	if err := swapTag(ctx, store, tag, base.Digest, desc); err != nil {
		return v1.Descriptor{}, fmt.Errorf("writing %s: %w", tag, err)
	}
	if _, atomic := store.(tagSwapper); !atomic {
		if err := sleepCtx(ctx, settleTime(time.Since(start))); err != nil {
			return v1.Descriptor{}, fmt.Errorf("writing %s: %w", tag, err)
		}
	}
	return confirmLayers(ctx, store, tag, m, raw)
}

// checkedTagger is a store that can tell what a tag names and move it in
// one request, without retries (a registry).
type checkedTagger interface {
	headTag(ctx context.Context, tag string) (v1.Hash, error)
	tagOnce(ctx context.Context, tag string, desc v1.Descriptor) error
}

// swapTag points tag at desc if it names old now (the zero hash: if it
// does not exist), else fails with ErrTagMoved. A registry is asked what
// the tag names just before it is moved, in a request never retried, so
// that the check is at most one round trip old when the tag lands; a
// request failing for a transient reason is a lost race, to start again
// from reading the tag.
func swapTag(ctx context.Context, store Store, tag string, old v1.Hash, desc v1.Descriptor) error {
	if s, ok := store.(tagSwapper); ok {
		return s.SwapTag(ctx, tag, old, desc)
	}
	var current v1.Hash
	c, checked := store.(checkedTagger)
	if checked {
		var err error
		if current, err = c.headTag(ctx, tag); err != nil {
			return err
		}
	} else if d, _, err := store.GetManifest(ctx, tag); err == nil {
		current = d.Digest
	} else if !errors.Is(err, ErrNotFound) {
		return err
	}
	if current != old {
		return fmt.Errorf("tag %s names %s, not %s: %w", tag, hashText(current), hashText(old), ErrTagMoved)
	}
	if !checked {
		return store.Tag(ctx, tag, desc)
	}
	err := c.tagOnce(ctx, tag, desc)
	if err != nil && retryable(err) {
		return fmt.Errorf("%w (%w)", ErrTagMoved, err)
	}
	return err
}

// confirmLayers reads tag back and checks that the manifest it names
// holds every layer of written that base (raw bytes; nil for none) did
// not; it fails with ErrTagMoved when one is missing. Layers are compared
// whole (digest, media type, annotations): cosign's signatures by two keys
// share the payload's digest and differ in their annotations.
func confirmLayers(ctx context.Context, store Store, tag string, written *v1.Manifest, base []byte) (v1.Descriptor, error) {
	desc, raw, err := store.GetManifest(ctx, tag)
	if errors.Is(err, ErrNotFound) {
		return v1.Descriptor{}, fmt.Errorf("reading %s back: %w", tag, ErrTagMoved)
	}
	if err != nil {
		return v1.Descriptor{}, fmt.Errorf("reading %s back: %w", tag, err)
	}
	had, err := layerSet(base)
	if err != nil {
		return v1.Descriptor{}, fmt.Errorf("reading %s: %w", tag, err)
	}
	have, err := layerSet(raw)
	if err != nil {
		return v1.Descriptor{}, fmt.Errorf("reading %s back: %w", tag, err)
	}
	for _, l := range written.Layers {
		if k := layerKey(l); !had[k] && !have[k] {
			return v1.Descriptor{}, fmt.Errorf("reading %s back: layer %s is gone, replaced by manifest %s: %w", tag, l.Digest, desc.Digest, ErrTagMoved)
		}
	}
	return desc, nil
}

// layerSet returns the layers of a raw image manifest (none for nil), by
// layerKey.
func layerSet(raw []byte) (map[string]bool, error) {
	set := map[string]bool{}
	if raw == nil {
		return set, nil
	}
	var m v1.Manifest
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, fmt.Errorf("decoding manifest: %w", err)
	}
	for _, l := range m.Layers {
		set[layerKey(l)] = true
	}
	return set, nil
}

// layerKey identifies a layer descriptor: its media type, digest, size
// and annotations (encoding/json sorts their keys).
func layerKey(d v1.Descriptor) string {
	ann, _ := json.Marshal(d.Annotations)
	return fmt.Sprintf("%s %s %d %s", d.MediaType, d.Digest, d.Size, ann)
}

// settleTime is how long after moving a registry's tag it is read back,
// given how long the read-modify-write took: twice as long, so that a
// writer that read the tag before ours moved it, and works about as fast
// (under the same load), has moved it by then; between 10 ms and 2 s.
func settleTime(took time.Duration) time.Duration {
	return min(max(2*took, 10*time.Millisecond), 2*time.Second)
}

// updateBackoff is the random wait before the try-th read-modify-write
// cycle: up to 5 ms doubled each try, at most 250 ms.
func updateBackoff(try int) time.Duration {
	ceiling := min(5*time.Millisecond<<min(try, 6), 250*time.Millisecond)
	return ceiling/4 + rand.N(ceiling*3/4)
}

// sleepCtx waits d, or until ctx is done.
func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
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
