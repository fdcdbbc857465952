package roster

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"testing"
	"time"

	"github.com/iisbridge/iisbridge/internal/cputime"
	"github.com/iisbridge/iisbridge/match"
)

// BenchmarkRoster matches 100,000 roster rows against a population of
// IISBRIDGE_MATCH_BENCH_PERSONS persons (default 1,000,000) in a MemStore and
// reports rows/s, precision and recall; IISBRIDGE_MATCH_BENCH_STORE=sqlite
// puts the persons in a SQLStore instead (memory flat in their number).
// One iteration is the whole roster: run with -benchtime=1x.
func BenchmarkRoster(b *testing.B) {
	n := 1_000_000
	if s := os.Getenv("IISBRIDGE_MATCH_BENCH_PERSONS"); s != "" {
		var err error
		if n, err = strconv.Atoi(s); err != nil {
			b.Fatalf("IISBRIDGE_MATCH_BENCH_PERSONS: %v", err)
		}
	}
	rows := min(100_000, n)
	m, err := match.New(nil)
	if err != nil {
		b.Fatal(err)
	}
	t0 := time.Now()
	var st match.Candidates
	var ps []match.Record
	if os.Getenv("IISBRIDGE_MATCH_BENCH_STORE") == "sqlite" {
		sq, err := match.OpenSQLStore(filepath.Join(b.TempDir(), "candidates.db"), m)
		if err != nil {
			b.Fatal(err)
		}
		defer sq.Close()
		batch := make([]match.Record, 0, 10000)
		for i := range n {
			p := Person(1, i)
			batch = append(batch, p)
			if i < rows*5/4 { // the roster's source (members, lookalikes)
				ps = append(ps, p)
			}
			if len(batch) == cap(batch) || i == n-1 {
				if err := sq.Add(context.Background(), batch); err != nil {
					b.Fatal(err)
				}
				batch = batch[:0]
			}
		}
		st = sq
	} else {
		var mem *match.MemStore
		ps, mem = population(b, m, 1, n)
		mem.Lookup(context.Background(), "", 1) // sort the keys outside the timing
		st = mem
	}
	roster, err := Generate(ps, Config{Seed: 1, Rows: rows})
	if err != nil {
		b.Fatal(err)
	}
	build := time.Since(t0)
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	b.ResetTimer()
	cpu0 := cputime.Process()
	for range b.N {
		var ev Evaluator
		i, compared := 0, 0
		err := m.All(context.Background(), st, func() (match.Record, bool, error) {
			if i == len(roster) {
				return match.Record{}, false, nil
			}
			i++
			return roster[i-1].Record, true, nil
		}, 0, func(in match.Record, res match.Result) error {
			compared += res.Compared
			ev.Add(roster[indexOf(in.ID)], res)
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
		rep := ev.Report()
		b.ReportMetric(float64(rows)/b.Elapsed().Seconds()*float64(b.N), "rows/s")
		b.ReportMetric(float64(compared)/float64(rows), "compared/row")
		b.ReportMetric((cputime.Process()-cpu0).Seconds()/float64(b.N), "cpu-s/op")
		b.ReportMetric(rep.Precision, "precision")
		b.ReportMetric(rep.Recall, "recall")
		if i := b.N; i == 1 {
			fmt.Fprintf(os.Stderr, "%d persons built and indexed in %s (heap %d MB)\n", n, build.Round(time.Millisecond), ms.HeapAlloc>>20)
			rep.Print(os.Stderr)
		}
	}
}
