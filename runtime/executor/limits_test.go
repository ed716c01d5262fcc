package executor

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	wfv1 "github.com/argoproj/argo-workflows/v3/pkg/apis/workflow/v1alpha1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// daemon is shell that starts sleep 1000 in a session of its own, its
// parent gone at once (as a daemon leaves its parent), and waits until its
// pid is in file.
func daemon(file string) string {
	return fmt.Sprintf(`setsid sh -c 'sleep 1000 & echo $! > %[1]s.tmp; mv %[1]s.tmp %[1]s'; until [ -s %[1]s ]; do sleep 0.02; done;`, file)
}

// readPid reads a pid a step wrote.
func (e *env) readPid(file string) int {
	e.t.Helper()
	pid, err := strconv.Atoi(strings.TrimSpace(e.read(file)))
	if err != nil {
		e.t.Fatal(err)
	}
	return pid
}

// wantReaped fails unless a process is gone, reaped too, within a few
// seconds.
func wantReaped(t *testing.T, what string, pid int) {
	t.Helper()
	for i := 0; i < 100; i++ {
		if err := syscall.Kill(pid, 0); errors.Is(err, syscall.ESRCH) {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	syscall.Kill(pid, syscall.SIGKILL)
	t.Errorf("process %d (%s) outlived its step, or was left a zombie", pid, what)
}

// TestDetachedDescendants: whatever a step started is killed when the step
// ends, as a container's end kills everything in it, even a process that
// made a session of its own and left its parent.
func TestDetachedDescendants(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("finding detached descendants needs Linux's /proc and child subreapers")
	}
	if _, err := exec.LookPath("setsid"); err != nil {
		t.Skip("setsid is not on PATH")
	}
	one := intstr.FromInt(1)
	for _, tt := range []struct {
		name, script string
		deadline     bool
	}{
		{"deadline", daemon("daemon.pid") + " sleep 60", true},
		{"exit", daemon("daemon.pid") + " exit 0", false},
		// Its environment cleared, the daemon has no mark of the step: it
		// goes with the step all the same, no other step running.
		{"cleared", `setsid env -i sh -c 'sleep 1000 & echo $! > daemon.pid.tmp; mv daemon.pid.tmp daemon.pid'; until [ -s daemon.pid ]; do sleep 0.02; done`, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			tmpl := sh("s", tt.script)
			if tt.deadline {
				tmpl.ActiveDeadlineSeconds = &one
			}
			res := e.run(newWFT([]wfv1.DAGTask{task("s", "")}, tmpl))
			s := taskOf(t, res, "s")
			if tt.deadline != (s.Status == wfv1.NodeFailed) {
				t.Errorf("s: %s (%s)", s.Status, s.Message)
			}
			wantReaped(t, "the step's detached daemon", e.readPid("daemon.pid"))
		})
	}
}

// TestDetachedOtherStep: a step's end kills its own detached processes,
// not those of a step still running.
func TestDetachedOtherStep(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("finding detached descendants needs Linux's /proc and child subreapers")
	}
	if _, err := exec.LookPath("setsid"); err != nil {
		t.Skip("setsid is not on PATH")
	}
	e := newEnv(t)
	a := sh("a", daemon("a.pid")+` until [ -s b.pid ]; do sleep 0.02; done`)
	// b waits until a's daemon is gone (10s at most), then checks its own
	// is alive.
	b := sh("b", daemon("b.pid")+` n=0; while kill -0 $(cat a.pid) 2>/dev/null && [ $n -lt 500 ]; do sleep 0.02; n=$((n+1)); done; kill -0 $(cat b.pid) && echo alive > b.alive`)
	res := e.run(newWFT([]wfv1.DAGTask{task("a", ""), task("b", "")}, a, b))
	wantStatus(t, res, map[string]wfv1.NodePhase{"a": wfv1.NodeSucceeded, "b": wfv1.NodeSucceeded})
	if got, _ := os.ReadFile(e.dir + "/b.alive"); string(got) != "alive\n" {
		t.Errorf("b's daemon did not outlive a: %q", got)
	}
	wantReaped(t, "a's daemon", e.readPid("a.pid"))
	wantReaped(t, "b's daemon", e.readPid("b.pid"))
}

