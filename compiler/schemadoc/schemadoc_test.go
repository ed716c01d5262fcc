package schemadoc

import (
	"bytes"
	"io/fs"
	"regexp"
	"strings"
	"testing"
	"testing/fstest"

	"cairn.dev/cairn/schemas"
)

func TestMarkdownSchemas(t *testing.T) {
	out, err := Markdown(schemas.FS)
	if err != nil {
		t.Fatal(err)
	}
	doc := string(out)

	// Every definition declared in the files has a section.
	defRE := regexp.MustCompile(`(?m)^(#\w+)!?\??:`)
	files, err := fs.Glob(schemas.FS, "*.cue")
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, name := range files {
		src, err := fs.ReadFile(schemas.FS, name)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range defRE.FindAllStringSubmatch(string(src), -1) {
			n++
			if !strings.Contains(doc, "\n## "+m[1]+"\n") {
				t.Errorf("no section for %s (%s)", m[1], name)
			}
		}
	}
	if n == 0 {
		t.Fatal("found no definitions in the schema files")
	}

	for _, want := range []string{
		"# Spec reference\n",
		"`cairn.dev/schemas`",
		"`cairn schema doc`",
		"Package schemas is the contract",
		"| `gpusPerNode` |",
		"| `canaryPercent` |",
		"| `replicas.min` |",
		"| `name` | [#Name](#name) |  | yes |",                 // required
		"| `modelRegistry` | `string & ",                       // regex type
		"| `kind` | `\"single\" \\| \"mpi\"` | `\"single\"` |", // default
		"| `cpu` | `\"4\" \\| `[#Quantity](#quantity) | `\"4\"` |",
		"| `description` | `string` |  | optional |",
		"`if kind == \"single\" {nodes: 1}`",
	} {
		if !strings.Contains(doc, want) {
			t.Errorf("output lacks %q", want)
		}
	}
	if i, j := strings.Index(doc, "\n## #Project\n"), strings.Index(doc, "\n## #Pipeline\n"); i < 0 || j < i {
		t.Errorf("#Project should come first, then #Pipeline")
	}

	again, err := Markdown(schemas.FS)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(out, again) {
		t.Error("two runs differ")
	}
}

func TestMarkdownEscapes(t *testing.T) {
	fsys := fstest.MapFS{"a.cue": {Data: []byte(`package a

// #A has a <b>tag</b>.
#A: {
	// x is a or b.
	x!: "a" | "b"
	// y is nested.
	y: {
		// z defaults.
		z?: *#B | int
	}
}

// #B is a string.
#B: string
`)}}
	out, err := Markdown(fsys)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"#A has a \\<b>tag\\</b>.\n",
		"| `x` | `\"a\" \\| \"b\"` |  | yes | x is a or b. |\n",
		"| `y` | struct |  | no | y is nested. |\n",
		"| `y.z` | [#B](#b)` \\| int` | [#B](#b) | optional | z defaults. |\n",
		"## #B\n\n#B is a string.\n\nType: `string`\n",
	} {
		if !strings.Contains(string(out), want) {
			t.Errorf("output lacks %q; got:\n%s", want, out)
		}
	}
}
