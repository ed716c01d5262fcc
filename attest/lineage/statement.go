package lineage

import (
	"bytes"
	"encoding/json"
	"fmt"
	"regexp"
	"sort"
	"strings"
)

// In-toto statement and DSSE constants.
const (
	// StatementType is the _type of an in-toto Statement v1, the only one
	// Cairn writes.
	StatementType = "https://in-toto.io/Statement/v1"
	// StatementTypeV01 is the _type of the older in-toto Statement v0.1,
	// which "cosign attest" writes; Cairn reads it.
	StatementTypeV01 = "https://in-toto.io/Statement/v0.1"
	// PayloadType is the DSSE payloadType of an in-toto statement.
	PayloadType = "application/vnd.in-toto+json"
)

// Predicate types.
const (
	// PredicateSLSAProvenance is SLSA Provenance v1: how a model was
	// trained.
	PredicateSLSAProvenance = "https://slsa.dev/provenance/v1"
	// PredicateEvaluation is Cairn's evaluation predicate: metrics, gates
	// and verdict.
	PredicateEvaluation = "https://cairn.dev/evaluation/v1"
	// PredicateDatasetSnapshot is Cairn's dataset-snapshot predicate: the
	// content digest, rows, schema and sensitivity of a dataset a model
	// was trained on.
	PredicateDatasetSnapshot = "https://cairn.dev/dataset-snapshot/v1"
	// PredicateDeployment is Cairn's deployment predicate: where a model
	// was rolled out (environment, namespace, InferenceService), its
	// canary share, the commit and the time.
	PredicateDeployment = "https://cairn.dev/deployment/v1"
)

// KnownTypes returns the predicate types Cairn defines a Go type for,
// sorted. A verifier accepts these unless told otherwise.
func KnownTypes() []string {
	return []string{PredicateDatasetSnapshot, PredicateDeployment, PredicateEvaluation, PredicateSLSAProvenance}
}

// IsKnownType reports whether t is one of KnownTypes.
func IsKnownType(t string) bool {
	switch t {
	case PredicateSLSAProvenance, PredicateEvaluation, PredicateDatasetSnapshot, PredicateDeployment:
		return true
	}
	return false
}

// Statement is an in-toto attestation statement: what is attested
// (subject), and the claim (predicate) of type PredicateType.
type Statement struct {
	Type          string          `json:"_type"`
	Subject       []Subject       `json:"subject"`
	PredicateType string          `json:"predicateType"`
	Predicate     json.RawMessage `json:"predicate"`
}

// Subject is an artifact a statement is about, named by its digests.
type Subject struct {
	Name   string    `json:"name,omitempty"`
	Digest DigestSet `json:"digest"`
}

// DigestSet maps digest algorithms ("sha256", "gitCommit") to lower-case
// hex values.
type DigestSet map[string]string

// NewStatement returns an in-toto Statement v1 about the artifact named
// name whose manifest digest is digest ("sha256:<hex>"), carrying predicate
// (a Go value, or JSON as []byte or json.RawMessage, which must be an
// object).
func NewStatement(name, digest, predicateType string, predicate any) (*Statement, error) {
	ds, err := ParseDigest(digest)
	if err != nil {
		return nil, fmt.Errorf("statement subject %s: %w", name, err)
	}
	if err := CheckType(predicateType); err != nil {
		return nil, err
	}
	raw, err := predicateJSON(predicate)
	if err != nil {
		return nil, fmt.Errorf("predicate %s: %w", predicateType, err)
	}
	return &Statement{
		Type:          StatementType,
		Subject:       []Subject{{Name: name, Digest: ds}},
		PredicateType: predicateType,
		Predicate:     raw,
	}, nil
}

// predicateJSON returns the compact JSON of a predicate, which must be an
// object.
func predicateJSON(p any) (json.RawMessage, error) {
	var raw []byte
	switch v := p.(type) {
	case json.RawMessage:
		raw = v
	case []byte:
		raw = v
	default:
		var err error
		if raw, err = marshal(p); err != nil {
			return nil, err
		}
	}
	var buf bytes.Buffer
	if err := json.Compact(&buf, raw); err != nil {
		return nil, fmt.Errorf("not JSON: %w", err)
	}
	if buf.Len() == 0 || buf.Bytes()[0] != '{' {
		return nil, fmt.Errorf("not a JSON object")
	}
	return buf.Bytes(), nil
}

// Marshal returns the statement's JSON: compact, fields in a fixed order,
// map keys sorted, no HTML escaping, so the same statement gives the same
// bytes.
func (s *Statement) Marshal() ([]byte, error) {
	return marshal(s)
}

