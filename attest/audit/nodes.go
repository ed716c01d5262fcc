package audit

import (
	"context"
	"database/sql"
	"encoding/json"
	"slices"
	"strings"

	"cairn.dev/cairn/attest/sign"
)

// nodeCols are the columns scanNodes reads: one description of a node.
const nodeCols = `id, kind, label, digest, uri, attrs, rank, source, artifact, statement_digest, status, reason`

func scanNodes(rows *sql.Rows) ([]Node, error) {
	defer rows.Close()
	var out []Node
	for rows.Next() {
		var n Node
		var attrs string
		if err := rows.Scan(&n.ID, &n.Kind, &n.Label, &n.Digest, &n.URI, &attrs, &n.rank, &n.from.source, &n.from.artifact, &n.from.statement, &n.from.status, &n.from.reason); err != nil {
			return nil, err
		}
		n.from.size = len(attrs)
		if attrs != "{}" && attrs != "null" {
			json.Unmarshal([]byte(attrs), &n.Attrs)
		}
		out = append(out, n)
	}
	return out, rows.Err()
}

// better reports whether description a of a node wins over b: a verified
// one, then the higher rank (the artifact, a statement about the node, a
// dependency), then the more attributes, then the first by source,
// artifact and statement.
func better(a, b Node) bool {
	av, bv := a.from.status == string(sign.StatusVerified), b.from.status == string(sign.StatusVerified)
	switch {
	case av != bv:
		return av
	case a.rank != b.rank:
		return a.rank > b.rank
	case a.from.size != b.from.size:
		return a.from.size > b.from.size
	case a.from.source != b.from.source:
		return a.from.source < b.from.source
	case a.from.artifact != b.from.artifact:
		return a.from.artifact < b.from.artifact
	}
	return a.from.statement < b.from.statement
}

// nodesIn describes the nodes with the ids, each by the best of the
// descriptions o allows that come from the statements stmts or, for a
// model, from its artifact. A node described only by what did not verify
// carries that status and reason; one with no description is made up
// from its id.
func (d *DB) nodesIn(ctx context.Context, ids []string, o QueryOptions, stmts map[stmtKey]bool) ([]Node, error) {
	if len(ids) == 0 {
		return nil, nil
	}
	all, err := d.claims(ctx, ids, o, append(statementsOf(stmts), ""))
	if err != nil {
		return nil, err
	}
	best := map[string]Node{}
	for _, n := range all {
		own := n.from.statement == "" && n.ID == ModelID(n.from.artifact)
		if !own && !stmts[stmtKey{n.from.artifact, n.from.statement}] {
			continue
		}
		if b, ok := best[n.ID]; !ok || better(n, b) {
			best[n.ID] = n
		}
	}
	out := make([]Node, 0, len(ids))
	for _, id := range ids {
		n, ok := best[id]
		switch {
		case !ok:
			n = Node{ID: id, Kind: strings.SplitN(id, ":", 2)[0], Label: id}
		case n.from.status != string(sign.StatusVerified):
			n.Status, n.Reason = n.from.status, n.from.reason
		}
		out = append(out, n)
	}
	return out, nil
}

// statementsOf returns the statement digests of stmts, sorted, each once.
func statementsOf(stmts map[stmtKey]bool) []string {
	var out []string
	for k := range stmts {
		out = append(out, k.statement)
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// claims reads the descriptions o allows of the nodes with the ids, from
// the statements with the digests (nil: any).
func (d *DB) claims(ctx context.Context, ids []string, o QueryOptions, digests []string) ([]Node, error) {
	ph, args := placeholders(ids)
	q := `SELECT ` + nodeCols + ` FROM nodes WHERE id IN (` + ph + `)`
	if digests != nil {
		ph2, args2 := placeholders(digests)
		q += ` AND statement_digest IN (` + ph2 + `)`
		args = append(args, args2...)
	}
	rows, err := d.db.QueryContext(ctx, q+verifiedOnly(o), args...)
	if err != nil {
		return nil, err
	}
	return scanNodes(rows)
}

// datasetURIs returns the URIs (sorted, each once) that the descriptions
// o allows give each dataset among ids known by digest: the URI nodes of
// its derivations. With via, only the descriptions by the statements via
// names for each node count.
func (d *DB) datasetURIs(ctx context.Context, ids []string, o QueryOptions, via map[string]map[stmtKey]bool) (map[string][]string, error) {
	out := map[string][]string{}
	var datasets []string
	var digests []string
	for _, id := range ids {
		if strings.HasPrefix(id, "dataset:") {
			datasets = append(datasets, id)
			digests = append(digests, statementsOf(via[id])...)
		}
	}
	if len(datasets) == 0 || via != nil && len(digests) == 0 {
		return out, nil
	}
	if via == nil {
		digests = nil
	}
	ns, err := d.claims(ctx, datasets, o, digests)
	if err != nil {
		return nil, err
	}
	for _, n := range ns {
		if n.URI == "" || n.Digest == "" || via != nil && !via[n.ID][stmtKey{n.from.artifact, n.from.statement}] || slices.Contains(out[n.ID], n.URI) {
			continue
		}
		out[n.ID] = append(out[n.ID], n.URI)
	}
	for id := range out {
		slices.Sort(out[id])
	}
	return out, nil
}

// datasetsNamed returns the ids of the dataset nodes that a description o
// allows gives the URI or content digest (or that have the id).
func (d *DB) datasetsNamed(ctx context.Context, dataset string, o QueryOptions) ([]string, error) {
	rows, err := d.db.QueryContext(ctx, `SELECT DISTINCT id FROM nodes WHERE kind = 'dataset' AND (uri = ? OR digest = ? OR id = ?)`+verifiedOnly(o)+` ORDER BY id`, dataset, dataset, dataset)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var ids []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, err
		}
		ids = append(ids, id)
	}
	return ids, rows.Err()
}
