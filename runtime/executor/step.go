package executor

import (
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	wfv1 "github.com/argoproj/argo-workflows/v3/pkg/apis/workflow/v1alpha1"
	corev1 "k8s.io/api/core/v1"

	"cairn.dev/cairn/runtime/expand"
)

// A container step runs on this machine as a process:
//
//   - its command and args, after Argo's substitution, with the container
//     paths the step shares with the executor rewritten to local folders
//     (output parameter folders, secret and empty-dir volume mounts), then
//     Kubernetes' $(VAR) expansion against the container's environment;
//   - a command "cairn" runs the current executable;
//   - in Options.Dir, in a process group of its own, with the container's
//     environment, CAIRN_LOCAL=1, ARGO_NODE_ID (as Argo sets it, one per
//     attempt), and of this environment only what a machine rather than a
//     template provides (hostEnv): a password or credential reaches only
//     the steps whose template asks for it, as on a cluster;
//   - killed, with everything it started, at its deadline, and what is
//     left of it killed when it exits.
//
// The image is recorded, not pulled.

// envNodeID is the variable Argo sets to a pod's node id; locally it is
// the attempt's pod name, and marks the step's processes.
const envNodeID = "ARGO_NODE_ID"

// hostEnv and hostEnvPrefixes name the variables of this environment that
// every step gets, those an image or the machine would provide on a
// cluster: where programs and libraries are (PATH, LD_LIBRARY_PATH), the
// user's home and temporary folder, the locale and time zone, the GPUs to
// use, Open MPI's settings, and Cairn's own settings that are not
// secrets (its cache folder, the reproducible build time). Anything else
// a step needs, its spec gives it.
var (
	hostEnv = map[string]bool{
		"PATH": true, "HOME": true, "USER": true, "LOGNAME": true, "SHELL": true, "TMPDIR": true,
		"TZ": true, "LANG": true, "LANGUAGE": true, "LD_LIBRARY_PATH": true, "XDG_CACHE_HOME": true,
		"CUDA_VISIBLE_DEVICES": true, "CAIRN_CACHE_DIR": true, "SOURCE_DATE_EPOCH": true,
	}
	hostEnvPrefixes = []string{"LC_", "OMPI_MCA_", "PRTE_MCA_"}
)

// fromHost reports whether a variable of this environment reaches steps.
func fromHost(name string) bool {
	if hostEnv[name] {
		return true
	}
	for _, p := range hostEnvPrefixes {
		if strings.HasPrefix(name, p) {
			return true
		}
	}
	return false
}

// secretEnvAliases are the variables of this environment, in order, that
// stand for a template's secretKeyRef variable of another name: the
// signing key's password, COSIGN_PASSWORD in the template, is
// CAIRN_PASSWORD first, as cairn sign reads it.
var secretEnvAliases = map[string][]string{"COSIGN_PASSWORD": {"CAIRN_PASSWORD", "COSIGN_PASSWORD"}}

// step is one attempt's program, ready to run.
type step struct {
	image    string
	argv     []string // as the program sees it; argv[0] as written
	path     string   // the executable
	env      []string // the process environment
	nodeID   string   // ARGO_NODE_ID, set by the attempt
	deadline time.Duration
	// deadlineFrom says where the deadline comes from, for messages.
	deadlineFrom string
	outputs      []outputFile
	dirs         []string // folders to create before the run
	notes        []string // logged before the run
}

// outputFile is an output parameter read from a file the step writes.
type outputFile struct {
	name  string
	path  string // in the container
	local string // on this machine
	def   *wfv1.AnyString
}

// rewrite maps a container path to a local one.
type rewrite struct{ from, to string }

// container describes what a step runs, from a container template or an
// MPIJob's launcher.
type container struct {
	c       *corev1.Container
	volumes []corev1.Volume
}

// volumesOf returns the volumes a container template can mount: its own,
// then the workflow's.
func (r *runner) volumesOf(tmpl *wfv1.Template) []corev1.Volume {
	return append(append([]corev1.Volume(nil), tmpl.Volumes...), r.wft.Spec.Volumes...)
}

