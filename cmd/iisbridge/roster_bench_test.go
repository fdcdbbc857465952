package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/iisbridge/iisbridge/config"
	"github.com/iisbridge/iisbridge/fhirout"
	"github.com/iisbridge/iisbridge/match"
	"github.com/iisbridge/iisbridge/match/roster"
	"github.com/iisbridge/iisbridge/pipeline"
	"github.com/iisbridge/iisbridge/sources/synth"
	"github.com/iisbridge/iisbridge/sources/synth/synthtest"
)

// BenchmarkRosterImportWorld: a generated world of
// IISBRIDGE_ROSTER_BENCH_PEOPLE persons (skipped when unset) indexed by
// the bridge, and a generated roster of min(100,000, people) rows
// imported twice through Group/$roster-import: the first import files
// every Patient in the candidate store, the second finds it current.
// Reports the times, rows/s of the second and precision/recall of
// certain matches against the truth. One iteration: -benchtime 1x.
//
//	IISBRIDGE_ROSTER_BENCH_PEOPLE=100000 go test ./cmd/iisbridge -run '^$' -bench RosterImportWorld -benchtime 1x
func BenchmarkRosterImportWorld(b *testing.B) {
	n, _ := strconv.Atoi(os.Getenv("IISBRIDGE_ROSTER_BENCH_PEOPLE"))
	if n <= 0 {
		b.Skip("IISBRIDGE_ROSTER_BENCH_PEOPLE not set: the number of persons of the generated world")
	}
	dir := b.TempDir()
	world := filepath.Join(dir, "world")
	t0 := time.Now()
	if _, err := synth.Generate(world, synth.Config{Seed: 5, People: n, Framings: []string{"msh"}}); err != nil {
		b.Fatal(err)
	}
	truth, err := synth.ReadTruth(filepath.Join(world, "truth.json"))
	if err != nil {
		b.Fatal(err)
	}
	b.Logf("world: %d persons generated in %s", len(truth.Persons), time.Since(t0).Round(time.Millisecond))

	cfg := config.Default()
	cfg.DataDir = filepath.Join(dir, "data")
	cfg.Sources = []config.Source{{Name: "synth", Kind: "v2archive", Paths: []string{filepath.Join(world, "*")}}}
	ts := httptest.NewUnstartedServer(http.NotFoundHandler())
	cfg.Listen = ts.Listener.Addr().String()
	cfg.BaseURL = "http://" + cfg.Listen + "/fhir"
	cfg.Jobs.RetryAfter.Duration = time.Second
	t0 = time.Now()
	br, err := openBridge(cfg, false, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		b.Fatal(err)
	}
	b.Logf("indexed in %s", time.Since(t0).Round(time.Millisecond))
	ts.Config.Handler = br.srv.Handler()
	ts.Start()
	defer func() {
		ts.Close()
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		br.close(ctx)
	}()
	// Patient ids of the truth's persons.
	ic := &identCollector{holders: map[string][]string{}, recs: map[string]match.Record{}}
	err = br.p.Export(context.Background(), pipeline.Query{Types: []string{"Patient"}}, ic)
	if err != nil {
		b.Fatal(err)
	}
	holders := ic.holders
	// The roster rows carry the registry id (the system the Patients give
	// it) half the time, like the matcher benchmark's Medicaid ids.
	rows, err := roster.Generate(roster.FromSynth(truth.Persons, ic.srSystem), roster.Config{Seed: 5, Rows: min(100000, len(truth.Persons))})
	if err != nil {
		b.Fatal(err)
	}
	var csv bytes.Buffer
	w, _ := roster.NewWriter(&csv)
	for _, r := range rows {
		w.Write(r.Record)
	}
	w.Flush()
	kinds := map[string]int{}
	for _, r := range rows {
		kinds[r.Kind]++
	}
	b.Logf("roster: %d rows by kind %v; registry id system %q", len(rows), kinds, ic.srSystem)
	pidOf, problems := synthtest.MatchPatients(truth.Persons, holders)
	if len(problems) > 0 {
		b.Logf("truth: %d persons not held by exactly one Patient (e.g. %s)", len(problems), problems[0])
	}

	b.ResetTimer()
	for i := range 2 {
		t0 = time.Now()
		res := importRoster(b, ts.Client(), cfg.BaseURL, csv.Bytes())
		el := time.Since(t0)
		if len(res) != len(rows) {
			b.Fatalf("%d rows reported for %d", len(res), len(rows))
		}
		var right, wrong, members int
		missed := map[string]int{} // member rows not matched right, by kind and outcome
		for j, r := range rows {
			if r.Person != "" {
				members++
			}
			if res[j].pid == "" {
				if r.Person != "" {
					why := res[j].outcome
					if pidOf[r.Person] == "" {
						why = "no-patient"
					} else if slices.Contains(res[j].cands, pidOf[r.Person]) {
						why += "(true-in-candidates)"
					}
					missed[r.Kind+"/"+why]++
					if missed[r.Kind+"/"+why] <= 3 && os.Getenv("IISBRIDGE_ROSTER_BENCH_DEBUG") != "" {
						m, _ := match.New(nil)
						pr := ic.recs[pidOf[r.Person]]
						b.Logf("%s row %+v\n  patient %+v\n  %+v", r.Kind, r.Record, pr, m.Compare(r.Record, pr))
					}
				}
				continue
			}
			if r.Person != "" && res[j].pid == pidOf[r.Person] {
				right++
			} else {
				wrong++
				if r.Person != "" {
					missed[r.Kind+"/wrong"]++
				}
			}
		}
		b.Logf("missed member rows by kind/outcome: %v", missed)
		b.Logf("import %d: %d rows in %s (%.0f rows/s); certain matches: %d right, %d wrong; precision %.4f, recall %.4f",
			i+1, len(rows), el.Round(time.Millisecond), float64(len(rows))/el.Seconds(), right, wrong,
			float64(right)/float64(max(1, right+wrong)), float64(right)/float64(max(1, members)))
		if i == 1 {
			b.ReportMetric(float64(len(rows))/el.Seconds(), "rows/s")
			b.ReportMetric(float64(right)/float64(max(1, right+wrong)), "precision")
			b.ReportMetric(float64(right)/float64(max(1, members)), "recall")
		}
	}
}

