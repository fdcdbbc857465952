package pipeline

import (
	"context"
	"crypto/sha256"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/iisbridge/iisbridge/sources/synth"
)

// Set IISBRIDGE_WRITE_BASELINE=1 to write the baselines instead of
// comparing (only when an output change is intended, and said so).
const writeBaseline = "IISBRIDGE_WRITE_BASELINE"

// exportDigest is one line per resource exported and per deletion: its
// type/id and a digest of its JSON, sorted. Two exports with equal
// digests are equal resource for resource.
func exportDigest(t *testing.T, p *Pipeline, q Query) []string {
	t.Helper()
	var s memSink
	if err := p.Export(context.Background(), q, &s); err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, r := range s.res {
		h := sha256.Sum256(r.AppendJSON(nil))
		out = append(out, fmt.Sprintf("%s/%.12s %x", r.ResourceType(), r.ID(), h[:6]))
	}
	for _, d := range s.deleted {
		out = append(out, "deleted "+d)
	}
	slices.Sort(out)
	return out
}

// compareBaseline fails unless got equals the baseline file, naming the
// first differences.
func compareBaseline(t *testing.T, name string, got []string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if os.Getenv(writeBaseline) != "" {
		if err := os.WriteFile(path, []byte(strings.Join(got, "\n")+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	want := strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
	if slices.Equal(got, want) {
		return
	}
	in := func(l []string) map[string]bool {
		m := map[string]bool{}
		for _, s := range l {
			m[s] = true
		}
		return m
	}
	g, w := in(got), in(want)
	n := 0
	for _, s := range want {
		if !g[s] && n < 10 {
			t.Errorf("missing or changed: %s", s)
			n++
		}
	}
	for _, s := range got {
		if !w[s] && n < 20 {
			t.Errorf("new or changed: %s", s)
			n++
		}
	}
	t.Fatalf("export differs from the baseline %s: %d resources, baseline %d", path, len(got), len(want))
}

// The export of a generated world (Provenance included) is what the
// pipeline exported before it was split into reducers per resource type
// and read sources through the contract: resource for resource.
func TestExportEqualsBaselineSynth(t *testing.T) {
	p, _ := genWorld(t, synth.Config{Seed: 7, Messages: 1000, Framings: []string{"msh", "mllp"}})
	compareBaseline(t, "baseline-synth.txt", exportDigest(t, p, Query{Provenance: true}))
	since := exportDigest(t, p, Query{Since: time.Date(2026, 1, 1, 0, 0, 30, 0, time.UTC)})
	compareBaseline(t, "baseline-synth-since.txt", since)
}

// The same for the shared real-world corpus (skipped without it).
func TestExportEqualsBaselineCorpus(t *testing.T) {
	p := openCorpus(t)
	compareBaseline(t, "baseline-corpus.txt", exportDigest(t, p, Query{Provenance: true}))
}