// TestStepEnvironment: a step gets a few variables of this environment
// (the PATH, HOME, locale, temporary folder and Cairn's own settings) and
// what its template gives it; a password or credential of this
// environment reaches only the step whose template asks for it.
func TestStepEnvironment(t *testing.T) {
	e := newEnv(t)
	keys := e.dir + "/keys"
	os.MkdirAll(keys, 0o755)
	os.WriteFile(keys+"/cosign.password", []byte("from-file"), 0o600)
	e.opts.Secrets = map[string]string{"cairn-signing-key": keys}
	train := sh("train", `env > train.env`)
	pack := sh("pack", `env > pack.env`)
	pack.Container.VolumeMounts = []corev1.VolumeMount{{Name: "signing-key", MountPath: "/var/run/cairn/signing", ReadOnly: true}}
	pack.Container.Env = []corev1.EnvVar{
		{Name: "COSIGN_PASSWORD", ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: "cairn-signing-key"}, Key: "cosign.password"}}},
	}
	wft := newWFT([]wfv1.DAGTask{task("train", ""), task("pack", "train")}, train, pack)
	wft.Spec.Volumes = []corev1.Volume{{Name: "signing-key", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: "cairn-signing-key"}}}}

	host := []string{"PATH=" + os.Getenv("PATH"), "HOME=/home/me", "TMPDIR=" + e.dir, "LANG=C.UTF-8", "LC_ALL=C", "CAIRN_CACHE_DIR=off"}
	secret := []string{"CAIRN_PASSWORD=s3cret", "COSIGN_PASSWORD=cosign-pw", "AWS_SECRET_ACCESS_KEY=aws-key", "GOOGLE_APPLICATION_CREDENTIALS=/creds.json", "SOME_TOOL_TOKEN=tok"}
	e.opts.Env = append(append([]string(nil), host...), secret...)
	res := e.run(wft)
	if !res.Succeeded() {
		t.Fatalf("run %s: %+v", res.Status, res.Tasks)
	}
	envOf := func(file string) map[string]string {
		m := map[string]string{}
		for _, line := range strings.Split(e.read(file), "\n") {
			if k, v, ok := strings.Cut(line, "="); ok {
				m[k] = v
			}
		}
		return m
	}
	trainEnv, packEnv := envOf("train.env"), envOf("pack.env")
	for _, kv := range append(host, "CAIRN_LOCAL=1") {
		k, v, _ := strings.Cut(kv, "=")
		if trainEnv[k] != v || packEnv[k] != v {
			t.Errorf("%s: train has %q, pack %q, want %q", k, trainEnv[k], packEnv[k], v)
		}
	}
	for _, kv := range secret {
		k, _, _ := strings.Cut(kv, "=")
		if v, ok := trainEnv[k]; ok {
			t.Errorf("train, a user step, got %s=%s from this environment", k, v)
		}
		if v, ok := packEnv[k]; ok && k != "COSIGN_PASSWORD" {
			t.Errorf("pack got %s=%s from this environment", k, v)
		}
	}
	// The template's COSIGN_PASSWORD is the key's password: CAIRN_PASSWORD
	// first, as cairn sign reads it, then COSIGN_PASSWORD, then the file.
	if got := packEnv["COSIGN_PASSWORD"]; got != "s3cret" {
		t.Errorf("pack: COSIGN_PASSWORD %q, want CAIRN_PASSWORD's s3cret", got)
	}
	if trainEnv["ARGO_NODE_ID"] == "" || trainEnv["ARGO_NODE_ID"] == packEnv["ARGO_NODE_ID"] {
		t.Errorf("ARGO_NODE_ID: train %q, pack %q, want one of its own each", trainEnv["ARGO_NODE_ID"], packEnv["ARGO_NODE_ID"])
	}

	for _, tt := range []struct {
		env  []string
		want string
	}{
		{[]string{"COSIGN_PASSWORD=cosign-pw"}, "cosign-pw"},
		{nil, "from-file"},
	} {
		e.opts.Env = append(append([]string(nil), host...), tt.env...)
		e.run(wft)
		if got := envOf("pack.env")["COSIGN_PASSWORD"]; got != tt.want {
			t.Errorf("with %q: pack's COSIGN_PASSWORD %q, want %q", tt.env, got, tt.want)
		}
	}
}

