package oci

import (
	"fmt"
	"path/filepath"
	"regexp"
	"strings"
)

// DefaultLayout is the folder, relative to the project root, that holds
// the local models named by bare references: one OCI image layout per
// model name, at DefaultLayout/NAME.
const DefaultLayout = ".cairn/oci"

// DefaultTag is the tag of a reference that names neither tag nor digest.
const DefaultTag = "latest"

// Ref names a model in a registry or in an OCI image layout.
type Ref struct {
	// Registry is host[:port] of a registry; empty for a layout.
	Registry string
	// Repository is the repository in the registry, or the model's name
	// in the default layout; empty for an oci:PATH layout.
	Repository string
	// Layout is the folder of an OCI image layout; empty for a registry.
	Layout string
	// Tag is the tag; empty when the reference names none.
	Tag string
	// Digest is the manifest digest ("sha256:..."); empty when the
	// reference names none.
	Digest string
}

var (
	// The repository grammar of the OCI distribution spec.
	repositoryRE = regexp.MustCompile(`^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*$`)
	tagRE        = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9._-]{0,127}$`)
	digestRE     = regexp.MustCompile(`^sha256:[a-f0-9]{64}$`)
)

// ParseRef reads a model reference:
//
//	host[:port]/repo[:tag][@sha256:...]  a repository in a registry
//	oci:PATH[:tag][@sha256:...]          the OCI image layout at PATH
//	name[:tag][@sha256:...]              the layout ROOT/.cairn/oci/name
//
// The first path element of a registry reference names a host: it holds a
// dot or a port, or is localhost; otherwise the reference is a bare name in
// the default layout under root (the project root; "" is the working
// folder). A reference with neither tag nor digest means tag "latest" to
// Push and Pull.
func ParseRef(s, root string) (Ref, error) {
	if s == "" {
		return Ref{}, fmt.Errorf("empty model reference")
	}
	if rest, ok := strings.CutPrefix(s, "oci:"); ok {
		return parseLayoutRef(s, rest)
	}
	rest, dgst, err := cutDigest(s, s)
	if err != nil {
		return Ref{}, err
	}
	repo, tag := rest, ""
	if i := strings.LastIndexByte(rest, ':'); i > strings.LastIndexByte(rest, '/') {
		repo, tag = rest[:i], rest[i+1:]
		if !tagRE.MatchString(tag) {
			return Ref{}, fmt.Errorf("model reference %q: invalid tag %q", s, tag)
		}
	}
	r := Ref{Repository: repo, Tag: tag, Digest: dgst}
	if host, path, ok := strings.Cut(repo, "/"); ok && isHost(host) {
		r.Registry, r.Repository = host, path
	} else {
		r.Layout = filepath.Join(root, filepath.FromSlash(DefaultLayout), filepath.FromSlash(repo))
	}
	if !repositoryRE.MatchString(r.Repository) {
		return Ref{}, fmt.Errorf("model reference %q: invalid repository %q: lower-case letters, digits and separators (. _ __ -) between slashes", s, r.Repository)
	}
	return r, nil
}

// parseLayoutRef reads the PATH[:tag][@digest] of an oci: reference. A
// colon starts a tag only when what follows is a valid tag, so Windows
// drive letters stay part of PATH.
func parseLayoutRef(s, rest string) (Ref, error) {
	rest, dgst, err := cutDigest(s, rest)
	if err != nil {
		return Ref{}, err
	}
	p, tag := rest, ""
	if i := strings.LastIndexByte(rest, ':'); i >= 0 && tagRE.MatchString(rest[i+1:]) {
		p, tag = rest[:i], rest[i+1:]
	}
	if p == "" {
		return Ref{}, fmt.Errorf("model reference %q: empty layout path", s)
	}
	return Ref{Layout: p, Tag: tag, Digest: dgst}, nil
}

// cutDigest splits "x@sha256:..." into x and the digest.
func cutDigest(s, rest string) (string, string, error) {
	i := strings.LastIndexByte(rest, '@')
	if i < 0 {
		return rest, "", nil
	}
	dgst := rest[i+1:]
	if !digestRE.MatchString(dgst) {
		return "", "", fmt.Errorf("model reference %q: invalid digest %q: want sha256: and 64 lower-case hex digits", s, dgst)
	}
	return rest[:i], dgst, nil
}

// isHost reports whether the first element of a reference names a
// registry host rather than a path element, as Docker decides it.
func isHost(s string) bool {
	return strings.ContainsAny(s, ".:") || s == "localhost"
}

// IsLayout reports whether r names an OCI image layout.
func (r Ref) IsLayout() bool { return r.Layout != "" }

// reference returns the tag or digest r names, digest first, and
// DefaultTag when it names neither.
func (r Ref) reference() string {
	switch {
	case r.Digest != "":
		return r.Digest
	case r.Tag != "":
		return r.Tag
	}
	return DefaultTag
}

// String returns r in the syntax ParseRef reads. A model in the default
// layout is written by its bare name.
func (r Ref) String() string {
	var b strings.Builder
	switch {
	case r.Registry != "":
		b.WriteString(r.Registry + "/" + r.Repository)
	case r.Repository != "":
		b.WriteString(r.Repository)
	default:
		b.WriteString("oci:" + r.Layout)
	}
	if r.Tag != "" {
		b.WriteString(":" + r.Tag)
	}
	if r.Digest != "" {
		b.WriteString("@" + r.Digest)
	}
	return b.String()
}
