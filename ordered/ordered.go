// Package ordered runs work on several goroutines and hands the results
// back in the order the inputs came, with at most a window of inputs in
// flight, so memory stays flat however long the input is.
package ordered

import (
	"context"
	"sync"
)

// Window is how many inputs per worker are in flight at most: callers
// that give each input a buffer keep that many per worker. Two keep the
// workers as busy as four when each input is a batch of persons or
// messages (convert of 200k messages), with half the memory in flight.
const Window = 2

// Run calls produce, which calls submit once per input in order; work
// turns each input into a result on one of workers goroutines (worker is
// 0..workers-1, for per-worker state such as a mapping.Applier; ctx is
// cancelled once the run stops, so long work can give up); emit is
// called on the calling goroutine with the results in input order.
//
// At most Window×workers inputs are in flight. The first error of emit or
// produce, or the cancellation of ctx, stops the run (submit then
// returns the context's error) and is returned; results after it are
// not emitted. With workers <= 1
// everything runs on the calling goroutine.
func Run[In, Out any](ctx context.Context, workers int,
	produce func(submit func(In) error) error,
	work func(ctx context.Context, worker int, in In) Out,
	emit func(Out) error) error {
	if workers <= 1 {
		return produce(func(in In) error {
			if err := ctx.Err(); err != nil {
				return err
			}
			return emit(work(ctx, 0, in))
		})
	}
	type job struct {
		seq int
		in  In
	}
	type result struct {
		seq int
		out Out
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	window := Window * workers
	jobs := make(chan job)
	results := make(chan result, window)
	sem := make(chan struct{}, window)
	var prodErr error
	go func() {
		defer close(jobs)
		seq := 0
		prodErr = produce(func(in In) error {
			if err := ctx.Err(); err != nil {
				return err // a select below may pick a ready send over Done
			}
			select {
			case sem <- struct{}{}:
			case <-ctx.Done():
				return ctx.Err()
			}
			select {
			case jobs <- job{seq, in}:
			case <-ctx.Done():
				return ctx.Err()
			}
			seq++
			return nil
		})
	}()
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range jobs {
				results <- result{j.seq, work(ctx, w, j.in)}
			}
		}()
	}
	go func() { wg.Wait(); close(results) }()
	pending := map[int]Out{}
	next := 0
	var err error
	for r := range results {
		pending[r.seq] = r.out
		for {
			out, ok := pending[next]
			if !ok {
				break
			}
			delete(pending, next)
			next++
			<-sem
			if err == nil {
				// A cancelled run emits nothing more, though the window
				// may hold finished results.
				if err = ctx.Err(); err == nil {
					err = emit(out)
				}
				if err != nil {
					cancel()
				}
			}
		}
	}
	// results is closed: the producer has returned (jobs was closed).
	if err == nil {
		err = prodErr
	}
	return err
}
