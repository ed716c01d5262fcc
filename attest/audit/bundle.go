package audit

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"regexp"
	"sort"
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
	// BundleTrace is the trace of the model, as audit trace -o json.
	BundleTrace = "trace.json"
)

// BundleManifest is bundle.json.
type BundleManifest struct {
	Model     string           `json:"model"`
	Artifacts []BundleArtifact `json:"artifacts"`
	Keys      []string         `json:"keys"`
}

// BundleArtifact is a model of the trace in a bundle.
type BundleArtifact struct {
	Digest   string        `json:"digest"`
	Source   string        `json:"source"`
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
// the manifests of the model and of every model in its trace, each one's
// signature and attestation layers (descriptor and raw bytes), the
// trusted public keys, the trace, bundle.json, and SHA256SUMS. It
// returns the tar and the number of files. Bytes and order are
// deterministic.
func (d *DB) Export(ctx context.Context, digest string, o QueryOptions) ([]byte, int, error) {
	t, err := d.Trace(ctx, digest, o)
	if err != nil {
		return nil, 0, err
	}
	files := map[string][]byte{}
	bm := BundleManifest{Model: digest}
	var models []string
	for _, n := range t.Nodes {
		if n.Kind == KindModel && n.Digest != "" {
			models = append(models, n.Digest)
		}
	}
	sort.Strings(models)
	for _, m := range models {
		as, err := d.artifacts(ctx, m)
		if err != nil {
			return nil, 0, err
		}
		if len(as) == 0 {
			continue // a base model that is not indexed
		}
		a := as[0]
		hexd := strings.TrimPrefix(m, "sha256:")
		dir := "artifacts/" + hexd + "/"
		ba := BundleArtifact{Digest: m, Source: a.Source, Manifest: dir + "manifest.json"}
		raw, err := d.blob(ctx, m)
		if err != nil {
			return nil, 0, fmt.Errorf("exporting %s: manifest: %w", m, err)
		}
		files[ba.Manifest] = raw
		rows, err := d.db.QueryContext(ctx, `SELECT seq, kind, status, reason, layer_digest, descriptor FROM entries WHERE source = ? AND artifact = ? ORDER BY seq`, a.Source, m)
		if err != nil {
			return nil, 0, err
		}
		type ent struct {
			seq                                     int
			kind, status, reason, layer, descriptor string
		}
		var ents []ent
		for rows.Next() {
			var e ent
			if err := rows.Scan(&e.seq, &e.kind, &e.status, &e.reason, &e.layer, &e.descriptor); err != nil {
				rows.Close()
				return nil, 0, err
			}
			ents = append(ents, e)
		}
		rows.Close()
		for _, e := range ents {
			if e.layer == "" || e.descriptor == "" {
				continue
			}
			content, err := d.blob(ctx, e.layer)
			if err != nil {
				continue // not stored: MALFORMED when indexed
			}
			ext := ".payload"
			sub := "signatures/"
			if e.kind == string(sign.KindAttestation) {
				ext, sub = ".envelope", "attestations/"
			}
			base := fmt.Sprintf("%s%s%03d", dir, sub, e.seq)
			l := BundleLayer{Kind: e.kind, Descriptor: base + ".descriptor.json", Content: base + ext, Status: e.status, Reason: e.reason}
			files[l.Descriptor] = []byte(e.descriptor)
			files[l.Content] = content
			ba.Layers = append(ba.Layers, l)
		}
		bm.Artifacts = append(bm.Artifacts, ba)
	}
	rows, err := d.db.QueryContext(ctx, `SELECT key_id, pem FROM keys ORDER BY key_id`)
	if err != nil {
		return nil, 0, err
	}
	for rows.Next() {
		var id, pem string
		if err := rows.Scan(&id, &pem); err != nil {
			rows.Close()
			return nil, 0, err
		}
		p := "keys/" + strings.TrimPrefix(id, "sha256:") + ".pub"
		files[p] = []byte(pem)
		bm.Keys = append(bm.Keys, p)
	}
	rows.Close()
	if files[BundleTrace], err = json.MarshalIndent(t, "", "  "); err != nil {
		return nil, 0, err
	}
	if files[BundleIndex], err = json.MarshalIndent(bm, "", "  "); err != nil {
		return nil, 0, err
	}
	names := make([]string, 0, len(files))
	for n := range files {
		names = append(names, n)
	}
	sort.Strings(names)
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
// signature, and every verified edge of the trace a verified statement in
// the bundle. Any failure is an error naming the file.
func VerifyBundle(r io.Reader, keys []*sign.PublicKey) (*BundleResult, error) {
	if len(keys) == 0 {
		return nil, errors.New("no public key given")
	}
	all, err := io.ReadAll(io.LimitReader(r, maxBundle+1))
	if err != nil {
		return nil, fmt.Errorf("reading the bundle: %w", err)
	}
	if len(all) > maxBundle {
		return nil, fmt.Errorf("larger than %d bytes", maxBundle)
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
			return nil, fmt.Errorf("reading the tar: %w", err)
		}
		if h.Typeflag != tar.TypeReg {
			return nil, fmt.Errorf("%s: not a regular file", h.Name)
		}
		if _, dup := files[h.Name]; dup {
			return nil, fmt.Errorf("%s: in the bundle twice", h.Name)
		}
		b, err := io.ReadAll(io.LimitReader(tr, maxBundleFile+1))
		if err != nil {
			return nil, fmt.Errorf("%s: %w", h.Name, err)
		}
		if len(b) > maxBundleFile {
			return nil, fmt.Errorf("%s: larger than %d bytes", h.Name, maxBundleFile)
		}
		files[h.Name] = b
		names = append(names, h.Name)
	}
	// The tar itself must be in the one form Export writes, so that no
	// byte of it (headers, padding, the end) can change unnoticed.
	if canonical, err := writeTar(names, files); err != nil || !bytes.Equal(canonical, all) {
		return nil, errors.New("the tar is not as cairn audit export writes it (a header, padding or trailer was changed)")
	}
	if len(names) == 0 || names[0] != BundleSums {
		return nil, fmt.Errorf("%s is not the first file", BundleSums)
	}
	sums, ok := files[BundleSums]
	if !ok {
		return nil, fmt.Errorf("no %s", BundleSums)
	}
	listed := map[string]bool{}
	prev := ""
	for i, line := range strings.SplitAfter(string(sums), "\n") {
		if line == "" {
			continue
		}
		if !strings.HasSuffix(line, "\n") {
			return nil, fmt.Errorf("%s line %d: no final newline", BundleSums, i+1)
		}
		m := sumLineRE.FindStringSubmatch(strings.TrimSuffix(line, "\n"))
		if m == nil {
			return nil, fmt.Errorf("%s line %d: want \"<sha256 hex>  <path>\"", BundleSums, i+1)
		}
		if m[2] <= prev {
			return nil, fmt.Errorf("%s line %d: %s is out of order or listed twice", BundleSums, i+1, m[2])
		}
		prev = m[2]
		b, ok := files[m[2]]
		if !ok {
			return nil, fmt.Errorf("%s: listed in %s, not in the bundle", m[2], BundleSums)
		}
		if got := strings.TrimPrefix(sha256Hex(b), "sha256:"); got != m[1] {
			return nil, fmt.Errorf("%s: content has sha256 %s, %s says %s", m[2], got, BundleSums, m[1])
		}
		listed[m[2]] = true
	}
	for n := range files {
		if n != BundleSums && !listed[n] {
			return nil, fmt.Errorf("%s: in the bundle, not in %s", n, BundleSums)
		}
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
	statements := map[string]map[string]bool{} // artifact -> verified statement digests
	for _, a := range bm.Artifacts {
		raw, ok := files[a.Manifest]
		if !ok {
			return nil, fmt.Errorf("artifact %s: no manifest %s", a.Digest, a.Manifest)
		}
		if got := sha256Hex(raw); got != a.Digest {
			return nil, fmt.Errorf("%s: manifest has digest %s, not %s", a.Manifest, got, a.Digest)
		}
		statements[a.Digest] = map[string]bool{}
		signed := false
		for _, l := range a.Layers {
			var desc v1.Descriptor
			if err := strictJSON(files[l.Descriptor], &desc); err != nil {
				return nil, fmt.Errorf("%s: %w", l.Descriptor, err)
			}
			content, ok := files[l.Content]
			if !ok {
				return nil, fmt.Errorf("artifact %s: no layer %s", a.Digest, l.Content)
			}
			e, err := sign.VerifyLayer(sign.Kind(l.Kind), a.Digest, desc, content, keys, sign.VerifyOptions{Types: acceptedTypes})
			if err != nil {
				return nil, fmt.Errorf("%s: %w", l.Content, err)
			}
			if string(e.Status) != l.Status || string(e.Reason) != l.Reason {
				return nil, fmt.Errorf("%s: %s %s (%s), but it was %s %s when exported", l.Content, e.Status, e.Reason, e.Message, l.Status, l.Reason)
			}
			if e.Status != sign.StatusVerified {
				continue
			}
			if e.Kind == sign.KindSignature {
				signed = true
				res.Signatures++
			} else {
				statements[a.Digest][e.StatementDigest] = true
				res.Statements++
			}
		}
		if !signed {
			return nil, fmt.Errorf("artifact %s: no signature in the bundle verifies", a.Digest)
		}
		res.Models = append(res.Models, a.Digest)
	}
	if statements[bm.Model] == nil {
		return nil, fmt.Errorf("%s: the model %s is not among the artifacts", BundleIndex, bm.Model)
	}
	for _, e := range t.Edges {
		if e.Status != string(sign.StatusVerified) {
			continue
		}
		if !statements[e.Artifact][e.StatementDigest] {
			return nil, fmt.Errorf("%s: edge %s %s -> %s: statement %s of %s does not verify in the bundle", BundleTrace, e.Kind, e.From, e.To, e.StatementDigest, e.Artifact)
		}
		res.Edges++
	}
	return res, nil
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
