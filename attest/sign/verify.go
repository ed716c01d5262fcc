package sign

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"runtime"
	"sort"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/secure-systems-lab/go-securesystemslib/dsse"
	ctypes "github.com/sigstore/cosign/v2/pkg/types"
	"github.com/sigstore/sigstore/pkg/signature/payload"
	"golang.org/x/sync/errgroup"

	"cairn.dev/cairn/attest/lineage"
	cairnoci "cairn.dev/cairn/attest/oci"
)

// Kind says what an Entry of a Report is about.
type Kind string

// Kinds of entries.
const (
	KindSignature   Kind = "signature"
	KindAttestation Kind = "attestation"
)

// Status is the outcome of checking one signature or statement.
type Status string

// Statuses.
const (
	// StatusVerified: signed by a trusted key, about this artifact, well
	// formed, of an accepted type.
	StatusVerified Status = "verified"
	// StatusRejected: found, and rejected for Reason.
	StatusRejected Status = "rejected"
	// StatusMissing: required and not found (NO_SIGNATURE,
	// NO_PROVENANCE).
	StatusMissing Status = "missing"
)

// Reason says why a signature or statement was rejected or is missing.
// docs/lineage.md gives the exact rules.
type Reason string

// Reason codes, checked in this order for each layer: MALFORMED for
// what cannot be read, then the signature (UNTRUSTED_KEY, SIG_INVALID),
// then what the signed content says (SUBJECT_MISMATCH, WRONG_TYPE, and
// MALFORMED for a predicate that does not decode).
const (
	// ReasonNoSignature: the artifact has no signature (no .sig tag, or
	// an empty one).
	ReasonNoSignature Reason = "NO_SIGNATURE"
	// ReasonSigInvalid: the signature verifies under no trusted key, and
	// the layer's key id names a trusted key or no key: the payload or the
	// signature was changed.
	ReasonSigInvalid Reason = "SIG_INVALID"
	// ReasonUntrustedKey: the signature verifies under no trusted key, and
	// the layer's key id names a key that is not trusted.
	ReasonUntrustedKey Reason = "UNTRUSTED_KEY"
	// ReasonSubjectMismatch: the signature verifies, but the signed
	// payload or statement names another artifact's digest.
	ReasonSubjectMismatch Reason = "SUBJECT_MISMATCH"
	// ReasonNoProvenance: a required predicate type has no verified
	// statement.
	ReasonNoProvenance Reason = "NO_PROVENANCE"
	// ReasonWrongType: the signed statement's predicate type is not
	// accepted, or differs from the layer's predicateType annotation.
	ReasonWrongType Reason = "WRONG_TYPE"
	// ReasonMalformed: the layer cannot be read or decoded: a missing or
	// altered blob, a wrong media type, a truncated envelope, a statement
	// or predicate that does not decode.
	ReasonMalformed Reason = "MALFORMED"
)

// VerifyOptions configure Verify.
type VerifyOptions struct {
	// Require lists predicate types that must have at least one verified
	// statement; each one missing adds an entry with NO_PROVENANCE.
	Require []string
	// Types are accepted predicate types besides lineage.KnownTypes and
	// Require; a statement of any other type is rejected with WRONG_TYPE.
	Types []string
}

