package oci

import (
	"path/filepath"
	"strings"
	"testing"
)

func TestParseRef(t *testing.T) {
	const dgst = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	local := func(name string) string { return filepath.Join("/proj", ".cairn", "oci", name) }
	tests := []struct {
		in   string
		want Ref
	}{
		{"ghcr.io/acme/llama:v1", Ref{Registry: "ghcr.io", Repository: "acme/llama", Tag: "v1"}},
		{"localhost:5000/m", Ref{Registry: "localhost:5000", Repository: "m"}},
		{"localhost/team/m:1.0", Ref{Registry: "localhost", Repository: "team/m", Tag: "1.0"}},
		{"127.0.0.1:5000/m@" + dgst, Ref{Registry: "127.0.0.1:5000", Repository: "m", Digest: dgst}},
		{"reg.io/m:v2@" + dgst, Ref{Registry: "reg.io", Repository: "m", Tag: "v2", Digest: dgst}},
		{"oci:/tmp/layout", Ref{Layout: "/tmp/layout"}},
		{"oci:/tmp/layout:v1", Ref{Layout: "/tmp/layout", Tag: "v1"}},
		{"oci:rel/dir@" + dgst, Ref{Layout: "rel/dir", Digest: dgst}},
		{`oci:C:\models\m`, Ref{Layout: `C:\models\m`}},
		{`oci:C:\models\m:v3`, Ref{Layout: `C:\models\m`, Tag: "v3"}},
		{"llama:v1", Ref{Repository: "llama", Layout: local("llama"), Tag: "v1"}},
		{"llama", Ref{Repository: "llama", Layout: local("llama")}},
		{"team/llama-3.1:rc_1", Ref{Repository: "team/llama-3.1", Layout: local(filepath.Join("team", "llama-3.1")), Tag: "rc_1"}},
	}
	for _, tt := range tests {
		got, err := ParseRef(tt.in, "/proj")
		if err != nil {
			t.Errorf("ParseRef(%q) error: %v", tt.in, err)
			continue
		}
		if got != tt.want {
			t.Errorf("ParseRef(%q) = %+v, want %+v", tt.in, got, tt.want)
		}
	}
}

func TestParseRefErrors(t *testing.T) {
	tests := []struct {
		in, want string
	}{
		{"", "empty"},
		{"Llama:v1", "invalid repository"},
		{"ghcr.io/Acme/m:v1", "invalid repository"},
		{"ghcr.io/m:v/1", "invalid repository"},
		{"m:-bad", "invalid tag"},
		{"m@sha256:abc", "invalid digest"},
		{"oci::v1", "empty layout path"},
		{"ghcr.io/:v1", "invalid repository"},
	}
	for _, tt := range tests {
		_, err := ParseRef(tt.in, "")
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("ParseRef(%q) error = %v, want one containing %q", tt.in, err, tt.want)
		}
	}
}

func TestRefString(t *testing.T) {
	tests := []string{
		"ghcr.io/acme/llama:v1",
		"localhost:5000/m@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
		"oci:/tmp/layout:v1",
		"llama:v1",
	}
	for _, s := range tests {
		r, err := ParseRef(s, "/proj")
		if err != nil {
			t.Fatal(err)
		}
		if got := r.String(); got != s {
			t.Errorf("ParseRef(%q).String() = %q, want %q", s, got, s)
		}
	}
}
