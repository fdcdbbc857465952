package sql

import (
	"context"
	"os"
	"syscall"
	"testing"
	"time"

	"github.com/iisbridge/iisbridge/mapping"
	"github.com/iisbridge/iisbridge/sources"
)

// BenchmarkScan reads a whole database through the default description:
// the demo world on SQLite, or the database IISBRIDGE_SQL_BENCH_DSN names
// (loaded beforehand with iisbridge gen --sql; the driver from the DSN's
// scheme). It reports rows read per second (all tables) and immunization
// rows per second; peak RSS is measured from outside (README: Relational
// sources).
func BenchmarkScan(b *testing.B) {
	cfg := DefaultConfig()
	if dsn := os.Getenv("IISBRIDGE_SQL_BENCH_DSN"); dsn != "" {
		cfg.DSN = dsn
	} else {
		tdb := newTestDB(b, "sqlite")
		loadDemo(b, tdb)
		cfg.Driver, cfg.DSN = tdb.d.Driver, tdb.dsn
	}
	r, err := Open(cfg)
	if err != nil {
		b.Fatal(err)
	}
	defer r.Close()
	var rows, imms int64
	b.ReportAllocs()
	b.ResetTimer()
	cpu := startCPU()
	for b.Loop() {
		res, err := r.Scan(context.Background(), ScanOptions{}, func(*Record) error { return nil })
		if err != nil {
			b.Fatal(err)
		}
		for _, st := range res.Tables {
			rows += st.Read
		}
		imms += res.Tables["immunizations"].Read
	}
	cpu.report(b, int(imms)/b.N)
	s := b.Elapsed().Seconds()
	b.ReportMetric(float64(rows)/s, "rows/s")
	b.ReportMetric(float64(imms)/s, "imm-rows/s")
	b.ReportMetric(float64(imms)/float64(b.N), "imm-rows/op")
}

// cpuClock measures the process's CPU time (user and system, all threads:
// the collector's too) over a benchmark's loop: on a shared machine the
// wall time per op says more about the load than about the code.
type cpuClock time.Duration

func cpuNow() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func startCPU() cpuClock { return cpuClock(cpuNow()) }

// report adds cpu-ns/op and cpu-ns per immunization row (imms per op).
func (c cpuClock) report(b *testing.B, imms int) {
	d := float64(cpuNow() - time.Duration(c))
	b.ReportMetric(d/float64(b.N), "cpu-ns/op")
	if imms > 0 {
		b.ReportMetric(d/float64(b.N)/float64(imms), "cpu-ns/imm-row")
	}
}

// BenchmarkMapPerson maps the demo world's persons, read once from SQLite,
// by the default relational mapping (one Applier, as a pipeline worker
// does): persons and immunization rows mapped per second.
func BenchmarkMapPerson(b *testing.B) {
	tdb := newTestDB(b, "sqlite")
	loadDemo(b, tdb)
	r, err := Open(tdb.config(0))
	if err != nil {
		b.Fatal(err)
	}
	defer r.Close()
	var recs []*Record
	imms := 0
	if _, err := r.Scan(context.Background(), ScanOptions{}, func(rec *Record) error {
		recs = append(recs, rec)
		imms += len(rec.Children["immunizations"])
		return nil
	}); err != nil {
		b.Fatal(err)
	}
	ap := mapping.DefaultSQL().NewApplier()
	b.ReportAllocs()
	b.ResetTimer()
	cpu := startCPU()
	for b.Loop() {
		for _, rec := range recs {
			ap.Apply(mapping.Input{Person: rec, Loc: sources.Location{Source: "iis"}, PatientID: rec.Key}, false)
		}
	}
	cpu.report(b, imms)
	s := b.Elapsed().Seconds()
	b.ReportMetric(float64(len(recs)*b.N)/s, "persons/s")
	b.ReportMetric(float64(imms*b.N)/s, "imm-rows/s")
}
