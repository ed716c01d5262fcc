package audit

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"
)

// stmtKey names one statement of one artifact.
type stmtKey struct{ artifact, statement string }

// Trace walks from a model back through its run to the commit, spec,
// datasets (and the datasets they derive from), features, images and
// base models (transitively), and forward to its evaluations and
// deployments. By default only verified edges count, and a model without
// a verified signature is neither traced nor followed. Each node is
// described by the statements of the trace's edges (a model also by its
// artifact), verified ones first: a statement outside the trace, or one
// that did not verify, cannot change what the trace shows.
func (d *DB) Trace(ctx context.Context, digest string, o QueryOptions) (*Trace, error) {
	ok, as, err := d.modelVerified(ctx, digest)
	if err != nil {
		return nil, err
	}
	if len(as) == 0 {
		return nil, fmt.Errorf("model %s is not in the audit index", digest)
	}
	if !ok && !o.IncludeUnverified {
		return nil, fmt.Errorf("model %s has no verified signature (%s); see cairn audit unsigned, or use --include-unverified", digest, as[0].SignatureReason)
	}
	w := &tracer{d: d, o: o, root: ModelID(digest), seen: map[string]bool{}, edgeSeen: map[Edge]bool{}, via: map[string]map[stmtKey]bool{}}
	if err := w.back(ctx); err != nil {
		return nil, err
	}
	if err := w.forward(ctx); err != nil {
		return nil, err
	}
	stmts := map[stmtKey]bool{}
	for _, e := range w.edges {
		stmts[stmtKey{e.Artifact, e.StatementDigest}] = true
	}
	nodes, err := d.nodesIn(ctx, slices.Sorted(maps.Keys(w.seen)), o, stmts)
	if err != nil {
		return nil, err
	}
	t := &Trace{Model: digest, Artifacts: as, Nodes: nodes, Edges: w.edges}
	sortNodes(t.Nodes)
	sortEdges(t.Edges)
	return t, nil
}

// tracer is the state of one Trace.
type tracer struct {
	d        *DB
	o        QueryOptions
	root     string
	seen     map[string]bool
	edges    []Edge
	edgeSeen map[Edge]bool
	// via holds, per node, the statements of the trace's edges out of it:
	// those that brought it into the trace.
	via map[string]map[stmtKey]bool
}

func (w *tracer) add(e Edge) {
	if w.edgeSeen[e] {
		return
	}
	w.edgeSeen[e] = true
	w.edges = append(w.edges, e)
	if w.via[e.From] == nil {
		w.via[e.From] = map[stmtKey]bool{}
	}
	w.via[e.From][stmtKey{e.Artifact, e.StatementDigest}] = true
}

// back walks backwards, one level at a time: one query each for the
// models' artifacts, the datasets' URIs and the edges in.
func (w *tracer) back(ctx context.Context) error {
	w.seen[w.root] = true
	frontier := []string{w.root}
	for len(frontier) > 0 {
		follow, err := w.followable(ctx, frontier)
		if err != nil {
			return err
		}
		byURI, follow, err := w.uriNodes(ctx, follow)
		if err != nil {
			return err
		}
		in, err := w.d.edgesToAll(ctx, follow, w.o)
		if err != nil {
			return err
		}
		frontier = w.step(in, byURI)
	}
	return nil
}

// followable drops from the frontier the models (other than the root)
// without a verified signature, unless unverified lineage is asked for:
// a base model not indexed or not signed is a leaf.
func (w *tracer) followable(ctx context.Context, frontier []string) ([]string, error) {
	var models []string
	for _, id := range frontier {
		if m, ok := strings.CutPrefix(id, "model:"); ok && id != w.root {
			models = append(models, m)
		}
	}
	arts, err := w.d.artifactsIn(ctx, models)
	if err != nil {
		return nil, err
	}
	var follow []string
	for _, id := range frontier {
		if m, ok := strings.CutPrefix(id, "model:"); ok && id != w.root && !w.o.IncludeUnverified && !slices.ContainsFunc(arts[m], Artifact.Verified) {
			continue
		}
		follow = append(follow, id)
	}
	return follow, nil
}

// uriNodes adds to follow the URI node of each dataset snapshot in it,
// as the statements that brought the snapshot into the trace name its
// URI, and returns the snapshots of each URI node: derivations are
// recorded by URI, and a snapshot is derived from whatever its URI node
// is derived from.
func (w *tracer) uriNodes(ctx context.Context, follow []string) (map[string][]string, []string, error) {
	uris, err := w.d.datasetURIs(ctx, follow, w.o, w.via)
	if err != nil {
		return nil, nil, err
	}
	byURI := map[string][]string{}
	for _, id := range slices.Sorted(maps.Keys(uris)) {
		for _, u := range uris[id] {
			uid := "dataset:" + u
			if uid == id {
				continue
			}
			if byURI[uid] == nil {
				follow = append(follow, uid)
			}
			byURI[uid] = append(byURI[uid], id)
		}
	}
	return byURI, follow, nil
}

// step adds the edges in of one level and returns the next level: the
// nodes they come from not seen yet.
func (w *tracer) step(in []Edge, byURI map[string][]string) []string {
	var next []string
	for _, e := range in {
		targets := []string{e.To}
		if ids, ok := byURI[e.To]; ok && !w.seen[e.To] {
			if e.Kind != EdgeDerivedFrom {
				continue
			}
			targets = ids
		}
		if e.Kind == EdgeSnapshot && e.To != w.root {
			continue
		}
		for _, to := range targets {
			e.To = to
			w.add(e)
		}
		if !w.seen[e.From] {
			w.seen[e.From] = true
			next = append(next, e.From)
		}
	}
	sort.Strings(next)
	return next
}

// forward adds the root's evaluations and deployments.
func (w *tracer) forward(ctx context.Context) error {
	out, err := w.d.edgesFrom(ctx, w.root, w.o)
	if err != nil {
		return err
	}
	for _, e := range out {
		if e.Kind == EdgeEvaluated || e.Kind == EdgeDeployed {
			w.add(e)
			w.seen[e.To] = true
		}
	}
	return nil
}

// sortEdges sorts edges by from, to, kind and statement, then the rest.
func sortEdges(es []Edge) {
	sort.Slice(es, func(i, j int) bool {
		a, b := es[i], es[j]
		if a.From != b.From {
			return a.From < b.From
		}
		if a.To != b.To {
			return a.To < b.To
		}
		if a.Kind != b.Kind {
			return a.Kind < b.Kind
		}
		if a.StatementDigest != b.StatementDigest {
			return a.StatementDigest < b.StatementDigest
		}
		return a.Artifact+" "+a.Status+" "+a.Reason+" "+a.KeyID < b.Artifact+" "+b.Status+" "+b.Reason+" "+b.KeyID
	})
}
