// Package runtime will hold the local executor of compiled workflows and the
// platform steps that run in pods (validate-data, gate, pack, drift). It
// reads compiled output only and never imports the compiler.
package runtime
