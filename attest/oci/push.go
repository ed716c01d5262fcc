package oci

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"sync"
	"sync/atomic"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"golang.org/x/sync/errgroup"
)

// PushOptions configure Push. Every field is optional.
type PushOptions struct {
	Options

	// Name is the model's name in the config; "" means the last element
	// of the reference's repository (none for an oci:PATH layout).
	Name    string
	Version string
	Family  string
	// Format is the weights' format (safetensors, gguf, onnx, pytorch,
	// ...); "" means the one all weight files' extensions name, if any.
	Format string
	// Framework is the training framework, recorded in the manifest
	// annotation dev.cairn.model.framework.
	Framework    string
	Architecture string
	ParamSize    string
	Precision    string
	Quantization string
	// Annotations are added to the manifest's annotations.
	Annotations map[string]string
	// DigestCache is a folder remembering the digests of files pushed
	// before, checked against each file's size, times and inode. With a
	// cache, a file whose digest is unknown is streamed to the store and
	// hashed on the way (read once); without one, every file is hashed
	// first and sent only if the store lacks it (read twice).
	DigestCache string
}

// File is one file of a model: one layer of the artifact.
type File struct {
	// Path is relative to the model folder, with forward slashes.
	Path      string
	Kind      string
	MediaType string
	Digest    v1.Hash
	Size      int64
}

// Result says what Push stored.
type Result struct {
	// Ref is the reference pushed, with its tag and the manifest digest.
	Ref Ref
	// Descriptor describes the manifest.
	Descriptor v1.Descriptor
	// Files are the model's files, sorted by path.
	Files []File
	// Uploaded counts the bytes of the blobs sent, the config included;
	// Skipped those of the blobs the store already held.
	Uploaded, Skipped int64
}

// Push stores the regular files under dir as a model artifact at ref and
// tags it (ref.Tag, or "latest").
//
// A file whose digest is known is sent only if the store lacks its blob.
// The digest is known from the digest cache (opts.DigestCache) when the
// file is unchanged since it was last hashed; otherwise a file is hashed
// first when the store can tell whether it holds it already (no cache, or
// the tag being replaced lists a file of the same path and size), else
// streamed to the store and hashed on the way, reading it once. Files are
// hashed and sent concurrently. The manifest is stored by digest once
// every blob is, and the tag is moved last, so a failed push changes no
// tag. Symbolic links to files are followed; empty folders are not
// recorded; other kinds of files are refused.
func Push(ctx context.Context, dir string, ref Ref, opts PushOptions) (*Result, error) {
	if ref.Digest != "" {
		return nil, fmt.Errorf("pushing to %s: a push names a tag, not a digest", ref)
	}
	if opts.Name == "" && ref.Repository != "" {
		opts.Name = path.Base(ref.Repository)
	}
	created, err := sourceDateEpoch()
	if err != nil {
		return nil, err
	}
	files, paths, err := scan(dir)
	if err != nil {
		return nil, err
	}
	store, err := OpenStore(ref, opts.Options)
	if err != nil {
		return nil, err
	}
	p := &pusher{store: store, rep: newReporter(opts.Progress), cache: newDigestCache(opts.DigestCache)}
	if p.cache != nil {
		p.hashFirst = previousFiles(ctx, store, ref.reference())
	}
	if err := p.transferFiles(ctx, files, paths, &opts.Options); err != nil {
		return nil, fmt.Errorf("pushing %s to %s: %w", dir, ref, err)
	}
	config, manifest, err := modelManifest(files, &opts, created)
	if err != nil {
		return nil, err
	}
	desc, err := p.putManifest(ctx, config, manifest)
	if err != nil {
		return nil, fmt.Errorf("pushing %s to %s: %w", dir, ref, err)
	}
	ref.Tag = ref.reference()
	if err := store.Tag(ctx, ref.Tag, desc); err != nil {
		return nil, fmt.Errorf("pushing %s to %s: %w", dir, ref, err)
	}
	ref.Digest = desc.Digest.String()
	return &Result{
		Ref:        ref,
		Descriptor: desc,
		Files:      files,
		Uploaded:   p.uploaded.Load(),
		Skipped:    p.skipped.Load(),
	}, nil
}

