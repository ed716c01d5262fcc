package audit

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"runtime"
	"sort"
	"strings"
	"sync"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"golang.org/x/sync/errgroup"

	"cairn.dev/cairn/attest/lineage"
	"cairn.dev/cairn/attest/oci"
	"cairn.dev/cairn/attest/sign"
)

// Options configure Index.
type Options struct {
	// Keys are the trusted public keys; required.
	Keys []*sign.PublicKey
	// OCI are the store settings (Insecure, Keychain, ...).
	OCI oci.Options
	// Concurrency is how many artifacts are verified at once; 0 means
	// twice the CPUs.
	Concurrency int
	// Progress, when set, is called after each artifact with the number
	// done and the number found so far. Calls are serialized.
	Progress func(done, total int)
}

// Stats says what Index did.
type Stats struct {
	Sources   int `json:"sources"`
	Artifacts int `json:"artifacts"`
	// Verified is how many artifacts were verified this time; Unchanged
	// how many were skipped because their manifest and their .sig and
	// .att manifests were as indexed, under the same keys.
	Verified  int `json:"verified"`
	Unchanged int `json:"unchanged"`
	Removed   int `json:"removed"`
	// Entries is how many signatures and statements were checked;
	// Rejected how many of them did not verify.
	Entries  int `json:"entries"`
	Rejected int `json:"rejected"`
}

// Predicate types the index reads besides lineage.KnownTypes.
var acceptedTypes = []string{lineage.PredicateDeployment}

var attachedTagRE = regexp.MustCompile(`^sha256-([a-f0-9]{64})\.(sig|att)$`)

// modelConfigType is ModelPack's config media type: a manifest with this
// config is a model.
const modelConfigType = "application/vnd.cncf.model.config.v1+json"

// SourceName is the name an index gives a repository or layout: the
// reference without tag or digest.
func SourceName(ref oci.Ref) string {
	ref.Tag, ref.Digest = "", ""
	return ref.String()
}

// artifactState is what the index holds about an artifact already.
type artifactState struct{ sig, att string }

// found is an artifact discovered in a source.
type found struct {
	source   oci.Ref
	name     string
	digest   string
	tags     []string
	sig, att string // manifest digests of the .sig and .att tags, "" if none
}

// verified is the outcome of verifying one artifact.
type verified struct {
	found
	isModel  bool
	manifest []byte
	rep      *sign.Report
	// sigLayers and attLayers are the layer descriptors of the .sig and
	// .att manifests, in order, as Verify's entries list them.
	sigLayers, attLayers []v1.Descriptor
	blobs                []blob
}

type blob struct {
	digest, mediaType string
	content           []byte
}

