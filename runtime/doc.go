// Package runtime holds what runs pipelines: the local executor of
// compiled workflows (runtime/executor), Kubernetes' variable expansion
// (runtime/expand) and the platform steps that run in pods and locally
// (runtime/steps). It reads compiled output only and never imports the
// compiler.
package runtime
