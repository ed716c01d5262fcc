// Package executor runs a compiled Argo WorkflowTemplate on this machine:
// its DAG in dependency order, independent tasks in parallel, container
// steps and MPIJob launchers as local processes, with Argo's own template
// substitution, depends logic, retries and deadlines, one folder per run.
//
// It reads compiled output only (what Argo would run) and never imports
// the compiler.
package executor
