package audit

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"

	"cairn.dev/cairn/attest/oci"
)

// QueryOptions configure the graph queries.
type QueryOptions struct {
	// IncludeUnverified also follows edges from statements that did not
	// verify, and models without a verified signature; each keeps its
	// status and reason.
	IncludeUnverified bool
}

// Artifact is a model as indexed.
type Artifact struct {
	Source           string   `json:"source"`
	Digest           string   `json:"digest"`
	Tags             []string `json:"tags"`
	SignatureStatus  string   `json:"signatureStatus"`
	SignatureReason  string   `json:"signatureReason,omitempty"`
	SignatureKey     string   `json:"signatureKey,omitempty"`
	ProvenanceStatus string   `json:"provenanceStatus"`
}

// Ref is the artifact's reference: its source, first tag and digest.
func (a Artifact) Ref() string {
	s := a.Source
	if len(a.Tags) > 0 {
		s += ":" + a.Tags[0]
	}
	return s + "@" + a.Digest
}

// Verified reports whether a signature of the artifact verified.
func (a Artifact) Verified() bool { return a.SignatureStatus == "verified" }

// artifacts returns the indexed artifacts with digest d, by source.
func (d *DB) artifacts(ctx context.Context, digest string) ([]Artifact, error) {
	rows, err := d.db.QueryContext(ctx, `SELECT source, digest, tags, signature_status, signature_reason, signature_key, provenance_status FROM artifacts WHERE digest = ? ORDER BY source`, digest)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Artifact
	for rows.Next() {
		var a Artifact
		var tags string
		if err := rows.Scan(&a.Source, &a.Digest, &tags, &a.SignatureStatus, &a.SignatureReason, &a.SignatureKey, &a.ProvenanceStatus); err != nil {
			return nil, err
		}
		a.Tags = strings.Fields(tags)
		out = append(out, a)
	}
	return out, rows.Err()
}

// ResolveModel finds the digest of a model named by digest
// ("sha256:..."), or by a reference (name:tag, oci:PATH:tag,
// host/repo:tag, any of them @digest) among the indexed artifacts; root
// resolves bare names as oci.ParseRef does.
func (d *DB) ResolveModel(ctx context.Context, s, root string) (string, error) {
	if strings.HasPrefix(s, "sha256:") {
		as, err := d.artifacts(ctx, s)
		if err != nil {
			return "", err
		}
		if len(as) == 0 {
			return "", fmt.Errorf("model %s is not in the audit index", s)
		}
		return s, nil
	}
	ref, err := oci.ParseRef(s, root)
	if err != nil {
		return "", err
	}
	if ref.Digest != "" {
		return d.ResolveModel(ctx, ref.Digest, root)
	}
	tag := ref.Tag
	if tag == "" {
		tag = oci.DefaultTag
	}
	rows, err := d.db.QueryContext(ctx, `SELECT digest, tags FROM artifacts WHERE source = ?`, SourceName(ref))
	if err != nil {
		return "", err
	}
	defer rows.Close()
	for rows.Next() {
		var dg, tags string
		if err := rows.Scan(&dg, &tags); err != nil {
			return "", err
		}
		for _, t := range strings.Fields(tags) {
			if t == tag {
				return dg, nil
			}
		}
	}
	return "", fmt.Errorf("model %s is not in the audit index (index its repository first)", s)
}

const edgeCols = `src, dst, kind, artifact, statement_digest, predicate_type, key_id, status, reason`

func scanEdges(rows *sql.Rows) ([]Edge, error) {
	defer rows.Close()
	var out []Edge
	for rows.Next() {
		var e Edge
		if err := rows.Scan(&e.From, &e.To, &e.Kind, &e.Artifact, &e.StatementDigest, &e.PredicateType, &e.KeyID, &e.Status, &e.Reason); err != nil {
			return nil, err
		}
		out = append(out, e)
	}
	return out, rows.Err()
}

// edgesTo returns the edges into id; edgesFrom those out of it.
func (d *DB) edgesTo(ctx context.Context, id string, o QueryOptions) ([]Edge, error) {
	rows, err := d.db.QueryContext(ctx, `SELECT DISTINCT `+edgeCols+` FROM edges WHERE dst = ?`+verifiedOnly(o)+` ORDER BY kind, src, statement_digest`, id)
	if err != nil {
		return nil, err
	}
	return scanEdges(rows)
}

