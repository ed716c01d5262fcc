package verify

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"regexp"
	"sort"
	"strings"
	"sync"

	wfv1 "github.com/argoproj/argo-workflows/v3/pkg/apis/workflow/v1alpha1"
	kubeflow "github.com/kubeflow/mpi-operator/pkg/apis/kubeflow/v2beta1"
	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/kube-openapi/pkg/common"
	oaerrors "k8s.io/kube-openapi/pkg/validation/errors"
	"k8s.io/kube-openapi/pkg/validation/spec"
	"k8s.io/kube-openapi/pkg/validation/strfmt"
	"k8s.io/kube-openapi/pkg/validation/validate"
	kjson "sigs.k8s.io/json"

	"cairn.dev/cairn/compiler/lower/kserve"
)

// kind is what the schema check knows of one apiVersion and kind: the
// target project's Go type, which the object is strictly decoded into, and
// the name of its OpenAPI definition among those the project ships as Go
// code. Supporting a new kind (KServe's InferenceService, the Prometheus
// Operator's PrometheusRule, ...) is one entry in kinds.
type kind struct {
	apiVersion, kind string
	// newObject returns a new value of the project's Go type.
	newObject func() any
	// definitions is the project's generated GetOpenAPIDefinitions; nil
	// for a project that ships none, whose objects are checked by the
	// strict decoding alone.
	definitions func(common.ReferenceCallback) map[string]common.OpenAPIDefinition
	// definition names the kind's OpenAPI definition, as the project's
	// generator names it (Go import path, dot, type name).
	definition string
}

const (
	argoPkg    = "github.com/argoproj/argo-workflows/v3/pkg/apis/workflow/v1alpha1."
	kubeflowPk = "github.com/kubeflow/mpi-operator/pkg/apis/kubeflow/v2beta1."
)

var kinds = []kind{
	{"argoproj.io/v1alpha1", "WorkflowTemplate", func() any { return new(wfv1.WorkflowTemplate) }, wfv1.GetOpenAPIDefinitions, argoPkg + "WorkflowTemplate"},
	{"argoproj.io/v1alpha1", "CronWorkflow", func() any { return new(wfv1.CronWorkflow) }, wfv1.GetOpenAPIDefinitions, argoPkg + "CronWorkflow"},
	{"argoproj.io/v1alpha1", "Workflow", func() any { return new(wfv1.Workflow) }, wfv1.GetOpenAPIDefinitions, argoPkg + "Workflow"},
	{"kubeflow.org/v2beta1", "MPIJob", func() any { return new(kubeflow.MPIJob) }, kubeflow.GetOpenAPIDefinitions, kubeflowPk + "MPIJob"},
	// KServe's module does not fit the pinned Kubernetes modules: its
	// InferenceService is decoded into Cairn's typed definitions of the
	// fields Cairn emits (compiler/lower/kserve), written from KServe's
	// API reference.
	{"serving.kserve.io/v1beta1", "InferenceService", func() any { return new(kserve.InferenceService) }, nil, ""},
	// The Prometheus Operator ships no OpenAPI definitions as Go code.
	{"monitoring.coreos.com/v1", "PrometheusRule", func() any { return new(monitoringv1.PrometheusRule) }, nil, ""},
	// Kubernetes' own types: k8s.io/api ships no OpenAPI definitions.
	{"v1", "ServiceAccount", func() any { return new(corev1.ServiceAccount) }, nil, ""},
	{"rbac.authorization.k8s.io/v1", "Role", func() any { return new(rbacv1.Role) }, nil, ""},
	{"rbac.authorization.k8s.io/v1", "RoleBinding", func() any { return new(rbacv1.RoleBinding) }, nil, ""},
}

// registry holds the kinds with their OpenAPI schemas, built once.
type registry struct {
	kinds map[string]*registered // by apiVersion + " " + kind
	defs  map[string]*spec.Schema
	// unresolved lists the definitions referenced but shipped by no
	// project as Go code (the types of k8s.io/api): their values pass the
	// OpenAPI check as anything and are checked by the strict decoding
	// only.
	unresolved []string
	formats    strfmt.Registry
	anything   *spec.Schema
	option     validate.Option
}

