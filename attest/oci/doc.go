// Package oci stores model folders as CNCF ModelPack artifacts in OCI
// registries and OCI image layouts.
//
// A model is one OCI image manifest whose artifactType is
// application/vnd.cncf.model.manifest.v1+json, with a ModelPack config and
// one raw (uncompressed) layer per file, annotated with the file's path.
// The same files give the same manifest digest on every push and machine.
// docs/artifacts.md describes the format and the guarantees.
//
// Push, Pull, Inspect, List and Copy work on a Ref, which ParseRef reads
// from a registry reference, an oci:PATH layout or a bare name in the
// project's default layout (.cairn/oci). Registries are reached through
// go-containerregistry's remote package, with credentials from the Docker
// configuration and credential helpers; layouts are plain folders.
//
// The package never imports the compiler, nor any signing library:
// signatures are attached by another package, to the digests this one
// returns.
package oci
