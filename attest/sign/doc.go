// Package sign signs model artifacts with cosign keys, attaches in-toto
// lineage statements to them, and verifies both offline, in the storage
// format of cosign, so the cosign CLI reads what it writes and the reverse.
//
// Signatures are simple-signing payloads under the tag sha256-<hex>.sig of
// the artifact's repository or layout; attestations are DSSE envelopes of
// in-toto statements under sha256-<hex>.att. Verify reports every
// signature and statement with a status and, when rejected, a reason code.
// It is the only package that imports cosign and sigstore; docs/lineage.md
// describes the format and the reason codes.
package sign
