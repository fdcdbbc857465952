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
	rows, err := roster.Generate(roster.FromSynth(truth.Persons), roster.Config{Seed: 5, Rows: min(100000, len(truth.Persons))})
	if err != nil {
		b.Fatal(err)
	}
	var csv bytes.Buffer
	w, _ := roster.NewWriter(&csv)
	for _, r := range rows {
		w.Write(r.Record)
	}
	w.Flush()

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
	holders := map[string][]string{}
	err = br.p.Export(context.Background(), pipeline.Query{Types: []string{"Patient"}}, patientIdents(holders))
	if err != nil {
		b.Fatal(err)
	}
	pidOf, _ := synthtest.MatchPatients(truth.Persons, holders)

	b.ResetTimer()
	for i := range 2 {
		t0 = time.Now()
		res := importRoster(b, ts.Client(), cfg.BaseURL, csv.Bytes())
		el := time.Since(t0)
		if len(res) != len(rows) {
			b.Fatalf("%d rows reported for %d", len(res), len(rows))
		}
		var right, wrong, members int
		for j, r := range rows {
			if r.Person != "" {
				members++
			}
			if res[j] == "" {
				continue
			}
			if r.Person != "" && res[j] == pidOf[r.Person] {
				right++
			} else {
				wrong++
			}
		}
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

type identCollector map[string][]string

func patientIdents(h map[string][]string) identCollector { return identCollector(h) }

func (c identCollector) Resource(o *fhirout.Object) error {
	pt, err := match.ParsePatient(o.AppendJSON(nil))
	if err != nil {
		return err
	}
	for _, id := range pt.Identifier {
		if t := id.TypeCode(); t == "MR" || t == "SR" {
			c[t+"|"+id.Value] = append(c[t+"|"+id.Value], pt.ID)
		}
	}
	return nil
}
func (identCollector) Deleted(string, string, time.Time) error { return nil }
func (identCollector) Issue(*fhirout.Object) error             { return nil }

// importRoster runs one $roster-import and returns, per row, the matched
// Patient id ("" unless matched).
func importRoster(b *testing.B, hc *http.Client, base string, csv []byte) []string {
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
	var out []string
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
			pid := ""
			if row.Outcome == "matched" && len(row.Candidates) > 0 {
				pid = row.Candidates[0].ID
			}
			out = append(out, pid)
		}
		resp.Body.Close()
	}
	return out
}