// Index discovers every model artifact in the sources (registry
// repositories and OCI layouts: their tags and sha256-<hex>.sig/.att
// tags), verifies each one's signatures and statements with sign.Verify,
// and records artifacts, verification entries, raw layers, and the
// lineage nodes and edges in the index. An artifact whose manifest digest
// and .sig and .att manifest digests are as indexed under the same keys is
// not read again; artifacts gone from a source are removed.
func (d *DB) Index(ctx context.Context, sources []oci.Ref, o Options) (*Stats, error) {
	if len(o.Keys) == 0 {
		return nil, errors.New("indexing: no public key given")
	}
	keyIDs := make([]string, 0, len(o.Keys))
	for _, k := range o.Keys {
		keyIDs = append(keyIDs, k.KeyID())
	}
	sort.Strings(keyIDs)
	keySet := strings.Join(keyIDs, ",")
	var prevKeys string
	d.db.QueryRowContext(ctx, `SELECT value FROM meta WHERE key = 'keys'`).Scan(&prevKeys)

	st := &Stats{Sources: len(sources)}
	var all []found
	seenSource := map[string]bool{}
	for _, src := range sources {
		name := SourceName(src)
		if seenSource[name] {
			continue
		}
		seenSource[name] = true
		fs, err := discover(ctx, src, o.OCI)
		if err != nil {
			return nil, fmt.Errorf("indexing %s: %w", name, err)
		}
		all = append(all, fs...)
	}

	// What the index holds already, per source.
	known := map[string]map[string]artifactState{}
	for name := range seenSource {
		m := map[string]artifactState{}
		rows, err := d.db.QueryContext(ctx, `SELECT digest, sig_manifest, att_manifest FROM artifacts WHERE source = ?`, name)
		if err != nil {
			return nil, fmt.Errorf("indexing %s: %w", name, err)
		}
		for rows.Next() {
			var dg string
			var s artifactState
			if err := rows.Scan(&dg, &s.sig, &s.att); err != nil {
				rows.Close()
				return nil, err
			}
			m[dg] = s
		}
		rows.Close()
		known[name] = m
	}

	tx, err := d.db.BeginTx(ctx, nil)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	w, err := newWriter(ctx, tx)
	if err != nil {
		return nil, err
	}
	defer w.close()

	var todo []found
	present := map[string]map[string]bool{}
	for _, f := range all {
		if present[f.name] == nil {
			present[f.name] = map[string]bool{}
		}
		present[f.name][f.digest] = true
		if s, ok := known[f.name][f.digest]; ok && s.sig == f.sig && s.att == f.att && prevKeys == keySet {
			st.Unchanged++
			if err := w.retag(f); err != nil {
				return nil, err
			}
			continue
		}
		todo = append(todo, f)
	}
	for name, m := range known {
		for dg := range m {
			if !present[name][dg] {
				if err := w.remove(name, dg); err != nil {
					return nil, err
				}
				st.Removed++
			}
		}
	}

	total := st.Unchanged + len(todo)
	done := st.Unchanged
	if o.Progress != nil {
		o.Progress(done, total)
	}
	results := make(chan *verified)
	g, gctx := errgroup.WithContext(ctx)
	conc := o.Concurrency
	if conc <= 0 {
		conc = 2 * runtime.GOMAXPROCS(0)
	}
	jobs := make(chan found)
	g.Go(func() error {
		defer close(jobs)
		for _, f := range todo {
			select {
			case jobs <- f:
			case <-gctx.Done():
				return gctx.Err()
			}
		}
		return nil
	})
	var wg sync.WaitGroup
	for range conc {
		wg.Add(1)
		g.Go(func() error {
			defer wg.Done()
			for f := range jobs {
				v, err := verifyArtifact(gctx, f, o)
				if err != nil {
					return err
				}
				select {
				case results <- v:
				case <-gctx.Done():
					return gctx.Err()
				}
			}
			return nil
		})
	}
	go func() { wg.Wait(); close(results) }()
	var werr error
	for v := range results {
		if werr != nil {
			continue
		}
		if !v.isModel {
			total--
			continue
		}
		st.Verified++
		st.Entries += len(v.rep.Entries)
		for _, e := range v.rep.Entries {
			if e.Status != sign.StatusVerified {
				st.Rejected++
			}
		}
		if werr = w.write(v); werr != nil {
			continue
		}
		done++
		if o.Progress != nil {
			o.Progress(done, total)
		}
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	if werr != nil {
		return nil, werr
	}
	if _, err := tx.ExecContext(ctx, `INSERT OR REPLACE INTO meta(key, value) VALUES ('keys', ?)`, keySet); err != nil {
		return nil, err
	}
	for _, k := range o.Keys {
		pem, err := k.PEM()
		if err != nil {
			return nil, err
		}
		if _, err := tx.ExecContext(ctx, `INSERT OR REPLACE INTO keys(key_id, pem) VALUES (?, ?)`, k.KeyID(), string(pem)); err != nil {
			return nil, err
		}
	}
	w.close()
	if err := tx.Commit(); err != nil {
		return nil, fmt.Errorf("writing the audit index: %w", err)
	}
	st.Artifacts = st.Unchanged + st.Verified
	return st, nil
}

// discover lists a source's tags: every digest a plain tag names is a
// candidate artifact, and so is every digest a .sig or .att tag is about
// when its manifest is in the store.
func discover(ctx context.Context, src oci.Ref, opts oci.Options) ([]found, error) {
	tags, err := oci.List(ctx, src, opts)
	if err != nil {
		return nil, err
	}
	name := SourceName(src)
	byDigest := map[string]*found{}
	get := func(dg string) *found {
		f := byDigest[dg]
		if f == nil {
			f = &found{source: src, name: name, digest: dg}
			byDigest[dg] = f
		}
		return f
	}
	attached := map[string]bool{}
	for _, t := range tags {
		if m := attachedTagRE.FindStringSubmatch(t.Name); m != nil {
			f := get("sha256:" + m[1])
			if m[2] == "sig" {
				f.sig = t.Digest.String()
			} else {
				f.att = t.Digest.String()
			}
			attached["sha256:"+m[1]] = true
			continue
		}
		f := get(t.Digest.String())
		f.tags = append(f.tags, t.Name)
	}
	// Signature and attestation images are not artifacts of their own.
	for _, t := range tags {
		if attachedTagRE.MatchString(t.Name) {
			if f := byDigest[t.Digest.String()]; f != nil && len(f.tags) == 0 && f.sig == "" && f.att == "" {
				delete(byDigest, t.Digest.String())
			}
		}
	}
	var out []found
	for _, f := range byDigest {
		sort.Strings(f.tags)
		out = append(out, *f)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].digest < out[j].digest })
	return out, nil
}

