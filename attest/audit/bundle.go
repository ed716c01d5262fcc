package audit

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"regexp"
	"slices"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"cairn.dev/cairn/attest/sign"
)

// Bundle file names.
const (
	// BundleSums lists the sha256 of every other file of a bundle, as
	// sha256sum writes it, sorted by path.
	BundleSums = "SHA256SUMS"
	// BundleIndex says what the bundle holds (BundleManifest).
	BundleIndex = "bundle.json"
	// BundleTrace is the trace of the model, as audit trace --format json.
	BundleTrace = "trace.json"
)

// BundleManifest is bundle.json.
type BundleManifest struct {
	Model string `json:"model"`
	// IncludeUnverified is true when the trace follows statements that
	// did not verify (export --include-unverified).
	IncludeUnverified bool             `json:"includeUnverified,omitempty"`
	Artifacts         []BundleArtifact `json:"artifacts"`
	Keys              []string         `json:"keys"`
}

// BundleArtifact is a model in a bundle: one whose node is in the trace,
// or whose statements give the trace an edge.
type BundleArtifact struct {
	Digest string `json:"digest"`
	Source string `json:"source"`
	// Tags are the artifact's tags in its source when indexed (they name
	// the model's node; no signature covers them).
	Tags     []string      `json:"tags,omitempty"`
	Manifest string        `json:"manifest"`
	Layers   []BundleLayer `json:"layers"`
}

// BundleLayer is one signature or attestation layer in a bundle: its
// descriptor (with the signature annotation) and its raw content, and
// the status it had when indexed.
type BundleLayer struct {
	Kind       string `json:"kind"`
	Descriptor string `json:"descriptor"`
	Content    string `json:"content"`
	Status     string `json:"status"`
	Reason     string `json:"reason,omitempty"`
}

// Export writes the offline evidence bundle of a model as a tar file:
// the manifests of the models of its trace and of the models whose
// statements give it edges, each one's signature and attestation layers
// (descriptor and raw bytes), the trusted public keys, the trace,
// bundle.json, and SHA256SUMS. The trace is the one the bundle's own
// statements give, as verify-bundle rebuilds it; Export fails if that is
// not the index's. It returns the tar and the number of files. Bytes and
// order are deterministic.
func (d *DB) Export(ctx context.Context, digest string, o QueryOptions) ([]byte, int, error) {
	t, err := d.Trace(ctx, digest, o)
	if err != nil {
		return nil, 0, err
	}
	files := map[string][]byte{}
	bm := BundleManifest{Model: digest, IncludeUnverified: o.IncludeUnverified}
	arts, err := d.exportArtifacts(ctx, t)
	if err != nil {
		return nil, 0, err
	}
	var evidence []*verified
	for _, a := range arts {
		ba, v, err := d.exportArtifact(ctx, a, files)
		if err != nil {
			return nil, 0, fmt.Errorf("exporting %s: %w", a.Digest, err)
		}
		bm.Artifacts = append(bm.Artifacts, ba)
		evidence = append(evidence, v)
	}
	if bm.Keys, err = d.exportKeys(ctx, files); err != nil {
		return nil, 0, err
	}
	rebuilt, err := rebuildTrace(evidence, digest, o)
	if err != nil {
		return nil, 0, fmt.Errorf("exporting %s: rebuilding the trace from the bundle: %w", digest, err)
	}
	if err := compareLineage(t, rebuilt); err != nil {
		return nil, 0, fmt.Errorf("exporting %s: the bundle's statements do not give the indexed trace: %w", digest, err)
	}
	if files[BundleTrace], err = json.MarshalIndent(rebuilt, "", "  "); err != nil {
		return nil, 0, err
	}
	if files[BundleIndex], err = json.MarshalIndent(bm, "", "  "); err != nil {
		return nil, 0, err
	}
	names := slices.Sorted(maps.Keys(files))
	var sums bytes.Buffer
	for _, n := range names {
		fmt.Fprintf(&sums, "%s  %s\n", strings.TrimPrefix(sha256Hex(files[n]), "sha256:"), n)
	}
	files[BundleSums] = sums.Bytes()
	names = append([]string{BundleSums}, names...)
	raw, err := writeTar(names, files)
	if err != nil {
		return nil, 0, err
	}
	return raw, len(names), nil
}

