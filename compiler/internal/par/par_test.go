package par

import (
	"sync/atomic"
	"testing"
)

func TestEach(t *testing.T) {
	for _, n := range []int{0, 1, 7, 1000} {
		seen := make([]atomic.Int32, n)
		var setups atomic.Int32
		Each(n, func() int { setups.Add(1); return 1 }, func(s, i int) { seen[i].Add(int32(s)) })
		for i := range seen {
			if got := seen[i].Load(); got != 1 {
				t.Errorf("Each(%d): index %d ran %d times, want 1", n, i, got)
			}
		}
		if n == 0 && setups.Load() != 0 {
			t.Errorf("Each(0) set up %d workers, want none", setups.Load())
		}
	}
}
