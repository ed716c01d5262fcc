// Package lineage holds the in-toto statements Cairn attaches to model
// artifacts and the predicates they carry: SLSA Provenance v1 for a
// training run, and Cairn's evaluation and dataset-snapshot predicates,
// with the constructors the pack step calls.
//
// It is plain Go and encoding/json: signing, storing and verifying the
// statements is the job of package attest/sign. docs/lineage.md describes
// every field with full examples.
package lineage
