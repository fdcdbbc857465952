package pipeline

import (
	"context"
	"errors"
	"slices"
	"testing"

	"github.com/iisbridge/iisbridge/fhirout"
	"github.com/iisbridge/iisbridge/sources/index"
)

// failSink fails at its n-th resource, or cancels the export there.
type failSink struct {
	memSink
	n      int
	err    error
	cancel context.CancelFunc
}

func (s *failSink) Resource(r *fhirout.Object) error {
	if len(s.res) == s.n {
		if s.cancel != nil {
			s.cancel()
		} else {
			return s.err
		}
	}
	return s.memSink.Resource(r)
}

// A sink that fails stops the export with its error, and a cancelled
// export stops with the context's: on one worker or several, nothing is
// sent after the failure, and what was sent is the start of the full
// export in its order.
func TestExportStopsAtSinkErrorAndCancel(t *testing.T) {
	dir := t.TempDir()
	a, b, _, _, _ := faultWorld(t, dir)
	p := openNamed(t, dir, a, b)
	var full memSink
	if err := p.Export(context.Background(), Query{}, &full); err != nil {
		t.Fatal(err)
	}
	if len(full.res) < 40 {
		t.Fatalf("test premise: %d resources", len(full.res))
	}
	disk := errors.New("disk full")
	for _, workers := range []int{1, 3} {
		p.workers = workers
		s := &failSink{n: 17, err: disk}
		if err := p.Export(context.Background(), Query{}, s); !errors.Is(err, disk) {
			t.Fatalf("workers %d: err = %v, want the sink's", workers, err)
		}
		if len(s.res) != 17 {
			t.Errorf("workers %d: %d resources sent around a failing sink, want 17", workers, len(s.res))
		}
		samePrefix(t, workers, s.res, full.res)

		ctx, cancel := context.WithCancel(context.Background())
		c := &failSink{n: 9, cancel: cancel}
		err := p.Export(ctx, Query{}, c)
		cancel()
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("workers %d: cancelled export: err = %v", workers, err)
		}
		// The person being replayed when the export was cancelled is
		// finished; none after it.
		if len(c.res) >= len(full.res) || len(c.res) > 9+3 {
			t.Errorf("workers %d: %d of %d resources sent after cancelling at 9", workers, len(c.res), len(full.res))
		}
		samePrefix(t, workers, c.res, full.res)
	}
}

func samePrefix(t *testing.T, workers int, got, full []*fhirout.Object) {
	t.Helper()
	for i, r := range got {
		if k, w := r.ResourceType()+"/"+r.ID(), full[i].ResourceType()+"/"+full[i].ID(); k != w {
			t.Fatalf("workers %d: resource %d is %s, the full export's is %s", workers, i, k, w)
		}
	}
}

// Persons go to the workers in batches of a few, in order, each person
// once: a batch ends at batchPersons persons or batchMessages messages,
// the last one short; an error of the listing or of a submit stops it.
func TestBatches(t *testing.T) {
	sizes := []int{1, 2, 30, 1, 1, 1, 1, 1, 5, 5, 5, 0, 7}
	persons := make([]*work, len(sizes))
	for i, n := range sizes {
		persons[i] = &work{id: string(rune('a' + i)), msgs: make([]index.Message, n)}
	}
	e := &export{each: func(fn func(*work) error) error {
		for _, w := range persons {
			if err := fn(w); err != nil {
				return err
			}
		}
		return nil
	}}
	var got [][]string
	err := e.batches(func(b []*work) error {
		var ids []string
		for _, w := range b {
			ids = append(ids, w.id)
		}
		got = append(got, ids)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	// 1+2+30 reaches 16 messages at c; then four persons; then
	// 1+5+5+5 reaches 16 at k; the rest.
	want := [][]string{{"a", "b", "c"}, {"d", "e", "f", "g"}, {"h", "i", "j", "k"}, {"l", "m"}}
	if !slices.EqualFunc(got, want, slices.Equal) {
		t.Errorf("batches %v, want %v", got, want)
	}

	stop := errors.New("stop")
	calls := 0
	err = e.batches(func([]*work) error { calls++; return stop })
	if !errors.Is(err, stop) || calls != 1 {
		t.Errorf("a failing submit: err %v after %d calls, want stop after 1", err, calls)
	}
	e.each = func(fn func(*work) error) error {
		fn(persons[0])
		return stop
	}
	calls = 0
	err = e.batches(func([]*work) error { calls++; return nil })
	if !errors.Is(err, stop) || calls != 0 {
		t.Errorf("a failing listing: err %v after %d submits, want stop and none", err, calls)
	}
}
