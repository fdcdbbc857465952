package main

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/url"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/iisbridge/iisbridge/match/roster"
)

// TestMatchUploadRoster: `iisbridge match --server` imports a generated
// roster (typos, swapped dates, nicknames, non-members) into a running
// bridge: every row comes back with its outcome, matched rows name the
// truth's person, and the new Group exports exactly the matched Patients.
func TestMatchUploadRoster(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	_, truth, cfg := genWorld(t, dir)
	_, c, _ := startBridge(t, cfg, false)
	_, all := c.export("/Patient/$export", url.Values{"_type": {"Patient"}})
	pidOf := matchPatients(t, truth.Persons, c.fetch(all).byType["Patient"])
	rows, err := roster.Generate(roster.FromSynth(truth.Persons), roster.Config{Seed: 3, Rows: 40})
	if err != nil {
		t.Fatal(err)
	}
	csvPath := filepath.Join(dir, "r.csv")
	if err := roster.WriteFiles(csvPath, filepath.Join(dir, "r.truth.csv"), rows); err != nil {
		t.Fatal(err)
	}
	var stdout, stderr bytes.Buffer
	if code := matchCmd([]string{"--server", c.base, "--roster", csvPath, "--name", "Plan roster", "--out", filepath.Join(dir, "out")}, &stdout, &stderr); code != 0 {
		t.Fatalf("match --server: exit %d: %s", code, stderr.String())
	}
	var got []rowResult
	for _, l := range strings.Split(strings.TrimSpace(stdout.String()), "\n") {
		var r rowResult
		if err := json.Unmarshal([]byte(l), &r); err != nil {
			t.Fatalf("%v: %s", err, l)
		}
		got = append(got, r)
	}
	if len(got) != len(rows) {
		t.Fatalf("%d rows reported for %d rows", len(got), len(rows))
	}
	var matched []string
	wrong := 0
	for i, r := range got {
		if r.Input != rows[i].ID {
			t.Errorf("row %d reported as %q, want %q (in order)", i, r.Input, rows[i].ID)
		}
		switch r.Outcome {
		case "matched":
			if len(r.Candidates) == 0 {
				t.Errorf("row %s matched without its candidate", r.Input)
				continue
			}
			if rows[i].Person == "" || r.Candidates[0].ID != pidOf[rows[i].Person] {
				wrong++
			}
			if !slices.Contains(matched, r.Candidates[0].ID) {
				matched = append(matched, r.Candidates[0].ID)
			}
		case "ambiguous", "not-found":
		default:
			t.Errorf("row %s: outcome %q", r.Input, r.Outcome)
		}
	}
	if len(matched) == 0 || wrong > 0 {
		t.Errorf("%d rows matched, %d of them to another person than the truth's", len(matched), wrong)
	}
	if !strings.Contains(stderr.String(), "Group/g-") {
		t.Fatalf("no Group named: %s", stderr.String())
	}
	gid := strings.Fields(strings.SplitN(stderr.String(), "Group/", 2)[1])[0]
	resp, body := c.do(http.MethodGet, c.base+"/Group/"+gid+"?_summary=true", "Accept", "application/fhir+json")
	if resp.StatusCode != 200 || !bytes.Contains(body, []byte(`"name":"Plan roster"`)) {
		t.Fatalf("Group %s: %d %s", gid, resp.StatusCode, body)
	}
	_, m := c.export("/Group/"+gid+"/$export", url.Values{"_type": {"Patient"}})
	var exported []string
	for _, pt := range c.fetch(m).byType["Patient"] {
		exported = append(exported, str(pt, "id"))
	}
	slices.Sort(exported)
	slices.Sort(matched)
	if !slices.Equal(exported, matched) {
		t.Errorf("Group exports %v, the matched rows are %v", exported, matched)
	}
	t.Logf("%d rows: %d distinct Patients matched; %s", len(rows), len(matched), strings.TrimSpace(stderr.String()))
}
