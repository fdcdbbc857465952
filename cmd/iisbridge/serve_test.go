package main

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/iisbridge/iisbridge/config"
	"github.com/iisbridge/iisbridge/pipeline"
	"github.com/iisbridge/iisbridge/sources/index"
	"github.com/iisbridge/iisbridge/sources/synth"
	"github.com/iisbridge/iisbridge/sources/v2archive"
)

func TestServeRefusesUnauthenticatedNonLoopback(t *testing.T) {
	if code := runServe([]string{"--addr", "0.0.0.0:0", "--data", t.TempDir()}); code != 1 {
		t.Errorf("exit %d, want 1", code)
	}
}

func TestServeRefusesBadConfigAndMapping(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "c.yaml")
	os.WriteFile(cfg, []byte("listen: 127.0.0.1:0\nlisten_port: 9\n"), 0o644)
	if code := runServe([]string{"--config", cfg}); code != 1 {
		t.Errorf("unknown key: exit %d, want 1", code)
	}
	os.WriteFile(filepath.Join(dir, "a.hl7"), []byte("MSH|^~\\&|X\r"), 0o644)
	os.WriteFile(filepath.Join(dir, "bad-mapping.yaml"), []byte("this: [is not a mapping\n"), 0o644)
	os.WriteFile(cfg, []byte("listen: 127.0.0.1:0\ndata_dir: data\nsources:\n  - name: a\n    paths: [a.hl7]\n    mapping: bad-mapping.yaml\n"), 0o644)
	if code := runServe([]string{"--config", cfg}); code != 1 {
		t.Errorf("bad mapping: exit %d, want 1", code)
	}
	if _, err := os.Stat(filepath.Join(dir, "data", "index")); err == nil {
		t.Error("index opened although the mapping is invalid")
	}
}

func TestIsLoopback(t *testing.T) {
	for addr, want := range map[string]bool{"127.0.0.1:8080": true, "[::1]:80": true, "localhost:1": true, "0.0.0.0:8080": false, ":8080": false, "10.0.0.5:80": false} {
		if got := isLoopback(addr); got != want {
			t.Errorf("isLoopback(%q) = %v", addr, got)
		}
	}
}

func indexCounts(t *testing.T, x *index.Index) index.Counts {
	t.Helper()
	snap, err := x.Snapshot(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer snap.Close()
	c, err := snap.Counts(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// demoErrors runs a Patient export of the bridge and returns its error
// file's lines, failing when one names truth.json or the broken records
// the demo truth lists are missing.
func demoErrors(t *testing.T, c *bulkClient, truth *synth.Truth) (status string, m *manifest) {
	t.Helper()
	status, m = c.export("/$export", url.Values{"_type": {"Patient,Immunization"}})
	res := c.fetch(m)
	for _, oo := range res.issues {
		if b := mustJSON(t, oo); strings.Contains(string(b), "truth.json") {
			t.Errorf("error file mentions truth.json: %s", b)
		}
	}
	checkIssues(t, truth, res.issues, true)
	if n := len(res.byType["Patient"]); n != len(truth.Persons) {
		t.Errorf("demo export: %d Patients, truth %d", n, len(truth.Persons))
	}
	return status, m
}

func TestServeDemoIndexesArchivesOnly(t *testing.T) {
	t.Parallel() // mostly waiting out Retry-After
	data := t.TempDir()
	cfg := config.Default()
	cfg.DataDir = data
	b, c, stop := startBridge(t, cfg, true)
	truthPath := filepath.Join(data, demoTruth)
	truth, err := synth.ReadTruth(truthPath)
	if err != nil {
		t.Fatal(err)
	}
	var want, got []string
	for _, f := range truth.Files {
		want = append(want, f.Name)
	}
	ents, err := os.ReadDir(filepath.Join(data, demoDir))
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		got = append(got, e.Name())
	}
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("demo directory holds %v, want the archives %v", got, want)
	}
	if _, err := os.Stat(filepath.Join(data, demoDir+".tmp")); !os.IsNotExist(err) {
		t.Errorf("scratch directory left behind (%v)", err)
	}
	status, m := demoErrors(t, c, truth)
	if n := indexCounts(t, b.idx).Records; n != int64(truth.Counts.Messages) {
		t.Errorf("index holds %d records, truth %d messages", n, truth.Counts.Messages)
	}
	fi, _ := os.Stat(truthPath)
	stop()

	// Restart: nothing regenerated, the same files found unchanged.
	b, c, _ = startBridge(t, cfg, true)
	if fi2, err := os.Stat(truthPath); err != nil || !fi2.ModTime().Equal(fi.ModTime()) {
		t.Errorf("demo regenerated at restart (%v)", err)
	}
	st, err := b.p.Update(context.Background())
	if err != nil || st.Files != len(truth.Files) || st.Unchanged != st.Files {
		t.Errorf("restart: update %+v (%v), want %d files all unchanged", st, err, len(truth.Files))
	}
	// The finished export survives the restart (new port, same paths).
	_, job, _ := strings.Cut(status, "/bulkstatus/")
	resp, body := c.do(http.MethodGet, c.base+"/bulkstatus/"+job)
	var m2 manifest
	if resp.StatusCode != http.StatusOK || json.Unmarshal(body, &m2) != nil || len(m2.Output) != len(m.Output) {
		t.Fatalf("restart: status of the earlier export: %d %s", resp.StatusCode, body)
	}
	for i, f := range m2.Output {
		if f.Count != m.Output[i].Count || !strings.HasPrefix(f.URL, c.base+"/") {
			t.Errorf("restart: manifest output %+v, before %+v", f, m.Output[i])
		}
	}
	c.download(m2.Output[0])
	demoErrors(t, c, truth)
}

// A data directory from before the fix has truth.json among the
// archives, and an index holding it as a broken record: both are fixed.
func TestServeDemoMigratesOldLayout(t *testing.T) {
	t.Parallel() // mostly waiting out Retry-After
	data := t.TempDir()
	dir := filepath.Join(data, demoDir)
	if _, err := synth.Generate(dir, demoWorld); err != nil {
		t.Fatal(err)
	}
	truth, err := synth.ReadTruth(filepath.Join(dir, "truth.json"))
	if err != nil {
		t.Fatal(err)
	}
	p, idx, err := openPipeline(archiveSetup{IndexDir: filepath.Join(data, "index"), Reader: v2archive.Options{Encoding: "auto"}}, nil, pipeline.Options{Paths: []string{dir}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.Update(context.Background()); err != nil {
		t.Fatal(err)
	}
	if n := indexCounts(t, idx).Errors; n != int64(len(truth.Broken))+1 {
		t.Fatalf("old layout: index holds %d broken records, want the truth's %d and truth.json", n, len(truth.Broken))
	}
	p.Close()
	cfg := config.Default()
	cfg.DataDir = data
	_, c, _ := startBridge(t, cfg, true)
	if _, err := os.Stat(filepath.Join(dir, "truth.json")); !os.IsNotExist(err) {
		t.Errorf("truth.json still among the archives (%v)", err)
	}
	if _, err := synth.ReadTruth(filepath.Join(data, demoTruth)); err != nil {
		t.Errorf("truth not moved beside the archives: %v", err)
	}
	demoErrors(t, c, truth)
}
