package match

import (
	"context"
	"runtime"
	"sync"
)

// All matches every input next returns (ok false: no more), with workers
// goroutines (0: GOMAXPROCS), and calls emit once per input in input
// order, so nothing is dropped and output lines up with input rows. At
// most 4×workers inputs are in flight: memory does not grow with the
// input. The first error (from next, a lookup or emit) stops it.
func (m *Matcher) All(ctx context.Context, c Candidates, next func() (Record, bool, error), workers int, emit func(Record, Result) error) error {
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	type job struct {
		in   Record
		res  Result
		err  error
		done chan struct{}
	}
	queue := make(chan *job, 4*workers) // in input order, for emit
	work := make(chan *job, 4*workers)
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range work {
				j.res, j.err = m.Match(ctx, c, j.in)
				close(j.done)
			}
		}()
	}
	var readErr error
	go func() {
		defer close(queue)
		defer close(work)
		for ctx.Err() == nil {
			r, ok, err := next()
			if err != nil {
				readErr = err
				return
			}
			if !ok {
				return
			}
			j := &job{in: r, done: make(chan struct{})}
			select {
			case queue <- j:
			case <-ctx.Done():
				return
			}
			work <- j
		}
	}()
	var err error
	for j := range queue {
		if err != nil {
			continue // drain
		}
		<-j.done
		if j.err != nil {
			err = j.err
		} else {
			err = emit(j.in, j.res)
		}
		if err != nil {
			cancel()
		}
	}
	wg.Wait()
	if err == nil {
		err = readErr
	}
	if err == nil {
		err = ctx.Err()
	}
	return err
}
