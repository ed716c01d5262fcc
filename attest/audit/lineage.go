package audit

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"

	"cairn.dev/cairn/attest/lineage"
	"cairn.dev/cairn/attest/sign"
)

// Node kinds.
const (
	KindCommit     = "commit"
	KindSpec       = "spec"
	KindDataset    = "dataset"
	KindFeature    = "feature"
	KindImage      = "image"
	KindRun        = "run"
	KindModel      = "model"
	KindEvaluation = "evaluation"
	KindDeployment = "deployment"
	KindArtifact   = "artifact"
)

// Edge kinds: an edge goes from what was read or made first to what came
// of it.
const (
	EdgeSource      = "source"       // commit -> run
	EdgeSpec        = "spec"         // spec -> run
	EdgeDataset     = "dataset"      // dataset -> run
	EdgeFeature     = "feature"      // feature output -> run
	EdgeImage       = "image"        // training image -> run
	EdgeBaseModel   = "base-model"   // base model -> run
	EdgeProduced    = "produced"     // run -> model
	EdgeDerivedFrom = "derived-from" // parent dataset -> derived dataset
	EdgeSnapshot    = "snapshot"     // dataset -> model (a dataset-snapshot statement)
	EdgeEvaluated   = "evaluated"    // model -> evaluation
	EdgeDeployed    = "deployed"     // model -> deployment
	EdgeOther       = "input"        // any other dependency -> run
)

// Node is a vertex of the lineage graph, as one statement (or, for a
// model, its artifact) describes it.
type Node struct {
	ID     string         `json:"id"`
	Kind   string         `json:"kind"`
	Label  string         `json:"label"`
	Digest string         `json:"digest,omitempty"`
	URI    string         `json:"uri,omitempty"`
	Attrs  map[string]any `json:"attrs,omitempty"`
	// Status and Reason are set when the description shown comes from a
	// statement (or an artifact's signature) that did not verify: only
	// with --include-unverified, where nothing verified describes the node.
	Status string `json:"status,omitempty"`
	Reason string `json:"reason,omitempty"`
	rank   int
	from   claim
}

// claim is where a node's description comes from: a statement of an
// artifact, or the artifact itself (statement ""), and how it verified.
type claim struct {
	source, artifact, statement string
	status, reason              string
	size                        int // the length of the attributes' JSON
}

// Edge is a lineage edge, with the statement it comes from and how that
// statement verified.
type Edge struct {
	From            string `json:"from"`
	To              string `json:"to"`
	Kind            string `json:"kind"`
	Artifact        string `json:"artifact"`
	StatementDigest string `json:"statementDigest"`
	PredicateType   string `json:"predicateType"`
	KeyID           string `json:"keyId,omitempty"`
	Status          string `json:"status"`
	Reason          string `json:"reason,omitempty"`
}

// Node ranks: a node described by its own artifact wins over the same
// node named as a dependency.
const (
	rankDependency = 0
	rankStatement  = 1
	rankArtifact   = 2
)

// ModelID is the node id of the model with manifest digest d.
func ModelID(d string) string { return "model:" + d }

// graph is the lineage one artifact's statements give: each node as the
// statement being read (cur) describes it.
type graph struct {
	nodes []Node
	edges []Edge
	cur   claim
}

func (g *graph) node(n Node) string {
	n.from = g.cur
	g.nodes = append(g.nodes, n)
	return n.ID
}

// signatureStatus is an artifact's signature status, reason and key: the
// first verified signature's, else the first failure's, else missing.
func signatureStatus(entries []sign.Entry) (status, reason, key string) {
	status, reason = string(sign.StatusMissing), string(sign.ReasonNoSignature)
	for _, e := range entries {
		if e.Kind != sign.KindSignature {
			continue
		}
		switch {
		case e.Status == sign.StatusVerified:
			status, reason, key = string(e.Status), "", e.KeyID
		case status != string(sign.StatusVerified):
			status, reason, key = string(e.Status), string(e.Reason), e.KeyID
		}
	}
	return status, reason, key
}

// lineageOf turns the statements of one artifact into nodes and edges.
// Each node and edge carries the statement it comes from and how that
// verified; a statement whose envelope no trusted key verifies is still
// read, for --include-unverified, and marked rejected. The model's own
// node is described by the artifact, with its signature's status.
func lineageOf(v *verified) *graph {
	g := &graph{}
	model := ModelID(v.digest)
	label := v.name
	if len(v.tags) > 0 {
		label += ":" + v.tags[0]
	}
	status, reason, _ := signatureStatus(v.rep.Entries)
	g.cur = claim{source: v.name, artifact: v.digest, status: status, reason: reason}
	g.node(Node{ID: model, Kind: KindModel, Label: label, Digest: v.digest, Attrs: map[string]any{"source": v.name, "tags": v.tags}, rank: rankArtifact})
	for _, e := range v.rep.Entries {
		if e.Kind != sign.KindAttestation || len(e.Envelope) == 0 && e.Statement == nil {
			continue
		}
		st, stDigest := statementOf(e)
		if st == nil {
			continue
		}
		g.cur = claim{source: v.name, artifact: v.digest, statement: stDigest, status: string(e.Status), reason: string(e.Reason)}
		edge := func(from, to, kind string) {
			g.edges = append(g.edges, Edge{From: from, To: to, Kind: kind, Artifact: v.digest, StatementDigest: stDigest,
				PredicateType: st.PredicateType, KeyID: e.KeyID, Status: string(e.Status), Reason: string(e.Reason)})
		}
		statementLineage(g, model, stDigest, st, edge)
	}
	return g
}