// marshal is json.Marshal without HTML escaping or a final newline.
func marshal(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

// ParseStatement decodes and checks an in-toto statement (v1, or the v0.1
// cosign writes): it needs a subject with a digest, a predicate type and
// a predicate object.
func ParseStatement(b []byte) (*Statement, error) {
	var s Statement
	dec := json.NewDecoder(bytes.NewReader(b))
	if err := dec.Decode(&s); err != nil {
		return nil, fmt.Errorf("decoding in-toto statement: %w", err)
	}
	if dec.More() {
		return nil, fmt.Errorf("decoding in-toto statement: data after the statement")
	}
	switch s.Type {
	case StatementType, StatementTypeV01:
	case "":
		return nil, fmt.Errorf("in-toto statement: no _type")
	default:
		return nil, fmt.Errorf("in-toto statement: _type %q: want %s", s.Type, StatementType)
	}
	if len(s.Subject) == 0 {
		return nil, fmt.Errorf("in-toto statement: no subject")
	}
	for i, sub := range s.Subject {
		if len(sub.Digest) == 0 {
			return nil, fmt.Errorf("in-toto statement: subject %d (%s) has no digest", i, sub.Name)
		}
	}
	if s.PredicateType == "" {
		return nil, fmt.Errorf("in-toto statement: no predicateType")
	}
	if len(s.Predicate) == 0 || s.Predicate[0] != '{' {
		return nil, fmt.Errorf("in-toto statement: predicate is not a JSON object")
	}
	return &s, nil
}

// HasSubject reports whether a subject of the statement has the sha256
// digest ("sha256:<hex>").
func (s *Statement) HasSubject(digest string) bool {
	alg, hex, ok := strings.Cut(digest, ":")
	if !ok {
		return false
	}
	for _, sub := range s.Subject {
		if sub.Digest[alg] == hex {
			return true
		}
	}
	return false
}

// SubjectDigests returns the subjects' digests as "alg:hex", sorted.
func (s *Statement) SubjectDigests() []string {
	var out []string
	for _, sub := range s.Subject {
		for alg, hex := range sub.Digest {
			out = append(out, alg+":"+hex)
		}
	}
	sort.Strings(out)
	return out
}

// DecodePredicate decodes the predicate of a known type into its Go type
// (*Provenance, *Evaluation, *DatasetSnapshot, *Deployment) and checks the fields the
// type requires. Other types return nil and no error.
func DecodePredicate(predicateType string, raw json.RawMessage) (any, error) {
	var (
		v     any
		check func() error
	)
	switch predicateType {
	case PredicateSLSAProvenance:
		p := &Provenance{}
		v, check = p, p.validate
	case PredicateEvaluation:
		p := &Evaluation{}
		v, check = p, p.validate
	case PredicateDatasetSnapshot:
		p := &DatasetSnapshot{}
		v, check = p, p.validate
	case PredicateDeployment:
		p := &Deployment{}
		v, check = p, p.validate
	default:
		return nil, nil
	}
	if err := json.Unmarshal(raw, v); err != nil {
		return nil, fmt.Errorf("predicate %s: %w", predicateType, err)
	}
	if err := check(); err != nil {
		return nil, fmt.Errorf("predicate %s: %w", predicateType, err)
	}
	return v, nil
}

var (
	hexRE  = regexp.MustCompile(`^[a-f0-9]+$`)
	algLen = map[string]int{"sha256": 64, "sha512": 128, "sha1": 40, "gitCommit": 0}
)

// ParseDigest reads "alg:hex" ("sha256:..." most often) into a DigestSet.
// sha256, sha512 and sha1 values must have their length; any other
// algorithm needs lower-case hex.
func ParseDigest(d string) (DigestSet, error) {
	alg, hex, ok := strings.Cut(d, ":")
	if !ok || alg == "" || hex == "" {
		return nil, fmt.Errorf("digest %q: want ALGORITHM:HEX, e.g. sha256:<64 hex digits>", d)
	}
	if !hexRE.MatchString(hex) {
		return nil, fmt.Errorf("digest %q: not lower-case hex", d)
	}
	if n := algLen[alg]; n > 0 && len(hex) != n {
		return nil, fmt.Errorf("digest %q: %s wants %d hex digits, got %d", d, alg, n, len(hex))
	}
	return DigestSet{alg: hex}, nil
}

// CheckType checks that a predicate type is an absolute URI.
func CheckType(t string) error {
	scheme, rest, ok := strings.Cut(t, "://")
	if !ok || scheme == "" || rest == "" || strings.ContainsAny(t, " \t\r\n") {
		return fmt.Errorf("predicate type %q: want an absolute URI, e.g. %s", t, PredicateSLSAProvenance)
	}
	return nil
}
