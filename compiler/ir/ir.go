// Package ir is the typed intermediate form between the CUE specs and the
// lowering backends: a project and its pipelines with every default
// resolved. It mirrors the schema in cairn.dev/schemas field for field.
package ir

import "encoding/json"

// Project is a team's repository: namespace, registry, rules and pipelines.
type Project struct {
	Name           string               `json:"name"`
	Namespace      string               `json:"namespace"`
	ModelRegistry  string               `json:"modelRegistry"`
	ServiceAccount string               `json:"serviceAccount"`
	PlatformImage  string               `json:"platformImage"`
	Storage        Storage              `json:"storage"`
	Signing        Signing              `json:"signing"`
	Cluster        Cluster              `json:"cluster"`
	Policy         Policy               `json:"policy"`
	Labels         map[string]string    `json:"labels"`
	Pipelines      map[string]*Pipeline `json:"pipelines,omitempty"`
}

// Storage is where runs write their outputs.
type Storage struct {
	Root string `json:"root"`
}

// Signing names the secret holding the signing key.
type Signing struct {
	Secret string `json:"secret"`
}

// Cluster describes GPU and spot node selection.
type Cluster struct {
	GPUTypeLabel string            `json:"gpuTypeLabel"`
	GPUTaint     string            `json:"gpuTaint"`
	SpotSelector map[string]string `json:"spotSelector"`
	SpotTaint    string            `json:"spotTaint,omitempty"`
}

// Policy holds project-wide rules.
type Policy struct {
	RequireDigests bool              `json:"requireDigests"`
	AllowSpot      bool              `json:"allowSpot"`
	RequireSpot    bool              `json:"requireSpot"`
	MaxGPUsPerRun  *int              `json:"maxGPUsPerRun,omitempty"`
	GPUQuota       *int              `json:"gpuQuota,omitempty"`
	Prices         Prices            `json:"prices"`
	Budget         Budget            `json:"budget"`
	PII            PII               `json:"pii"`
	Enforce        map[string]string `json:"enforce"` // rule name → "error" or "warning"
}

// Severities of a policy rule, the values of Policy.Enforce.
const (
	SeverityError   = "error"
	SeverityWarning = "warning"
)

// Prices is the price table in USD.
type Prices struct {
	GPUHour      map[string]float64 `json:"gpuHour"` // by GPU type
	CPUHour      *float64           `json:"cpuHour,omitempty"`
	SpotDiscount float64            `json:"spotDiscount"` // 0..1
}

// Budget caps each pipeline's estimated cost in USD.
type Budget struct {
	PerRun   *float64 `json:"perRun,omitempty"`
	PerMonth *float64 `json:"perMonth,omitempty"`
}

// PII says where personal data may be read.
type PII struct {
	Namespaces []string `json:"namespaces"`
	Approver   string   `json:"approver,omitempty"`
}

// Pipeline is one model's path from data to a packed artifact.
type Pipeline struct {
	Name        string                  `json:"name"`
	Description string                  `json:"description,omitempty"`
	Data        map[string]*Dataset     `json:"data"`
	Features    map[string]*FeatureStep `json:"features"`
	Train       Train                   `json:"train"`
	Evaluate    *Evaluate               `json:"evaluate,omitempty"`
	Model       Model                   `json:"model"`
	Serve       *Serve                  `json:"serve,omitempty"`
	Schedule    *Schedule               `json:"schedule,omitempty"`
	Labels      map[string]string       `json:"labels"`
}

// Dataset is a versioned dataset with its schema and checks.
type Dataset struct {
	Name        string             `json:"name"`
	URI         string             `json:"uri"`
	Format      string             `json:"format"`
	Snapshot    string             `json:"snapshot,omitempty"`
	DerivedFrom []string           `json:"derivedFrom"`
	PII         bool               `json:"pii"`
	Columns     map[string]*Column `json:"columns"`
	Checks      DataChecks         `json:"checks"`
	Ingest      *IngestStep        `json:"ingest,omitempty"`
}

// IngestStep writes a run's copy of a dataset.
type IngestStep struct {
	Image      string            `json:"image"`
	Command    []string          `json:"command"`
	Env        map[string]string `json:"env"`
	Resources  Resources         `json:"resources"`
	MaxRuntime string            `json:"maxRuntime"`
}

