package load

import (
	"errors"
	"testing"

	"cairn.dev/cairn/compiler/diag"
)

func TestInvalidUTF8(t *testing.T) {
	for _, tc := range []struct {
		data string
		want string // "" for UTF-8 text
	}{
		{"package p\nx: \"é\"\n", ""},
		{"", ""},
		{"\xa9", "f.cue:1:1: invalid UTF-8 encoding (byte 0xa9): a CUE file must be UTF-8 text"},
		{"//cca\xa9d\xa9\xa9we%", "f.cue:1:6: invalid UTF-8 encoding (byte 0xa9): a CUE file must be UTF-8 text (2 more invalid bytes in this file)"},
		{"package p\n// é\xe9\n", "f.cue:2:6: invalid UTF-8 encoding (byte 0xe9): a CUE file must be UTF-8 text"},                                                // columns count bytes
		{"package p\nx: \"\xe2\x82\"\n\xff", "f.cue:2:5: invalid UTF-8 encoding (byte 0xe2): a CUE file must be UTF-8 text (2 more invalid bytes in this file)"}, // a cut sequence
		{"a\n\n\xc0\xafb", "f.cue:3:1: invalid UTF-8 encoding (byte 0xc0): a CUE file must be UTF-8 text (1 more invalid byte in this file)"},                    // overlong
	} {
		d, ok := invalidUTF8("f.cue", []byte(tc.data))
		got := ""
		if ok {
			got = d.Error()
		}
		if got != tc.want {
			t.Errorf("invalidUTF8(%q) = %q, want %q", tc.data, got, tc.want)
		}
	}
}

const testModule = "module: \"example.com/t@v0\"\nlanguage: version: \"v0.17.0\"\n"

const testProject = `package ml

import "cairn.dev/schemas"

project: schemas.#Project & {name: "risk", modelRegistry: "registry.example.com/risk"}
`

// TestLoadSourceDiags loads modules whose files the CUE loader would
// pass over in silence.
func TestLoadSourceDiags(t *testing.T) {
	for _, tc := range []struct {
		name  string
		files map[string]string
		insts int
		want  string
	}{{
		name:  "unpackaged file in a folder without a package",
		files: map[string]string{"ml.cue": testProject, "sub/x.cue": "y: 1\n"},
		insts: 1,
		want:  "warning: sub/x.cue:1:1: file has no package clause, so it is ignored, as cue ignores it: start it with `package <name>` (the files of a folder share one package)",
	}, {
		name:  "unpackaged file beside a package",
		files: map[string]string{"ml.cue": testProject, "x.cue": "y: 1\n"},
		insts: 1,
		want:  "warning: x.cue:1:1: file has no package clause, so it is not part of package ml and is ignored, as cue ignores it: start it with `package ml`",
	}, {
		name:  "invalid UTF-8 in a subfolder's package",
		files: map[string]string{"ml.cue": testProject, "sub/x.cue": "package sub\n\ny: \"\xa9\"\n"},
		want:  "sub/x.cue:3:5: invalid UTF-8 encoding (byte 0xa9): a CUE file must be UTF-8 text",
	}, {
		name:  "invalid UTF-8 in a file of its own",
		files: map[string]string{"x.cue": "\xa9"},
		want:  "x.cue:1:1: invalid UTF-8 encoding (byte 0xa9): a CUE file must be UTF-8 text",
	}} {
		t.Run(tc.name, func(t *testing.T) {
			files := map[string][]byte{"cue.mod/module.cue": []byte(testModule)}
			for name, data := range tc.files {
				files[name] = []byte(data)
			}
			insts, err := Load(Config{Dir: "/m", Files: files})
			var l diag.List
			if !errors.As(err, &l) {
				t.Fatalf("Load = %d projects, %v, want a diag.List", len(insts), err)
			}
			if got := err.Error(); got != tc.want || len(insts) != tc.insts {
				t.Errorf("Load = %d projects, %q, want %d, %q", len(insts), got, tc.insts, tc.want)
			}
		})
	}
}