// checkContainer checks, before anything runs, that a container can run
// here: its volumes map to local folders and its environment has no source
// this executor cannot read.
func (r *runner) checkContainer(task string, c container) error {
	if len(c.c.Command) == 0 {
		return fmt.Errorf("step %s has no command: the image's entrypoint cannot run locally; give the container a command", task)
	}
	if len(c.c.EnvFrom) > 0 {
		return fmt.Errorf("step %s: envFrom is not supported locally", task)
	}
	for _, m := range c.c.VolumeMounts {
		if _, err := r.mountDir(task, m, c.volumes, ""); err != nil {
			return err
		}
	}
	// A program looked up in PATH must be there; one named by a path may
	// be made by an earlier step.
	if prog := c.c.Command[0]; prog != "cairn" && !strings.ContainsAny(prog, "/{$") {
		if _, err := lookPath(prog, r.baseEnv["PATH"], r.opts.Dir); err != nil {
			return fmt.Errorf("step %s runs %s, which is not on PATH here", task, prog)
		}
	}
	return nil
}

// mountDir returns the local folder standing for a volume mount: the
// folder given for a secret, or one under the task's root for an empty
// dir.
func (r *runner) mountDir(task string, m corev1.VolumeMount, volumes []corev1.Volume, root string) (string, error) {
	for _, v := range volumes {
		if v.Name != m.Name {
			continue
		}
		switch {
		case v.Secret != nil:
			dir, ok := r.opts.Secrets[v.Secret.SecretName]
			if !ok {
				return "", fmt.Errorf("step %s mounts secret %s at %s, which is not mapped to a local folder: pass --secret %s=DIR", task, v.Secret.SecretName, m.MountPath, v.Secret.SecretName)
			}
			if m.SubPath != "" {
				dir = filepath.Join(dir, m.SubPath)
			}
			return dir, nil
		case v.EmptyDir != nil:
			return filepath.Join(root, filepath.FromSlash(m.MountPath)), nil
		default:
			return "", fmt.Errorf("step %s mounts volume %s at %s; only secret and emptyDir volumes can be mounted locally", task, m.Name, m.MountPath)
		}
	}
	return "", fmt.Errorf("step %s mounts volume %s, which neither the template nor the workflow declares", task, m.Name)
}

// prepareContainer turns a substituted container into a step: root is the
// task's container root for this attempt.
func (r *runner) prepareContainer(task string, c container, outputs []wfv1.Parameter, root string) (*step, error) {
	s := &step{image: c.c.Image}
	var rws []rewrite
	for _, p := range outputs {
		if p.ValueFrom == nil || p.ValueFrom.Path == "" {
			continue
		}
		cp := path.Clean(p.ValueFrom.Path)
		if !path.IsAbs(cp) {
			return nil, fmt.Errorf("output parameter %s: path %q is not absolute", p.Name, p.ValueFrom.Path)
		}
		local := filepath.Join(root, filepath.FromSlash(cp))
		s.outputs = append(s.outputs, outputFile{name: p.Name, path: cp, local: local, def: p.ValueFrom.Default})
		if dir := path.Dir(cp); dir != "/" {
			rws = append(rws, rewrite{dir, filepath.Join(root, filepath.FromSlash(dir))})
		}
		s.dirs = append(s.dirs, filepath.Dir(local))
	}
	for _, m := range c.c.VolumeMounts {
		dir, err := r.mountDir(task, m, c.volumes, root)
		if err != nil {
			return nil, err
		}
		rws = append(rws, rewrite{path.Clean(m.MountPath), dir})
		if strings.HasPrefix(dir, root+string(filepath.Separator)) {
			s.dirs = append(s.dirs, dir)
		}
		s.notes = append(s.notes, fmt.Sprintf("volume %s at %s is %s", m.Name, m.MountPath, dir))
	}
	sort.SliceStable(rws, func(i, j int) bool { return len(rws[i].from) > len(rws[j].from) })

	resolve := func(e corev1.EnvVar) (string, bool) {
		v, ok, note := r.envSource(e)
		if note != "" {
			s.notes = append(s.notes, note)
		}
		return v, ok
	}
	env := make([]corev1.EnvVar, len(c.c.Env))
	for i, e := range c.c.Env {
		e.Value = rewritePaths(e.Value, rws)
		env[i] = e
	}
	vars, names := expand.Env(env, resolve)
	cmd := make([]string, 0, len(c.c.Command)+len(c.c.Args))
	for _, a := range append(append([]string(nil), c.c.Command...), c.c.Args...) {
		cmd = append(cmd, rewritePaths(a, rws))
	}
	s.argv = expand.Command(cmd, nil, vars)

	// Folders inside the run that the step names get their parent created,
	// as object stores need no folders.
	for _, v := range append(append([]string(nil), s.argv[1:]...), mapValues(vars, names)...) {
		if p, ok := r.underRun(v); ok {
			s.dirs = append(s.dirs, filepath.Dir(p))
		}
	}
	s.env = r.processEnv(vars, names)
	return s, nil
}

