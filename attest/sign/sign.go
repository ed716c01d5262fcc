package sign

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/secure-systems-lab/go-securesystemslib/dsse"
	cremote "github.com/sigstore/cosign/v2/pkg/cosign/remote"
	"github.com/sigstore/cosign/v2/pkg/oci"
	"github.com/sigstore/cosign/v2/pkg/oci/empty"
	"github.com/sigstore/cosign/v2/pkg/oci/mutate"
	"github.com/sigstore/cosign/v2/pkg/oci/static"
	ctypes "github.com/sigstore/cosign/v2/pkg/types"
	sigdsse "github.com/sigstore/sigstore/pkg/signature/dsse"
	"github.com/sigstore/sigstore/pkg/signature/payload"

	"cairn.dev/cairn/attest/lineage"
	cairnoci "cairn.dev/cairn/attest/oci"
)

// Result says what Sign or Attest stored.
type Result struct {
	// Ref is the artifact, with its manifest digest.
	Ref cairnoci.Ref
	// Tag is the tag of the signatures (sha256-<hex>.sig) or attestations
	// (sha256-<hex>.att).
	Tag string
	// Manifest describes the signature or attestation image the tag
	// points at after the call.
	Manifest v1.Descriptor
	// Digest is the digest of the layer holding the signature: the
	// simple-signing payload, or the DSSE envelope.
	Digest string
	// StatementDigest is the digest of the in-toto statement (Attest).
	StatementDigest string
	// KeyID is the signing key's id.
	KeyID string
	// Added is false when the store held the same signature or statement,
	// signed by the same key, already: nothing was written.
	Added bool
}

// Sign signs the artifact ref names (its digest, else its tag) and stores
// the signature as cosign does: a simple-signing payload naming the
// manifest digest, signed with the key, appended to the image under the
// tag sha256-<hex>.sig next to the artifact. A signature by the same key
// over the same payload that is already there is not added again.
func Sign(ctx context.Context, ref cairnoci.Ref, signer *Signer, opts cairnoci.Options) (*Result, error) {
	store, desc, err := open(ctx, ref, signer, opts)
	if err != nil {
		return nil, err
	}
	sig, err := signer.signPayload(identity(ref), desc.Digest)
	if err != nil {
		return nil, fmt.Errorf("signing %s: %w", ref, err)
	}
	res, err := attach(ctx, store, SignatureTag(desc.Digest), []oci.Signature{sig}, cremote.NewDupeDetector(signer.sv), opts)
	if err != nil {
		return nil, fmt.Errorf("signing %s: %w", ref, err)
	}
	return signer.result(ref, desc, SignatureTag(desc.Digest), sig, res)
}

// Attest signs an in-toto Statement v1 whose subject is the artifact's
// manifest digest and whose predicate is predicate (a JSON object) of
// type predicateType, and stores it as cosign does: a DSSE envelope,
// annotated with the predicate type, appended to the image under the tag
// sha256-<hex>.att. The same statement signed by the same key is not
// added again. Predicates of the types lineage knows are checked against
// their Go types first.
func Attest(ctx context.Context, ref cairnoci.Ref, signer *Signer, predicateType string, predicate []byte, opts cairnoci.Options) (*Result, error) {
	if err := lineage.CheckType(predicateType); err != nil {
		return nil, fmt.Errorf("attesting %s: %w", ref, err)
	}
	if _, err := lineage.DecodePredicate(predicateType, predicate); err != nil {
		return nil, fmt.Errorf("attesting %s: %w", ref, err)
	}
	store, desc, err := open(ctx, ref, signer, opts)
	if err != nil {
		return nil, err
	}
	st, err := lineage.NewStatement(identity(ref), desc.Digest.String(), predicateType, json.RawMessage(predicate))
	if err != nil {
		return nil, fmt.Errorf("attesting %s: %w", ref, err)
	}
	att, stDigest, err := signer.signStatement(st)
	if err != nil {
		return nil, fmt.Errorf("attesting %s: %w", ref, err)
	}
	tag := AttestationTag(desc.Digest)
	res, err := attach(ctx, store, tag, []oci.Signature{att}, &statementDupes{signer}, opts)
	if err != nil {
		return nil, fmt.Errorf("attesting %s: %w", ref, err)
	}
	r, err := signer.result(ref, desc, tag, att, res)
	if err != nil {
		return nil, err
	}
	r.StatementDigest = stDigest
	return r, nil
}

