package executor

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	wfv1 "github.com/argoproj/argo-workflows/v3/pkg/apis/workflow/v1alpha1"
)

// A run folder, <RunRoot>/<run id>/, holds:
//
//	run.json              the run's state, rewritten atomically on every change
//	logs/<task>.log       each task's output, attempts one after another
//	tasks/<task>/root/    the task's container filesystem root, for output
//	                      parameter files and empty-dir volumes
//
// and whatever the steps write there themselves: the run-root workflow
// parameter points at RunRoot, so "{{workflow.parameters.run-root}}/
// {{workflow.uid}}" is the run folder.
const (
	stateFile = "run.json"
	lockFile  = ".lock"
	logsDir   = "logs"
	tasksDir  = "tasks"
	// stateVersion is the layout of run.json.
	stateVersion = 1
)

// runState is run.json.
type runState struct {
	Version int `json:"version"`
	// ID is the run id, also {{workflow.uid}}.
	ID string `json:"id"`
	// Namespace and Pipeline name the WorkflowTemplate.
	Namespace string `json:"namespace"`
	Pipeline  string `json:"pipeline"`
	// WorkflowName is {{workflow.name}}.
	WorkflowName string `json:"workflowName"`
	// TemplateDigest is the sha256 of the template's spec as it ran.
	TemplateDigest string `json:"templateDigest"`
	// Created is {{workflow.creationTimestamp}}, kept when resumed.
	Created time.Time `json:"created"`
	// Started and Finished bound the latest execution (a resumed run's
	// last one).
	Started  time.Time  `json:"started"`
	Finished *time.Time `json:"finished,omitempty"`
	// From is the task the latest execution resumed from, if any.
	From string `json:"from,omitempty"`
	// Status is Running, Succeeded or Failed.
	Status  wfv1.NodePhase `json:"status"`
	Message string         `json:"message,omitempty"`
	// Parameters are the workflow parameters the run used.
	Parameters map[string]string     `json:"parameters"`
	Tasks      map[string]*taskState `json:"tasks"`
}

// taskState is one task in run.json.
type taskState struct {
	Status  wfv1.NodePhase `json:"status"`
	Message string         `json:"message,omitempty"`
	// Image is the container image the step names; it is not pulled.
	Image    string         `json:"image,omitempty"`
	Attempts []attemptState `json:"attempts,omitempty"`
	ExitCode *int           `json:"exitCode,omitempty"`
	// Outputs are the output parameters, by name.
	Outputs  map[string]string `json:"outputs,omitempty"`
	Started  *time.Time        `json:"started,omitempty"`
	Finished *time.Time        `json:"finished,omitempty"`
	// Log is the task's log file, relative to the run folder.
	Log string `json:"log,omitempty"`
	// Kept marks a task whose result was kept from an earlier execution
	// of the run (--from).
	Kept bool `json:"kept,omitempty"`
}

// attemptState is one attempt of a task.
type attemptState struct {
	Started  time.Time      `json:"started"`
	Finished *time.Time     `json:"finished,omitempty"`
	Status   wfv1.NodePhase `json:"status"`
	ExitCode *int           `json:"exitCode,omitempty"`
	Message  string         `json:"message,omitempty"`
}

// newRunID returns a run id that sorts by time and is unique:
// 20261127T051500Z-3f9a1c.
func newRunID(now time.Time) string {
	var b [3]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(err) // crypto/rand does not fail on supported systems
	}
	return now.UTC().Format("20060102T150405Z") + "-" + hex.EncodeToString(b[:])
}

// checkRunID refuses ids that are not a single folder name.
func checkRunID(id string) error {
	if id == "" || id == "." || id == ".." || strings.ContainsAny(id, `/\`) || strings.HasPrefix(id, ".") {
		return fmt.Errorf("run id %q: want a folder name such as 20261127T051500Z-3f9a1c", id)
	}
	return nil
}

// templateDigest is the sha256 of the JSON of a template's spec: what
// runs, without the labels and annotations that change with each commit.
func templateDigest(wft *wfv1.WorkflowTemplate) (string, error) {
	data, err := json.Marshal(wft.Spec)
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256(data)
	return "sha256:" + hex.EncodeToString(sum[:]), nil
}

// readState reads a run folder's run.json.
func readState(dir string) (*runState, error) {
	data, err := os.ReadFile(filepath.Join(dir, stateFile))
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("%s is not a run folder: it holds no %s", dir, stateFile)
		}
		return nil, err
	}
	var st runState
	if err := json.Unmarshal(data, &st); err != nil {
		return nil, fmt.Errorf("reading %s: %w", filepath.Join(dir, stateFile), err)
	}
	if st.Version != stateVersion {
		return nil, fmt.Errorf("%s: layout version %d, this cairn reads version %d", filepath.Join(dir, stateFile), st.Version, stateVersion)
	}
	if st.Tasks == nil {
		st.Tasks = map[string]*taskState{}
	}
	return &st, nil
}

// writeState writes run.json atomically: a temporary file in the same
// folder, synced, then renamed over the old one.
func writeState(dir string, st *runState) error {
	data, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return err
	}
	f, err := os.CreateTemp(dir, ".run.json-*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	_, err = f.Write(append(data, '\n'))
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, filepath.Join(dir, stateFile))
	}
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("writing %s: %w", filepath.Join(dir, stateFile), err)
	}
	return nil
}

// latestRun returns the id of the newest run of a pipeline under root.
func latestRun(root, namespace, pipeline string) (string, error) {
	ents, err := os.ReadDir(root)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return "", err
	}
	var ids []string
	for _, e := range ents {
		if e.IsDir() && !strings.HasPrefix(e.Name(), ".") {
			ids = append(ids, e.Name())
		}
	}
	sort.Sort(sort.Reverse(sort.StringSlice(ids)))
	for _, id := range ids {
		st, err := readState(filepath.Join(root, id))
		if err != nil {
			continue
		}
		if st.Namespace == namespace && st.Pipeline == pipeline {
			return id, nil
		}
	}
	return "", fmt.Errorf("no run of pipeline %s/%s under %s to resume: run it without --from first", namespace, pipeline, root)
}