// scan lists the files under dir, sorted by path, with the paths to open.
func scan(dir string) ([]File, []string, error) {
	var files []File
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			return nil
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil {
			return err
		}
		rel = filepath.ToSlash(rel)
		if err := checkPath(rel); err != nil {
			return err
		}
		fi, err := os.Stat(p) // follows symbolic links
		if err != nil {
			return err
		}
		if !fi.Mode().IsRegular() {
			return fmt.Errorf("%s: not a regular file (%s)", p, fi.Mode().Type())
		}
		mt := MediaTypeFor(rel)
		files = append(files, File{Path: rel, Kind: Kind(mt), MediaType: mt, Size: fi.Size()})
		return nil
	})
	if err != nil {
		return nil, nil, fmt.Errorf("reading model folder %s: %w", dir, err)
	}
	if len(files) == 0 {
		return nil, nil, fmt.Errorf("reading model folder %s: no files", dir)
	}
	sort.Slice(files, func(i, j int) bool { return files[i].Path < files[j].Path })
	paths := make([]string, len(files))
	for i, f := range files {
		paths[i] = filepath.Join(dir, filepath.FromSlash(f.Path))
	}
	return files, paths, nil
}

// pusher sends blobs to a store and counts what it sent.
type pusher struct {
	store             Store
	rep               *reporter
	cache             *digestCache
	hashFirst         map[File]bool // path and size of the files of the tag replaced
	uploaded, skipped atomic.Int64
	claimed           sync.Map // digests being sent or checked
}

// previousFiles returns the path and size of each file of the model the
// tag names now, if any: such files are likely unchanged, so they are
// hashed first, to be skipped if the store holds them.
func previousFiles(ctx context.Context, store Store, tag string) map[File]bool {
	_, raw, err := store.GetManifest(ctx, tag)
	if err != nil {
		return nil
	}
	m, err := parseModel(raw)
	if err != nil {
		return nil
	}
	prev := map[File]bool{}
	for _, l := range m.Layers {
		prev[File{Path: l.Annotations[AnnotationFilepath], Size: l.Size}] = true
	}
	return prev
}

// transferFiles hashes every file and sends the blobs the store lacks.
// Hashing and sending overlap across files: a file is sent as soon as it
// is hashed, while others are hashed. At most Concurrency files are sent
// at once, and hashing runs at most that far ahead of sending, so a file
// is usually read the second time from the page cache.
func (p *pusher) transferFiles(ctx context.Context, files []File, paths []string, o *Options) error {
	hashers := make(chan struct{}, o.hashers())
	senders := make(chan struct{}, o.concurrency())
	window := make(chan struct{}, cap(hashers)+cap(senders))
	g, gctx := errgroup.WithContext(ctx)
	for i := range files {
		if acquire(gctx, window) != nil {
			break
		}
		g.Go(func() error {
			defer release(window)
			f := &files[i]
			abs, st, known, err := p.lookup(f, paths[i])
			if err != nil {
				return err
			}
			streamer, canStream := p.store.(blobStreamer)
			stream := !known && p.cache != nil && canStream && !p.hashFirst[File{Path: f.Path, Size: f.Size}]
			if !known && !stream {
				if err := acquire(gctx, hashers); err != nil {
					return err
				}
				err := p.hashFile(gctx, f, paths[i])
				release(hashers)
				if err != nil {
					return err
				}
				if err := p.recheck(f, paths[i], st); err != nil {
					return err
				}
				p.cache.put(abs, st, f.Digest)
			}
			if err := acquire(gctx, senders); err != nil {
				return err
			}
			defer release(senders)
			open := func() (io.ReadCloser, error) {
				fh, err := os.Open(paths[i])
				if err != nil {
					return nil, err
				}
				if p.rep == nil {
					// The bare file lets net/http send it with sendfile(2).
					return fh, nil
				}
				r := p.rep.reader(io.LimitReader(fh, f.Size), f.Path, PhaseUpload, f.Size)
				return readCloser{r, fh}, nil
			}
			if stream {
				return p.streamBlob(gctx, streamer, f, paths[i], abs, st, open)
			}
			desc := v1.Descriptor{MediaType: types.MediaType(f.MediaType), Digest: f.Digest, Size: f.Size}
			return p.putBlob(gctx, f.Path, desc, open)
		})
	}
	if err := g.Wait(); err != nil {
		return err
	}
	return ctx.Err()
}

// lookup stats the file and returns its absolute path, its stamp and
// whether its digest is known from the cache (then set in f).
func (p *pusher) lookup(f *File, name string) (string, fileStamp, bool, error) {
	fi, err := os.Stat(name)
	if err != nil {
		return "", fileStamp{}, false, err
	}
	if fi.Size() != f.Size {
		return "", fileStamp{}, false, fmt.Errorf("%s changed while pushing (size %d, was %d)", f.Path, fi.Size(), f.Size)
	}
	st := stampOf(fi)
	abs, err := filepath.Abs(name)
	if err != nil {
		return "", fileStamp{}, false, err
	}
	if h, ok := p.cache.get(abs, st); ok {
		f.Digest = h
		return abs, st, true, nil
	}
	return abs, st, false, nil
}

