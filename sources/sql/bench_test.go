package sql

import (
	"context"
	"os"
	"testing"
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
	b.ResetTimer()
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
	s := b.Elapsed().Seconds()
	b.ReportMetric(float64(rows)/s, "rows/s")
	b.ReportMetric(float64(imms)/s, "imm-rows/s")
	b.ReportMetric(float64(imms)/float64(b.N), "imm-rows/op")
}