// open opens the store of ref and resolves the artifact's manifest.
func open(ctx context.Context, ref cairnoci.Ref, signer *Signer, opts cairnoci.Options) (cairnoci.Store, v1.Descriptor, error) {
	if signer == nil {
		return nil, v1.Descriptor{}, fmt.Errorf("signing %s: no key", ref)
	}
	store, err := cairnoci.OpenStore(ref, opts)
	if err != nil {
		return nil, v1.Descriptor{}, err
	}
	desc, _, err := cairnoci.Resolve(ctx, store, ref)
	if err != nil {
		return nil, v1.Descriptor{}, err
	}
	return store, desc, nil
}

// signPayload signs cosign's simple-signing payload for the digest.
func (s *Signer) signPayload(name string, digest v1.Hash) (oci.Signature, error) {
	p, err := json.Marshal(payload.SimpleContainerImage{
		Critical: payload.Critical{
			Identity: payload.Identity{DockerReference: name},
			Image:    payload.Image{DockerManifestDigest: digest.String()},
			Type:     payload.CosignSignatureType,
		},
	})
	if err != nil {
		return nil, err
	}
	sig, err := s.sv.SignMessage(bytes.NewReader(p))
	if err != nil {
		return nil, err
	}
	return static.NewSignature(p, base64.StdEncoding.EncodeToString(sig),
		static.WithAnnotations(map[string]string{AnnotationKeyID: s.KeyID()}))
}

// signStatement wraps a statement in a DSSE envelope signed by s, and
// returns the attestation layer and the statement's digest.
func (s *Signer) signStatement(st *lineage.Statement) (oci.Signature, string, error) {
	raw, err := st.Marshal()
	if err != nil {
		return nil, "", err
	}
	env, err := sigdsse.WrapSigner(s.sv, lineage.PayloadType).SignMessage(bytes.NewReader(raw))
	if err != nil {
		return nil, "", err
	}
	att, err := static.NewAttestation(env,
		static.WithLayerMediaType(ctypes.DssePayloadType),
		static.WithAnnotations(map[string]string{AnnotationPredicateType: st.PredicateType, AnnotationKeyID: s.KeyID()}))
	if err != nil {
		return nil, "", err
	}
	return att, layerDigest(raw), nil
}

// result fills in a Result.
func (s *Signer) result(ref cairnoci.Ref, desc v1.Descriptor, tag string, sig oci.Signature, res attachResult) (*Result, error) {
	d := sig
	if res.dupe != nil {
		d = res.dupe
	}
	h, err := d.Digest()
	if err != nil {
		return nil, err
	}
	ref.Digest = desc.Digest.String()
	return &Result{Ref: ref, Tag: tag, Manifest: res.manifest, Digest: h.String(), KeyID: s.KeyID(), Added: res.dupe == nil}, nil
}

// attachResult is what attach did: the manifest the tag points at, and
// the duplicate found instead of writing, if any.
type attachResult struct {
	manifest v1.Descriptor
	dupe     oci.Signature
}

