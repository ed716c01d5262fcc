package sign

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"cairn.dev/cairn/attest/lineage"
)

// VerifyLayer checks one signature or attestation layer given as bytes,
// with the same rules and reason codes as Verify: desc is the layer's
// descriptor as its .sig or .att manifest lists it (media type, digest,
// size, annotations), content the layer's blob, digest the artifact's
// manifest digest. It lets an offline evidence bundle be re-verified
// with no store. A content that does not match desc is MALFORMED.
func VerifyLayer(kind Kind, digest string, desc v1.Descriptor, content []byte, keys []*PublicKey, vo VerifyOptions) (Entry, error) {
	if len(keys) == 0 {
		return Entry{}, fmt.Errorf("verifying a layer of %s: no public key given", digest)
	}
	h, err := v1.NewHash(digest)
	if err != nil {
		return Entry{}, fmt.Errorf("verifying a layer of %s: %w", digest, err)
	}
	v := &verifier{keys: keys, digest: h, accepted: map[string]bool{}}
	for _, t := range lineage.KnownTypes() {
		v.accepted[t] = true
	}
	for _, t := range append(append([]string(nil), vo.Require...), vo.Types...) {
		v.accepted[t] = true
	}
	l := layer{desc: desc, payload: content}
	sum := sha256.Sum256(content)
	if got := hex.EncodeToString(sum[:]); desc.Digest.Algorithm != "sha256" || got != desc.Digest.Hex || int64(len(content)) != desc.Size {
		l.bad = fmt.Sprintf("layer %s: content has digest sha256:%s and %d bytes, want %d", desc.Digest, got, len(content), desc.Size)
	}
	switch kind {
	case KindSignature:
		return v.signature(l), nil
	case KindAttestation:
		return v.attestation(l), nil
	}
	return Entry{}, fmt.Errorf("verifying a layer of %s: unknown kind %q", digest, kind)
}
