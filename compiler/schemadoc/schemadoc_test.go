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
		"| `model` | [#Model](#model) |  | yes |", // #Model's format is required
		"| `name` | [#Name](#name) | the pipeline's name (set in [#Pipeline](#pipeline) `model`) | no |",
		"| `name` | [#Name](#name) | its key in [#Project](#project) `pipelines` | no |",
		"| `pipelines` | `{[string]: `[#Pipeline](#pipeline)`}` |",
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

func TestMarkdownRequiredAndOverlays(t *testing.T) {
	fsys := fstest.MapFS{"a.cue": {Data: []byte(`package a

#A: {
	// b is a B.
	b: #B & {
		// the default of b
		x: *"d" | string
	}
	// c holds Bs by key.
	c: [K=_]: #B & {y: K}
	s: string
	l: [...int]
	m: [int]
	n: 1
	e: {[string]: int}
	r: *n | int
	q!: string
}

#B: {
	x!: string
	y!: string
	z!: int
	o?: int
}
`)}}
	out, err := Markdown(fsys)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"| `b` | [#B](#b) |  | yes | b is a B. |\n", // #B's z is required
		"| `c` | `{[string]: `[#B](#b)`}` |  | no | c holds Bs by key. |\n",
		"| `s` | `string` |  | yes |  |\n",
		"| `l` | `[...int]` |  | no |  |\n",
		"| `m` | `[int]` |  | yes |  |\n",
		"| `n` | `1` |  | no |  |\n",
		"| `e` | `{[string]: int}` |  | no |  |\n",
		"| `r` | `n \\| int` | `n` | no |  |\n",
		"| `q` | `string` |  | yes |  |\n",
		"| `x` | `string` | the default of b (set in [#A](#a) `b`) | no |  |\n",
		"| `y` | `string` | its key in [#A](#a) `c` | no |  |\n",
		"| `z` | `int` |  | yes |  |\n",
		"| `o` | `int` |  | optional |  |\n",
	} {
		if !strings.Contains(string(out), want) {
			t.Errorf("output lacks %q; got:\n%s", want, out)
		}
	}
}

func TestMarkdownRequiredWithDefault(t *testing.T) {
	// CUE asks for a required field even when it has a default: the
	// reference cannot call it both required and defaulted.
	fsys := fstest.MapFS{"a.cue": {Data: []byte("package a\n\n#A: {\n\tx!: *1 | int\n}\n")}}
	_, err := Markdown(fsys)
	if err == nil || !strings.Contains(err.Error(), "x is required (!) and has a default") {
		t.Errorf("Markdown(x!: *1 | int) error = %v, want one naming x", err)
	}
}
