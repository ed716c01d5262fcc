// Package verify checks compiled output with the target projects' own
// code, in process, and is the only package that imports Argo's
// validator. Files takes a compiled set (slash path to YAML, as
// compiler.Result.Files) and returns every Problem, sorted, each naming
// its file, object, field (best effort) and check.
//
// # Checks
//
// schema: each object is decoded strictly (sigs.k8s.io/json, as the API
// server's fieldValidation=Strict: case-sensitive field names, unknown and
// duplicate fields, wrong JSON types and malformed values such as
// quantities) into its project's Go type, and validated against the
// OpenAPI definitions the project ships as Go code (Argo's
// openapi_generated.go, mpi-operator's zz_generated.openapi.go) with
// kube-openapi's validator: JSON types, int32/int64, required properties,
// the date-time, byte and quantity formats, int-or-string fields. Kinds are
// registered by apiVersion and kind (see kinds): the Argo kinds
// WorkflowTemplate, CronWorkflow and Workflow, and kubeflow.org/v2beta1
// MPIJob; an object, or a resource template's manifest, of any other kind
// is a problem. Not checked against OpenAPI: Kubernetes' own API types
// (k8s.io/api: Container, PodSpec, PodTemplateSpec, Volume, Toleration, ...)
// whose definitions no module in the build ships as Go code; their values
// pass the OpenAPI check and are checked only by the strict decoding
// (fields and JSON types, not required fields or enums). Values of
// types with their own UnmarshalJSON (Argo's steps, items, plugins) are
// decoded by those types, not strictly. OpenAPI does not reject unknown
// fields (the strict decoding does).
//
// metadata: the API server's validation of an object's metadata on
// creation (apimachinery's ValidateObjectMeta: name a DNS-1123 subdomain,
// namespace, label keys and values, annotation keys and total size), on
// every object and every embedded manifest (as created: in the workflow's
// namespace, generateName completed), and of the labels of an MPIJob's
// pod templates.
//
// argo-lint: what `argo lint --offline` runs: ValidateWorkflowTemplate and
// ValidateWorkflow with ValidateOpts{Lint: true}, ValidateCronWorkflow
// (which takes no options), with template getters over every
// WorkflowTemplate of the set by namespace, so workflowTemplateRef and
// templateRef resolve offline and a reference to a template not in the
// set fails. Argo reports the first error of an object only. No
// ClusterWorkflowTemplate resolves (Cairn emits none), and no controller
// defaults apply (as offline). Argo's validator keeps a package-level
// counter that is not safe for concurrent use, so its calls are
// serialised (they run beside the other checks).
//
// condition: each resource template's successCondition and
// failureCondition, after Argo's variable substitution, parsed with
// labels.Parse as Argo's executor does; a failureCondition of several
// comma-separated requirements is flagged (the executor fails the step
// when any one matches); a requirement whose key names no field of the
// manifest's kind by its OpenAPI schema is flagged (it never matches).
// Values are not checked against the status the object will have.
//
// mpijob: each MPIJob, embedded in a resource template as Argo creates
// it: the template's JSON with Argo's variables substituted by Argo's own
// template code with realistic worst-case values (workflow.name the
// longest name Argo gives a run: the CronWorkflow's or the template's name,
// a dash and 10 digits; workflow.uid a UUID; workflow.parameters.* their
// values; generateName completed as Kubernetes does, to at most 63
// characters), decoded strictly, defaulted with mpi-operator's
// SetDefaults_MPIJob and validated with its ValidateMPIJob; the longest
// pod hostname, <name>-worker-<replicas-1> (or <name>-launcher), must fit
// 63 characters. Pod specs are not validated (Kubernetes' pod validation
// is not in the build).
//
// resource: Argo's substitution of a resource template must succeed, and
// an object Argo makes the workflow own (setOwnerReference) must be in the
// workflow's namespace.
//
// Manifests of patch, get and delete actions are partial objects: only
// their conditions are checked.
package verify
