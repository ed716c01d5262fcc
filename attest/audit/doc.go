// Package audit is the lineage audit index: it discovers model artifacts
// in registries and OCI layouts, verifies every signature and in-toto
// statement with attest/sign, and keeps the verified lineage graph in a
// local SQLite database (pure Go, modernc.org/sqlite) that trace, uses,
// unsigned, diff and read-only SQL queries, HTML reports and offline
// evidence bundles are built from. docs/audit.md documents the schema.
package audit
