package oci

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path"
	"strconv"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// Media types and annotations of a model artifact (CNCF ModelPack, v1).
const (
	// ArtifactType is the manifest's artifactType.
	ArtifactType = "application/vnd.cncf.model.manifest.v1+json"
	// MediaTypeConfig is the media type of the model config blob.
	MediaTypeConfig = "application/vnd.cncf.model.config.v1+json"
	// MediaTypeManifest is the manifest's own media type.
	MediaTypeManifest = string(types.OCIManifestSchema1)

	// MediaTypeWeight is a raw weights file (safetensors, gguf, ...).
	MediaTypeWeight = "application/vnd.cncf.model.weight.v1.raw"
	// MediaTypeWeightConfig is a raw file that configures the weights:
	// config.json, tokenizer files, other JSON and YAML.
	MediaTypeWeightConfig = "application/vnd.cncf.model.weight.config.v1.raw"
	// MediaTypeDoc is a raw documentation file: README, LICENSE, Markdown.
	MediaTypeDoc = "application/vnd.cncf.model.doc.v1.raw"
	// MediaTypeCode is a raw source file: Python, shell, notebooks.
	MediaTypeCode = "application/vnd.cncf.model.code.v1.raw"
	// MediaTypeDataset is a raw data file: CSV, Parquet, JSON Lines.
	MediaTypeDataset = "application/vnd.cncf.model.dataset.v1.raw"

	// AnnotationFilepath on a layer holds the file's path in the model
	// folder: relative, with forward slashes.
	AnnotationFilepath = "org.cncf.model.filepath"
	// AnnotationTitle on a layer holds the same path, for generic OCI
	// tools (oras pull writes each layer to the file its title names).
	AnnotationTitle = "org.opencontainers.image.title"
	// AnnotationCreated on the manifest holds the creation time (RFC 3339),
	// present only when SOURCE_DATE_EPOCH is set.
	AnnotationCreated = "org.opencontainers.image.created"
	// AnnotationFramework on the manifest holds the training framework
	// (pytorch, jax, ...): ModelPack's config has no field for it.
	AnnotationFramework = "dev.cairn.model.framework"
)

// Config is the ModelPack model config (application/vnd.cncf.model.config.v1+json),
// restricted to the fields Cairn writes. Field names follow
// github.com/modelpack/model-spec's specs-go/v1.
type Config struct {
	Descriptor ModelDescriptor `json:"descriptor"`
	Config     ModelConfig     `json:"config"`
	ModelFS    ModelFS         `json:"modelfs"`
}

// ModelDescriptor is the general information about a model.
type ModelDescriptor struct {
	CreatedAt string `json:"createdAt,omitempty"`
	Family    string `json:"family,omitempty"`
	Name      string `json:"name,omitempty"`
	Version   string `json:"version,omitempty"`
}

// ModelConfig is the technical metadata of a model.
type ModelConfig struct {
	Architecture string `json:"architecture,omitempty"`
	Format       string `json:"format,omitempty"`
	ParamSize    string `json:"paramSize,omitempty"`
	Precision    string `json:"precision,omitempty"`
	Quantization string `json:"quantization,omitempty"`
}

// ModelFS lists the layers' content digests, in layer order.
type ModelFS struct {
	Type    string   `json:"type"`
	DiffIDs []string `json:"diffIds"`
}

// Kinds of files, as Inspect reports them.
const (
	KindWeight       = "weight"
	KindWeightConfig = "weight-config"
	KindDoc          = "doc"
	KindCode         = "code"
	KindDataset      = "dataset"
)

var kindOfMediaType = map[string]string{
	MediaTypeWeight:       KindWeight,
	MediaTypeWeightConfig: KindWeightConfig,
	MediaTypeDoc:          KindDoc,
	MediaTypeCode:         KindCode,
	MediaTypeDataset:      KindDataset,
}

// Kind returns the short name of a layer media type ("weight", "doc", ...),
// or "" for a media type this package does not write.
func Kind(mediaType string) string { return kindOfMediaType[mediaType] }

// Files named exactly so (lower-cased) configure the weights; the list
// covers Hugging Face, sentencepiece and tiktoken layouts.
var weightConfigNames = map[string]bool{
	"config.json": true, "generation_config.json": true, "params.json": true,
	"tokenizer.json": true, "tokenizer_config.json": true, "tokenizer.model": true,
	"special_tokens_map.json": true, "added_tokens.json": true,
	"vocab.json": true, "vocab.txt": true, "merges.txt": true, "spiece.model": true,
	"preprocessor_config.json": true, "processor_config.json": true,
	"chat_template.json": true, "chat_template.jinja": true, "adapter_config.json": true,
}

