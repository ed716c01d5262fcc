// Package schemas holds the user contract of a Cairn repository: the CUE
// definitions a project's specs are checked against, embedded in the binary,
// and the Go side of the few rules CUE cannot state (metric gates).
package schemas

import "embed"

// ImportPath is the CUE import path of the schema package.
const ImportPath = "cairn.dev/schemas"

// FS holds the schema package's CUE files at its root.
//
//go:embed *.cue
var FS embed.FS