// envSource gives the value of an environment variable with a source: a
// secret key comes from the same-named variable of this process's
// environment (or its alias, secretEnvAliases), else from <secret
// folder>/<key> when the secret is mapped and the file exists; otherwise
// the variable is left unset, with a note.
func (r *runner) envSource(e corev1.EnvVar) (value string, ok bool, note string) {
	src := e.ValueFrom
	switch {
	case src.SecretKeyRef != nil:
		ref := src.SecretKeyRef
		names := secretEnvAliases[e.Name]
		if names == nil {
			names = []string{e.Name}
		}
		for _, n := range names {
			if v, ok := r.baseEnv[n]; ok {
				return v, true, fmt.Sprintf("%s: from %s of this environment (secret %s, key %s)", e.Name, n, ref.Name, ref.Key)
			}
		}
		if dir, ok := r.opts.Secrets[ref.Name]; ok {
			data, err := os.ReadFile(filepath.Join(dir, ref.Key))
			if err == nil {
				return string(data), true, fmt.Sprintf("%s: from %s", e.Name, filepath.Join(dir, ref.Key))
			}
			return "", false, fmt.Sprintf("%s: left unset: secret %s, key %s: %s is missing and %s is not set here", e.Name, ref.Name, ref.Key, filepath.Join(dir, ref.Key), strings.Join(names, " or "))
		}
		return "", false, fmt.Sprintf("%s: left unset: secret %s, key %s: set %s, or pass --secret %s=DIR holding %s", e.Name, ref.Name, ref.Key, strings.Join(names, " or "), ref.Name, ref.Key)
	case src.ConfigMapKeyRef != nil:
		if v, ok := r.baseEnv[e.Name]; ok {
			return v, true, ""
		}
		return "", false, fmt.Sprintf("%s: left unset: config map %s, key %s, cannot be read locally; set %s", e.Name, src.ConfigMapKeyRef.Name, src.ConfigMapKeyRef.Key, e.Name)
	case src.FieldRef != nil:
		switch src.FieldRef.FieldPath {
		case "metadata.namespace":
			return r.wft.Namespace, true, ""
		case "metadata.name":
			return r.state.WorkflowName, true, ""
		}
		if v, ok := r.baseEnv[e.Name]; ok {
			return v, true, ""
		}
		return "", false, fmt.Sprintf("%s: left unset: field %s has no local value", e.Name, src.FieldRef.FieldPath)
	}
	if v, ok := r.baseEnv[e.Name]; ok {
		return v, true, ""
	}
	return "", false, fmt.Sprintf("%s: left unset: its source has no local value", e.Name)
}

// processEnv is the environment of a step's process: the variables of
// this process's environment that every step gets (fromHost), then the
// container's variables, then CAIRN_LOCAL=1.
func (r *runner) processEnv(vars map[string]string, names []string) []string {
	set := map[string]bool{"CAIRN_LOCAL": true, envNodeID: true}
	for _, n := range names {
		set[n] = true
	}
	var env []string
	for _, kv := range r.opts.Env {
		k, _, _ := strings.Cut(kv, "=")
		if !set[k] && fromHost(k) {
			env = append(env, kv)
		}
	}
	for _, n := range names {
		env = append(env, n+"="+vars[n])
	}
	return append(env, "CAIRN_LOCAL=1")
}

// executable resolves a step's program: "cairn" is this executable;
// a bare name is looked up in the step's PATH.
func (r *runner) executable(argv []string, env []string) (string, error) {
	name := argv[0]
	if name == "cairn" {
		return r.opts.Self, nil
	}
	return lookPath(name, envValue(env, "PATH"), r.opts.Dir)
}