// verifyArtifact reads an artifact's manifest and verifies it.
func verifyArtifact(ctx context.Context, f found, o Options) (*verified, error) {
	v := &verified{found: f}
	store, err := oci.OpenStore(f.source, o.OCI)
	if err != nil {
		return nil, err
	}
	desc, raw, err := store.GetManifest(ctx, f.digest)
	if errors.Is(err, oci.ErrNotFound) && len(f.tags) == 0 {
		return v, nil // a signature of an artifact not stored here
	}
	if err != nil {
		return nil, fmt.Errorf("reading %s@%s: %w", f.name, f.digest, err)
	}
	var m struct {
		Config struct {
			MediaType string `json:"mediaType"`
		} `json:"config"`
	}
	if json.Unmarshal(raw, &m) != nil || m.Config.MediaType != modelConfigType {
		return v, nil
	}
	v.isModel = true
	v.manifest = raw
	v.blobs = append(v.blobs, blob{f.digest, string(desc.MediaType), raw})
	ref := f.source
	ref.Tag, ref.Digest = "", f.digest
	v.rep, err = sign.Verify(ctx, ref, o.Keys, sign.VerifyOptions{Require: []string{lineage.PredicateSLSAProvenance}, Types: acceptedTypes}, o.OCI)
	if err != nil {
		return nil, err
	}
	for i, tag := range []string{f.sig, f.att} {
		if tag == "" {
			continue
		}
		d, raw, err := store.GetManifest(ctx, tag)
		if err != nil {
			continue // reported by Verify as MALFORMED, or gone meanwhile
		}
		v.blobs = append(v.blobs, blob{d.Digest.String(), string(d.MediaType), raw})
		var im v1.Manifest
		if json.Unmarshal(raw, &im) == nil {
			if i == 0 {
				v.sigLayers = im.Layers
			} else {
				v.attLayers = im.Layers
			}
		}
	}
	for _, e := range v.rep.Entries {
		if len(e.Envelope) > 0 {
			mt := "application/vnd.dev.cosign.simplesigning.v1+json"
			if e.Kind == sign.KindAttestation {
				mt = "application/vnd.dsse.envelope.v1+json"
			}
			v.blobs = append(v.blobs, blob{layerDigestOf(e), mt, e.Envelope})
		}
	}
	return v, nil
}

func layerDigestOf(e sign.Entry) string {
	if e.Kind == sign.KindSignature {
		return e.PayloadDigest
	}
	return e.EnvelopeDigest
}

func sha256Hex(b []byte) string {
	s := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(s[:])
}

// writer writes artifacts into the index within one transaction.
type writer struct {
	ctx   context.Context
	tx    *sql.Tx
	stmts map[string]*sql.Stmt
}

var writerSQL = map[string]string{
	"artifact":    `INSERT OR REPLACE INTO artifacts(source, digest, tags, sig_manifest, att_manifest, signature_status, signature_reason, signature_key, provenance_status) VALUES (?,?,?,?,?,?,?,?,?)`,
	"retag":       `UPDATE artifacts SET tags = ? WHERE source = ? AND digest = ?`,
	"entry":       `INSERT INTO entries(source, artifact, seq, kind, status, reason, message, key_id, layer_digest, statement_digest, predicate_type, descriptor) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)`,
	"blob":        `INSERT OR IGNORE INTO blobs(digest, media_type, content) VALUES (?,?,?)`,
	"node":        `INSERT INTO nodes(id, kind, label, digest, uri, attrs, rank, source, artifact, statement_digest, status, reason) VALUES (?,?,?,?,?,?,?,?,?,?,?,?) ON CONFLICT(id, statement_digest, artifact, source) DO UPDATE SET kind=excluded.kind, label=excluded.label, digest=excluded.digest, uri=excluded.uri, attrs=excluded.attrs, rank=excluded.rank, status=excluded.status, reason=excluded.reason WHERE (excluded.status = 'verified' AND nodes.status != 'verified') OR ((excluded.status = 'verified') = (nodes.status = 'verified') AND (excluded.rank > nodes.rank OR (excluded.rank = nodes.rank AND length(excluded.attrs) > length(nodes.attrs))))`,
	"edge":        `INSERT INTO edges(src, dst, kind, source, artifact, statement_digest, predicate_type, key_id, status, reason) VALUES (?,?,?,?,?,?,?,?,?,?) ON CONFLICT(src, dst, kind, statement_digest, source, artifact) DO UPDATE SET predicate_type=excluded.predicate_type, key_id=excluded.key_id, status=excluded.status, reason=excluded.reason WHERE edges.status != 'verified'`,
	"delArtifact": `DELETE FROM artifacts WHERE source = ? AND digest = ?`,
	"delEntries":  `DELETE FROM entries WHERE source = ? AND artifact = ?`,
	"delEdges":    `DELETE FROM edges WHERE source = ? AND artifact = ?`,
	"delNodes":    `DELETE FROM nodes WHERE source = ? AND artifact = ?`,
}