// statementOf returns an entry's statement and its digest: the verified
// one, else the one its envelope holds (the sha256 of the payload), or
// nil.
func statementOf(e sign.Entry) (*lineage.Statement, string) {
	if e.Statement != nil {
		return e.Statement, e.StatementDigest
	}
	raw := envelopeStatement(e.Envelope)
	if raw == nil {
		return nil, ""
	}
	st, err := lineage.ParseStatement(raw)
	if err != nil {
		return nil, ""
	}
	return st, sha256Hex(raw)
}

// statementLineage adds the nodes and edges of one statement.
func statementLineage(g *graph, model, stDigest string, st *lineage.Statement, edge func(from, to, kind string)) {
	switch st.PredicateType {
	case lineage.PredicateSLSAProvenance:
		var p lineage.Provenance
		if json.Unmarshal(st.Predicate, &p) == nil {
			provenance(g, model, stDigest, &p, edge)
		}
	case lineage.PredicateEvaluation:
		var ev lineage.Evaluation
		if json.Unmarshal(st.Predicate, &ev) != nil {
			return
		}
		attrs := map[string]any{"pipeline": ev.Pipeline, "verdict": ev.Verdict, "metrics": ev.Metrics, "gates": ev.Gates}
		if ev.RunID != "" {
			attrs["runId"] = ev.RunID
		}
		if ev.EvaluatedOn != nil {
			attrs["evaluatedOn"] = ev.EvaluatedOn
		}
		id := g.node(Node{ID: "evaluation:" + stDigest, Kind: KindEvaluation, Label: "evaluation " + ev.Verdict, Digest: stDigest, Attrs: attrs, rank: rankStatement})
		edge(model, id, EdgeEvaluated)
	case lineage.PredicateDatasetSnapshot:
		var ds lineage.DatasetSnapshot
		if json.Unmarshal(st.Predicate, &ds) == nil {
			snapshot(g, model, &ds, edge)
		}
	case lineage.PredicateDeployment:
		var dep map[string]any
		if json.Unmarshal(st.Predicate, &dep) != nil {
			return
		}
		env, _ := dep["environment"].(string)
		ns, _ := dep["namespace"].(string)
		label := "deployment"
		if env != "" || ns != "" {
			label += " " + strings.Trim(env+"/"+ns, "/")
		}
		id := g.node(Node{ID: "deployment:" + stDigest, Kind: KindDeployment, Label: label, Digest: stDigest, Attrs: dep, rank: rankStatement})
		edge(model, id, EdgeDeployed)
	}
}

// snapshot adds a dataset-snapshot statement's dataset and what it was
// derived from.
func snapshot(g *graph, model string, ds *lineage.DatasetSnapshot, edge func(from, to, kind string)) {
	attrs := map[string]any{"name": ds.Name, "files": ds.Files, "bytes": ds.Bytes, "rows": ds.Rows, "pii": ds.Sensitivity.PII}
	if ds.SnapshotID != "" {
		attrs["snapshot"] = ds.SnapshotID
	}
	if ds.Format != "" {
		attrs["format"] = ds.Format
	}
	if len(ds.DerivedFrom) > 0 {
		attrs["derivedFrom"] = ds.DerivedFrom
	}
	id := g.node(datasetNode(ds.Name, ds.URI, digestString(ds.Digest), attrs, rankStatement))
	edge(id, model, EdgeSnapshot)
	for _, u := range ds.DerivedFrom {
		edge(g.node(datasetNode(u, u, "", nil, rankDependency)), id, EdgeDerivedFrom)
	}
}

