// Command cairn compiles CUE pipeline specs into Argo Workflows and MPIJob
// manifests; see `cairn --help`.
package main

import (
	"os"

	"cairn.dev/cairn/cmd/cairn/cli"
)

func main() { os.Exit(cli.Main()) }
