//go:build !unix

package executor

import (
	"context"
	"errors"
	"os"

	wfv1 "github.com/argoproj/argo-workflows/v3/pkg/apis/workflow/v1alpha1"
)

var errUnix = errors.New("cairn run needs a Unix system (Linux or macOS): steps run in process groups of their own")

func (r *runner) runProcess(context.Context, string, *step, *os.File) (wfv1.NodePhase, *int, string) {
	return wfv1.NodeError, nil, errUnix.Error()
}

func lockRun(string) (func(), error) { return nil, errUnix }

func becomeSubreaper() {}