var codeNames = map[string]bool{
	"requirements.txt": true, "pyproject.toml": true, "setup.cfg": true,
	"dockerfile": true, "makefile": true,
}

// Base names starting so are documentation, whatever their extension.
var docPrefixes = []string{
	"readme", "license", "licence", "notice", "copying", "changelog",
	"authors", "citation", "model_card", "modelcard",
}

var kindOfExt = map[string]string{
	// Configuration of the weights.
	".json": MediaTypeWeightConfig, ".yaml": MediaTypeWeightConfig,
	".yml": MediaTypeWeightConfig, ".toml": MediaTypeWeightConfig,
	".tiktoken": MediaTypeWeightConfig, ".jinja": MediaTypeWeightConfig,
	// Documentation.
	".md": MediaTypeDoc, ".rst": MediaTypeDoc, ".txt": MediaTypeDoc,
	".pdf": MediaTypeDoc, ".html": MediaTypeDoc, ".png": MediaTypeDoc,
	".jpg": MediaTypeDoc, ".jpeg": MediaTypeDoc, ".gif": MediaTypeDoc,
	".svg": MediaTypeDoc,
	// Code.
	".py": MediaTypeCode, ".ipynb": MediaTypeCode, ".sh": MediaTypeCode,
	".go": MediaTypeCode, ".js": MediaTypeCode, ".ts": MediaTypeCode,
	".c": MediaTypeCode, ".cc": MediaTypeCode, ".cpp": MediaTypeCode,
	".h": MediaTypeCode, ".hpp": MediaTypeCode, ".cu": MediaTypeCode,
	".rs": MediaTypeCode, ".java": MediaTypeCode, ".r": MediaTypeCode,
	".jl": MediaTypeCode, ".lua": MediaTypeCode,
	// Datasets.
	".csv": MediaTypeDataset, ".tsv": MediaTypeDataset,
	".parquet": MediaTypeDataset, ".arrow": MediaTypeDataset,
	".jsonl": MediaTypeDataset, ".tfrecord": MediaTypeDataset,
	".avro": MediaTypeDataset, ".feather": MediaTypeDataset,
}

// MediaTypeFor returns the layer media type of the file at p (slash
// separated), from its name alone. The first rule that applies wins:
//
//  1. known weight-config names (config.json, tokenizer.json, merges.txt,
//     tokenizer.model, ...), and index files of sharded weights
//     (*.index.json): weight config;
//  2. known code names (requirements.txt, pyproject.toml, Dockerfile,
//     Makefile): code;
//  3. names starting with README, LICENSE, LICENCE, NOTICE, COPYING,
//     CHANGELOG, AUTHORS, CITATION, MODEL_CARD or MODELCARD: doc;
//  4. the extension: .json .yaml .yml .toml .tiktoken .jinja weight config;
//     .md .rst .txt .pdf .html and images doc; .py .ipynb .sh and other
//     source files code; .csv .tsv .parquet .arrow .jsonl .tfrecord .avro
//     .feather dataset;
//  5. anything else (.safetensors, .gguf, .bin, .pt, .onnx, ...): weight.
//
// Names and extensions are compared without regard to case.
func MediaTypeFor(p string) string {
	base := strings.ToLower(path.Base(p))
	switch {
	case weightConfigNames[base], strings.HasSuffix(base, ".index.json"):
		return MediaTypeWeightConfig
	case codeNames[base]:
		return MediaTypeCode
	}
	for _, prefix := range docPrefixes {
		if strings.HasPrefix(base, prefix) {
			return MediaTypeDoc
		}
	}
	if mt, ok := kindOfExt[path.Ext(base)]; ok {
		return mt
	}
	return MediaTypeWeight
}

// Formats guessed from the extensions of the weight files, when PushOptions
// gives none and all weight files agree.
var formatOfExt = map[string]string{
	".safetensors": "safetensors", ".gguf": "gguf", ".onnx": "onnx",
	".pt": "pytorch", ".pth": "pytorch", ".bin": "pytorch", ".ckpt": "pytorch",
	".h5": "keras", ".keras": "keras", ".pb": "tensorflow", ".tflite": "tflite",
	".msgpack": "flax",
}

// guessFormat returns the format every weight file's extension names, or "".
func guessFormat(files []File) string {
	format := ""
	for _, f := range files {
		if f.MediaType != MediaTypeWeight {
			continue
		}
		got := formatOfExt[strings.ToLower(path.Ext(f.Path))]
		if got == "" || (format != "" && got != format) {
			return ""
		}
		format = got
	}
	return format
}

