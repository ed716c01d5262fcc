package sign

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"regexp"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"golang.org/x/sync/errgroup"

	"github.com/sigstore/cosign/v2/pkg/oci"
	"github.com/sigstore/cosign/v2/pkg/oci/static"

	cairnoci "cairn.dev/cairn/attest/oci"
)

// Annotations of signature and attestation layers.
const (
	// AnnotationSignature holds a simple-signing layer's base64 signature
	// (cosign's).
	AnnotationSignature = static.SignatureAnnotationKey
	// AnnotationPredicateType holds an attestation layer's predicate type
	// (cosign's); verification checks it against the signed statement.
	AnnotationPredicateType = "predicateType"
	// AnnotationKeyID holds the id of the key that made the layer
	// (Cairn's; see PublicKey.KeyID). It is not signed: it only tells an
	// untrusted key from a bad signature.
	AnnotationKeyID = "dev.cairn.keyid"
)

// SignatureTag returns the tag of an artifact's signatures:
// sha256-<hex>.sig for digest sha256:<hex>.
func SignatureTag(digest v1.Hash) string { return digest.Algorithm + "-" + digest.Hex + ".sig" }

// AttestationTag returns the tag of an artifact's attestations:
// sha256-<hex>.att for digest sha256:<hex>.
func AttestationTag(digest v1.Hash) string { return digest.Algorithm + "-" + digest.Hex + ".att" }

// maxLayerSize bounds the signature and attestation layers read into
// memory.
const maxLayerSize = 16 << 20

// maxLayers is the most layers a signature or attestation image may have,
// as in cosign.
const maxLayers = 1000

// layer is one layer of a signature or attestation image as read from a
// store. bad, when set, says why its content could not be read (a missing
// blob, a digest mismatch, too large).
type layer struct {
	desc    v1.Descriptor
	payload []byte
	bad     string
}

// malformedImage is the error of a signature or attestation image that
// is stored but cannot be decoded.
type malformedImage struct{ tag, why string }

func (e *malformedImage) Error() string { return e.tag + ": " + e.why }

// readLayers reads the image a tag names, with every layer's content.
// found is false when the tag does not exist. An image that cannot be
// decoded is a *malformedImage error.
func readLayers(ctx context.Context, store cairnoci.Store, tag string, concurrency int) (desc v1.Descriptor, layers []layer, found bool, err error) {
	desc, raw, err := store.GetManifest(ctx, tag)
	if errors.Is(err, cairnoci.ErrNotFound) {
		return v1.Descriptor{}, nil, false, nil
	}
	if err != nil {
		return v1.Descriptor{}, nil, false, fmt.Errorf("reading %s: %w", tag, err)
	}
	layers, err = decodeLayers(ctx, store, tag, desc, raw, concurrency)
	return desc, layers, true, err
}

// decodeLayers decodes the image manifest raw, which tag names, and reads
// every layer's content. An image that cannot be decoded is a
// *malformedImage error.
func decodeLayers(ctx context.Context, store cairnoci.Store, tag string, desc v1.Descriptor, raw []byte, concurrency int) ([]layer, error) {
	if desc.MediaType != types.OCIManifestSchema1 && desc.MediaType != types.DockerManifestSchema2 {
		return nil, &malformedImage{tag, fmt.Sprintf("manifest %s has media type %s, want an image manifest", desc.Digest, desc.MediaType)}
	}
	var m v1.Manifest
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, &malformedImage{tag, fmt.Sprintf("decoding manifest %s: %v", desc.Digest, err)}
	}
	if len(m.Layers) > maxLayers {
		return nil, &malformedImage{tag, fmt.Sprintf("%d layers, more than %d", len(m.Layers), maxLayers)}
	}
	layers := make([]layer, len(m.Layers))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(max(concurrency, 4))
	for i, d := range m.Layers {
		layers[i].desc = d
		g.Go(func() error {
			p, bad, err := readLayer(gctx, store, d)
			if err != nil {
				return fmt.Errorf("reading %s: %w", tag, err)
			}
			layers[i].payload, layers[i].bad = p, bad
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	return layers, nil
}

// readLayer reads a layer's blob, checking its size and digest. A blob
// that is missing or whose content does not match is reported in bad; an
// error is a failure to reach the store.
func readLayer(ctx context.Context, store cairnoci.Store, d v1.Descriptor) (payload []byte, bad string, err error) {
	if d.Size > maxLayerSize || d.Size < 0 {
		return nil, fmt.Sprintf("layer %s: size %d out of range (at most %d bytes)", d.Digest, d.Size, maxLayerSize), nil
	}
	if d.Digest.Algorithm != "sha256" {
		return nil, fmt.Sprintf("layer %s: only sha256 digests are supported", d.Digest), nil
	}
	rc, err := store.GetBlob(ctx, d)
	if errors.Is(err, cairnoci.ErrNotFound) {
		return nil, fmt.Sprintf("layer %s: blob not found", d.Digest), nil
	}
	if err != nil {
		return nil, "", err
	}
	defer rc.Close()
	raw, err := io.ReadAll(io.LimitReader(rc, d.Size+1))
	if err != nil {
		return nil, "", fmt.Errorf("layer %s: %w", d.Digest, err)
	}
	sum := sha256.Sum256(raw)
	if got := hex.EncodeToString(sum[:]); got != d.Digest.Hex || int64(len(raw)) != d.Size {
		return nil, fmt.Sprintf("layer %s: content has digest sha256:%s and %d bytes, want %d", d.Digest, got, len(raw), d.Size), nil
	}
	return raw, "", nil
}

// signatureOf rebuilds the cosign signature object of a layer read from
// a store: the same payload, media type and annotations, so the same
// layer digest and descriptor.
func signatureOf(l layer) (oci.Signature, error) {
	if l.bad != "" {
		return nil, errors.New(l.bad)
	}
	ann := make(map[string]string, len(l.desc.Annotations))
	for k, v := range l.desc.Annotations {
		if k != AnnotationSignature {
			ann[k] = v
		}
	}
	return static.NewSignature(l.payload, l.desc.Annotations[AnnotationSignature],
		static.WithLayerMediaType(l.desc.MediaType), static.WithAnnotations(ann))
}

var identityRE = regexp.MustCompile(`[^a-z0-9._-]+`)

// identity is the name a signature payload's docker-reference and a
// statement's subject give the artifact: the repository for a registry
// (as cosign writes it), the model's name in the default store, and the
// folder's name, lower-cased, for an oci:PATH layout. Verification never
// reads it: the digest binds the signature to the artifact.
func identity(ref cairnoci.Ref) string {
	switch {
	case ref.Registry != "":
		return ref.Registry + "/" + ref.Repository
	case ref.Repository != "":
		return ref.Repository
	}
	abs, err := filepath.Abs(ref.Layout)
	if err != nil {
		abs = ref.Layout
	}
	name := strings.Trim(identityRE.ReplaceAllString(strings.ToLower(filepath.Base(abs)), "-"), "._-")
	if name == "" {
		return "model"
	}
	return name
}

// layerDigest returns the digest of b.
func layerDigest(b []byte) string {
	h, _, _ := v1.SHA256(bytes.NewReader(b))
	return h.String()
}
