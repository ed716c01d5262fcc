// Package attest holds the trust layer: model artifacts in OCI registries
// and layouts (attest/oci), cosign signatures and in-toto attestations
// (attest/sign) and the lineage predicates they carry (attest/lineage).
// It never imports the compiler.
package attest
