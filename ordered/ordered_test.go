package ordered

import (
	"context"
	"errors"
	"math/rand/v2"
	"sync/atomic"
	"testing"
	"time"
)

func TestRunKeepsOrder(t *testing.T) {
	for _, workers := range []int{1, 2, 5} {
		var inFlight, most atomic.Int64
		var got []int
		err := Run(context.Background(), workers,
			func(submit func(int) error) error {
				for i := range 500 {
					if err := submit(i); err != nil {
						return err
					}
				}
				return nil
			},
			func(_ context.Context, w int, in int) int {
				if w < 0 || w >= max(workers, 1) {
					t.Errorf("worker %d of %d", w, workers)
				}
				n := inFlight.Add(1)
				for {
					m := most.Load()
					if n <= m || most.CompareAndSwap(m, n) {
						break
					}
				}
				if rand.IntN(10) == 0 {
					time.Sleep(time.Duration(rand.IntN(300)) * time.Microsecond)
				}
				inFlight.Add(-1)
				return in * 2
			},
			func(out int) error {
				got = append(got, out)
				return nil
			})
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 500 {
			t.Fatalf("workers %d: %d results, want 500", workers, len(got))
		}
		for i, v := range got {
			if v != 2*i {
				t.Fatalf("workers %d: result %d is %d, want %d (out of order)", workers, i, v, 2*i)
			}
		}
		if workers > 1 && most.Load() > int64(Window*workers) {
			t.Errorf("workers %d: %d inputs in flight, window is %d", workers, most.Load(), Window*workers)
		}
	}
}

func TestRunStopsAtEmitError(t *testing.T) {
	stop := errors.New("disk full")
	var produced atomic.Int64
	emitted := 0
	err := Run(context.Background(), 3,
		func(submit func(int) error) error {
			for i := range 100000 {
				if err := submit(i); err != nil {
					return err
				}
				produced.Add(1)
			}
			return nil
		},
		func(_ context.Context, _ int, in int) int { return in },
		func(out int) error {
			if out == 10 {
				return stop
			}
			emitted++
			return nil
		})
	if !errors.Is(err, stop) {
		t.Fatalf("err = %v, want the emit error", err)
	}
	if emitted != 10 {
		t.Errorf("emitted %d results before the error, want 10", emitted)
	}
	// Inputs 0..10 emitted or failing, a window behind them, and one
	// more a send may have won over the cancellation.
	if n := produced.Load(); n > 11+Window*3+1 {
		t.Errorf("producer went on to %d inputs after the error", n)
	}
}

func TestRunReturnsProduceError(t *testing.T) {
	bad := errors.New("unreadable input")
	n := 0
	err := Run(context.Background(), 2,
		func(submit func(int) error) error {
			for i := range 7 {
				if err := submit(i); err != nil {
					return err
				}
			}
			return bad
		},
		func(_ context.Context, _ int, in int) int { return in },
		func(int) error { n++; return nil })
	if !errors.Is(err, bad) || n != 7 {
		t.Fatalf("err = %v after %d results, want the produce error after 7", err, n)
	}
}

func TestRunCancelled(t *testing.T) {
	for _, workers := range []int{1, 2} {
		ctx, cancel := context.WithCancel(context.Background())
		n := 0
		err := Run(ctx, workers,
			func(submit func(int) error) error {
				for i := 0; ; i++ {
					if err := submit(i); err != nil {
						return err
					}
				}
			},
			func(_ context.Context, _ int, in int) int { return in },
			func(int) error {
				if n++; n == 50 {
					cancel()
				}
				return nil
			})
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("workers %d: err = %v, want context.Canceled", workers, err)
		}
		if n != 50 {
			t.Errorf("workers %d: %d results emitted, the run was cancelled at the 50th", workers, n)
		}
	}
}

// Work still in flight when emit fails sees its context cancelled.
func TestRunCancelsWorkAfterEmitError(t *testing.T) {
	stop := errors.New("stop")
	started := make(chan struct{}) // input 1 is being worked on
	var sawCancel atomic.Int64
	err := Run(context.Background(), 2,
		func(submit func(int) error) error {
			for i := range 2 {
				if err := submit(i); err != nil {
					return err
				}
			}
			return nil
		},
		func(ctx context.Context, _ int, in int) int {
			if in == 0 {
				<-started // fail only once input 1 is in flight
				return in
			}
			close(started)
			select {
			case <-ctx.Done():
				sawCancel.Add(1)
			case <-time.After(5 * time.Second):
			}
			return in
		},
		func(out int) error { return stop })
	if !errors.Is(err, stop) {
		t.Fatalf("err = %v, want the emit error", err)
	}
	if sawCancel.Load() != 1 {
		t.Error("the work in flight did not see its context cancelled")
	}
}
