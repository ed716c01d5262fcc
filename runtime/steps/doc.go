// Package steps implements the platform steps a compiled workflow runs in
// its pods and the local executor runs in-process: validate-data (data
// checks and content digests of a dataset snapshot), gate (evaluation
// metrics against the pipeline's gates) and pack. The data they read is on
// local disk or in an object store (s3://, gs://, azblob://, az://, read
// through gocloud.dev/blob). It never imports the compiler.
package steps
