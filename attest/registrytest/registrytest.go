// Package registrytest starts OCI registry servers for tests: Debian's
// docker-registry (the CNCF distribution registry), on a free loopback
// port, with its storage in a temporary folder and no auth, and
// go-containerregistry's in-process registry, which can be slowed down.
package registrytest

import (
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/registry"
)

// Binary is the registry server's command.
const Binary = "docker-registry"

// RequireEnv, when set to 1 (as .ci/run does), makes a missing server a
// test failure instead of a skip.
const RequireEnv = "CAIRN_REQUIRE_REGISTRY"

// Server is a running registry.
type Server struct {
	// Host is "127.0.0.1:PORT".
	Host string

	t       testing.TB
	bin     string
	config  string
	cmd     *exec.Cmd
	logFile string
}

// Start starts a registry for the test and stops it when the test ends.
// Without the server installed the test is skipped, or fails when
// CAIRN_REQUIRE_REGISTRY=1.
func Start(t testing.TB) *Server {
	t.Helper()
	bin, err := exec.LookPath(Binary)
	if err != nil {
		if os.Getenv(RequireEnv) == "1" {
			t.Fatalf("%s is not installed (apt-get install -y docker-registry), and %s=1", Binary, RequireEnv)
		}
		t.Skipf("%s is not installed (apt-get install -y docker-registry); set %s=1 to fail instead", Binary, RequireEnv)
	}
	dir := t.TempDir()
	port, err := freePort()
	if err != nil {
		t.Fatal(err)
	}
	s := &Server{
		Host:    fmt.Sprintf("127.0.0.1:%d", port),
		t:       t,
		bin:     bin,
		config:  filepath.Join(dir, "config.yml"),
		logFile: filepath.Join(dir, "registry.log"),
	}
	config := fmt.Sprintf(`version: 0.1
log:
  level: warn
storage:
  filesystem:
    rootdirectory: %s
  delete:
    enabled: true
http:
  addr: %s
`, filepath.Join(dir, "storage"), s.Host)
	if err := os.WriteFile(s.config, []byte(config), 0o644); err != nil {
		t.Fatal(err)
	}
	s.Restart()
	t.Cleanup(s.Stop)
	return s
}

// Restart starts the server again, on the same port and storage, after
// Stop.
func (s *Server) Restart() {
	s.t.Helper()
	log, err := os.OpenFile(s.logFile, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		s.t.Fatal(err)
	}
	defer log.Close()
	s.cmd = exec.Command(s.bin, "serve", s.config)
	s.cmd.Stdout, s.cmd.Stderr = log, log
	if err := s.cmd.Start(); err != nil {
		s.t.Fatalf("starting %s: %v", Binary, err)
	}
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		resp, err := http.Get("http://" + s.Host + "/v2/")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	data, _ := os.ReadFile(s.logFile)
	s.Stop()
	s.t.Fatalf("%s did not answer on %s within 15s; its log:\n%s", Binary, s.Host, data)
}

// Stop kills the server at once, as a crash would.
func (s *Server) Stop() {
	if s.cmd == nil || s.cmd.Process == nil {
		return
	}
	s.cmd.Process.Kill()
	s.cmd.Wait()
	s.cmd = nil
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// InProcess starts go-containerregistry's in-process registry
// (pkg/registry: manifests and blobs in memory) on a loopback port for the
// test, stops it when the test ends, and returns its host
// ("127.0.0.1:PORT"). wrap, when not nil, wraps its handler, to slow or
// break requests.
func InProcess(t testing.TB, wrap func(http.Handler) http.Handler) string {
	t.Helper()
	var h http.Handler = registry.New(registry.Logger(log.New(io.Discard, "", 0)))
	if wrap != nil {
		h = wrap(h)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return strings.TrimPrefix(srv.URL, "http://")
}

// Throttle wraps a registry handler so that blob downloads (GET
// /v2/.../blobs/<digest>) are sent at about rate bytes per second, in
// chunks of at most 64 KiB, to keep a transfer running long enough for a
// test to interrupt it.
func Throttle(h http.Handler, rate int64) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodGet && strings.Contains(r.URL.Path, "/blobs/sha256:") {
			w = &throttledWriter{ResponseWriter: w, rate: rate}
		}
		h.ServeHTTP(w, r)
	})
}

// throttledWriter sends what is written at about rate bytes per second.
type throttledWriter struct {
	http.ResponseWriter
	rate int64
}

func (w *throttledWriter) Write(p []byte) (int, error) {
	const chunk = 64 << 10
	written := 0
	for len(p) > 0 {
		n := min(len(p), chunk)
		m, err := w.ResponseWriter.Write(p[:n])
		written += m
		if err != nil {
			return written, err
		}
		if f, ok := w.ResponseWriter.(http.Flusher); ok {
			f.Flush()
		}
		time.Sleep(time.Duration(int64(n) * int64(time.Second) / w.rate))
		p = p[n:]
	}
	return written, nil
}