// attach appends signatures to the image under tag, unless dd finds a
// duplicate of the first in it, and writes the image, then the tag. The
// tag is read, changed and written again (a read-modify-write), so two
// signers at once could lose one another's layer: attach moves the tag
// only if it still names the image it read, reads it back to check that
// the new layer is there, and starts again if not (oci.UpdateImage); it
// fails when it still cannot after a bounded number of tries.
func attach(ctx context.Context, store cairnoci.Store, tag string, sigs []oci.Signature, dd mutate.DupeDetector, opts cairnoci.Options) (attachResult, error) {
	var (
		dupe  oci.Signature
		wrote bool // an earlier cycle wrote sigs: a duplicate found now is ours
	)
	edit := func(ctx context.Context, base v1.Descriptor, raw []byte) (v1.Image, error) {
		dupe = nil
		var existing []oci.Signature
		if raw != nil {
			var err error
			if existing, err = existingSignatures(ctx, store, tag, base, raw, opts.Concurrency); err != nil {
				return nil, err
			}
		}
		if raw != nil && dd != nil && len(sigs) == 1 {
			var err error
			if dupe, err = findDupe(existing, sigs[0], dd); err != nil || dupe != nil {
				if wrote {
					dupe = nil
				}
				return nil, err
			}
		}
		if n := len(existing) + len(sigs); n > maxLayers {
			return nil, fmt.Errorf("%s: %d layers, more than cosign's %d", tag, n, maxLayers)
		}
		wrote = true
		return mutate.AppendSignatures(empty.Signatures(), false, append(existing, sigs...)...)
	}
	mdesc, err := cairnoci.UpdateImage(ctx, store, tag, edit, opts)
	if err != nil {
		return attachResult{}, err
	}
	return attachResult{manifest: mdesc, dupe: dupe}, nil
}

// existingSignatures reads the layers of the image under tag (its
// manifest base, raw) as signatures to keep.
func existingSignatures(ctx context.Context, store cairnoci.Store, tag string, base v1.Descriptor, raw []byte, concurrency int) ([]oci.Signature, error) {
	layers, err := decodeLayers(ctx, store, tag, base, raw, concurrency)
	if err != nil {
		return nil, err
	}
	existing := make([]oci.Signature, 0, len(layers)+1)
	for _, l := range layers {
		s, err := signatureOf(l)
		if err != nil {
			return nil, fmt.Errorf("%s: %w (refusing to rewrite it)", tag, err)
		}
		existing = append(existing, s)
	}
	return existing, nil
}

// findDupe returns the signature among existing that dd takes for a
// duplicate of sig, or nil.
func findDupe(existing []oci.Signature, sig oci.Signature, dd mutate.DupeDetector) (oci.Signature, error) {
	base, err := mutate.AppendSignatures(empty.Signatures(), false, existing...)
	if err != nil {
		return nil, err
	}
	return dd.Find(base, sig)
}

// statementDupes finds an attestation holding the same statement, with
// the same annotations, signed by the same key. (Cosign's own dupe
// detector compares the signature annotation, which attestations leave
// empty, so it never finds one.)
type statementDupes struct{ s *Signer }

// Find implements mutate.DupeDetector.
func (d *statementDupes) Find(sigs oci.Signatures, newSig oci.Signature) (oci.Signature, error) {
	newEnv, err := newSig.Payload()
	if err != nil {
		return nil, err
	}
	newStatement, err := envelopePayload(newEnv)
	if err != nil {
		return nil, err
	}
	newAnn, err := newSig.Annotations()
	if err != nil {
		return nil, err
	}
	all, err := sigs.Get()
	if err != nil {
		return nil, err
	}
	verifier := sigdsse.WrapVerifier(d.s.sv)
next:
	for _, sig := range all {
		ann, err := sig.Annotations()
		if err != nil {
			continue
		}
		for k, v := range newAnn {
			if ann[k] != v {
				continue next
			}
		}
		if mt, err := sig.MediaType(); err != nil || mt != ctypes.DssePayloadType {
			continue
		}
		env, err := sig.Payload()
		if err != nil {
			continue
		}
		if st, err := envelopePayload(env); err != nil || !bytes.Equal(st, newStatement) {
			continue
		}
		if verifier.VerifySignature(bytes.NewReader(env), nil) == nil {
			return sig, nil
		}
	}
	return nil, nil
}

// envelopePayload returns the decoded payload of a DSSE envelope.
func envelopePayload(env []byte) ([]byte, error) {
	var e dsse.Envelope
	if err := json.Unmarshal(env, &e); err != nil {
		return nil, err
	}
	return e.DecodeB64Payload()
}
