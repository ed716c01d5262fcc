package executor

import (
	"fmt"
	"io"
	"math"
	"os"
	"time"
)

// DefaultLogLimit is how much of one attempt's output its task's log
// keeps when Options.LogLimit is 0: 64 MiB.
const DefaultLogLimit = 64 << 20

// MinLogLimit is the smallest log limit: room for a head, a tail and the
// line between them.
const MinLogLimit = 4 << 10

// outputDrain is how long a step's output may still flow once its
// processes are killed: a process that could not be found (one that left
// the step's process group, where there is no /proc) may hold the pipe.
const outputDrain = 2 * time.Second

// stepOutput carries a step's stdout and stderr to its log through a
// pipe: the log is capped, and the step's processes hold only the pipe.
type stepOutput struct {
	r, w *os.File // w is the step's; ours is closed once it started
	log  *cappedLog
	done chan struct{}
}

// startOutput starts copying the pipe to log, capped at limit bytes
// (no limit when limit is not positive).
func startOutput(log *os.File, limit int64) (*stepOutput, error) {
	if limit <= 0 {
		limit = math.MaxInt64
	}
	c, err := newCappedLog(log, limit)
	if err != nil {
		return nil, err
	}
	r, w, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	o := &stepOutput{r: r, w: w, log: c, done: make(chan struct{})}
	go func() {
		io.Copy(c, r)
		close(o.done)
	}()
	return o, nil
}

// finish waits, at most wait, for the output to end, then closes the pipe
// and caps the log.
func (o *stepOutput) finish(wait time.Duration) error {
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case <-o.done:
	case <-t.C:
		o.r.Close()
		<-o.done
	}
	o.r.Close()
	return o.log.finish()
}

// cappedLog writes one attempt's output to its task's log, keeping at most
// limit bytes of it: the first quarter (the head) and the last three
// quarters (the tail), with a line between them saying how many bytes
// were dropped. Output past the head is appended as it comes, so the log
// can be followed; once more than twice the tail is there, its older part
// is dropped (the rest copied down within the file and the file
// truncated). While the step runs the log holds at most the head and
// twice the tail; when it has ended, the head and the tail.
//
// A write error is kept and the output after it discarded, so that the
// step never blocks on a log that cannot be written.
type cappedLog struct {
	f          *os.File
	head, tail int64
	headLeft   int64
	mark       int64 // where the marker line, then the tail, begin
	markLen    int64 // the marker line's length, 0 before any drop
	tailLen    int64 // bytes of output after the marker
	dropped    int64
	newline    bool // the head ends with a newline
	err        error
}

// newCappedLog starts capping at f's current offset, f being open for
// reading and writing (not appending).
func newCappedLog(f *os.File, limit int64) (*cappedLog, error) {
	at, err := f.Seek(0, io.SeekCurrent)
	if err != nil {
		return nil, err
	}
	head := limit / 4
	return &cappedLog{f: f, head: head, tail: limit - head, headLeft: head, mark: at + head, newline: true}, nil
}

func (c *cappedLog) Write(p []byte) (int, error) {
	n := len(p)
	if c.err != nil {
		return n, nil
	}
	if c.headLeft > 0 {
		k := min(int64(len(p)), c.headLeft)
		if _, c.err = c.f.Write(p[:k]); c.err != nil {
			return n, nil
		}
		c.headLeft -= k
		c.newline = p[k-1] == '\n'
		p = p[k:]
	}
	if len(p) == 0 {
		return n, nil
	}
	if _, c.err = c.f.Write(p); c.err != nil {
		return n, nil
	}
	c.tailLen += int64(len(p))
	if c.tailLen >= 2*c.tail {
		c.compact()
	}
	return n, nil
}

// finish drops what the tail holds beyond its size; the file's offset is
// then its end.
func (c *cappedLog) finish() error {
	if c.err == nil && c.tailLen > c.tail {
		c.compact()
	}
	return c.err
}

// compact keeps the last c.tail bytes of output after the marker line,
// rewritten with the new count.
func (c *cappedLog) compact() {
	drop := c.tailLen - c.tail
	c.dropped += drop
	marker := c.marker()
	src := c.mark + c.markLen + drop
	dst := c.mark + int64(len(marker))
	c.move(dst, src, c.tail)
	if c.err == nil {
		_, c.err = c.f.WriteAt(marker, c.mark)
	}
	if c.err == nil {
		c.err = c.f.Truncate(dst + c.tail)
	}
	if c.err == nil {
		_, c.err = c.f.Seek(dst+c.tail, io.SeekStart)
	}
	c.markLen, c.tailLen = int64(len(marker)), c.tail
}

// move copies n bytes of the file from src to dst, as memmove does: front
// to back when moving down, back to front when moving up (a new marker
// line may be longer than what it replaces and the bytes dropped).
func (c *cappedLog) move(dst, src, n int64) {
	buf := make([]byte, min(n, 1<<20))
	for done := int64(0); done < n && c.err == nil; {
		k := min(int64(len(buf)), n-done)
		off := done
		if dst > src {
			off = n - done - k
		}
		if _, c.err = c.f.ReadAt(buf[:k], src+off); c.err == nil {
			_, c.err = c.f.WriteAt(buf[:k], dst+off)
		}
		done += k
	}
}

// marker is the line between the head and the tail.
func (c *cappedLog) marker() []byte {
	s := fmt.Sprintf("==> %d bytes of output dropped here: the log keeps the first %s and the last %s of each attempt's output (cairn run --log-limit)\n",
		c.dropped, sizeString(c.head), sizeString(c.tail))
	if !c.newline {
		s = "\n" + s
	}
	return []byte(s)
}

// sizeString writes a size in bytes for people: in GiB, MiB or KiB when it
// is a whole number of them.
func sizeString(n int64) string {
	for _, u := range []struct {
		size int64
		name string
	}{{1 << 30, "GiB"}, {1 << 20, "MiB"}, {1 << 10, "KiB"}} {
		if n >= u.size && n%u.size == 0 {
			return fmt.Sprintf("%d %s", n/u.size, u.name)
		}
	}
	return fmt.Sprintf("%d bytes", n)
}