// provenance adds a training provenance's run and dependencies.
func provenance(g *graph, model, stDigest string, p *lineage.Provenance, edge func(from, to, kind string)) {
	attrs := map[string]any{"builder": p.RunDetails.Builder.ID}
	for k, v := range p.BuildDefinition.ExternalParameters {
		attrs[k] = v
	}
	if v, ok := p.BuildDefinition.InternalParameters["compilerVersion"]; ok {
		attrs["compilerVersion"] = v
	}
	label := "run"
	if md := p.RunDetails.Metadata; md != nil {
		if md.InvocationID != "" {
			attrs["invocationId"] = md.InvocationID
			label = "run " + md.InvocationID
		}
		if md.StartedOn != nil {
			attrs["startedOn"] = md.StartedOn
		}
		if md.FinishedOn != nil {
			attrs["finishedOn"] = md.FinishedOn
		}
	}
	for _, b := range p.RunDetails.Byproducts {
		if b.Name == "hyperparameters" || b.Name == "metrics" {
			attrs[b.Name] = b.Annotations
		}
	}
	run := g.node(Node{ID: "run:" + stDigest, Kind: KindRun, Label: label, Digest: stDigest, Attrs: attrs, rank: rankStatement})
	edge(run, model, EdgeProduced)
	for _, d := range p.BuildDefinition.ResolvedDependencies {
		id, kind := dependency(g, d, edge)
		edge(id, run, kind)
	}
}

// dependency adds the node of one resolved dependency of a provenance
// (and, for a dataset, what it was derived from), and returns its id and
// the kind of its edge into the run.
func dependency(g *graph, d lineage.ResourceDescriptor, edge func(from, to, kind string)) (id, kind string) {
	role, _ := d.Annotations[lineage.AnnotationRole].(string)
	digest := digestString(d.Digest)
	key := digest
	if key == "" {
		key = d.URI
	}
	switch role {
	case lineage.RoleSource:
		c := d.Digest["gitCommit"]
		return g.node(Node{ID: "commit:" + c, Kind: KindCommit, Label: c, Digest: "gitCommit:" + c, URI: d.URI, rank: rankDependency}), EdgeSource
	case lineage.RoleSpec:
		return g.node(Node{ID: "spec:" + digest, Kind: KindSpec, Label: specLabel(d.URI, digest), Digest: digest, URI: d.URI, rank: rankDependency}), EdgeSpec
	case lineage.RoleDataset:
		a := map[string]any{}
		if s, ok := d.Annotations[lineage.AnnotationSnapshot]; ok {
			a["snapshot"] = s
		}
		var derived []string
		for _, k := range derivedFromAnnotations {
			derived = append(derived, stringsOf(d.Annotations[k])...)
		}
		if len(derived) > 0 {
			a["derivedFrom"] = derived
		}
		id = g.node(datasetNode(d.Name, d.URI, digest, a, rankDependency))
		for _, u := range derived {
			edge(g.node(datasetNode(u, u, "", nil, rankDependency)), id, EdgeDerivedFrom)
		}
		return id, EdgeDataset
	case lineage.RoleFeature:
		return g.node(Node{ID: "feature:" + key, Kind: KindFeature, Label: d.Name, Digest: digest, URI: d.URI, rank: rankDependency}), EdgeFeature
	case lineage.RoleImage:
		return g.node(Node{ID: "image:" + key, Kind: KindImage, Label: d.URI, Digest: digest, URI: d.URI, rank: rankDependency}), EdgeImage
	case lineage.RoleBaseModel:
		return g.node(Node{ID: ModelID(digest), Kind: KindModel, Label: d.URI, Digest: digest, URI: d.URI, rank: rankDependency}), EdgeBaseModel
	}
	return g.node(Node{ID: "artifact:" + key, Kind: KindArtifact, Label: d.Name, Digest: digest, URI: d.URI, rank: rankDependency}), EdgeOther
}

// derivedFromAnnotations are the resource-descriptor annotations of a
// provenance's dataset dependency that may list the URIs it was derived
// from: pack writes lineage.AnnotationDerivedFrom; the others are read
// from statements made by other tools.
var derivedFromAnnotations = []string{lineage.AnnotationDerivedFrom, "cairn.dev/derivedFrom", "derivedFrom"}

// datasetNode is a dataset by content digest, or, when no digest is
// known (a derivedFrom URI), by URI.
func datasetNode(name, uri, digest string, attrs map[string]any, rank int) Node {
	id := "dataset:" + digest
	if digest == "" {
		id = "dataset:" + uri
	}
	if name == "" {
		name = uri
	}
	return Node{ID: id, Kind: KindDataset, Label: name, Digest: digest, URI: uri, Attrs: attrs, rank: rank}
}

// digestString returns the sha256 of a digest set as "sha256:<hex>", or
// the first algorithm's.
func digestString(ds lineage.DigestSet) string {
	if h, ok := ds["sha256"]; ok {
		return "sha256:" + h
	}
	algs := make([]string, 0, len(ds))
	for a := range ds {
		algs = append(algs, a)
	}
	sort.Strings(algs)
	if len(algs) == 0 {
		return ""
	}
	return algs[0] + ":" + ds[algs[0]]
}

func stringsOf(v any) []string {
	switch x := v.(type) {
	case string:
		return []string{x}
	case []any:
		var out []string
		for _, e := range x {
			out = append(out, fmt.Sprint(e))
		}
		return out
	}
	return nil
}

func specLabel(uri, digest string) string {
	if uri != "" {
		return "spec " + uri
	}
	return "spec " + digest
}