// Entry is one signature or statement found (or required and missing).
type Entry struct {
	Kind   Kind   `json:"kind"`
	Status Status `json:"status"`
	// Reason is set when the entry is not verified.
	Reason Reason `json:"reason,omitempty"`
	// Message explains the reason in words.
	Message string `json:"message,omitempty"`
	// KeyID is the id of the trusted key that verified the signature, or,
	// when none did, the key id the layer names.
	KeyID string `json:"keyId,omitempty"`
	// PayloadDigest is the digest of a signature's simple-signing
	// payload (its layer).
	PayloadDigest string `json:"payloadDigest,omitempty"`
	// EnvelopeDigest is the digest of an attestation's DSSE envelope (its
	// layer).
	EnvelopeDigest string `json:"envelopeDigest,omitempty"`
	// PredicateType is the statement's predicate type once its signature
	// verified, else the layer's annotation; for NO_PROVENANCE, the type
	// required.
	PredicateType string `json:"predicateType,omitempty"`
	// StatementDigest is the digest of the signed in-toto statement.
	StatementDigest string `json:"statementDigest,omitempty"`
	// Statement is the decoded statement, set only once its signature
	// verified (also when it is then rejected for its content).
	Statement *lineage.Statement `json:"statement,omitempty"`
	// Predicate is the statement's predicate decoded into its lineage Go
	// type (*lineage.Provenance, *lineage.Evaluation,
	// *lineage.DatasetSnapshot) when verified and of a known type.
	Predicate any `json:"-"`
	// Envelope is the layer's content: the simple-signing payload or the
	// DSSE envelope, as stored.
	Envelope []byte `json:"-"`
}

// Report is the outcome of Verify.
type Report struct {
	// Ref is the artifact verified, with its digest.
	Ref string `json:"reference"`
	// Digest is the artifact's manifest digest.
	Digest string `json:"digest"`
	// OK is true when a signature verified and every required predicate
	// type has a verified statement.
	OK bool `json:"ok"`
	// Entries are the signatures in layer order, then the attestations in
	// layer order, then the required types missing, sorted.
	Entries []Entry `json:"entries"`
}

// Verified returns the verified statements of a predicate type ("" for
// every type).
func (r *Report) Verified(predicateType string) []Entry {
	var out []Entry
	for _, e := range r.Entries {
		if e.Kind == KindAttestation && e.Status == StatusVerified && (predicateType == "" || e.PredicateType == predicateType) {
			out = append(out, e)
		}
	}
	return out
}

// Verify checks the signatures and attestations of the artifact ref names
// against the trusted keys, offline: no transparency log, no network
// beyond the store. Every layer under the sha256-<hex>.sig and .att tags
// gets an Entry; an error means the artifact or the store could not be
// read, not that a check failed.
func Verify(ctx context.Context, ref cairnoci.Ref, keys []*PublicKey, vo VerifyOptions, opts cairnoci.Options) (*Report, error) {
	if len(keys) == 0 {
		return nil, fmt.Errorf("verifying %s: no public key given", ref)
	}
	for _, t := range append(append([]string(nil), vo.Require...), vo.Types...) {
		if err := lineage.CheckType(t); err != nil {
			return nil, fmt.Errorf("verifying %s: %w", ref, err)
		}
	}
	store, err := cairnoci.OpenStore(ref, opts)
	if err != nil {
		return nil, err
	}
	desc, _, err := cairnoci.Resolve(ctx, store, ref)
	if err != nil {
		return nil, err
	}
	ref.Digest = desc.Digest.String()
	v := &verifier{keys: keys, digest: desc.Digest, accepted: map[string]bool{}}
	for _, t := range lineage.KnownTypes() {
		v.accepted[t] = true
	}
	for _, t := range append(append([]string(nil), vo.Require...), vo.Types...) {
		v.accepted[t] = true
	}
	rep := &Report{Ref: ref.String(), Digest: desc.Digest.String(), Entries: []Entry{}}

	var (
		sigs, atts       []layer
		sigsBad, attsBad *Entry
	)
	rg, rctx := errgroup.WithContext(ctx)
	rg.Go(func() (err error) {
		sigs, sigsBad, err = readImage(rctx, store, SignatureTag(desc.Digest), KindSignature, opts)
		return err
	})
	rg.Go(func() (err error) {
		atts, attsBad, err = readImage(rctx, store, AttestationTag(desc.Digest), KindAttestation, opts)
		return err
	})
	if err := rg.Wait(); err != nil {
		return nil, fmt.Errorf("verifying %s: %w", ref, err)
	}
	entries := make([]Entry, len(sigs)+len(atts))
	var g errgroup.Group
	g.SetLimit(runtime.GOMAXPROCS(0))
	for i, l := range sigs {
		g.Go(func() error { entries[i] = v.signature(l); return nil })
	}
	for i, l := range atts {
		g.Go(func() error { entries[len(sigs)+i] = v.attestation(l); return nil })
	}
	g.Wait()
	rep.Entries = append(rep.Entries, entries...)
	for _, bad := range []*Entry{sigsBad, attsBad} {
		if bad != nil {
			rep.Entries = append(rep.Entries, *bad)
		}
	}

	signed := false
	for _, e := range entries[:len(sigs)] {
		signed = signed || e.Status == StatusVerified
	}
	if len(sigs) == 0 && sigsBad == nil {
		rep.Entries = append(rep.Entries, Entry{
			Kind: KindSignature, Status: StatusMissing, Reason: ReasonNoSignature,
			Message: "no signature under " + SignatureTag(desc.Digest),
		})
	}
	rep.OK = signed
	required := append([]string(nil), vo.Require...)
	sort.Strings(required)
	for i, t := range required {
		if i > 0 && required[i-1] == t {
			continue
		}
		if len(rep.Verified(t)) == 0 {
			rep.OK = false
			rep.Entries = append(rep.Entries, Entry{
				Kind: KindAttestation, Status: StatusMissing, Reason: ReasonNoProvenance, PredicateType: t,
				Message: "no verified statement of type " + t,
			})
		}
	}
	return rep, nil
}