// lookPath finds a program as a container runtime does: a name with a
// slash is a path (relative to dir), a bare name is searched in pathList.
func lookPath(name, pathList, dir string) (string, error) {
	if strings.Contains(name, "/") {
		p := name
		if !filepath.IsAbs(p) {
			p = filepath.Join(dir, p)
		}
		if err := isExecutable(p); err != nil {
			return "", err
		}
		return p, nil
	}
	for _, d := range filepath.SplitList(pathList) {
		if d == "" {
			d = "."
		}
		if !filepath.IsAbs(d) {
			d = filepath.Join(dir, d)
		}
		p := filepath.Join(d, name)
		if isExecutable(p) == nil {
			return p, nil
		}
	}
	return "", fmt.Errorf("%s: executable file not found in $PATH", name)
}

func isExecutable(p string) error {
	fi, err := os.Stat(p)
	if err != nil {
		return err
	}
	if fi.IsDir() || fi.Mode()&0o111 == 0 {
		return fmt.Errorf("%s: not an executable file", p)
	}
	return nil
}

func envValue(env []string, name string) string {
	for i := len(env) - 1; i >= 0; i-- {
		if k, v, _ := strings.Cut(env[i], "="); k == name {
			return v
		}
	}
	return ""
}

func mapValues(vars map[string]string, names []string) []string {
	out := make([]string, 0, len(names))
	for _, n := range names {
		out = append(out, vars[n])
	}
	return out
}

// underRun reports whether s is a path strictly inside the run folder.
func (r *runner) underRun(s string) (string, bool) {
	if !filepath.IsAbs(s) {
		return "", false
	}
	p := filepath.Clean(s)
	if strings.HasPrefix(p, r.dir+string(filepath.Separator)) {
		return p, true
	}
	return "", false
}

// rewritePaths replaces each container path of rws in s by its local
// folder, where it stands as a path of its own: not preceded by a path
// character, and followed by the end, a "/" or something other than a
// file name character. It scans once, so a replacement is never
// rewritten again.
func rewritePaths(s string, rws []rewrite) string {
	if len(rws) == 0 {
		return s
	}
	var b strings.Builder
	i := 0
outer:
	for i < len(s) {
		if i == 0 || !isPathByte(s[i-1]) && s[i-1] != '/' {
			for _, rw := range rws {
				if strings.HasPrefix(s[i:], rw.from) {
					end := i + len(rw.from)
					if end == len(s) || !isPathByte(s[end]) {
						b.WriteString(rw.to)
						i = end
						continue outer
					}
				}
			}
		}
		b.WriteByte(s[i])
		i++
	}
	return b.String()
}

func isPathByte(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '.' || c == '_' || c == '-'
}

// readOutputs reads a finished step's output parameters as Argo's
// executor does: the file's content less one trailing newline, or the
// parameter's default when the file is missing.
func readOutputs(s *step) (map[string]string, error) {
	if len(s.outputs) == 0 {
		return nil, nil
	}
	out := map[string]string{}
	for _, o := range s.outputs {
		data, err := os.ReadFile(o.local)
		switch {
		case err == nil:
			out[o.name] = strings.TrimSuffix(string(data), "\n")
		case o.def != nil:
			out[o.name] = o.def.String()
		case errors.Is(err, os.ErrNotExist):
			return nil, fmt.Errorf("output parameter %s: the step did not write %s (locally %s)", o.name, o.path, o.local)
		default:
			return nil, fmt.Errorf("output parameter %s: %w", o.name, err)
		}
	}
	return out, nil
}

// deadlineOf returns a template's deadline: the smaller of
// activeDeadlineSeconds and timeout, 0 for none.
func deadlineOf(tmpl *wfv1.Template) (time.Duration, string, error) {
	var d time.Duration
	var from string
	if ads := tmpl.ActiveDeadlineSeconds; ads != nil {
		n, err := strconv.Atoi(ads.String())
		if err != nil || n < 0 {
			return 0, "", fmt.Errorf("activeDeadlineSeconds %q is not a number of seconds", ads.String())
		}
		if n > 0 {
			d, from = time.Duration(n)*time.Second, fmt.Sprintf("activeDeadlineSeconds %d", n)
		}
	}
	if tmpl.Timeout != "" {
		t, err := wfv1.ParseStringToDuration(tmpl.Timeout)
		if err != nil {
			return 0, "", fmt.Errorf("timeout: %w", err)
		}
		if t > 0 && (d == 0 || t < d) {
			d, from = t, "timeout "+tmpl.Timeout
		}
	}
	return d, from, nil
}
