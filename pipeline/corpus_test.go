package pipeline

import (
	"context"
	"os"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"github.com/iisbridge/iisbridge/mapping"
)

// corpusDir finds the shared real-world corpus: $IISBRIDGE_CORPUS, else
// ../../shared/corpus relative to the module root.
func corpusDir(t *testing.T) string {
	if d := os.Getenv("IISBRIDGE_CORPUS"); d != "" {
		return d
	}
	_, file, _, _ := runtime.Caller(0)
	d := filepath.Join(filepath.Dir(file), "..", "..", "shared", "corpus")
	if _, err := os.Stat(filepath.Join(d, "v2")); err != nil {
		t.Skip("real-world corpus not found (set IISBRIDGE_CORPUS)")
	}
	return d
}

// openCorpus indexes the shared corpus's v2 messages (skipping without
// it) with the default mapping, at a fixed indexing time so exports can be
// compared with a baseline.
func openCorpus(t *testing.T) *Pipeline {
	t.Helper()
	dir := filepath.Join(corpusDir(t), "v2")
	p, err := openV2(openOptions{DataDir: t.TempDir(), Paths: []string{dir}, Mapping: mapping.Default(),
		Now: (&clock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}).now})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

// TestCorpus indexes and exports every real-world sample message: no
// failure, every record accounted for, each id once.
func TestCorpus(t *testing.T) {
	dir := filepath.Join(corpusDir(t), "v2")
	p, err := openV2(openOptions{DataDir: t.TempDir(), Paths: []string{dir}, Mapping: mapping.Default()})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	ctx := context.Background()
	var s memSink
	if err := p.Export(ctx, Query{Provenance: true, SourceIssues: true}, &s); err != nil {
		t.Fatal(err)
	}
	snap, err := p.idx.Snapshot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	c, _ := snap.Counts(ctx)
	snap.Close()
	st := p.Stats()
	if c.Records == 0 || st.Messages+st.ReadErrors != c.Person || st.Problems != c.Errors+c.Warnings {
		t.Fatalf("accounting: index %+v, export %+v", c, st)
	}
	seen := map[string]bool{}
	for _, r := range s.res {
		k := r.ResourceType() + "/" + r.ID()
		if seen[k] {
			t.Fatalf("%s emitted twice", k)
		}
		seen[k] = true
	}
	t.Logf("corpus: %d records (%d person messages, %d errors) → %d Patients, %d Immunizations, %d outcomes",
		c.Records, c.Person, c.Errors, st.Patients, st.Immunizations, len(s.issues))
}
