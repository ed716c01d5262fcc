package oci

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"golang.org/x/sync/errgroup"
)

// Artifact is a model artifact as stored: its manifest, config and files.
type Artifact struct {
	// Ref is the reference read, with the manifest digest.
	Ref Ref
	// Descriptor describes the manifest.
	Descriptor v1.Descriptor
	Manifest   *v1.Manifest
	Config     Config
	// Files are the layers, in manifest order, with the paths their
	// org.cncf.model.filepath annotations give.
	Files []File
	// Size is the total size of the files.
	Size int64
}

// Inspect reads the manifest and config of the model at ref (its digest,
// else its tag, else "latest"), verifying the config's digest.
func Inspect(ctx context.Context, ref Ref, opts Options) (*Artifact, error) {
	store, err := OpenStore(ref, opts)
	if err != nil {
		return nil, err
	}
	return inspect(ctx, store, ref)
}

func inspect(ctx context.Context, store Store, ref Ref) (*Artifact, error) {
	desc, raw, err := store.GetManifest(ctx, ref.reference())
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", ref, err)
	}
	m, err := parseModel(raw)
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", ref, err)
	}
	config, err := readBlob(ctx, store, m.Config)
	if err != nil {
		return nil, fmt.Errorf("reading %s: config: %w", ref, err)
	}
	art := &Artifact{Ref: ref, Descriptor: desc, Manifest: m}
	art.Ref.Digest = desc.Digest.String()
	if err := json.Unmarshal(config, &art.Config); err != nil {
		return nil, fmt.Errorf("reading %s: decoding config: %w", ref, err)
	}
	for _, l := range m.Layers {
		mt := string(l.MediaType)
		if Kind(mt) == "" {
			return nil, fmt.Errorf("reading %s: layer %s has media type %s: only raw ModelPack layers are supported", ref, l.Digest, mt)
		}
		art.Files = append(art.Files, File{
			Path:      l.Annotations[AnnotationFilepath],
			Kind:      Kind(mt),
			MediaType: mt,
			Digest:    l.Digest,
			Size:      l.Size,
		})
		art.Size += l.Size
	}
	return art, nil
}

// readBlob reads a small blob whole, verifying its digest.
func readBlob(ctx context.Context, store Store, desc v1.Descriptor) ([]byte, error) {
	if desc.Size > maxManifestSize {
		return nil, fmt.Errorf("blob %s: %d bytes, more than %d", desc.Digest, desc.Size, maxManifestSize)
	}
	rc, err := store.GetBlob(ctx, desc)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	raw, err := io.ReadAll(io.LimitReader(rc, desc.Size+1))
	if err != nil {
		return nil, fmt.Errorf("blob %s: %w", desc.Digest, err)
	}
	h, n, err := v1.SHA256(bytes.NewReader(raw))
	if err != nil {
		return nil, err
	}
	if h != desc.Digest || n != desc.Size {
		return nil, fmt.Errorf("blob %s: content has digest %s and %d bytes, want %d", desc.Digest, h, n, desc.Size)
	}
	return raw, nil
}

// List returns the tags of the repository or layout ref names (its tag
// and digest are ignored), sorted by name.
func List(ctx context.Context, ref Ref, opts Options) ([]Tag, error) {
	store, err := OpenStore(ref, opts)
	if err != nil {
		return nil, err
	}
	tags, err := store.Tags(ctx)
	if err != nil {
		return nil, fmt.Errorf("listing %s: %w", ref, err)
	}
	return tags, nil
}

// LocalModels returns the models in the default layout under root, as
// bare references without tags, sorted by name.
func LocalModels(root string) ([]Ref, error) {
	base := filepath.Join(root, filepath.FromSlash(DefaultLayout))
	var refs []Ref
	err := filepath.WalkDir(base, func(p string, d fs.DirEntry, err error) error {
		if errors.Is(err, fs.ErrNotExist) && p == base {
			return fs.SkipAll
		}
		if err != nil || !d.IsDir() {
			return err
		}
		if d.Name() == "blobs" && p != base {
			return fs.SkipDir
		}
		if _, err := os.Stat(filepath.Join(p, "oci-layout")); err == nil {
			rel, err := filepath.Rel(base, p)
			if err != nil {
				return err
			}
			refs = append(refs, Ref{Repository: filepath.ToSlash(rel), Layout: p})
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("listing local models in %s: %w", base, err)
	}
	sort.Slice(refs, func(i, j int) bool { return refs[i].Repository < refs[j].Repository })
	return refs, nil
}

// Copy copies the model at src to dst, sending only the blobs dst lacks,
// then stores the manifest by digest and tags it with dst's tag (else
// src's, else "latest"). It returns the manifest's descriptor, which is
// the same in both stores.
func Copy(ctx context.Context, src, dst Ref, opts Options) (v1.Descriptor, error) {
	from, err := OpenStore(src, opts)
	if err != nil {
		return v1.Descriptor{}, err
	}
	to, err := OpenStore(dst, opts)
	if err != nil {
		return v1.Descriptor{}, err
	}
	desc, raw, err := from.GetManifest(ctx, src.reference())
	if err != nil {
		return v1.Descriptor{}, fmt.Errorf("copying %s: %w", src, err)
	}
	m, err := parseModel(raw)
	if err != nil {
		return v1.Descriptor{}, fmt.Errorf("copying %s: %w", src, err)
	}
	if dst.Digest != "" && dst.Digest != desc.Digest.String() {
		return v1.Descriptor{}, fmt.Errorf("copying %s to %s: the manifest's digest is %s", src, dst, desc.Digest)
	}
	desc.ArtifactType = m.ArtifactType
	p := &pusher{store: to, rep: newReporter(opts.Progress)}
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(opts.concurrency())
	blobs := append([]v1.Descriptor{m.Config}, m.Layers...)
	for _, b := range blobs {
		g.Go(func() error {
			file := b.Annotations[AnnotationFilepath]
			open := func() (io.ReadCloser, error) {
				rc, err := from.GetBlob(gctx, b)
				if err != nil {
					return nil, err
				}
				return readCloser{p.rep.reader(rc, file, PhaseUpload, b.Size), rc}, nil
			}
			return p.putBlob(gctx, file, v1.Descriptor{MediaType: b.MediaType, Digest: b.Digest, Size: b.Size}, open)
		})
	}
	if err := g.Wait(); err != nil {
		return v1.Descriptor{}, fmt.Errorf("copying %s to %s: %w", src, dst, err)
	}
	if err := to.PutManifest(ctx, desc, raw); err != nil {
		return v1.Descriptor{}, fmt.Errorf("copying %s to %s: %w", src, dst, err)
	}
	tag := dst.Tag
	if tag == "" {
		tag = src.Tag
	}
	if tag == "" && dst.Digest == "" && src.Digest == "" {
		tag = DefaultTag
	}
	if tag != "" {
		if err := to.Tag(ctx, tag, desc); err != nil {
			return v1.Descriptor{}, fmt.Errorf("copying %s to %s: %w", src, dst, err)
		}
	}
	return desc, nil
}