type registered struct {
	kind
	schema *spec.Schema
}

var (
	regOnce sync.Once
	reg     *registry
)

func getRegistry() *registry {
	regOnce.Do(func() { reg = buildRegistry() })
	return reg
}

// defName normalises a definition name: the generators of different
// projects name Kubernetes' own types by Go path
// ("k8s.io/apimachinery/pkg/apis/meta/v1.ObjectMeta") or by their REST
// model name ("io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta").
func defName(name string) string {
	if rest, ok := strings.CutPrefix(name, "k8s.io/"); ok {
		return "io.k8s." + strings.ReplaceAll(rest, "/", ".")
	}
	return name
}

const refPrefix = "#/definitions/"

func buildRegistry() *registry {
	r := &registry{
		kinds:    map[string]*registered{},
		defs:     map[string]*spec.Schema{},
		anything: &spec.Schema{},
		formats:  formats{},
	}
	ref := func(name string) spec.Ref { return spec.MustCreateRef(refPrefix + defName(name)) }
	seen := map[uintptr]bool{}
	add := func(defs map[string]common.OpenAPIDefinition) {
		for name, d := range defs {
			s := d.Schema
			r.defs[refPrefix+defName(name)] = &s
		}
	}
	for _, k := range kinds {
		if k.definitions == nil {
			continue
		}
		if p := reflect.ValueOf(k.definitions).Pointer(); !seen[p] {
			seen[p] = true
			add(k.definitions(ref))
		}
	}
	// IntOrString's definition comes with k8s.io/api's generated
	// definitions, which no project ships; this is what openapi-gen
	// writes for it from its OpenAPI methods.
	add(map[string]common.OpenAPIDefinition{
		intstr.IntOrString{}.OpenAPIModelName(): {Schema: spec.Schema{SchemaProps: spec.SchemaProps{
			OneOf:  common.GenerateOpenAPIV3OneOfSchema(intstr.IntOrString{}.OpenAPIV3OneOfTypes()),
			Format: intstr.IntOrString{}.OpenAPISchemaFormat(),
		}}},
	})
	missing := map[string]bool{}
	for _, s := range r.defs {
		r.prepare(s, missing, 0)
	}
	for name := range missing {
		r.unresolved = append(r.unresolved, strings.TrimPrefix(name, refPrefix))
	}
	sort.Strings(r.unresolved)
	r.option = func(o *validate.SchemaValidatorOptions) {
		o.NewValidatorForField = r.fieldValidator
		o.NewValidatorForIndex = r.indexValidator
	}
	for _, k := range kinds {
		if k.definitions == nil {
			r.kinds[k.apiVersion+" "+k.kind] = &registered{kind: k}
			continue
		}
		s, ok := r.defs[refPrefix+defName(k.definition)]
		if !ok {
			panic(fmt.Sprintf("verify: no OpenAPI definition %s for %s %s", k.definition, k.apiVersion, k.kind))
		}
		r.kinds[k.apiVersion+" "+k.kind] = &registered{kind: k, schema: s}
	}
	return r
}

