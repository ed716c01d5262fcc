package audit

import (
	"context"
	"database/sql"
	"fmt"
	"net/url"
	"os"
	"path/filepath"

	_ "modernc.org/sqlite" // the pure-Go SQLite driver, "sqlite"
)

// DefaultPath is the index's default location, relative to the project
// root.
const DefaultPath = ".cairn/audit.db"

// SchemaVersion is the version of the index schema; an index of another
// version is rebuilt from scratch.
const SchemaVersion = "3"

// schema is the index's DDL; docs/audit.md describes every column.
const schema = `
CREATE TABLE IF NOT EXISTS meta (
  key   TEXT PRIMARY KEY,
  value TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS keys (
  key_id TEXT PRIMARY KEY,
  pem    TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS artifacts (
  source           TEXT NOT NULL,
  digest           TEXT NOT NULL,
  tags             TEXT NOT NULL,
  sig_manifest     TEXT NOT NULL,
  att_manifest     TEXT NOT NULL,
  signature_status TEXT NOT NULL,
  signature_reason TEXT NOT NULL,
  signature_key    TEXT NOT NULL,
  provenance_status TEXT NOT NULL,
  PRIMARY KEY (source, digest)
);
CREATE INDEX IF NOT EXISTS artifacts_digest ON artifacts(digest);
CREATE TABLE IF NOT EXISTS entries (
  source           TEXT NOT NULL,
  artifact         TEXT NOT NULL,
  seq              INTEGER NOT NULL,
  kind             TEXT NOT NULL,
  status           TEXT NOT NULL,
  reason           TEXT NOT NULL,
  message          TEXT NOT NULL,
  key_id           TEXT NOT NULL,
  layer_digest     TEXT NOT NULL,
  statement_digest TEXT NOT NULL,
  predicate_type   TEXT NOT NULL,
  descriptor       TEXT NOT NULL,
  PRIMARY KEY (source, artifact, seq)
);
CREATE TABLE IF NOT EXISTS blobs (
  digest     TEXT PRIMARY KEY,
  media_type TEXT NOT NULL,
  content    BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS nodes (
  id               TEXT NOT NULL,
  kind             TEXT NOT NULL,
  label            TEXT NOT NULL,
  digest           TEXT NOT NULL,
  uri              TEXT NOT NULL,
  attrs            TEXT NOT NULL,
  rank             INTEGER NOT NULL,
  source           TEXT NOT NULL,
  artifact         TEXT NOT NULL,
  statement_digest TEXT NOT NULL,
  status           TEXT NOT NULL,
  reason           TEXT NOT NULL,
  PRIMARY KEY (id, statement_digest, artifact, source)
);
CREATE INDEX IF NOT EXISTS nodes_uri ON nodes(uri);
CREATE INDEX IF NOT EXISTS nodes_digest ON nodes(digest);
CREATE INDEX IF NOT EXISTS nodes_artifact ON nodes(source, artifact);
CREATE TABLE IF NOT EXISTS edges (
  src              TEXT NOT NULL,
  dst              TEXT NOT NULL,
  kind             TEXT NOT NULL,
  source           TEXT NOT NULL,
  artifact         TEXT NOT NULL,
  statement_digest TEXT NOT NULL,
  predicate_type   TEXT NOT NULL,
  key_id           TEXT NOT NULL,
  status           TEXT NOT NULL,
  reason           TEXT NOT NULL,
  PRIMARY KEY (src, dst, kind, statement_digest, source, artifact)
);
CREATE INDEX IF NOT EXISTS edges_dst ON edges(dst);
CREATE INDEX IF NOT EXISTS edges_artifact ON edges(source, artifact);
`

// DB is an open audit index.
type DB struct {
	db   *sql.DB
	path string
}

// Open opens the index at path for indexing, creating it (and its
// folder) when missing.
func Open(path string) (*DB, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, fmt.Errorf("audit index %s: %w", path, err)
	}
	db, err := sql.Open("sqlite", dsn(path, false))
	if err != nil {
		return nil, fmt.Errorf("audit index %s: %w", path, err)
	}
	db.SetMaxOpenConns(1)
	d := &DB{db: db, path: path}
	if err := d.migrate(); err != nil {
		db.Close()
		return nil, fmt.Errorf("audit index %s: %w", path, err)
	}
	return d, nil
}

// OpenReadOnly opens an existing index for queries: the file is opened
// read-only and every connection has PRAGMA query_only set.
func OpenReadOnly(path string) (*DB, error) {
	if _, err := os.Stat(path); err != nil {
		return nil, fmt.Errorf("audit index %s: %w (run cairn audit index first)", path, err)
	}
	db, err := sql.Open("sqlite", dsn(path, true))
	if err != nil {
		return nil, fmt.Errorf("audit index %s: %w", path, err)
	}
	var v string
	if err := db.QueryRow(`SELECT value FROM meta WHERE key = 'schema'`).Scan(&v); err != nil {
		db.Close()
		return nil, fmt.Errorf("audit index %s: not an audit index: %w", path, err)
	}
	if v != SchemaVersion {
		db.Close()
		return nil, fmt.Errorf("audit index %s: schema version %s, want %s (index again)", path, v, SchemaVersion)
	}
	return &DB{db: db, path: path}, nil
}

// openMemory opens an empty index in memory (one connection, so one
// database), to rebuild a trace from an evidence bundle.
func openMemory() (*DB, error) {
	db, err := sql.Open("sqlite", "file::memory:")
	if err != nil {
		return nil, fmt.Errorf("in-memory audit index: %w", err)
	}
	db.SetMaxOpenConns(1)
	db.SetMaxIdleConns(1)
	d := &DB{db: db, path: ":memory:"}
	if err := d.migrate(); err != nil {
		db.Close()
		return nil, fmt.Errorf("in-memory audit index: %w", err)
	}
	return d, nil
}

func dsn(path string, readOnly bool) string {
	q := url.Values{}
	q.Add("_pragma", "busy_timeout(5000)")
	if readOnly {
		q.Set("mode", "ro")
		q.Add("_pragma", "query_only(1)")
	} else {
		q.Add("_pragma", "journal_mode(WAL)")
		q.Add("_pragma", "synchronous(NORMAL)")
	}
	return "file:" + filepath.ToSlash(path) + "?" + q.Encode()
}

func (d *DB) migrate() error {
	ctx := context.Background()
	var v string
	err := d.db.QueryRowContext(ctx, `SELECT value FROM meta WHERE key = 'schema'`).Scan(&v)
	if err == nil && v != SchemaVersion {
		for _, t := range []string{"meta", "keys", "artifacts", "entries", "blobs", "nodes", "edges"} {
			if _, err := d.db.ExecContext(ctx, "DROP TABLE IF EXISTS "+t); err != nil {
				return err
			}
		}
	}
	if _, err := d.db.ExecContext(ctx, schema); err != nil {
		return fmt.Errorf("creating the schema: %w", err)
	}
	_, err = d.db.ExecContext(ctx, `INSERT OR REPLACE INTO meta(key, value) VALUES ('schema', ?)`, SchemaVersion)
	return err
}

// Close closes the index.
func (d *DB) Close() error { return d.db.Close() }

// Path is the index's file.
func (d *DB) Path() string { return d.path }