// TestCappedLog writes output in pieces of many sizes through the cap and
// checks the log against what it should keep: the head, the marker line
// with the count dropped, the tail; never more than the head and twice the
// tail on the way.
func TestCappedLog(t *testing.T) {
	const limit = 4096
	var out []byte
	for i := 0; len(out) < 50000; i++ {
		out = append(out, fmt.Sprintf("line %d\n", i)...)
	}
	for _, tt := range []struct {
		name  string
		total int // of out, written
		piece int
	}{
		{"under", 4000, 7},
		{"exactly", limit, 4096},
		{"one over", limit + 1, 1},
		{"small pieces", 50000, 13},
		{"large pieces", 50000, 10000},
		{"one piece", 50000, 50000},
		{"just past a drop", 1024 + 2*3072 + 5, 100},
	} {
		t.Run(tt.name, func(t *testing.T) {
			f, err := os.OpenFile(t.TempDir()+"/log", os.O_CREATE|os.O_RDWR, 0o644)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			f.WriteString("==> header\n")
			c, err := newCappedLog(f, limit)
			if err != nil {
				t.Fatal(err)
			}
			data := out[:tt.total]
			for i := 0; i < len(data); i += tt.piece {
				c.Write(data[i:min(i+tt.piece, len(data))])
				if fi, _ := f.Stat(); fi.Size() > 11+1024+2*3072+200 {
					t.Fatalf("after %d bytes the log holds %d", i+tt.piece, fi.Size())
				}
			}
			if err := c.finish(); err != nil {
				t.Fatal(err)
			}
			f.WriteString("==> footer\n")
			got, _ := os.ReadFile(f.Name())
			want := "==> header\n" + string(data)
			if len(data) > limit {
				head, tail := data[:1024], data[len(data)-3072:]
				nl := ""
				if head[len(head)-1] != '\n' {
					nl = "\n"
				}
				want = fmt.Sprintf("==> header\n%s%s==> %d bytes of output dropped here: the log keeps the first 1 KiB and the last 3 KiB of each attempt's output (cairn run --log-limit)\n%s",
					head, nl, len(data)-limit, tail)
			}
			want += "==> footer\n"
			if string(got) != want {
				t.Errorf("log:\n%s\nwant:\n%s", got, want)
			}
		})
	}
}

// TestLogLimit: a step writing far more than the limit leaves a log of
// about the limit, its output's start and end kept.
func TestLogLimit(t *testing.T) {
	e := newEnv(t)
	e.opts.LogLimit = 64 << 10
	res := e.run(newWFT([]wfv1.DAGTask{task("chatty", "")}, sh("chatty", `echo FIRST-LINE; i=0; while [ $i -lt 2000 ]; do echo "line $i of a step that says too much, on stdout"; echo "line $i on stderr" >&2; i=$((i+1)); done; yes filler | head -c 5000000; echo LAST-LINE`)))
	tr := taskOf(t, res, "chatty")
	if tr.Status != wfv1.NodeSucceeded {
		t.Fatalf("chatty: %s (%s)", tr.Status, tr.Message)
	}
	log := logOf(t, tr)
	if len(log) > 64<<10+2048 {
		t.Errorf("the log holds %d bytes, past the limit of %d", len(log), 64<<10)
	}
	for _, want := range []string{"\nFIRST-LINE\nline 0 of a step", "LAST-LINE\n==> chatty: attempt 1 succeeded"} {
		if !strings.Contains(log, want) {
			t.Errorf("the log lacks %q", want)
		}
	}
	if !regexp.MustCompile(`\n==> \d+ bytes of output dropped here: the log keeps the first 16 KiB and the last 48 KiB of each attempt's output`).MatchString(log) {
		t.Errorf("the log has no line saying what was dropped:\n%.2000s", log)
	}
	e.opts.LogLimit = 100
	if _, err := Run(context.Background(), newWFT([]wfv1.DAGTask{task("chatty", "")}, sh("chatty", "true")), e.opts); err == nil || !strings.Contains(err.Error(), "log limit 100 bytes: want at least 4 KiB") {
		t.Errorf("a limit of 100 bytes: error %v", err)
	}
}
