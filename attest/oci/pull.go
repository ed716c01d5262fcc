package oci

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
	"unicode/utf8"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"golang.org/x/sync/errgroup"
)

// PullOptions configure Pull.
type PullOptions struct {
	Options

	// Include, when not empty, pulls only the files whose path matches
	// one of these patterns (path.Match syntax, plus ** for any number of
	// folders). Each pattern must match a file.
	Include []string
}

// Pull writes the files of the model at ref into dir, which must not
// exist or be an empty folder. Every entry is checked before anything is
// written: its path must be relative and clean, stay inside dir, and
// neither repeat another entry nor sit below another entry's file. Files
// are written into a new folder next to dir, each blob's digest and size
// verified while it is written, and the folder is renamed to dir at the
// end: a failed or canceled pull leaves nothing, and the folders that
// killed pulls into dir left are removed first. Files are written with
// mode 0644.
func Pull(ctx context.Context, ref Ref, dir string, opts PullOptions) (*Artifact, error) {
	store, err := OpenStore(ref, opts.Options)
	if err != nil {
		return nil, err
	}
	art, err := inspect(ctx, store, ref)
	if err != nil {
		return nil, err
	}
	if err := checkEntries(art.Files); err != nil {
		return nil, fmt.Errorf("pulling %s: %w", ref, err)
	}
	files, err := include(art.Files, opts.Include)
	if err != nil {
		return nil, fmt.Errorf("pulling %s: %w", ref, err)
	}
	replace, err := checkTarget(dir)
	if err != nil {
		return nil, fmt.Errorf("pulling %s: %w", ref, err)
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("pulling %s: %w", ref, err)
	}
	if err := os.MkdirAll(filepath.Dir(abs), 0o755); err != nil {
		return nil, fmt.Errorf("pulling %s: %w", ref, err)
	}
	tmp, unlock, err := pullTemp(abs)
	if err != nil {
		return nil, fmt.Errorf("pulling %s: %w", ref, err)
	}
	defer unlock()
	ok := false
	defer func() {
		if !ok {
			os.RemoveAll(tmp)
		}
	}()
	if err := writeFiles(ctx, store, tmp, files, &opts.Options); err != nil {
		return nil, fmt.Errorf("pulling %s: %w", ref, err)
	}
	if err := os.Chmod(tmp, 0o755); err != nil {
		return nil, fmt.Errorf("pulling %s: %w", ref, err)
	}
	if replace {
		if err := os.Remove(dir); err != nil {
			return nil, fmt.Errorf("pulling %s: %w", ref, err)
		}
	}
	if err := os.Rename(tmp, dir); err != nil {
		return nil, fmt.Errorf("pulling %s: %w", ref, err)
	}
	ok = true
	art.Files = files
	return art, nil
}

// pullTempPrefix starts the names of the temporary folders of pulls into
// dir, next to it.
func pullTempPrefix(dir string) string { return "." + filepath.Base(dir) + ".pull-" }

// pullTemp sweeps the temporary folders that killed pulls into dir (an
// absolute path) left, then makes a new one, named with this process's
// id and locked until unlock is called.
func pullTemp(dir string) (tmp string, unlock func(), err error) {
	parent, prefix := filepath.Dir(dir), pullTempPrefix(dir)
	sweepTemps(parent, prefix)
	tmp, err = os.MkdirTemp(parent, tempPrefix(prefix)+"*")
	if err != nil {
		return "", nil, err
	}
	f, err := os.Open(tmp)
	if err != nil {
		os.Remove(tmp)
		return "", nil, err
	}
	holdLock(f)
	return tmp, func() { f.Close() }, nil
}

