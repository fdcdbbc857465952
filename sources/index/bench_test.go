package index

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/iisbridge/iisbridge/internal/cputime"
	"github.com/iisbridge/iisbridge/sources"
	"github.com/iisbridge/iisbridge/sources/synth"
)

// BenchmarkIndex indexes a generated archive of 20,000 messages (msh
// framing) into a fresh index per iteration. Figures: msgs/s and MB/s.
//
//	go test -run '^$' -bench BenchmarkIndex -benchtime 3x ./sources/index
func BenchmarkIndex(b *testing.B) {
	dir, sum, paths := benchWorld(b, 20000)
	b.SetBytes(sum.Bytes)
	b.ResetTimer()
	cpu0 := cputime.Process()
	for i := 0; i < b.N; i++ {
		x, err := open(filepath.Join(dir, "data"+strconv.Itoa(i)), Options{})
		if err != nil {
			b.Fatal(err)
		}
		if _, err := x.Update(context.Background(), paths); err != nil {
			b.Fatal(err)
		}
		x.Close()
	}
	b.ReportMetric(float64(sum.Messages)*float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
	// On a shared machine wall time also counts other processes' turns;
	// CPU time per message is the figure to compare.
	b.ReportMetric(float64(cputime.Process()-cpu0)/float64(sum.Messages)/float64(b.N), "cpu-ns/msg")
}

// BenchmarkStore indexes the records of a generated archive of 20,000
// messages (msh framing), read once before the timer: what it times is
// the writer's (and the end of an update's), not the reading. Figure:
// CPU time per message.
//
//	go test -run '^$' -bench BenchmarkStore -benchtime 3x ./sources/index
func BenchmarkStore(b *testing.B) {
	dir, sum, paths := benchWorld(b, 20000)
	x, err := open(filepath.Join(dir, "data"), Options{})
	if err != nil {
		b.Fatal(err)
	}
	src := &replaySource{Source: x.opts.Source, read: map[string]replayed{}}
	ctx := context.Background()
	ch, err := src.Changes(ctx, sources.Scope{Args: paths})
	if err != nil {
		b.Fatal(err)
	}
	for i := range ch.Inputs {
		c := &ch.Inputs[i]
		var r replayed
		if r.sc, err = src.Source.Scan(ctx, c, func(rec *sources.Record) error {
			r.recs = append(r.recs, rec)
			return nil
		}); err != nil {
			b.Fatal(err)
		}
		src.read[c.Name] = r
	}
	x.Close()
	b.ResetTimer()
	cpu0 := cputime.Process()
	for i := 0; i < b.N; i++ {
		x, err := Open(filepath.Join(dir, "data"+strconv.Itoa(i)), Options{Source: src})
		if err != nil {
			b.Fatal(err)
		}
		if _, err := x.Update(ctx, paths); err != nil {
			b.Fatal(err)
		}
		x.Close()
	}
	b.ReportMetric(float64(cputime.Process()-cpu0)/float64(sum.Messages)/float64(b.N), "cpu-ns/msg")
}

// replaySource is a source whose Scan passes the records another read
// before.
type replaySource struct {
	sources.Source
	read map[string]replayed
}

type replayed struct {
	recs []*sources.Record
	sc   sources.Scanned
}

func (s *replaySource) Scan(ctx context.Context, c *sources.Change, fn func(*sources.Record) error) (sources.Scanned, error) {
	r := s.read[c.Name]
	for _, rec := range r.recs {
		if err := fn(rec); err != nil {
			return sources.Scanned{}, err
		}
	}
	return r.sc, nil
}

// cpuTime is the process's user + system CPU time in ns.
// benchWorld generates a world of n messages (seed 1, msh framing) in a
// temporary directory: the directory, its summary and its files.
func benchWorld(b *testing.B, n int) (string, *synth.Summary, []string) {
	dir := b.TempDir()
	sum, err := synth.Generate(dir, synth.Config{Seed: 1, Messages: n, Framings: []string{"msh"}})
	if err != nil {
		b.Fatal(err)
	}
	var paths []string
	for _, f := range sum.Files {
		paths = append(paths, filepath.Join(dir, f))
	}
	return dir, sum, paths
}

// BenchmarkWalk walks the index of a generated world of
// IISBRIDGE_WALK_BENCH_MESSAGES messages (200,000 by default), as a
// system export reads it, with nothing done per person. Figures: ms to
// the first person (the sort, before which an export's workers wait) and
// CPU time per message walked.
//
//	go test -run '^$' -bench BenchmarkWalk -benchtime 5x ./sources/index
func BenchmarkWalk(b *testing.B) {
	n := 200000
	if v := os.Getenv("IISBRIDGE_WALK_BENCH_MESSAGES"); v != "" {
		var err error
		if n, err = strconv.Atoi(v); err != nil {
			b.Fatal(err)
		}
	}
	dir, _, paths := benchWorld(b, n)
	x, err := open(filepath.Join(dir, "data"), Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer x.Close()
	ctx := context.Background()
	if _, err := x.Update(ctx, paths); err != nil {
		b.Fatal(err)
	}
	var first time.Duration
	walked := 0
	b.ResetTimer()
	cpu0 := cputime.Process()
	for i := 0; i < b.N; i++ {
		s, err := x.Snapshot(ctx)
		if err != nil {
			b.Fatal(err)
		}
		start, seen := time.Now(), false
		err = s.Walk(ctx, time.Time{}, func(_ Person, msgs []Message, _ []Merged) error {
			if !seen {
				first += time.Since(start)
				seen = true
			}
			walked += len(msgs)
			return nil
		})
		s.Close()
		if err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(first.Milliseconds())/float64(b.N), "ms-to-first")
	b.ReportMetric(float64(cputime.Process()-cpu0)/float64(walked), "cpu-ns/msg")
}
