// Package steps implements the platform steps a compiled workflow runs in
// its pods and the local executor runs in-process: validate-data (data
// checks and content digests of a dataset snapshot) and gate (evaluation
// metrics against the pipeline's gates). It never imports the compiler.
package steps