func (d *DB) edgesFrom(ctx context.Context, id string, o QueryOptions) ([]Edge, error) {
	rows, err := d.db.QueryContext(ctx, `SELECT DISTINCT `+edgeCols+` FROM edges WHERE src = ?`+verifiedOnly(o)+` ORDER BY kind, dst, statement_digest`, id)
	if err != nil {
		return nil, err
	}
	return scanEdges(rows)
}

func verifiedOnly(o QueryOptions) string {
	if o.IncludeUnverified {
		return ""
	}
	return ` AND status = 'verified'`
}

// modelVerified reports whether an indexed artifact with the digest has
// a verified signature, and returns its artifacts.
func (d *DB) modelVerified(ctx context.Context, digest string) (bool, []Artifact, error) {
	as, err := d.artifacts(ctx, digest)
	if err != nil {
		return false, nil, err
	}
	for _, a := range as {
		if a.Verified() {
			return true, as, nil
		}
	}
	return false, as, nil
}

// Trace is the lineage of one model.
type Trace struct {
	Model     string     `json:"model"`
	Artifacts []Artifact `json:"artifacts"`
	// Nodes are sorted by kind then id; Edges by from, to, kind.
	Nodes []Node `json:"nodes"`
	Edges []Edge `json:"edges"`
}

// Node returns the node with the id, or nil.
func (t *Trace) Node(id string) *Node {
	for i := range t.Nodes {
		if t.Nodes[i].ID == id {
			return &t.Nodes[i]
		}
	}
	return nil
}

var kindOrder = map[string]int{KindCommit: 0, KindSpec: 1, KindDataset: 2, KindFeature: 3, KindImage: 4, KindArtifact: 5, KindRun: 6, KindModel: 7, KindEvaluation: 8, KindDeployment: 9}

func sortNodes(ns []Node) {
	sort.Slice(ns, func(i, j int) bool {
		if ki, kj := kindOrder[ns[i].Kind], kindOrder[ns[j].Kind]; ki != kj {
			return ki < kj
		}
		return ns[i].ID < ns[j].ID
	})
}

// Use is a model trained, directly or not, on a dataset.
type Use struct {
	Model     string     `json:"model"`
	Artifacts []Artifact `json:"artifacts"`
	// Path is the chain of node ids from the dataset to the model.
	Path []string `json:"path"`
	// Status is "verified", or the first reason an edge of the path was
	// not (with --include-unverified).
	Status string `json:"status"`
}

// Uses returns every model trained on the dataset (a URI, a content
// digest or a node id), transitively through datasets derived from it and
// models fine-tuned from those models: the blast radius of erasing or
// distrusting it. A dataset's URI is the one verified statements give it
// (any statement's, with unverified lineage). Sorted by model digest.
func (d *DB) Uses(ctx context.Context, dataset string, o QueryOptions) ([]Use, error) {
	start, err := d.datasetsNamed(ctx, dataset, o)
	if err != nil {
		return nil, err
	}
	if len(start) == 0 {
		return nil, fmt.Errorf("dataset %s is in no indexed lineage", dataset)
	}
	seen := map[string]bool{}
	frontier := map[string]useItem{}
	for _, s := range start {
		seen[s] = true
		frontier[s] = useItem{[]string{s}, "verified"}
	}
	found := map[string]Use{}
	// Breadth first, one level at a time, with one query per level for
	// the nodes, the models' artifacts and the edges out.
	for len(frontier) > 0 {
		from, err := d.usesFrom(ctx, frontier, found, o)
		if err != nil {
			return nil, err
		}
		edges, err := d.edgesFromAll(ctx, slices.Sorted(maps.Keys(from)), o)
		if err != nil {
			return nil, err
		}
		frontier = usesNext(edges, frontier, from, seen)
	}
	out := make([]Use, 0, len(found))
	for _, u := range found {
		out = append(out, u)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Model < out[j].Model })
	return out, nil
}

// useItem is a node Uses reached: the path to it, and the first reason
// met on the way ("verified" when none).
type useItem struct {
	path   []string
	status string
}