// recheck fails when the file changed since its stamp was taken, so that
// a digest is never recorded for other content.
func (p *pusher) recheck(f *File, name string, st fileStamp) error {
	fi, err := os.Stat(name)
	if err != nil {
		return err
	}
	if stampOf(fi) != st {
		return fmt.Errorf("%s changed while pushing", f.Path)
	}
	return nil
}

// streamBlob sends a file of unknown digest, hashing it on the way.
func (p *pusher) streamBlob(ctx context.Context, s blobStreamer, f *File, name, abs string, st fileStamp, open func() (io.ReadCloser, error)) error {
	h, err := s.StreamBlob(ctx, f.Size, open)
	if err != nil {
		return err
	}
	if err := p.recheck(f, name, st); err != nil {
		return err
	}
	f.Digest = h
	p.claimed.Store(h, true)
	p.uploaded.Add(f.Size)
	p.cache.put(abs, st, h)
	p.rep.report(Progress{Path: f.Path, Phase: PhaseDone, Bytes: f.Size, Size: f.Size})
	return nil
}

// hashFile reads the file once, setting f's digest and size.
func (p *pusher) hashFile(ctx context.Context, f *File, name string) error {
	fh, err := os.Open(name)
	if err != nil {
		return fmt.Errorf("hashing %s: %w", f.Path, err)
	}
	defer fh.Close()
	h := sha256.New()
	buf := getBuffer()
	defer putBuffer(buf)
	n, err := io.CopyBuffer(h, ctxReader{ctx, p.rep.reader(fh, f.Path, PhaseHash, f.Size)}, *buf)
	if err != nil {
		return fmt.Errorf("hashing %s: %w", f.Path, err)
	}
	f.Size = n
	f.Digest = v1.Hash{Algorithm: "sha256", Hex: hex.EncodeToString(h.Sum(nil))}
	return nil
}

// putBlob sends a blob unless the store holds it or another file with
// the same content is sending it.
func (p *pusher) putBlob(ctx context.Context, file string, desc v1.Descriptor, open func() (io.ReadCloser, error)) error {
	if _, dup := p.claimed.LoadOrStore(desc.Digest, true); dup {
		p.rep.report(Progress{Path: file, Phase: PhaseSkip, Bytes: desc.Size, Size: desc.Size})
		return nil
	}
	has, err := p.store.HasBlob(ctx, desc)
	if err != nil {
		return err
	}
	if has {
		p.skipped.Add(desc.Size)
		p.rep.report(Progress{Path: file, Phase: PhaseSkip, Bytes: desc.Size, Size: desc.Size})
		return nil
	}
	if err := p.store.PutBlob(ctx, desc, open); err != nil {
		return err
	}
	p.uploaded.Add(desc.Size)
	p.rep.report(Progress{Path: file, Phase: PhaseDone, Bytes: desc.Size, Size: desc.Size})
	return nil
}

// putManifest stores the config, then the manifest by digest.
func (p *pusher) putManifest(ctx context.Context, config, manifest []byte) (v1.Descriptor, error) {
	cdesc := v1.Descriptor{MediaType: MediaTypeConfig, Size: int64(len(config))}
	var err error
	if cdesc.Digest, _, err = v1.SHA256(bytes.NewReader(config)); err != nil {
		return v1.Descriptor{}, err
	}
	open := func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(config)), nil }
	if err := p.putBlob(ctx, "", cdesc, open); err != nil {
		return v1.Descriptor{}, err
	}
	desc := v1.Descriptor{MediaType: types.OCIManifestSchema1, Size: int64(len(manifest)), ArtifactType: ArtifactType}
	if desc.Digest, _, err = v1.SHA256(bytes.NewReader(manifest)); err != nil {
		return v1.Descriptor{}, err
	}
	if err := p.store.PutManifest(ctx, desc, manifest); err != nil {
		return v1.Descriptor{}, err
	}
	return desc, nil
}

// acquire takes a slot of sem, or fails when ctx is done first.
func acquire(ctx context.Context, sem chan struct{}) error {
	select {
	case sem <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func release(sem chan struct{}) { <-sem }