// exportArtifacts returns the artifacts a bundle holds, sorted by
// digest: one per model of the trace that is indexed, and per model whose
// statements give the trace an edge. Of several sources, the one whose
// description the model's node shows, else the first with a verified
// signature, else the first.
func (d *DB) exportArtifacts(ctx context.Context, t *Trace) ([]Artifact, error) {
	preferred := map[string]string{}
	for _, n := range t.Nodes {
		if n.Kind == KindModel && n.Digest != "" {
			preferred[n.Digest] = ""
			if n.from.statement == "" && n.from.artifact == n.Digest {
				preferred[n.Digest] = n.from.source
			}
		}
	}
	for _, e := range t.Edges {
		if _, ok := preferred[e.Artifact]; !ok {
			preferred[e.Artifact] = ""
		}
	}
	var out []Artifact
	for _, m := range slices.Sorted(maps.Keys(preferred)) {
		as, err := d.artifacts(ctx, m)
		if err != nil {
			return nil, err
		}
		if len(as) == 0 {
			continue // a base model that is not indexed
		}
		i := slices.IndexFunc(as, func(a Artifact) bool { return a.Source == preferred[m] })
		if i < 0 {
			i = max(0, slices.IndexFunc(as, Artifact.Verified))
		}
		out = append(out, as[i])
	}
	return out, nil
}

// exportArtifact adds an artifact's manifest and layers to files, and
// returns its entry of bundle.json and its evidence: the layers with the
// statuses recorded, as verify-bundle reads them.
func (d *DB) exportArtifact(ctx context.Context, a Artifact, files map[string][]byte) (BundleArtifact, *verified, error) {
	dir := "artifacts/" + strings.TrimPrefix(a.Digest, "sha256:") + "/"
	ba := BundleArtifact{Digest: a.Digest, Source: a.Source, Tags: a.Tags, Manifest: dir + "manifest.json"}
	raw, err := d.blob(ctx, a.Digest)
	if err != nil {
		return ba, nil, fmt.Errorf("manifest: %w", err)
	}
	files[ba.Manifest] = raw
	rows, err := d.db.QueryContext(ctx, `SELECT seq, kind, status, reason, key_id, layer_digest, statement_digest, predicate_type, descriptor FROM entries WHERE source = ? AND artifact = ? ORDER BY seq`, a.Source, a.Digest)
	if err != nil {
		return ba, nil, err
	}
	type ent struct {
		seq                                                          int
		kind, status, reason, key, layer, statement, ptype, descript string
	}
	var ents []ent
	for rows.Next() {
		var e ent
		if err := rows.Scan(&e.seq, &e.kind, &e.status, &e.reason, &e.key, &e.layer, &e.statement, &e.ptype, &e.descript); err != nil {
			rows.Close()
			return ba, nil, err
		}
		ents = append(ents, e)
	}
	rows.Close()
	v := bundleEvidence(ba)
	for _, e := range ents {
		if e.layer == "" || e.descript == "" {
			continue
		}
		content, err := d.blob(ctx, e.layer)
		if err != nil {
			continue // not stored: MALFORMED when indexed
		}
		ext, sub := ".payload", "signatures/"
		if e.kind == string(sign.KindAttestation) {
			ext, sub = ".envelope", "attestations/"
		}
		base := fmt.Sprintf("%s%s%03d", dir, sub, e.seq)
		l := BundleLayer{Kind: e.kind, Descriptor: base + ".descriptor.json", Content: base + ext, Status: e.status, Reason: e.reason}
		files[l.Descriptor] = []byte(e.descript)
		files[l.Content] = content
		ba.Layers = append(ba.Layers, l)
		v.rep.Entries = append(v.rep.Entries, sign.Entry{Kind: sign.Kind(e.kind), Status: sign.Status(e.status), Reason: sign.Reason(e.reason),
			KeyID: e.key, StatementDigest: e.statement, PredicateType: e.ptype, Envelope: content})
	}
	return ba, v, nil
}

