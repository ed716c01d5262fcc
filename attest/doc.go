// Package attest will hold model artifacts in OCI registries, cosign
// signatures, in-toto lineage predicates and the audit index. It never
// imports the compiler.
package attest