// readImage reads the layers under tag; an image that cannot be decoded
// is returned as a MALFORMED entry instead.
func readImage(ctx context.Context, store cairnoci.Store, tag string, kind Kind, opts cairnoci.Options) ([]layer, *Entry, error) {
	_, layers, _, err := readLayers(ctx, store, tag, opts.Concurrency)
	var mi *malformedImage
	if errors.As(err, &mi) {
		return nil, &Entry{Kind: kind, Status: StatusRejected, Reason: ReasonMalformed, Message: mi.Error()}, nil
	}
	return layers, nil, err
}

// verifier checks the layers of one artifact.
type verifier struct {
	keys     []*PublicKey
	digest   v1.Hash
	accepted map[string]bool
}

// reject fills in a rejection.
func reject(e Entry, r Reason, format string, args ...any) Entry {
	e.Status, e.Reason, e.Message = StatusRejected, r, fmt.Sprintf(format, args...)
	return e
}

// keyFailure is the rejection of a layer whose signature no trusted key
// verifies: UNTRUSTED_KEY when its key id names a key not trusted,
// SIG_INVALID otherwise.
func (v *verifier) keyFailure(e Entry, l layer) Entry {
	id := l.desc.Annotations[AnnotationKeyID]
	if id != "" && !v.trusted(id) {
		e.KeyID = id
		return reject(e, ReasonUntrustedKey, "signed by key %s, which is not trusted", id)
	}
	e.KeyID = id
	if id != "" {
		return reject(e, ReasonSigInvalid, "the signature does not verify under key %s, which the layer names", id)
	}
	return reject(e, ReasonSigInvalid, "the signature verifies under none of the %d trusted keys", len(v.keys))
}

func (v *verifier) trusted(id string) bool {
	for _, k := range v.keys {
		if k.id == id {
			return true
		}
	}
	return false
}