// usesFrom returns the nodes whose edges out Uses follows from one level,
// each with the node of the level it stands for: the level's datasets
// and their URI nodes, and its models with a verified signature (any,
// with unverified lineage), which it adds to found.
func (d *DB) usesFrom(ctx context.Context, frontier map[string]useItem, found map[string]Use, o QueryOptions) (map[string]string, error) {
	ids := slices.Sorted(maps.Keys(frontier))
	from := map[string]string{}
	var models []string
	for _, id := range ids {
		if m, ok := strings.CutPrefix(id, "model:"); ok {
			models = append(models, m)
			continue
		}
		from[id] = id
	}
	uris, err := d.datasetURIs(ctx, ids, o, nil)
	if err != nil {
		return nil, err
	}
	for _, id := range slices.Sorted(maps.Keys(uris)) {
		for _, u := range uris[id] {
			if _, ok := from["dataset:"+u]; !ok {
				from["dataset:"+u] = id
			}
		}
	}
	arts, err := d.artifactsIn(ctx, models)
	if err != nil {
		return nil, err
	}
	for _, m := range models {
		as := arts[m]
		ok := slices.ContainsFunc(as, Artifact.Verified)
		if len(as) == 0 || !ok && !o.IncludeUnverified {
			continue
		}
		it := frontier["model:"+m]
		status := it.status
		if !ok && status == "verified" {
			status = as[0].SignatureReason
		}
		found[m] = Use{Model: m, Artifacts: as, Path: it.path, Status: status}
		from["model:"+m] = "model:" + m
	}
	return from, nil
}

// usesNext returns the next level of Uses: the nodes not seen yet that
// the edges out of a level lead to by training or derivation.
func usesNext(edges []Edge, frontier map[string]useItem, from map[string]string, seen map[string]bool) map[string]useItem {
	next := map[string]useItem{}
	for _, e := range edges {
		switch e.Kind {
		case EdgeDataset, EdgeDerivedFrom, EdgeProduced, EdgeBaseModel, EdgeSnapshot, EdgeFeature:
		default:
			continue
		}
		if seen[e.To] {
			continue
		}
		seen[e.To] = true
		it := frontier[from[e.From]]
		status := it.status
		if e.Status != "verified" && status == "verified" {
			status = e.Reason
		}
		next[e.To] = useItem{append(append([]string(nil), it.path...), e.To), status}
	}
	return next
}

// Problem is an artifact lacking a valid signature or provenance, or a
// signature or statement of it that did not verify.
type Problem struct {
	Source        string `json:"source"`
	Digest        string `json:"digest"`
	Ref           string `json:"ref"`
	Kind          string `json:"kind"`
	PredicateType string `json:"predicateType,omitempty"`
	Status        string `json:"status"`
	Reason        string `json:"reason"`
	Message       string `json:"message"`
	KeyID         string `json:"keyId,omitempty"`
	Layer         string `json:"layer,omitempty"`
}