func newWriter(ctx context.Context, tx *sql.Tx) (*writer, error) {
	w := &writer{ctx: ctx, tx: tx, stmts: map[string]*sql.Stmt{}}
	for k, q := range writerSQL {
		s, err := tx.PrepareContext(ctx, q)
		if err != nil {
			w.close()
			return nil, fmt.Errorf("preparing %s: %w", k, err)
		}
		w.stmts[k] = s
	}
	return w, nil
}

func (w *writer) close() {
	for k, s := range w.stmts {
		s.Close()
		delete(w.stmts, k)
	}
}

func (w *writer) exec(name string, args ...any) error {
	if _, err := w.stmts[name].ExecContext(w.ctx, args...); err != nil {
		return fmt.Errorf("writing the audit index (%s): %w", name, err)
	}
	return nil
}

func (w *writer) retag(f found) error {
	return w.exec("retag", strings.Join(f.tags, " "), f.name, f.digest)
}

func (w *writer) remove(source, digest string) error {
	for _, q := range []string{"delArtifact", "delEntries", "delEdges", "delNodes"} {
		if err := w.exec(q, source, digest); err != nil {
			return err
		}
	}
	return nil
}

// write records one verified artifact: its row, its entries, its raw
// layers and manifests, and the lineage its statements give.
func (w *writer) write(v *verified) error {
	if err := w.remove(v.name, v.digest); err != nil {
		return err
	}
	sigStatus, sigReason, sigKey := signatureStatus(v.rep.Entries)
	provStatus := string(sign.StatusMissing)
	for _, e := range v.rep.Entries {
		if e.Kind == sign.KindAttestation && e.PredicateType == lineage.PredicateSLSAProvenance && e.Status == sign.StatusVerified {
			provStatus = string(sign.StatusVerified)
		}
	}
	if err := w.exec("artifact", v.name, v.digest, strings.Join(v.tags, " "), v.sig, v.att, sigStatus, sigReason, sigKey, provStatus); err != nil {
		return err
	}
	for _, b := range v.blobs {
		if err := w.exec("blob", b.digest, b.mediaType, b.content); err != nil {
			return err
		}
	}
	if err := w.writeEntries(v); err != nil {
		return err
	}
	return w.writeLineage(v)
}

// writeEntries records an artifact's verification entries, each with its
// layer's descriptor.
func (w *writer) writeEntries(v *verified) error {
	var si, ai int
	for i, e := range v.rep.Entries {
		// Entries list the layers in order: match each to its descriptor.
		desc := ""
		layers, n := v.sigLayers, &si
		if e.Kind == sign.KindAttestation {
			layers, n = v.attLayers, &ai
		}
		if ld := layerDigestOf(e); ld != "" && *n < len(layers) && layers[*n].Digest.String() == ld {
			raw, _ := json.Marshal(layers[*n])
			desc = string(raw)
			*n++
		}
		stDigest := e.StatementDigest
		if stDigest == "" && e.Kind == sign.KindAttestation {
			if raw := envelopeStatement(e.Envelope); raw != nil {
				stDigest = sha256Hex(raw)
			}
		}
		if err := w.exec("entry", v.name, v.digest, i, string(e.Kind), string(e.Status), string(e.Reason), e.Message, e.KeyID, layerDigestOf(e), stDigest, e.PredicateType, desc); err != nil {
			return err
		}
	}
	return nil
}

// writeLineage records the nodes, each as the statement naming it
// describes it, and the edges of an artifact's statements.
func (w *writer) writeLineage(v *verified) error {
	g := lineageOf(v)
	for _, n := range g.nodes {
		attrs, _ := json.Marshal(n.Attrs)
		if n.Attrs == nil {
			attrs = []byte("{}")
		}
		c := n.from
		if err := w.exec("node", n.ID, n.Kind, n.Label, n.Digest, n.URI, string(attrs), n.rank, c.source, c.artifact, c.statement, c.status, c.reason); err != nil {
			return err
		}
	}
	for _, e := range g.edges {
		if err := w.exec("edge", e.From, e.To, e.Kind, v.name, v.digest, e.StatementDigest, e.PredicateType, e.KeyID, e.Status, e.Reason); err != nil {
			return err
		}
	}
	return nil
}

// envelopeStatement returns the payload of a DSSE envelope, or nil.
func envelopeStatement(env []byte) []byte {
	var e struct {
		Payload string `json:"payload"`
	}
	if json.Unmarshal(env, &e) != nil || e.Payload == "" {
		return nil
	}
	raw, err := base64.StdEncoding.DecodeString(e.Payload)
	if err != nil {
		return nil
	}
	return raw
}
