package main

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/iisbridge/iisbridge/config"
	"github.com/iisbridge/iisbridge/sources/synth"
)

// rawExport kicks off a system export and polls it to its end, returning
// the final status code and body (no Fatal on a failed job).
func (c *bulkClient) rawExport(query string) (int, []byte) {
	c.t.Helper()
	resp, body := c.do(http.MethodGet, c.base+"/$export"+query, "Accept", "application/fhir+json", "Prefer", "respond-async")
	if resp.StatusCode != http.StatusAccepted {
		c.t.Fatalf("kick-off: %d %s", resp.StatusCode, body)
	}
	status := resp.Header.Get("Content-Location")
	deadline := time.Now().Add(120 * time.Second) // generous: CI may share the machine
	wait := 10 * time.Millisecond
	for time.Now().Before(deadline) {
		time.Sleep(wait)
		resp, body = c.do(http.MethodGet, status, "Accept", "application/json")
		if resp.StatusCode != http.StatusAccepted {
			return resp.StatusCode, body
		}
		wait, _ = retryAfter(resp)
	}
	c.t.Fatal("export not done in 120 s")
	return 0, nil
}

// lines downloads an NDJSON file of a manifest, without schema checks.
func (c *bulkClient) lines(u string) []map[string]any {
	c.t.Helper()
	resp, body := c.do(http.MethodGet, u, "Accept", "application/fhir+ndjson")
	if resp.StatusCode != http.StatusOK {
		c.t.Fatalf("download %s: %d", u, resp.StatusCode)
	}
	var out []map[string]any
	sc := bufio.NewScanner(bytes.NewReader(body))
	sc.Buffer(nil, 1<<22)
	for sc.Scan() {
		var r map[string]any
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			c.t.Fatal(err)
		}
		out = append(out, r)
	}
	return out
}

// identifiersByPatient maps Patient id → its identifier values, from a
// done manifest; it returns the error file's lines too.
func (c *bulkClient) identifiersByPatient(body []byte) (pats map[string]map[string]bool, issues []map[string]any, m map[string]any) {
	c.t.Helper()
	if err := json.Unmarshal(body, &m); err != nil {
		c.t.Fatal(err)
	}
	pats = map[string]map[string]bool{}
	for _, f := range arr(m, "output") {
		if str(f, "type") != "Patient" {
			continue
		}
		for _, pt := range c.lines(str(f, "url")) {
			ids := map[string]bool{}
			for _, id := range arr(pt, "identifier") {
				ids[str(id, "value")] = true
			}
			pats[str(pt, "id")] = ids
		}
	}
	for _, f := range arr(m, "error") {
		issues = append(issues, c.lines(str(f, "url"))...)
	}
	return pats, issues, m
}

// faultBridge serves a small synthetic world as the source "registry"
// and returns its largest archive file.
func faultBridge(t *testing.T, policy string) (*bridge, *bulkClient, string) {
	t.Helper()
	dir := t.TempDir()
	world := filepath.Join(dir, "world")
	sum, err := synth.Generate(world, synth.Config{Seed: 3, People: 30})
	if err != nil {
		t.Fatal(err)
	}
	os.Remove(filepath.Join(world, "truth.json"))
	big := ""
	var size int64
	for _, f := range sum.Files {
		if fi, err := os.Stat(filepath.Join(world, f)); err == nil && fi.Size() > size && !strings.HasSuffix(f, ".gz") {
			big, size = filepath.Join(world, f), fi.Size()
		}
	}
	cfg := config.Default()
	cfg.DataDir = filepath.Join(dir, "data")
	cfg.Sources = []config.Source{{Name: "registry", Kind: "v2archive", Paths: []string{world}}}
	cfg.Jobs.OnUnreadable = policy
	b, c, _ := startBridge(t, cfg, false)
	return b, c, big
}

var unreadableMetric = regexp.MustCompile(`iisbridge_export_records_unreadable_total\{reason="truncated"\} (\d+)`)