// identCollector collects the Patients holding each MR and SR
// identifier, and the SR identifiers' system.
type identCollector struct {
	holders  map[string][]string
	srSystem string
	recs     map[string]match.Record
}

func (c *identCollector) Resource(o *fhirout.Object) error {
	pt, err := match.ParsePatient(o.AppendJSON(nil))
	if err != nil {
		return err
	}
	if c.recs != nil {
		c.recs[pt.ID] = pt.Record()
	}
	for _, id := range pt.Identifier {
		if t := id.TypeCode(); t == "MR" || t == "SR" {
			c.holders[t+"|"+id.Value] = append(c.holders[t+"|"+id.Value], pt.ID)
			if t == "SR" && c.srSystem == "" {
				c.srSystem = id.System
			}
		}
	}
	return nil
}
func (*identCollector) Deleted(string, string, time.Time) error { return nil }
func (*identCollector) Issue(*fhirout.Object) error             { return nil }

// rowMatch is what became of one roster row: the matched Patient id (""
// unless matched), the outcome and the candidates' ids.
type rowMatch struct {
	pid, outcome string
	cands        []string
}

// importRoster runs one $roster-import and returns, per row, what became of it.
func importRoster(b *testing.B, hc *http.Client, base string, csv []byte) []rowMatch {
	req, _ := http.NewRequest(http.MethodPost, base+"/Group/$roster-import", bytes.NewReader(csv))
	req.Header.Set("Content-Type", "text/csv")
	req.Header.Set("Accept", "application/fhir+json")
	req.Header.Set("Prefer", "respond-async")
	resp, err := hc.Do(req)
	if err != nil {
		b.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted {
		b.Fatalf("kick-off: %d", resp.StatusCode)
	}
	status := resp.Header.Get("Content-Location")
	var m manifest
	for {
		time.Sleep(500 * time.Millisecond)
		resp, err := hc.Get(status)
		if err != nil {
			b.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode == http.StatusAccepted {
			continue
		}
		if resp.StatusCode != http.StatusOK || json.Unmarshal(body, &m) != nil {
			b.Fatalf("status: %d %s", resp.StatusCode, body)
		}
		break
	}
	var out []rowMatch
	for _, f := range m.Output {
		if f.Type != "Bundle" {
			continue
		}
		resp, err := hc.Get(f.URL)
		if err != nil {
			b.Fatal(err)
		}
		sc := bufio.NewScanner(resp.Body)
		sc.Buffer(nil, 1<<24)
		for sc.Scan() {
			var bundle map[string]any
			if err := json.Unmarshal(sc.Bytes(), &bundle); err != nil {
				b.Fatal(err)
			}
			row := bundleRow(bundle)
			rm := rowMatch{outcome: row.Outcome}
			if row.Outcome == "matched" && len(row.Candidates) > 0 {
				rm.pid = row.Candidates[0].ID
			}
			for _, c := range row.Candidates {
				rm.cands = append(rm.cands, c.ID)
			}
			out = append(out, rm)
		}
		resp.Body.Close()
	}
	return out
}
