package pipeline

import (
	"context"
	"errors"
	"testing"

	"github.com/iisbridge/iisbridge/fhirout"
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
