package oci

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"cairn.dev/cairn/internal/atomicfile"
)

// digestCache remembers the digest of files already hashed, keyed by
// absolute path and checked against the file's size, modification and
// change times and inode (as git's index does), so that a file pushed
// before is not read again to learn whether the target holds it. One
// small file per path, written atomically, so concurrent pushes are safe.
// A nil *digestCache remembers nothing.
type digestCache struct {
	dir string
}

// newDigestCache returns the cache in dir; "" gives none.
func newDigestCache(dir string) *digestCache {
	if dir == "" {
		return nil
	}
	return &digestCache{dir: dir}
}

// racyWindow is how recent a change must be for a file's digest not to
// be remembered: within it, a second change could leave the same times.
var racyWindow = 2 * time.Second

// fileStamp is what must not change for a cached digest to hold.
type fileStamp struct {
	size, mtime, ctime int64
	ino, dev           uint64
}

func stampOf(fi os.FileInfo) fileStamp {
	s := fileStamp{size: fi.Size(), mtime: fi.ModTime().UnixNano()}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		s.ino, s.dev = st.Ino, uint64(st.Dev)
		s.ctime = time.Unix(st.Ctim.Unix()).UnixNano()
	}
	return s
}

func (s fileStamp) String() string {
	return fmt.Sprintf("%d %d %d %d %d", s.size, s.mtime, s.ctime, s.ino, s.dev)
}

// racy reports whether the file changed so recently that a later change
// could keep the same times: its digest is then not remembered.
func (s fileStamp) racy(now time.Time) bool {
	return now.UnixNano()-max(s.mtime, s.ctime) < int64(racyWindow)
}

func (c *digestCache) entry(abs string) string {
	sum := sha256.Sum256([]byte(abs))
	return filepath.Join(c.dir, hex.EncodeToString(sum[:2]), hex.EncodeToString(sum[2:16]))
}

// get returns the remembered digest of the file at abs, if its stamp is
// unchanged.
func (c *digestCache) get(abs string, st fileStamp) (v1.Hash, bool) {
	if c == nil {
		return v1.Hash{}, false
	}
	data, err := os.ReadFile(c.entry(abs))
	if err != nil {
		return v1.Hash{}, false
	}
	// "<path>\n<stamp>\n<digest>\n"
	lines := strings.Split(string(data), "\n")
	if len(lines) != 4 || lines[0] != abs || lines[1] != st.String() {
		return v1.Hash{}, false
	}
	h, err := v1.NewHash(lines[2])
	if err != nil {
		return v1.Hash{}, false
	}
	return h, true
}

// put remembers the digest of the file at abs, unless its stamp is racy.
// Failures are ignored: the cache only saves work.
func (c *digestCache) put(abs string, st fileStamp, h v1.Hash) {
	if c == nil || st.racy(time.Now()) {
		return
	}
	name := c.entry(abs)
	if err := os.MkdirAll(filepath.Dir(name), 0o755); err != nil {
		return
	}
	_ = atomicfile.Write(name, []byte(abs+"\n"+st.String()+"\n"+h.String()+"\n"), 0o644)
}