// An archive truncated under the running server: the export fails by
// default, or completes with the loss in the manifest and the error file
// (on_unreadable: warn); what is served is never another person's; the
// loss is counted in /metrics; no server path reaches the client.
func TestHTTPTruncatedSource(t *testing.T) {
	for _, policy := range []string{"fail", "warn"} {
		t.Run(policy, func(t *testing.T) {
			t.Parallel() // mostly waiting out Retry-After
			b, c, big := faultBridge(t, policy)
			code, body := c.rawExport("")
			if code != http.StatusOK {
				t.Fatalf("first export: %d %s", code, body)
			}
			before, _, _ := c.identifiersByPatient(body)
			fi, _ := os.Stat(big)
			if err := os.Truncate(big, fi.Size()/2); err != nil {
				t.Fatal(err)
			}
			code, body = c.rawExport("")
			if strings.Contains(string(body), filepath.Dir(big)) {
				t.Errorf("status names a server path: %s", body)
			}
			lost := 0
			switch policy {
			case "fail":
				if code != http.StatusInternalServerError || !strings.Contains(string(body), "could not be read") ||
					!strings.Contains(string(body), "truncated") {
					t.Fatalf("export of a truncated source: %d %s; want a failed job saying what was lost", code, body)
				}
			case "warn":
				if code != http.StatusOK {
					t.Fatalf("export of a truncated source: %d %s", code, body)
				}
				pats, issues, m := c.identifiersByPatient(body)
				ext := obj(obj(m, "extension"), "http://iisbridge.dev/fhir/StructureDefinition/unreadable-records")
				n, _ := ext["count"].(float64)
				if n == 0 || !strings.Contains(str(ext, "message"), "truncated") {
					t.Fatalf("manifest without the loss extension: %s", body)
				}
				incomplete, leftOut := 0, 0
				for _, oo := range issues {
					b, _ := json.Marshal(oo)
					if strings.Contains(string(b), filepath.Dir(big)) {
						t.Errorf("error file names a server path: %s", b)
					}
					if strings.Contains(string(b), `"code":"incomplete","details":{"text":"this export is incomplete: `) {
						incomplete++
					}
					if strings.Contains(string(b), "indexed message left out of this export") {
						leftOut++
						if !strings.Contains(string(b), `"registry/`+filepath.Base(big)) {
							t.Errorf("left-out issue does not name the file by source: %s", b)
						}
					}
				}
				if incomplete != 1 || leftOut != int(n) {
					t.Errorf("error file: %d incomplete outcomes, %d left-out records; manifest counts %v", incomplete, leftOut, n)
				}
				for id, ids := range pats {
					for v := range ids {
						if !before[id][v] {
							t.Errorf("Patient %s now carries identifier %s it did not have", id, v)
						}
					}
				}
				lost = int(n)
			}
			_, mb := c.do(http.MethodGet, strings.TrimSuffix(c.base, "/fhir")+"/metrics")
			g := unreadableMetric.FindSubmatch(mb)
			if g == nil {
				t.Fatalf("/metrics has no unreadable-records counter:\n%s", mb)
			}
			if k, _ := strconv.Atoi(string(g[1])); k == 0 || (lost > 0 && k != lost) {
				t.Errorf("/metrics counts %d unreadable records, the export %d", k, lost)
			}
			// The next index update reads the truncated file again: the
			// export is complete (what remains) and says nothing is lost.
			if _, err := b.p.Update(t.Context()); err != nil {
				t.Fatal(err)
			}
			code, body = c.rawExport("")
			if code != http.StatusOK || strings.Contains(string(body), "unreadable-records") {
				t.Fatalf("after the update: %d %s", code, body)
			}
		})
	}
}

// An archive gzipped under the running server (the plain file replaced by
// its .gz): the export before the next index update fails (its messages
// are gone from where they were indexed); after it the messages are
// served from the gzip file, the same Patients as before, nothing lost.
func TestHTTPGzippedSourceKeepsServing(t *testing.T) {
	t.Parallel()
	b, c, big := faultBridge(t, "fail")
	code, body := c.rawExport("")
	if code != http.StatusOK {
		t.Fatalf("first export: %d %s", code, body)
	}
	before, _, _ := c.identifiersByPatient(body)
	data, err := os.ReadFile(big)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	zw.Write(data)
	zw.Close()
	os.WriteFile(big+".gz", buf.Bytes(), 0o644)
	os.Remove(big)
	if code, body = c.rawExport(""); code != http.StatusInternalServerError || !strings.Contains(string(body), "gone") {
		t.Fatalf("export with the file gzipped away: %d %s; want a failed job (records gone)", code, body)
	}
	st, err := b.p.Update(t.Context())
	if err != nil || st.Moved != 1 || st.Dropped != 0 {
		t.Fatalf("update: %+v %v; want the file found again, moved", st, err)
	}
	code, body = c.rawExport("")
	if code != http.StatusOK || strings.Contains(string(body), "unreadable-records") {
		t.Fatalf("after the update: %d %s", code, body)
	}
	after, _, _ := c.identifiersByPatient(body)
	if len(after) != len(before) {
		t.Fatalf("%d Patients after the move, %d before", len(after), len(before))
	}
	for id, ids := range before {
		if len(after[id]) != len(ids) {
			t.Errorf("Patient %s: identifiers %v, before %v", id, after[id], ids)
		}
	}
	_, mb := c.do(http.MethodGet, strings.TrimSuffix(c.base, "/fhir")+"/metrics")
	if !strings.Contains(string(mb), `iisbridge_index_files_total{event="moved"} 1`) {
		t.Errorf("/metrics does not count the moved file:\n%s", mb)
	}
}