// checkTarget says whether dir is an empty folder to replace; it fails
// when dir holds anything.
func checkTarget(dir string) (replace bool, err error) {
	fi, err := os.Lstat(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	if !fi.IsDir() {
		return false, fmt.Errorf("%s exists and is not a folder", dir)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return false, err
	}
	if len(entries) > 0 {
		return false, fmt.Errorf("%s exists and is not empty", dir)
	}
	return true, nil
}

// checkPath fails unless p is a clean, relative, slash-separated path
// that stays below the folder it is joined to.
func checkPath(p string) error {
	switch {
	case p == "":
		return fmt.Errorf("empty file path")
	case !utf8.ValidString(p):
		return fmt.Errorf("file path %q is not UTF-8", p)
	case strings.HasPrefix(p, "/"):
		return fmt.Errorf("file path %q is absolute", p)
	case strings.ContainsAny(p, "\\\x00"):
		return fmt.Errorf("file path %q holds a backslash or NUL", p)
	}
	for _, el := range strings.Split(p, "/") {
		if el == ".." {
			return fmt.Errorf("file path %q escapes the model folder", p)
		}
		if el == "." || el == "" {
			return fmt.Errorf("file path %q is not clean (empty or . elements)", p)
		}
	}
	if !filepath.IsLocal(filepath.FromSlash(p)) {
		return fmt.Errorf("file path %q is not local on this system", p)
	}
	return nil
}

// checkEntries checks every entry's path, that no path repeats, and that
// no file sits below another file.
func checkEntries(files []File) error {
	seen := make(map[string]bool, len(files))
	for _, f := range files {
		if err := checkPath(f.Path); err != nil {
			return err
		}
		if seen[f.Path] {
			return fmt.Errorf("file path %q appears twice", f.Path)
		}
		seen[f.Path] = true
	}
	for _, f := range files {
		for d := path.Dir(f.Path); d != "."; d = path.Dir(d) {
			if seen[d] {
				return fmt.Errorf("file path %q lies below file %q", f.Path, d)
			}
		}
	}
	return nil
}

// include returns the files matching one of the patterns, or all files
// when there are none.
func include(files []File, patterns []string) ([]File, error) {
	if len(patterns) == 0 {
		return files, nil
	}
	used := make([]bool, len(patterns))
	var out []File
	for _, f := range files {
		keep := false
		for i, pat := range patterns {
			ok, err := matchGlob(pat, f.Path)
			if err != nil {
				return nil, fmt.Errorf("include pattern %q: %w", pat, err)
			}
			if ok {
				keep, used[i] = true, true
			}
		}
		if keep {
			out = append(out, f)
		}
	}
	for i, pat := range patterns {
		if !used[i] {
			return nil, fmt.Errorf("include pattern %q matches no file", pat)
		}
	}
	return out, nil
}

// matchGlob matches a slash-separated path against a path.Match pattern
// in which a ** element matches any number of path elements.
func matchGlob(pattern, name string) (bool, error) {
	if _, err := path.Match(pattern, ""); err != nil {
		return false, err
	}
	if !strings.Contains(pattern, "**") {
		return path.Match(pattern, name)
	}
	return matchElems(strings.Split(pattern, "/"), strings.Split(name, "/")), nil
}

func matchElems(pat, name []string) bool {
	for len(pat) > 0 {
		if pat[0] == "**" {
			for i := 0; i <= len(name); i++ {
				if matchElems(pat[1:], name[i:]) {
					return true
				}
			}
			return false
		}
		if len(name) == 0 {
			return false
		}
		if ok, _ := path.Match(pat[0], name[0]); !ok {
			return false
		}
		pat, name = pat[1:], name[1:]
	}
	return len(name) == 0
}

// writeFiles writes files into the new folder tmp. Each distinct blob is
// received once; files with the same content are copied from the first.
// Writes go through an os.Root, so no path can leave tmp.
func writeFiles(ctx context.Context, store Store, tmp string, files []File, o *Options) error {
	root, err := os.OpenRoot(tmp)
	if err != nil {
		return err
	}
	defer root.Close()
	first := map[v1.Hash]int{}
	copies := map[int][]int{}
	var order []int
	for i, f := range files {
		if j, ok := first[f.Digest]; ok {
			copies[j] = append(copies[j], i)
			continue
		}
		first[f.Digest] = i
		order = append(order, i)
	}
	rep := newReporter(o.Progress)
	g, ctx := errgroup.WithContext(ctx)
	g.SetLimit(o.concurrency())
	for _, i := range order {
		g.Go(func() error {
			f := files[i]
			rc, err := store.GetBlob(ctx, v1.Descriptor{Digest: f.Digest, Size: f.Size})
			if err != nil {
				return err
			}
			defer rc.Close()
			if err := writeFile(ctx, root, f, rep.reader(rc, f.Path, PhaseDownload, f.Size)); err != nil {
				return err
			}
			rep.report(Progress{Path: f.Path, Phase: PhaseDone, Bytes: f.Size, Size: f.Size})
			for _, j := range copies[i] {
				src, err := root.Open(filepath.FromSlash(f.Path))
				if err != nil {
					return err
				}
				err = writeFile(ctx, root, files[j], src)
				src.Close()
				if err != nil {
					return err
				}
				rep.report(Progress{Path: files[j].Path, Phase: PhaseDone, Bytes: f.Size, Size: f.Size})
			}
			return nil
		})
	}
	return g.Wait()
}

// writeFile creates f under root from r, verifying size and digest.
func writeFile(ctx context.Context, root *os.Root, f File, r io.Reader) error {
	name := filepath.FromSlash(f.Path)
	if d := filepath.Dir(name); d != "." {
		if err := root.MkdirAll(d, 0o755); err != nil {
			return fmt.Errorf("writing %s: %w", f.Path, err)
		}
	}
	out, err := root.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return fmt.Errorf("writing %s: %w", f.Path, err)
	}
	h := sha256.New()
	buf := getBuffer()
	defer putBuffer(buf)
	n, err := io.CopyBuffer(io.MultiWriter(out, h), io.LimitReader(ctxReader{ctx, r}, f.Size+1), *buf)
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("writing %s: %w", f.Path, err)
	}
	if n != f.Size {
		return fmt.Errorf("writing %s: blob %s has %d bytes, want %d", f.Path, f.Digest, n, f.Size)
	}
	if got := hex.EncodeToString(h.Sum(nil)); f.Digest.Algorithm != "sha256" || got != f.Digest.Hex {
		return fmt.Errorf("writing %s: blob %s has digest sha256:%s", f.Path, f.Digest, got)
	}
	return nil
}