// Unsigned returns every signature and statement that did not verify,
// with its reason code, and every artifact without a verified signature
// (NO_SIGNATURE) or provenance (NO_PROVENANCE), sorted by reference.
func (d *DB) Unsigned(ctx context.Context) ([]Problem, error) {
	rows, err := d.db.QueryContext(ctx, `SELECT e.source, e.artifact, a.tags, e.kind, e.predicate_type, e.status, e.reason, e.message, e.key_id, e.layer_digest
FROM entries e JOIN artifacts a ON a.source = e.source AND a.digest = e.artifact
WHERE e.status != 'verified' ORDER BY e.source, e.artifact, e.seq`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Problem
	for rows.Next() {
		var p Problem
		var tags string
		if err := rows.Scan(&p.Source, &p.Digest, &tags, &p.Kind, &p.PredicateType, &p.Status, &p.Reason, &p.Message, &p.KeyID, &p.Layer); err != nil {
			return nil, err
		}
		p.Ref = Artifact{Source: p.Source, Digest: p.Digest, Tags: strings.Fields(tags)}.Ref()
		out = append(out, p)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	// An artifact whose signatures all failed has no NO_SIGNATURE entry:
	// add one line saying it is unsigned.
	rows2, err := d.db.QueryContext(ctx, `SELECT source, digest, tags, signature_status, signature_reason FROM artifacts WHERE signature_status != 'verified' AND signature_reason != 'NO_SIGNATURE' ORDER BY source, digest`)
	if err != nil {
		return nil, err
	}
	defer rows2.Close()
	for rows2.Next() {
		var p Problem
		var tags, st, reason string
		if err := rows2.Scan(&p.Source, &p.Digest, &tags, &st, &reason); err != nil {
			return nil, err
		}
		p.Ref = Artifact{Source: p.Source, Digest: p.Digest, Tags: strings.Fields(tags)}.Ref()
		p.Kind, p.Status, p.Reason = "signature", "missing", "NO_SIGNATURE"
		p.Message = "no signature verifies (" + reason + ")"
		out = append(out, p)
	}
	sort.SliceStable(out, func(i, j int) bool {
		if out[i].Source != out[j].Source {
			return out[i].Source < out[j].Source
		}
		return out[i].Digest < out[j].Digest
	})
	return out, rows2.Err()
}

// Change is one difference between two models.
type Change struct {
	Field string `json:"field"`
	A     string `json:"a"`
	B     string `json:"b"`
}

// Diff compares the verified lineage of two models: spec and commit,
// datasets, features, images and base model, hyperparameters, metrics
// (training and evaluation), evaluation verdict, and signers.
func (d *DB) Diff(ctx context.Context, a, b string, o QueryOptions) ([]Change, error) {
	fa, err := d.facts(ctx, a, o)
	if err != nil {
		return nil, err
	}
	fb, err := d.facts(ctx, b, o)
	if err != nil {
		return nil, err
	}
	keys := map[string]bool{}
	for k := range fa {
		keys[k] = true
	}
	for k := range fb {
		keys[k] = true
	}
	var out []Change
	for k := range keys {
		if fa[k] != fb[k] {
			out = append(out, Change{Field: k, A: fa[k], B: fb[k]})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Field < out[j].Field })
	return out, nil
}

// facts flattens a model's trace into field -> value.
func (d *DB) facts(ctx context.Context, digest string, o QueryOptions) (map[string]string, error) {
	t, err := d.Trace(ctx, digest, o)
	if err != nil {
		return nil, err
	}
	f := map[string]string{}
	runs := map[string]bool{}
	for _, e := range t.Edges {
		if e.Kind == EdgeProduced && e.To == ModelID(digest) {
			runs[e.From] = true
		}
	}
	var signers []string
	for _, a := range t.Artifacts {
		if a.SignatureKey != "" {
			signers = append(signers, a.SignatureKey)
		}
	}
	sort.Strings(signers)
	f["signer"] = strings.Join(uniq(signers), " ")
	var statementKeys []string
	for _, e := range t.Edges {
		if e.Artifact == digest && e.KeyID != "" {
			statementKeys = append(statementKeys, e.KeyID)
		}
		if !runs[e.To] {
			continue
		}
		n := t.Node(e.From)
		if n == nil {
			continue
		}
		switch e.Kind {
		case EdgeSource:
			f["commit"] = n.Label
		case EdgeSpec:
			f["spec"] = n.Digest
		case EdgeDataset:
			f["dataset."+n.Label] = n.URI + " " + n.Digest
		case EdgeFeature:
			f["feature."+n.Label] = n.Digest
		case EdgeImage:
			f["image"] = n.URI
		case EdgeBaseModel:
			f["base-model"] = n.Digest
		}
	}
	sort.Strings(statementKeys)
	f["statement-signers"] = strings.Join(uniq(statementKeys), " ")
	for _, n := range t.Nodes {
		switch {
		case runs[n.ID]:
			flattenAll(f, "spec.", n.Attrs["spec"])
			flatten(f, "hyperparameter.", n.Attrs["hyperparameters"])
			flatten(f, "metric.", n.Attrs["metrics"])
			if p, ok := n.Attrs["pipeline"]; ok {
				f["pipeline"] = fmt.Sprint(p)
			}
		case n.Kind == KindEvaluation:
			flatten(f, "evaluation.metric.", n.Attrs["metrics"])
			if v, ok := n.Attrs["verdict"]; ok {
				f["evaluation.verdict"] = fmt.Sprint(v)
			}
		}
	}
	return f, nil
}

func flatten(f map[string]string, prefix string, v any) {
	m, ok := v.(map[string]any)
	if !ok {
		return
	}
	for k, x := range m {
		switch y := x.(type) {
		case map[string]any, []any:
			raw, _ := json.Marshal(y)
			f[prefix+k] = string(raw)
		default:
			f[prefix+k] = fmt.Sprint(y)
		}
	}
}

// flattenAll adds every leaf of a JSON object under its dotted path (a
// list is one leaf, as JSON).
func flattenAll(f map[string]string, prefix string, v any) {
	m, ok := v.(map[string]any)
	if !ok {
		return
	}
	for k, x := range m {
		switch y := x.(type) {
		case map[string]any:
			flattenAll(f, prefix+k+".", y)
		case []any:
			raw, _ := json.Marshal(y)
			f[prefix+k] = string(raw)
		default:
			f[prefix+k] = fmt.Sprint(y)
		}
	}
}

func uniq(s []string) []string {
	var out []string
	for i, x := range s {
		if i == 0 || s[i-1] != x {
			out = append(out, x)
		}
	}
	return out
}

// Rows is the result of Query: column names and rows of values.
type Rows struct {
	Columns []string `json:"columns"`
	Rows    [][]any  `json:"rows"`
}

// Query runs one read-only SQL statement over the index (see
// docs/audit.md for the schema). The index must have been opened with
// OpenReadOnly: writes fail.
func (d *DB) Query(ctx context.Context, query string) (*Rows, error) {
	rows, err := d.db.QueryContext(ctx, query)
	if err != nil {
		return nil, fmt.Errorf("query: %w", err)
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		return nil, err
	}
	out := &Rows{Columns: cols, Rows: [][]any{}}
	for rows.Next() {
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			return nil, err
		}
		for i, v := range vals {
			if b, ok := v.([]byte); ok {
				vals[i] = string(b)
			}
		}
		out.Rows = append(out.Rows, vals)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("query: %w", err)
	}
	return out, nil
}

// placeholders returns "?,?,..." for n values, and the values as []any.
func placeholders(vals []string) (string, []any) {
	args := make([]any, len(vals))
	for i, v := range vals {
		args[i] = v
	}
	return strings.TrimSuffix(strings.Repeat("?,", len(vals)), ","), args
}

// artifactsIn returns the indexed artifacts of the digests.
func (d *DB) artifactsIn(ctx context.Context, digests []string) (map[string][]Artifact, error) {
	out := map[string][]Artifact{}
	if len(digests) == 0 {
		return out, nil
	}
	ph, args := placeholders(digests)
	rows, err := d.db.QueryContext(ctx, `SELECT source, digest, tags, signature_status, signature_reason, signature_key, provenance_status FROM artifacts WHERE digest IN (`+ph+`) ORDER BY source`, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	for rows.Next() {
		var a Artifact
		var tags string
		if err := rows.Scan(&a.Source, &a.Digest, &tags, &a.SignatureStatus, &a.SignatureReason, &a.SignatureKey, &a.ProvenanceStatus); err != nil {
			return nil, err
		}
		a.Tags = strings.Fields(tags)
		out[a.Digest] = append(out[a.Digest], a)
	}
	return out, rows.Err()
}

// edgesFromAll returns the edges out of any of ids.
func (d *DB) edgesFromAll(ctx context.Context, ids []string, o QueryOptions) ([]Edge, error) {
	if len(ids) == 0 {
		return nil, nil
	}
	ph, args := placeholders(ids)
	rows, err := d.db.QueryContext(ctx, `SELECT DISTINCT `+edgeCols+` FROM edges WHERE src IN (`+ph+`)`+verifiedOnly(o)+` ORDER BY src, kind, dst, statement_digest`, args...)
	if err != nil {
		return nil, err
	}
	return scanEdges(rows)
}

// edgesToAll returns the edges into any of ids.
func (d *DB) edgesToAll(ctx context.Context, ids []string, o QueryOptions) ([]Edge, error) {
	if len(ids) == 0 {
		return nil, nil
	}
	ph, args := placeholders(ids)
	rows, err := d.db.QueryContext(ctx, `SELECT DISTINCT `+edgeCols+` FROM edges WHERE dst IN (`+ph+`)`+verifiedOnly(o)+` ORDER BY dst, kind, src, statement_digest`, args...)
	if err != nil {
		return nil, err
	}
	return scanEdges(rows)
}