// swapWorld writes an archive of 42 one-VXU persons whose 21st and 22nd
// messages have the same length, and returns it with their spans.
func swapWorld(t *testing.T, path string) (data []byte, x, y [2]int) {
	t.Helper()
	var b strings.Builder
	for i := range 42 {
		n := strconv.Itoa(100 + i)
		start := b.Len()
		b.WriteString("MSH|^~\\&|EHR|CLINICA|IIS|MYIIS|20240101120000||VXU^V04^VXU_V04|C" + n + "|P|2.5.1\r" +
			"PID|1||M" + n + "^^^CLINICA^MR||FAMILY" + n + "^GIVEN||20200101|F\r" +
			"ORC|RE||O" + n + "^CLINICA\rRXA|0|1|20240101||08^HepB^CVX|0.5|mL^mL^UCUM||00^x^NIP001||||||L1||MSD^Merck^MVX|||CP|A\r\n")
		switch i {
		case 20:
			x = [2]int{start, b.Len()}
		case 21:
			y = [2]int{start, b.Len()}
		}
	}
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	return []byte(b.String()), x, y
}

// Two same-length VXUs of different persons swapped in the middle of a
// served file (modification time set back): over HTTP no Patient is
// served with another person's data, the export says what it left out,
// and the next update reads the file again.
func TestHTTPSwappedMessages(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	arch := filepath.Join(dir, "world", "a.hl7")
	os.MkdirAll(filepath.Dir(arch), 0o755)
	data, x, y := swapWorld(t, arch)
	cfg := config.Default()
	cfg.DataDir = filepath.Join(dir, "data")
	cfg.Sources = []config.Source{{Name: "registry", Kind: "v2archive", Paths: []string{arch}}}
	cfg.Jobs.OnUnreadable = "warn"
	b, c, _ := startBridge(t, cfg, false)
	code, body := c.rawExport("")
	if code != http.StatusOK {
		t.Fatalf("first export: %d %s", code, body)
	}
	before, _, _ := c.identifiersByPatient(body)
	if len(before) != 42 {
		t.Fatalf("%d Patients, want 42", len(before))
	}
	fi, _ := os.Stat(arch)
	sw := bytes.Clone(data)
	copy(sw[x[0]:x[1]], data[y[0]:y[1]])
	copy(sw[y[0]:y[1]], data[x[0]:x[1]])
	f, _ := os.OpenFile(arch, os.O_WRONLY, 0)
	f.WriteAt(sw, 0)
	f.Close()
	os.Chtimes(arch, fi.ModTime(), fi.ModTime())
	check := func(body []byte) (map[string]map[string]bool, map[string]any) {
		pats, _, m := c.identifiersByPatient(body)
		for id, ids := range pats {
			for v := range ids {
				if !before[id][v] {
					t.Errorf("Patient %s served with identifier %s, another person's", id, v)
				}
			}
		}
		return pats, m
	}
	code, body = c.rawExport("")
	if code != http.StatusOK {
		t.Fatalf("export after the swap: %d %s", code, body)
	}
	pats, m := check(body)
	ext := obj(obj(m, "extension"), "http://iisbridge.dev/fhir/StructureDefinition/unreadable-records")
	if n, _ := ext["count"].(float64); n != 2 || !strings.Contains(str(ext, "message"), "2 changed") || len(pats) != 40 {
		t.Fatalf("export after the swap: %d Patients, loss %v; want the 2 swapped left out as changed", len(pats), ext)
	}
	st, err := b.p.Update(t.Context())
	if err != nil || st.Unchanged != 0 || st.Rewritten != 1 {
		t.Fatalf("update after the swap: %+v %v; want the file read again", st, err)
	}
	code, body = c.rawExport("")
	if pats, m := check(body); code != http.StatusOK || len(pats) != 42 || m["extension"] != nil {
		t.Fatalf("after the update: %d, %d Patients: %s", code, len(pats), body)
	}
}

