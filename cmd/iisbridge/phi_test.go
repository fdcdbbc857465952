package main

import (
	"bytes"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/iisbridge/iisbridge/sources/synth"
)

// TestLogsHoldNoPHI serves the generated world with every log line kept
// (debug level) through exports, a search by a patient's identifier in
// _typeFilter, a refused query naming a patient and a Group search, then
// looks in the log for each person's names, birth date, identifiers,
// phone and street: the log is read by operators, not by those allowed
// to see the patients.
func TestLogsHoldNoPHI(t *testing.T) {
	t.Parallel() // mostly waiting out Retry-After
	_, truth, cfg := genWorld(t, t.TempDir())
	var log lockedBuf
	_, c, stop := startBridgeLog(t, cfg, false, slog.New(slog.NewTextHandler(&log, &slog.HandlerOptions{Level: slog.LevelDebug})))

	p := truth.Persons[0]
	mrn := p.IDs[0].MRN
	_, m := c.export("/$export", nil)
	downloadAll(c, m)
	_, m = c.export("/Patient/$export", url.Values{"_typeFilter": {"Patient?identifier=" + mrn}})
	if got := downloadAll(c, m)["Patient"]; got == 0 {
		t.Fatalf("_typeFilter by the MRN %s of a person found no Patient", mrn)
	}
	resp, body := c.do(http.MethodGet, c.base+"/Patient/$export?"+url.Values{"_typeFilter": {"Patient?family=" + p.Name.Family}}.Encode(),
		"Accept", "application/fhir+json", "Prefer", "respond-async")
	if resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("_typeFilter on an unsupported parameter: %d %s", resp.StatusCode, body)
	}
	c.do(http.MethodGet, c.base+"/Group?"+url.Values{"identifier": {"urn:x|" + p.Name.Family}}.Encode(), "Accept", "application/fhir+json")
	stop()

	logs := log.String()
	if !strings.Contains(logs, "level=DEBUG") && !strings.Contains(logs, "level=INFO") {
		t.Fatalf("nothing logged: %q", logs)
	}
	for _, p := range truth.Persons {
		for what, v := range phiOf(p) {
			if strings.Contains(logs, v) {
				i := strings.Index(logs, v)
				line := logs[strings.LastIndex(logs[:i], "\n")+1:]
				if j := strings.IndexByte(line, '\n'); j >= 0 {
					line = line[:j]
				}
				t.Errorf("the log holds person %s's %s %q: %s", p.Key, what, v, line)
			}
		}
	}
}

// downloadAll fetches every file of m (without the schema check that
// bulkClient.fetch makes, so that this test runs without the schema) and
// counts the lines per type.
func downloadAll(c *bulkClient, m *manifest) map[string]int {
	c.t.Helper()
	n := map[string]int{}
	for _, f := range append(append(slices.Clone(m.Output), m.Error...), m.Deleted...) {
		resp, body := c.do(http.MethodGet, f.URL, "Accept", "application/fhir+ndjson")
		if resp.StatusCode != http.StatusOK {
			c.t.Fatalf("download %s: %d %s", f.URL, resp.StatusCode, body)
		}
		n[f.Type] += bytes.Count(body, []byte("\n"))
	}
	return n
}

// phiOf is what identifies p, as messages carry it, where it is long
// enough not to match by chance (a family name of three letters, a
// five-digit ZIP code could be any word or number in a log line).
func phiOf(p synth.Person) map[string]string {
	out := map[string]string{}
	add := func(what, v string) {
		if len(v) >= 5 {
			out[what] = v
		}
	}
	add("family name", p.Name.Family)
	add("given name", p.Name.Given)
	add("mother's maiden name", p.MothersMaidenName)
	add("birth date", strings.ReplaceAll(p.BirthDate, "-", ""))
	for i, id := range p.IDs {
		add("identifier "+string(rune('1'+i)), id.MRN)
	}
	add("IIS id", p.IISID)
	add("phone", p.Phone)
	add("street", p.Address.Line)
	return out
}