// prepare notes references to missing definitions and replaces the
// references kube-openapi's validator cannot follow (in allOf, anyOf,
// oneOf and not, which it validates without the field hooks) by the
// definitions they name.
func (r *registry) prepare(s *spec.Schema, missing map[string]bool, depth int) {
	if s == nil || depth > 32 {
		return
	}
	if ref := s.Ref.String(); ref != "" {
		if _, ok := r.defs[ref]; !ok {
			missing[ref] = true
		}
	}
	// openapi-gen writes a type with several JSON types (IntOrString,
	// Quantity) as oneOf its types with the format beside them, and
	// kube-openapi's type validator then rejects the non-string
	// values: the format belongs to the string branch.
	if len(s.Type) == 0 && s.Format != "" && len(s.OneOf) > 0 {
		for i := range s.OneOf {
			if s.OneOf[i].Type.Contains("string") && s.OneOf[i].Format == "" {
				s.OneOf[i].Format = s.Format
			}
		}
		s.Format = ""
	}
	inline := func(list []spec.Schema) {
		for i := range list {
			if list[i].Ref.String() != "" {
				list[i] = *r.resolve(&list[i])
			}
			r.prepare(&list[i], missing, depth+1)
		}
	}
	inline(s.AllOf)
	inline(s.AnyOf)
	inline(s.OneOf)
	if s.Not != nil && s.Not.Ref.String() != "" {
		s.Not = r.resolve(s.Not)
	}
	for k, p := range s.Properties {
		r.prepare(&p, missing, depth+1)
		s.Properties[k] = p
	}
	if s.AdditionalProperties != nil {
		r.prepare(s.AdditionalProperties.Schema, missing, depth+1)
	}
	if s.Items != nil {
		r.prepare(s.Items.Schema, missing, depth+1)
		for i := range s.Items.Schemas {
			r.prepare(&s.Items.Schemas[i], missing, depth+1)
		}
	}
}

// resolve follows references; a definition no project ships accepts
// anything.
func (r *registry) resolve(s *spec.Schema) *spec.Schema {
	for s.Ref.String() != "" {
		d, ok := r.defs[s.Ref.String()]
		if !ok {
			return r.anything
		}
		s = d
	}
	return s
}

func (r *registry) validator(s *spec.Schema, path string) *validate.SchemaValidator {
	return validate.NewSchemaValidator(r.resolve(s), nil, path, r.formats, r.option)
}

func (r *registry) fieldValidator(_ string, s *spec.Schema, _ any, path string, _ strfmt.Registry, _ ...validate.Option) validate.ValueValidator {
	return r.validator(s, path)
}

func (r *registry) indexValidator(_ int, s *spec.Schema, _ any, path string, _ strfmt.Registry, _ ...validate.Option) validate.ValueValidator {
	return r.validator(s, path)
}

// formats is the read-only registry of the string formats the shipped
// definitions use (strfmt's default registry locks on every lookup).
type formats struct{}

var formatChecks = map[string]func(string) bool{
	"date-time": strfmt.IsDateTime,
	"byte": func(s string) bool {
		_, err := base64.StdEncoding.DecodeString(s)
		return err == nil
	},
	"quantity": func(s string) bool {
		_, err := resource.ParseQuantity(s)
		return err == nil
	},
}

func (formats) Add(string, strfmt.Format, strfmt.Validator) bool { return false }
func (formats) DelByName(string) bool                            { return false }
func (formats) GetType(string) (reflect.Type, bool)              { return nil, false }
func (formats) ContainsName(name string) bool                    { return formatChecks[name] != nil }
func (formats) Parse(string, string) (any, error)                { return nil, errors.ErrUnsupported }
func (formats) Validates(name, data string) bool {
	f := formatChecks[name]
	return f == nil || f(data)
}

// hasPath reports whether the schema has the field at path, a gjson path
// of property names and array indexes. A part of the schema no project
// ships, or one that keeps unknown fields, has every path.
func (r *registry) hasPath(s *spec.Schema, path []string, depth int) bool {
	if s == nil { // a kind checked by strict decoding alone
		return true
	}
	s = r.resolve(s)
	if len(path) == 0 || s == r.anything || depth > 64 {
		return true
	}
	if v, ok := s.Extensions["x-kubernetes-preserve-unknown-fields"].(bool); ok && v {
		return true
	}
	if p, ok := s.Properties[path[0]]; ok {
		return r.hasPath(&p, path[1:], depth+1)
	}
	if s.AdditionalProperties != nil && s.AdditionalProperties.Schema != nil {
		return r.hasPath(s.AdditionalProperties.Schema, path[1:], depth+1)
	}
	if s.Items != nil && s.Items.Schema != nil && isIndex(path[0]) {
		return r.hasPath(s.Items.Schema, path[1:], depth+1)
	}
	// A schema that says nothing of its fields (no type, or an object
	// without properties) may hold anything.
	return len(s.Properties) == 0 && s.AdditionalProperties == nil && s.Items == nil &&
		(len(s.Type) == 0 || s.Type.Contains("object"))
}