// The serve loop updates the index as soon as an export reports it
// behind the archive, not at the next refresh an interval later.
func TestRefreshLoopUpdatesAStaleIndex(t *testing.T) {
	defer func(d time.Duration) { staleCheck = d }(staleCheck)
	staleCheck = 20 * time.Millisecond
	b, c, big := faultBridge(t, "fail")
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() {
		refreshLoop(ctx, b, time.Hour, slog.New(slog.NewTextHandler(io.Discard, nil)))
		close(done)
	}()
	defer func() { cancel(); <-done }()
	data, _ := os.ReadFile(big)
	os.Rename(big, big+".1")
	os.WriteFile(big, data[:len(data)/3], 0o644)
	if code, body := c.rawExport(""); code != http.StatusInternalServerError {
		t.Fatalf("export after the rotation: %d %s; want failed", code, body)
	}
	deadline := time.Now().Add(10 * time.Second)
	for b.p.IngestCounts()["moved"] == 0 && time.Now().Before(deadline) { // counted when the update is done
		time.Sleep(20 * time.Millisecond)
	}
	if code, body := c.rawExport(""); code != http.StatusOK {
		t.Fatalf("export after the prompt update: %d %s", code, body)
	}
}

// An archive rewritten while an export runs (its messages rotated, so
// every recorded offset now holds other bytes, at the same size): however
// the rewrite and the export interleave, no Patient is served with another
// person's identifiers, and an export that could not read every record
// says so in its manifest rather than ending silently short.
func TestHTTPArchiveRewrittenDuringExport(t *testing.T) {
	_, c, big := faultBridge(t, "warn")
	code, body := c.rawExport("")
	if code != http.StatusOK {
		t.Fatalf("first export: %d %s", code, body)
	}
	before, _, _ := c.identifiersByPatient(body)
	data, err := os.ReadFile(big)
	if err != nil {
		t.Fatal(err)
	}
	// Rotate at a message start near the middle: same size, other bytes
	// at almost every recorded offset.
	k := bytes.Index(data[len(data)/2:], []byte("MSH|"))
	if k < 0 {
		t.Fatal("no message start in the second half")
	}
	k += len(data) / 2
	rotated := append(append([]byte{}, data[k:]...), data[:k]...)

	resp, kb := c.do(http.MethodGet, c.base+"/$export", "Accept", "application/fhir+json", "Prefer", "respond-async")
	if resp.StatusCode != http.StatusAccepted {
		t.Fatalf("kick-off: %d %s", resp.StatusCode, kb)
	}
	if err := os.WriteFile(big, rotated, 0o644); err != nil { // while the job runs (or just after)
		t.Fatal(err)
	}
	status := resp.Header.Get("Content-Location")
	deadline := time.Now().Add(120 * time.Second) // generous: CI may share the machine
	for {
		if time.Now().After(deadline) {
			t.Fatal("export not done in 120 s")
		}
		time.Sleep(50 * time.Millisecond)
		resp, body = c.do(http.MethodGet, status, "Accept", "application/json")
		if resp.StatusCode == http.StatusTooManyRequests {
			// Polled faster than Retry-After advises (a slow export on a
			// busy machine): wait as told.
			time.Sleep(time.Second)
			continue
		}
		if resp.StatusCode != http.StatusAccepted {
			break
		}
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("export during the rewrite: %d %s", resp.StatusCode, body)
	}
	pats, _, m := c.identifiersByPatient(body)
	for id, ids := range pats {
		for v := range ids {
			if !before[id][v] {
				t.Errorf("Patient %s carries identifier %s it did not have: another person's bytes were mapped", id, v)
			}
		}
	}
	lost := obj(obj(m, "extension"), "http://iisbridge.dev/fhir/StructureDefinition/unreadable-records")
	if lost == nil && len(pats) != len(before) {
		t.Errorf("%d Patients against %d before, and the manifest reports no loss", len(pats), len(before))
	}
	t.Logf("%d of %d Patients served; loss reported: %v", len(pats), len(before), lost != nil)
}
