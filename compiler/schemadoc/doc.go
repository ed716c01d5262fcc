// Package schemadoc renders the spec reference from the schema's doc comments.
package schemadoc