func isIndex(s string) bool {
	if s == "" {
		return false
	}
	for _, c := range s {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// lookup returns the registered kind of an apiVersion and kind.
func (r *registry) lookup(apiVersion, kind string) *registered {
	return r.kinds[apiVersion+" "+kind]
}

// fieldProblem is a problem at a field of a decoded document.
type fieldProblem struct {
	field, msg string
}

var unknownFieldRE = regexp.MustCompile(`^(?:unknown|duplicate) field "([^"]*)"`)

// decode strictly decodes the JSON of an object into k's Go type. obj is
// nil when the decoding failed (a wrong type, a malformed value); unknown
// and duplicate fields are reported but leave obj decoded.
func (k *registered) decode(data []byte) (obj any, probs []fieldProblem) {
	obj = k.newObject()
	strict, err := kjson.UnmarshalStrict(data, obj)
	for _, e := range strict {
		f := ""
		if fe, ok := e.(kjson.FieldError); ok {
			f = fe.FieldPath()
		} else if m := unknownFieldRE.FindStringSubmatch(e.Error()); m != nil {
			f = m[1]
		}
		probs = append(probs, fieldProblem{f, e.Error()})
	}
	if err != nil {
		probs = append(probs, fieldProblem{decodeErrorField(err), err.Error()})
		obj = nil
	}
	return obj, probs
}

// validate validates the JSON of an object against k's OpenAPI schema.
func (k *registered) validate(data []byte) (probs []fieldProblem) {
	if k.schema == nil {
		return nil
	}
	v, err := decodeGeneric(data)
	if err != nil {
		return []fieldProblem{{"", err.Error()}}
	}
	res := getRegistry().validator(k.schema, "").Validate(v)
	for _, e := range res.Errors {
		probs = append(probs, openAPIProblems(e)...)
	}
	return probs
}

func openAPIProblems(err error) []fieldProblem {
	var comp *oaerrors.CompositeError
	if errors.As(err, &comp) {
		var out []fieldProblem
		for _, e := range comp.Errors {
			out = append(out, openAPIProblems(e)...)
		}
		return out
	}
	f := ""
	var v *oaerrors.Validation
	if errors.As(err, &v) {
		f = strings.TrimPrefix(v.Name, ".")
	}
	return []fieldProblem{{f, "OpenAPI: " + err.Error()}}
}

// decodeErrorField returns the field a decoding error names.
func decodeErrorField(err error) string {
	if fe, ok := err.(kjson.FieldError); ok {
		return fe.FieldPath()
	}
	// json.UnmarshalTypeError, of encoding/json or of sigs.k8s.io/json's
	// copy of it, carries the path in its Field.
	v := reflect.ValueOf(err)
	if v.Kind() == reflect.Pointer && v.Elem().Kind() == reflect.Struct {
		if f := v.Elem().FieldByName("Field"); f.IsValid() && f.Kind() == reflect.String {
			return f.String()
		}
	}
	return ""
}

// decodeGeneric decodes JSON into maps, slices, strings, bools, int64
// for integers and float64 for other numbers, which is how the OpenAPI
// validator tells integers from numbers.
func decodeGeneric(data []byte) (any, error) {
	d := json.NewDecoder(bytes.NewReader(data))
	d.UseNumber()
	var v any
	if err := d.Decode(&v); err != nil {
		return nil, err
	}
	return numbers(v), nil
}

func numbers(v any) any {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			x[k] = numbers(e)
		}
	case []any:
		for i, e := range x {
			x[i] = numbers(e)
		}
	case json.Number:
		if i, err := x.Int64(); err == nil {
			return i
		}
		f, _ := x.Float64()
		return f
	}
	return v
}