// exportKeys adds the index's trusted keys to files and returns their
// paths.
func (d *DB) exportKeys(ctx context.Context, files map[string][]byte) ([]string, error) {
	rows, err := d.db.QueryContext(ctx, `SELECT key_id, pem FROM keys ORDER BY key_id`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var paths []string
	for rows.Next() {
		var id, pem string
		if err := rows.Scan(&id, &pem); err != nil {
			return nil, err
		}
		p := "keys/" + strings.TrimPrefix(id, "sha256:") + ".pub"
		files[p] = []byte(pem)
		paths = append(paths, p)
	}
	return paths, rows.Err()
}

// bundleEvidence is an artifact of a bundle as the index reads one, with
// no entries yet.
func bundleEvidence(a BundleArtifact) *verified {
	return &verified{found: found{name: a.Source, digest: a.Digest, tags: a.Tags}, isModel: true, rep: &sign.Report{Digest: a.Digest}}
}

// rebuildTrace indexes the artifacts of a bundle into an index in memory
// and traces the model there: the trace that the bundle's statements,
// and nothing else, give.
func rebuildTrace(evidence []*verified, model string, o QueryOptions) (*Trace, error) {
	ctx := context.Background()
	db, err := openMemory()
	if err != nil {
		return nil, err
	}
	defer db.Close()
	tx, err := db.db.BeginTx(ctx, nil)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	w, err := newWriter(ctx, tx)
	if err != nil {
		return nil, err
	}
	for _, v := range evidence {
		if err := w.write(v); err != nil {
			w.close()
			return nil, err
		}
	}
	w.close()
	if err := tx.Commit(); err != nil {
		return nil, err
	}
	return db.Trace(ctx, model, o)
}

// writeTar writes files in the order of names, in the one form a bundle
// may have: PAX format, mode 0644, time zero, no owner.
func writeTar(names []string, files map[string][]byte) ([]byte, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, n := range names {
		h := &tar.Header{Name: n, Mode: 0o644, Size: int64(len(files[n])), ModTime: time.Unix(0, 0).UTC(), Typeflag: tar.TypeReg, Format: tar.FormatPAX}
		if err := tw.WriteHeader(h); err != nil {
			return nil, err
		}
		if _, err := tw.Write(files[n]); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

func (d *DB) blob(ctx context.Context, digest string) ([]byte, error) {
	var b []byte
	if err := d.db.QueryRowContext(ctx, `SELECT content FROM blobs WHERE digest = ?`, digest).Scan(&b); err != nil {
		return nil, fmt.Errorf("blob %s: %w", digest, err)
	}
	return b, nil
}

// BundleResult says what VerifyBundle checked.
type BundleResult struct {
	Files      int      `json:"files"`
	Models     []string `json:"models"`
	Signatures int      `json:"signatures"`
	Statements int      `json:"statements"`
	Edges      int      `json:"edges"`
}

// maxBundleFile bounds each file read from a bundle, maxBundle the
// bundle.
const (
	maxBundleFile = 64 << 20
	maxBundle     = 1 << 30
)

var sumLineRE = regexp.MustCompile(`^([a-f0-9]{64})  ([^\n]+)$`)

// VerifyBundle re-verifies an evidence bundle with no registry: every
// file against SHA256SUMS (no file missing, none extra), every manifest
// against its digest, every signature and DSSE envelope against the
// trusted keys with sign.VerifyLayer (the rules of sign.Verify), each with
// the status it had when exported; every model must have a verified
// signature. It then rebuilds the trace from the bundle's statements
// alone and compares it whole with trace.json: the model's artifacts,
// every node with its kind and attributes, every edge with its statement
// and status. Any failure is an error naming the file and, for the
// trace, the first difference.
func VerifyBundle(r io.Reader, keys []*sign.PublicKey) (*BundleResult, error) {
	if len(keys) == 0 {
		return nil, errors.New("no public key given")
	}
	files, names, err := readBundle(r)
	if err != nil {
		return nil, err
	}
	if err := checkSums(files, names); err != nil {
		return nil, err
	}
	var bm BundleManifest
	if err := strictJSON(files[BundleIndex], &bm); err != nil {
		return nil, fmt.Errorf("%s: %w", BundleIndex, err)
	}
	var t Trace
	if err := strictJSON(files[BundleTrace], &t); err != nil {
		return nil, fmt.Errorf("%s: %w", BundleTrace, err)
	}
	if t.Model != bm.Model {
		return nil, fmt.Errorf("%s is about %s, %s about %s", BundleTrace, t.Model, BundleIndex, bm.Model)
	}
	res := &BundleResult{Files: len(files)}
	evidence, err := verifyArtifacts(&bm, files, keys, res)
	if err != nil {
		return nil, err
	}
	if !slices.Contains(res.Models, bm.Model) {
		return nil, fmt.Errorf("%s: the model %s is not among the artifacts", BundleIndex, bm.Model)
	}
	rebuilt, err := rebuildTrace(evidence, bm.Model, QueryOptions{IncludeUnverified: bm.IncludeUnverified})
	if err != nil {
		return nil, fmt.Errorf("%s: rebuilding the trace from the bundle's statements: %w", BundleTrace, err)
	}
	if err := compareTraces(&t, rebuilt); err != nil {
		return nil, fmt.Errorf("%s: %w", BundleTrace, err)
	}
	if want, err := json.MarshalIndent(rebuilt, "", "  "); err != nil || !bytes.Equal(want, files[BundleTrace]) {
		return nil, fmt.Errorf("%s: not written as cairn audit export writes the trace the bundle's statements give", BundleTrace)
	}
	for _, e := range t.Edges {
		if e.Status == string(sign.StatusVerified) {
			res.Edges++
		}
	}
	return res, nil
}

// readBundle reads a bundle's files, in order; the tar must be in the
// one form Export writes, so that no byte of it (headers, padding, the
// end) can change unnoticed.
func readBundle(r io.Reader) (map[string][]byte, []string, error) {
	all, err := io.ReadAll(io.LimitReader(r, maxBundle+1))
	if err != nil {
		return nil, nil, fmt.Errorf("reading the bundle: %w", err)
	}
	if len(all) > maxBundle {
		return nil, nil, fmt.Errorf("larger than %d bytes", maxBundle)
	}
	files := map[string][]byte{}
	var names []string
	tr := tar.NewReader(bytes.NewReader(all))
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, nil, fmt.Errorf("reading the tar: %w", err)
		}
		if h.Typeflag != tar.TypeReg {
			return nil, nil, fmt.Errorf("%s: not a regular file", h.Name)
		}
		if _, dup := files[h.Name]; dup {
			return nil, nil, fmt.Errorf("%s: in the bundle twice", h.Name)
		}
		b, err := io.ReadAll(io.LimitReader(tr, maxBundleFile+1))
		if err != nil {
			return nil, nil, fmt.Errorf("%s: %w", h.Name, err)
		}
		if len(b) > maxBundleFile {
			return nil, nil, fmt.Errorf("%s: larger than %d bytes", h.Name, maxBundleFile)
		}
		files[h.Name] = b
		names = append(names, h.Name)
	}
	if canonical, err := writeTar(names, files); err != nil || !bytes.Equal(canonical, all) {
		return nil, nil, errors.New("the tar is not as cairn audit export writes it (a header, padding or trailer was changed)")
	}
	return files, names, nil
}

// checkSums checks SHA256SUMS: first, well formed, sorted, listing every
// other file once with its sha256.
func checkSums(files map[string][]byte, names []string) error {
	if len(names) == 0 || names[0] != BundleSums {
		return fmt.Errorf("%s is not the first file", BundleSums)
	}
	listed := map[string]bool{}
	prev := ""
	for i, line := range strings.SplitAfter(string(files[BundleSums]), "\n") {
		if line == "" {
			continue
		}
		if !strings.HasSuffix(line, "\n") {
			return fmt.Errorf("%s line %d: no final newline", BundleSums, i+1)
		}
		m := sumLineRE.FindStringSubmatch(strings.TrimSuffix(line, "\n"))
		if m == nil {
			return fmt.Errorf("%s line %d: want \"<sha256 hex>  <path>\"", BundleSums, i+1)
		}
		if m[2] <= prev {
			return fmt.Errorf("%s line %d: %s is out of order or listed twice", BundleSums, i+1, m[2])
		}
		prev = m[2]
		b, ok := files[m[2]]
		if !ok {
			return fmt.Errorf("%s: listed in %s, not in the bundle", m[2], BundleSums)
		}
		if got := strings.TrimPrefix(sha256Hex(b), "sha256:"); got != m[1] {
			return fmt.Errorf("%s: content has sha256 %s, %s says %s", m[2], got, BundleSums, m[1])
		}
		listed[m[2]] = true
	}
	for n := range files {
		if n != BundleSums && !listed[n] {
			return fmt.Errorf("%s: in the bundle, not in %s", n, BundleSums)
		}
	}
	return nil
}

// verifyArtifacts checks each artifact's manifest against its digest and
// each layer with sign.VerifyLayer against the status recorded, requires
// a verified signature, counts what verified into res, and returns the
// artifacts' evidence.
func verifyArtifacts(bm *BundleManifest, files map[string][]byte, keys []*sign.PublicKey, res *BundleResult) ([]*verified, error) {
	var evidence []*verified
	for _, a := range bm.Artifacts {
		raw, ok := files[a.Manifest]
		if !ok {
			return nil, fmt.Errorf("artifact %s: no manifest %s", a.Digest, a.Manifest)
		}
		if got := sha256Hex(raw); got != a.Digest {
			return nil, fmt.Errorf("%s: manifest has digest %s, not %s", a.Manifest, got, a.Digest)
		}
		v := bundleEvidence(a)
		for _, l := range a.Layers {
			e, err := verifyBundleLayer(a.Digest, l, files, keys)
			if err != nil {
				return nil, err
			}
			v.rep.Entries = append(v.rep.Entries, e)
			switch {
			case e.Status != sign.StatusVerified:
			case e.Kind == sign.KindSignature:
				res.Signatures++
			default:
				res.Statements++
			}
		}
		if status, _, _ := signatureStatus(v.rep.Entries); status != string(sign.StatusVerified) {
			return nil, fmt.Errorf("artifact %s: no signature in the bundle verifies", a.Digest)
		}
		res.Models = append(res.Models, a.Digest)
		evidence = append(evidence, v)
	}
	return evidence, nil
}

// verifyBundleLayer verifies one layer of a bundle's artifact, which must
// have the status and reason recorded when exported.
func verifyBundleLayer(digest string, l BundleLayer, files map[string][]byte, keys []*sign.PublicKey) (sign.Entry, error) {
	var desc v1.Descriptor
	if err := strictJSON(files[l.Descriptor], &desc); err != nil {
		return sign.Entry{}, fmt.Errorf("%s: %w", l.Descriptor, err)
	}
	content, ok := files[l.Content]
	if !ok {
		return sign.Entry{}, fmt.Errorf("artifact %s: no layer %s", digest, l.Content)
	}
	e, err := sign.VerifyLayer(sign.Kind(l.Kind), digest, desc, content, keys, sign.VerifyOptions{Types: acceptedTypes})
	if err != nil {
		return sign.Entry{}, fmt.Errorf("%s: %w", l.Content, err)
	}
	if string(e.Status) != l.Status || string(e.Reason) != l.Reason {
		return sign.Entry{}, fmt.Errorf("%s: %s %s (%s), but it was %s %s when exported", l.Content, e.Status, e.Reason, e.Message, l.Status, l.Reason)
	}
	return e, nil
}

func strictJSON(b []byte, v any) error {
	if b == nil {
		return errors.New("missing")
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if dec.More() {
		return errors.New("data after the JSON value")
	}
	return nil
}