// Column is one column of a dataset.
type Column struct {
	Type     string `json:"type"`
	Nullable bool   `json:"nullable"`
	PII      bool   `json:"pii"`
}

// DataChecks are checks run on a dataset before use.
type DataChecks struct {
	MinRows         *int64            `json:"minRows,omitempty"`
	MaxNullFraction *float64          `json:"maxNullFraction,omitempty"`
	Ranges          map[string]*Range `json:"ranges"`
}

// Range bounds a numeric column, inclusively.
type Range struct {
	Min *float64 `json:"min,omitempty"`
	Max *float64 `json:"max,omitempty"`
}

// Resources are CPU and memory quantities.
type Resources struct {
	CPU    string `json:"cpu"`
	Memory string `json:"memory"`
}

// FeatureStep computes feature outputs.
type FeatureStep struct {
	Name       string            `json:"name"`
	Image      string            `json:"image"`
	Command    []string          `json:"command"`
	Env        map[string]string `json:"env"`
	Inputs     []string          `json:"inputs"`
	Outputs    []string          `json:"outputs"`
	Resources  Resources         `json:"resources"`
	MaxRuntime string            `json:"maxRuntime"`
}

// Train is the training step.
type Train struct {
	Image           string                     `json:"image"`
	Command         []string                   `json:"command"`
	Env             map[string]string          `json:"env"`
	Hyperparameters map[string]json.RawMessage `json:"hyperparameters"`
	Inputs          []string                   `json:"inputs"`
	BaseModel       string                     `json:"baseModel,omitempty"`
	Compute         Compute                    `json:"compute"`
	Critical        bool                       `json:"critical"`
}

// Compute is the hardware training runs on.
type Compute struct {
	Kind        string `json:"kind"`
	Nodes       int    `json:"nodes"`
	GPUsPerNode int    `json:"gpusPerNode"`
	GPUType     string `json:"gpuType,omitempty"`
	CPU         string `json:"cpu"`
	Memory      string `json:"memory"`
	Spot        bool   `json:"spot"`
	MaxRuntime  string `json:"maxRuntime"`
	Retries     int    `json:"retries"`
}

// Compute kinds.
const (
	KindSingle = "single"
	KindMPI    = "mpi"
)

// Evaluate scores and gates the model.
type Evaluate struct {
	Image      string            `json:"image"`
	Command    []string          `json:"command"`
	Env        map[string]string `json:"env"`
	Inputs     []string          `json:"inputs"`
	Gates      map[string]string `json:"gates"`
	Resources  Resources         `json:"resources"`
	MaxRuntime string            `json:"maxRuntime"`
}

// Model says how the trained model is packed.
type Model struct {
	Name       string `json:"name"`
	Repository string `json:"repository"`
	Format     string `json:"format"`
	Framework  string `json:"framework,omitempty"`
}

// Serve describes serving with KServe.
type Serve struct {
	Runtime       string    `json:"runtime"`
	ModelFormat   string    `json:"modelFormat,omitempty"`
	Digest        string    `json:"digest,omitempty"`
	Replicas      Replicas  `json:"replicas"`
	CanaryPercent int       `json:"canaryPercent"`
	Resources     Resources `json:"resources"`
	GPUs          int       `json:"gpus"`
	Latency       Latency   `json:"latency"`
	MaxErrorRate  float64   `json:"maxErrorRate"`
	Drift         *Drift    `json:"drift,omitempty"`
}

// Replicas bound the autoscaler.
type Replicas struct {
	Min int `json:"min"`
	Max int `json:"max"`
}

// Latency is a latency budget by percentile.
type Latency struct {
	P50 string `json:"p50,omitempty"`
	P95 string `json:"p95,omitempty"`
	P99 string `json:"p99,omitempty"`
}

// Drift configures drift monitoring.
type Drift struct {
	Cron      string   `json:"cron"`
	Features  []string `json:"features"`
	Threshold float64  `json:"threshold"`
	Source    string   `json:"source"`
	Retrain   bool     `json:"retrain"`
}

// Schedule retrains on a cron schedule.
type Schedule struct {
	Cron              string `json:"cron"`
	Timezone          string `json:"timezone"`
	ConcurrencyPolicy string `json:"concurrencyPolicy"`
	Suspend           bool   `json:"suspend"`
}