// sourceDateEpoch returns the time SOURCE_DATE_EPOCH names, or the zero
// time when it is unset.
func sourceDateEpoch() (time.Time, error) {
	s := os.Getenv("SOURCE_DATE_EPOCH")
	if s == "" {
		return time.Time{}, nil
	}
	secs, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return time.Time{}, fmt.Errorf("SOURCE_DATE_EPOCH %q: not a number of seconds", s)
	}
	return time.Unix(secs, 0).UTC(), nil
}

// marshal encodes v as compact JSON without HTML escaping; encoding/json
// sorts map keys, so the bytes depend on the value alone.
func marshal(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

// manifestJSON and descriptorJSON fix the manifest's encoding (field
// order included) here, so that no library upgrade changes a digest.
type manifestJSON struct {
	SchemaVersion int               `json:"schemaVersion"`
	MediaType     string            `json:"mediaType"`
	ArtifactType  string            `json:"artifactType"`
	Config        descriptorJSON    `json:"config"`
	Layers        []descriptorJSON  `json:"layers"`
	Annotations   map[string]string `json:"annotations,omitempty"`
}

type descriptorJSON struct {
	MediaType   string            `json:"mediaType"`
	Digest      string            `json:"digest"`
	Size        int64             `json:"size"`
	Annotations map[string]string `json:"annotations,omitempty"`
}

// modelManifest builds the config and manifest of files, which are sorted
// by path and hashed. It reads no clock: the only time is created, zero
// unless SOURCE_DATE_EPOCH is set.
func modelManifest(files []File, opts *PushOptions, created time.Time) (config, manifest []byte, err error) {
	cfg := Config{
		Descriptor: ModelDescriptor{
			Family:  opts.Family,
			Name:    opts.Name,
			Version: opts.Version,
		},
		Config: ModelConfig{
			Architecture: opts.Architecture,
			Format:       opts.Format,
			ParamSize:    opts.ParamSize,
			Precision:    opts.Precision,
			Quantization: opts.Quantization,
		},
		ModelFS: ModelFS{Type: "layers", DiffIDs: make([]string, len(files))},
	}
	if cfg.Config.Format == "" {
		cfg.Config.Format = guessFormat(files)
	}
	annotations := map[string]string{}
	for k, v := range opts.Annotations {
		annotations[k] = v
	}
	if !created.IsZero() {
		cfg.Descriptor.CreatedAt = created.Format(time.RFC3339)
		annotations[AnnotationCreated] = cfg.Descriptor.CreatedAt
	}
	if opts.Framework != "" {
		annotations[AnnotationFramework] = opts.Framework
	}
	layers := make([]descriptorJSON, len(files))
	for i, f := range files {
		cfg.ModelFS.DiffIDs[i] = f.Digest.String()
		layers[i] = descriptorJSON{
			MediaType:   f.MediaType,
			Digest:      f.Digest.String(),
			Size:        f.Size,
			Annotations: map[string]string{AnnotationFilepath: f.Path, AnnotationTitle: f.Path},
		}
	}
	config, err = marshal(cfg)
	if err != nil {
		return nil, nil, fmt.Errorf("encoding model config: %w", err)
	}
	configDigest, configSize, err := v1.SHA256(bytes.NewReader(config))
	if err != nil {
		return nil, nil, fmt.Errorf("hashing model config: %w", err)
	}
	m := manifestJSON{
		SchemaVersion: 2,
		MediaType:     MediaTypeManifest,
		ArtifactType:  ArtifactType,
		Config: descriptorJSON{
			MediaType: MediaTypeConfig,
			Digest:    configDigest.String(),
			Size:      configSize,
		},
		Layers: layers,
	}
	if len(annotations) > 0 {
		m.Annotations = annotations
	}
	manifest, err = marshal(m)
	if err != nil {
		return nil, nil, fmt.Errorf("encoding manifest: %w", err)
	}
	return config, manifest, nil
}

// parseModel decodes a manifest and checks that it is a model artifact.
func parseModel(raw []byte) (*v1.Manifest, error) {
	var m v1.Manifest
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, fmt.Errorf("decoding manifest: %w", err)
	}
	if m.SchemaVersion != 2 {
		return nil, fmt.Errorf("manifest schemaVersion %d, want 2", m.SchemaVersion)
	}
	if m.MediaType != "" && m.MediaType != types.OCIManifestSchema1 {
		return nil, fmt.Errorf("manifest media type %s is not an OCI image manifest", m.MediaType)
	}
	if m.ArtifactType != ArtifactType && m.Config.MediaType != MediaTypeConfig {
		return nil, fmt.Errorf("not a model artifact: artifactType %q and config media type %q", m.ArtifactType, m.Config.MediaType)
	}
	return &m, nil
}
