package verify_test

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"cairn.dev/cairn/compiler/verify"
)

// TestFilesCached checks that cached results equal fresh ones, that a
// cached namespace is not checked again, and that a changed file in one
// namespace re-checks that namespace only.
func TestFilesCached(t *testing.T) {
	files := map[string][]byte{}
	for name, data := range examples(t) {
		if strings.HasPrefix(name, "payments-ml/") || strings.HasPrefix(name, "nlp-research/") {
			files[name] = data
		}
	}
	dir := t.TempDir()
	if got := verify.FilesCached(files, dir); got != nil {
		t.Fatalf("FilesCached(examples) = %v, want nil", got)
	}
	entries := cacheEntries(t, dir)
	if len(entries) != 2 {
		t.Fatalf("cache holds %d entries, want one per namespace (2)", len(entries))
	}

	// A broken file: the fresh and the cached answers agree.
	bad := copyFiles(files)
	for name, data := range bad {
		if strings.HasSuffix(name, "bert-pretrain/workflowtemplate.yaml") {
			bad[name] = []byte(strings.Replace(string(data), "status.replicaStatuses.Launcher.succeeded == 1", "status.replicaStatuses.Launcher.succeeded >= 1", 1))
		}
	}
	fresh := verify.Files(bad)
	if len(fresh) == 0 {
		t.Fatal("Files found nothing wrong with an unparsable condition")
	}
	first := verify.FilesCached(bad, dir)
	if !reflect.DeepEqual(first, fresh) {
		t.Fatalf("FilesCached = %v, want %v as Files gives", first, fresh)
	}
	if n := len(cacheEntries(t, dir)); n != 3 {
		t.Fatalf("cache holds %d entries after one namespace changed, want 3", n)
	}
	// Poison the cached entries: a cached answer is reused, not recomputed.
	for _, e := range cacheEntries(t, dir) {
		os.WriteFile(e, []byte(`[{"File":"x","Object":"y","Check":"cached","Msg":"from the cache"}]`), 0o644)
	}
	got := verify.FilesCached(bad, dir)
	if len(got) != 1 || got[0].Check != "cached" {
		t.Fatalf("FilesCached after poisoning = %v, want the cached answer (the same for both namespaces, so once)", got)
	}
	// No cache folder: Files itself.
	if got := verify.FilesCached(bad, ""); !reflect.DeepEqual(got, fresh) {
		t.Fatalf("FilesCached(dir \"\") = %v, want %v", got, fresh)
	}
}

func cacheEntries(t *testing.T, dir string) []string {
	t.Helper()
	m, err := filepath.Glob(filepath.Join(dir, "*", "*.json"))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func copyFiles(m map[string][]byte) map[string][]byte {
	out := map[string][]byte{}
	for k, v := range m {
		out[k] = v
	}
	return out
}