// signature checks one simple-signing layer.
func (v *verifier) signature(l layer) Entry {
	e := Entry{Kind: KindSignature, PayloadDigest: l.desc.Digest.String(), Envelope: l.payload}
	if l.desc.MediaType != ctypes.SimpleSigningMediaType {
		return reject(e, ReasonMalformed, "layer %s has media type %q, want %s", l.desc.Digest, l.desc.MediaType, ctypes.SimpleSigningMediaType)
	}
	if l.bad != "" {
		return reject(e, ReasonMalformed, "%s", l.bad)
	}
	b64 := l.desc.Annotations[AnnotationSignature]
	sig, err := base64.StdEncoding.DecodeString(b64)
	if b64 == "" || err != nil {
		return reject(e, ReasonMalformed, "layer %s: no base64 signature in the %s annotation", l.desc.Digest, AnnotationSignature)
	}
	var key *PublicKey
	for _, k := range v.keys {
		if k.verifier.VerifySignature(bytes.NewReader(sig), bytes.NewReader(l.payload)) == nil {
			key = k
			break
		}
	}
	if key == nil {
		return v.keyFailure(e, l)
	}
	e.KeyID = key.id
	var p payload.SimpleContainerImage
	if err := json.Unmarshal(l.payload, &p); err != nil {
		return reject(e, ReasonMalformed, "decoding the simple-signing payload: %v", err)
	}
	if p.Critical.Type != payload.CosignSignatureType {
		return reject(e, ReasonMalformed, "payload type %q, want %q", p.Critical.Type, payload.CosignSignatureType)
	}
	if got := p.Critical.Image.DockerManifestDigest; got != v.digest.String() {
		return reject(e, ReasonSubjectMismatch, "the payload names digest %s, not the artifact's %s", got, v.digest)
	}
	e.Status = StatusVerified
	return e
}

// attestation checks one DSSE layer.
func (v *verifier) attestation(l layer) Entry {
	annotated := l.desc.Annotations[AnnotationPredicateType]
	e := Entry{Kind: KindAttestation, EnvelopeDigest: l.desc.Digest.String(), PredicateType: annotated, Envelope: l.payload}
	if l.desc.MediaType != ctypes.DssePayloadType {
		return reject(e, ReasonMalformed, "layer %s has media type %q, want %s", l.desc.Digest, l.desc.MediaType, ctypes.DssePayloadType)
	}
	if l.bad != "" {
		return reject(e, ReasonMalformed, "%s", l.bad)
	}
	var env dsse.Envelope
	if err := json.Unmarshal(l.payload, &env); err != nil {
		return reject(e, ReasonMalformed, "decoding the DSSE envelope: %v", err)
	}
	if env.PayloadType != lineage.PayloadType {
		return reject(e, ReasonMalformed, "DSSE payload type %q, want %s", env.PayloadType, lineage.PayloadType)
	}
	if len(env.Signatures) == 0 {
		return reject(e, ReasonMalformed, "the DSSE envelope holds no signature")
	}
	raw, err := env.DecodeB64Payload()
	if err != nil {
		return reject(e, ReasonMalformed, "decoding the DSSE payload: %v", err)
	}
	var key *PublicKey
	for _, k := range v.keys {
		if _, err := k.envelopes.Verify(context.Background(), &env); err == nil {
			key = k
			break
		}
	}
	if key == nil {
		return v.keyFailure(e, l)
	}
	e.KeyID = key.id
	e.StatementDigest = layerDigest(raw)
	st, err := lineage.ParseStatement(raw)
	if err != nil {
		return reject(e, ReasonMalformed, "%v", err)
	}
	e.Statement, e.PredicateType = st, st.PredicateType
	if !st.HasSubject(v.digest.String()) {
		return reject(e, ReasonSubjectMismatch, "the statement is about %v, not the artifact's %s", st.SubjectDigests(), v.digest)
	}
	if !v.accepted[st.PredicateType] {
		return reject(e, ReasonWrongType, "predicate type %s is not accepted (accepted: %s)", st.PredicateType, v.acceptedList())
	}
	if annotated != "" && annotated != st.PredicateType {
		return reject(e, ReasonWrongType, "the layer is annotated %s, but the signed statement is of type %s", annotated, st.PredicateType)
	}
	pred, err := lineage.DecodePredicate(st.PredicateType, st.Predicate)
	if err != nil {
		return reject(e, ReasonMalformed, "%v", err)
	}
	e.Predicate = pred
	e.Status = StatusVerified
	return e
}

func (v *verifier) acceptedList() string {
	var out []string
	for t := range v.accepted {
		out = append(out, t)
	}
	sort.Strings(out)
	return strings.Join(out, ", ")
}
