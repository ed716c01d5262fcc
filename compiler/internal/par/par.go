// Package par runs independent pieces of work over the CPUs.
package par

import (
	"runtime"
	"sync"
	"sync/atomic"
)

// Each calls f(s, i) for every i in [0, n), spread over GOMAXPROCS
// workers, and returns when all calls have. Each worker first calls setup
// and passes its result to its calls of f: state that must not be shared
// between goroutines (a CUE context) lives there.
func Each[S any](n int, setup func() S, f func(s S, i int)) {
	var next atomic.Int64
	var wg sync.WaitGroup
	for range min(runtime.GOMAXPROCS(0), n) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s := setup()
			for {
				i := int(next.Add(1)) - 1
				if i >= n {
					return
				}
				f(s, i)
			}
		}()
	}
	wg.Wait()
}

// None is a setup for work that keeps no state per worker.
func None() struct{} { return struct{}{} }
