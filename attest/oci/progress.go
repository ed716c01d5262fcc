package oci

import (
	"io"
	"sync"
)

// reporter serializes Progress calls; a nil reporter reports nothing.
type reporter struct {
	mu sync.Mutex
	fn func(Progress)
}

func newReporter(fn func(Progress)) *reporter {
	if fn == nil {
		return nil
	}
	return &reporter{fn: fn}
}

func (r *reporter) report(p Progress) {
	if r == nil {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.fn(p)
}

// reportEvery is how many bytes pass between two events of one file.
const reportEvery = 4 << 20

// progressReader reports the bytes read through it, at most every
// reportEvery bytes and at the end.
type progressReader struct {
	r        io.Reader
	rep      *reporter
	ev       Progress
	reported int64
}

func (r *reporter) reader(rd io.Reader, path string, phase Phase, size int64) io.Reader {
	if r == nil {
		return rd
	}
	r.report(Progress{Path: path, Phase: phase, Size: size})
	return &progressReader{r: rd, rep: r, ev: Progress{Path: path, Phase: phase, Size: size}}
}

func (p *progressReader) Read(b []byte) (int, error) {
	n, err := p.r.Read(b)
	p.ev.Bytes += int64(n)
	if p.ev.Bytes-p.reported >= reportEvery || (err == io.EOF && p.ev.Bytes > p.reported) {
		p.reported = p.ev.Bytes
		p.rep.report(p.ev)
	}
	return n, err
}

// readCloser joins a reader and the closer of what it reads.
type readCloser struct {
	io.Reader
	io.Closer
}
