package verify

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"os"
	"path"
	"path/filepath"
	"runtime/debug"
	"sort"
	"strings"
	"sync"
)

// cacheVersion changes whenever the checks change, so that results cached
// by another version of the checks are never reused. The key also holds
// the binary's build information (see checksVersion).
const cacheVersion = "cairn-verify-1"

// checksVersion names the checks: cacheVersion, the build's main module
// version and VCS revision when known, and the versions of the modules
// whose code runs the checks.
var checksVersion = sync.OnceValue(func() string {
	parts := []string{cacheVersion}
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return cacheVersion
	}
	parts = append(parts, info.Main.Path+"@"+info.Main.Version)
	for _, s := range info.Settings {
		if s.Key == "vcs.revision" || s.Key == "vcs.modified" {
			parts = append(parts, s.Key+"="+s.Value)
		}
	}
	for _, d := range info.Deps {
		switch d.Path {
		case "github.com/argoproj/argo-workflows/v3", "github.com/kubeflow/mpi-operator",
			"k8s.io/kube-openapi", "k8s.io/apimachinery", "k8s.io/api":
			parts = append(parts, d.Path+"@"+d.Version)
		}
	}
	return strings.Join(parts, " ")
})

// FilesCached is Files with a content-addressed cache in dir: the objects
// of each namespace folder are checked together (references between
// templates never cross namespaces), keyed by the SHA-256 of every file in
// the folder and of the checks' version, and a folder whose key is cached
// is not checked again. With dir "" it is Files. A cache that cannot be
// read or written is ignored: the checks then simply run.
func FilesCached(files map[string][]byte, dir string) []Problem {
	if dir == "" {
		return Files(files)
	}
	groups := map[string][]string{}
	for name := range files {
		ns, _, _ := strings.Cut(name, "/")
		if !strings.Contains(name, "/") {
			ns = ""
		}
		groups[ns] = append(groups[ns], name)
	}
	keys := map[string]string{}
	var all []Problem
	todo := map[string][]byte{}
	for ns, names := range groups {
		sort.Strings(names)
		h := sha256.New()
		h.Write([]byte(checksVersion()))
		for _, n := range names {
			data := files[n]
			writeField(h, n)
			writeField(h, string(data))
		}
		key := hex.EncodeToString(h.Sum(nil))
		keys[ns] = key
		if probs, ok := readCache(dir, key); ok {
			all = append(all, probs...)
			continue
		}
		for _, n := range names {
			todo[n] = files[n]
		}
	}
	if len(todo) > 0 {
		found := Files(todo)
		byNS := map[string][]Problem{}
		for _, p := range found {
			ns, _, _ := strings.Cut(p.File, "/")
			if !strings.Contains(p.File, "/") {
				ns = ""
			}
			byNS[ns] = append(byNS[ns], p)
		}
		for ns, names := range groups {
			if _, missed := todo[names[0]]; missed {
				writeCache(dir, keys[ns], byNS[ns])
			}
		}
		all = append(all, found...)
	}
	if len(all) == 0 {
		return nil
	}
	return sortProblems(all)
}

// writeField hashes a length-prefixed string, so that no two different
// lists of fields hash alike.
func writeField(h interface{ Write([]byte) (int, error) }, s string) {
	var n [8]byte
	for i, l := 0, uint64(len(s)); i < 8; i++ {
		n[i] = byte(l >> (8 * i))
	}
	h.Write(n[:])
	h.Write([]byte(s))
}

func cachePath(dir, key string) string {
	return filepath.Join(dir, key[:2], key+".json")
}

func readCache(dir, key string) ([]Problem, bool) {
	data, err := os.ReadFile(cachePath(dir, key))
	if err != nil {
		return nil, false
	}
	var probs []Problem
	if err := json.Unmarshal(data, &probs); err != nil {
		return nil, false
	}
	return probs, true
}

func writeCache(dir, key string, probs []Problem) {
	p := cachePath(dir, key)
	if err := os.MkdirAll(path.Dir(filepath.ToSlash(p)), 0o755); err != nil {
		return
	}
	if probs == nil {
		probs = []Problem{}
	}
	data, err := json.Marshal(probs)
	if err != nil {
		return
	}
	tmp, err := os.CreateTemp(filepath.Dir(p), ".tmp-*")
	if err != nil {
		return
	}
	_, werr := tmp.Write(data)
	cerr := tmp.Close()
	if werr != nil || cerr != nil || os.Rename(tmp.Name(), p) != nil {
		os.Remove(tmp.Name())
	}
}
