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
// called with the results in input order, one call at a time, on the
// workers' goroutines.
//
// At most Window×workers inputs are in flight. The first error of emit or
// produce, or the cancellation of ctx, stops the run (submit then
// returns the context's error) and is returned; results after it are
// not emitted.
// With workers <= 1 everything runs on the calling goroutine.
//
// Nothing waits for a hand-over: produce runs ahead into a buffer as far
// as the window allows, and the worker that finishes the oldest result
// in flight emits it and whatever finished after it. Handing each input
// over unbuffered and each result to an emitting goroutine woke a parked
// thread at each step; on a 200k convert one of two workers was idle a
// fifth of the export.
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
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	window := Window * workers
	r := &run[Out]{ctx: ctx, cancel: cancel, emit: emit, pending: map[int]Out{}, sem: make(chan struct{}, window)}
	type job struct {
		seq int
		in  In
	}
	// Buffered: a worker takes its next input without the producer
	// running at that moment.
	jobs := make(chan job, window)
	var prodErr error
	go func() {
		defer close(jobs)
		seq := 0
		prodErr = produce(func(in In) error {
			if err := ctx.Err(); err != nil {
				return err // a select below may pick a ready send over Done
			}
			select {
			case r.sem <- struct{}{}:
			case <-ctx.Done():
				return ctx.Err()
			}
			jobs <- job{seq, in} // never blocks: the window bounds what is in jobs
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
				r.done(j.seq, work(ctx, w, j.in))
			}
		}()
	}
	wg.Wait()
	// jobs is closed: the producer has returned.
	if r.err != nil {
		return r.err
	}
	return prodErr
}

// run is the emitting state of one Run with several workers.
type run[Out any] struct {
	ctx    context.Context
	cancel context.CancelFunc
	emit   func(Out) error
	sem    chan struct{} // a place in the window, held from submit to emit

	mu       sync.Mutex // guards what follows
	pending  map[int]Out
	emitted  int  // results emitted (or dropped after an error)
	emitting bool // a worker is emitting: others leave their result to it
	err      error
}

// done takes the result of input seq and, unless another worker is at
// it, emits every result now in order.
func (r *run[Out]) done(seq int, out Out) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.pending[seq] = out
	if r.emitting {
		return
	}
	r.emitting = true
	for {
		out, ok := r.pending[r.emitted]
		if !ok {
			break
		}
		delete(r.pending, r.emitted)
		r.emitted++
		<-r.sem
		if r.err != nil {
			continue // after an error results are dropped
		}
		r.mu.Unlock()
		err := r.ctx.Err() // a cancelled run emits nothing more
		if err == nil {
			err = r.emit(out)
		}
		r.mu.Lock()
		if err != nil && r.err == nil {
			r.err = err
			r.cancel()
		}
	}
	r.emitting = false
}
