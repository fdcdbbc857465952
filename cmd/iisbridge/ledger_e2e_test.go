package main

import (
	"encoding/json"
	"net/http"
	"net/url"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/iisbridge/iisbridge/config"
	"github.com/iisbridge/iisbridge/membership"
	"github.com/iisbridge/iisbridge/server"
	"github.com/iisbridge/iisbridge/sources/synth"
)

// TestEndToEndLearnedGroupsByPolicy: generated logs from several
// facilities, an organizations table joining two of them into one
// organization and leaving some out, and each trigger policy in turn
// (the index is built once: a policy change needs no re-index). Each
// organization's Group exports exactly the Patients the truth's evidence
// gives under the policy, member.period.start is the first evidence, and
// the senders outside the table are counted in /metrics and make no
// Group.
func TestEndToEndLearnedGroupsByPolicy(t *testing.T) {
	t.Parallel() // mostly waiting out Retry-After
	dir := t.TempDir()
	world := filepath.Join(dir, "world")
	// A third of the single-match queries lose their answer: matched on
	// their demographics under unanswered_query.
	if _, err := synth.Generate(world, synth.Config{Seed: 7, People: 60, UnansweredQueries: 0.35}); err != nil {
		t.Fatal(err)
	}
	truth, err := synth.ReadTruth(filepath.Join(world, "truth.json"))
	if err != nil {
		t.Fatal(err)
	}
	cfg := config.Default()
	cfg.DataDir = filepath.Join(dir, "data")
	cfg.Sources = []config.Source{{Name: "synth", Kind: "v2archive", Paths: []string{filepath.Join(world, "*.hl7*")}}}
	// Facilities where policies differ most first (refusal- or
	// history-only VXUs, queries), so each policy changes the Groups.
	fs := slices.Clone(truth.Facilities)
	differ := map[string]int{}
	for i := range truth.Links {
		l := &truth.Links[i]
		a, _ := l.Span(membership.DefaultTriggers().Accepts)
		b, ok := l.Span(membership.Triggers{VXU: membership.VXUAdministered, Query: true}.Accepts)
		if !ok || a != b {
			differ[l.Facility]++
		}
		if l.Evidence["query-matched"] != nil {
			differ[l.Facility]++
		}
	}
	slices.SortStableFunc(fs, func(a, b synth.Organization) int { return differ[b.Key] - differ[a.Key] })
	if len(fs) < 5 {
		t.Fatalf("want at least 5 facilities, the world has %d", len(fs))
	}
	// ORG-A: facility 0 by its org key (MSH-22 id or MSH-4), facility 1 by
	// its MSH-4 namespace alone; ORG-B: facility 2 by MSH-4 "namespace|OID".
	// The rest are outside the table.
	members := map[string][]string{"ORG-A": {fs[0].Key, fs[1].Key}, "ORG-B": {fs[2].Key}}
	orgs := []config.Organization{
		{Key: "ORG-A", Name: "Org A", Senders: []string{fs[0].OrgKey, fs[1].Key}},
		{Key: "ORG-B", Senders: []string{fs[2].Key + "|" + fs[2].OID}},
	}
	unknown := map[string]bool{}
	for _, f := range fs[3:] {
		unknown[f.Key] = true
	}
	var unknownRecords int
	for _, m := range truth.Messages {
		if unknown[m.Sender] && (m.Kind == "VXU" || m.Kind == "QBP") {
			unknownRecords++
		}
	}
	no, yes := false, true
	policies := []struct {
		name string
		def  config.Triggers
		b    *config.Triggers // ORG-B's own
	}{
		{"default", config.Triggers{}, nil},
		{"administered", config.Triggers{VXU: "administered"}, nil},
		{"no queries, ORG-B queries only", config.Triggers{Query: &no}, &config.Triggers{VXU: "off", Query: &yes}},
		{"unanswered queries matched", config.Triggers{UnansweredQuery: &yes}, nil},
	}
	var prev string
	sigs := map[string]string{} // members and period starts → policy
	for _, pol := range policies {
		cfg.Groups = config.Groups{Organizations: slices.Clone(orgs), Triggers: pol.def}
		cfg.Groups.Organizations[1].Triggers = pol.b
		mp, err := cfg.Groups.Policy()
		if err != nil {
			t.Fatal(err)
		}
		_, c, stop := startBridge(t, cfg, false)
		_, all := c.export("/Patient/$export", url.Values{"_type": {"Patient"}})
		pidOf := matchPatients(t, truth.Persons, c.fetch(all).byType["Patient"])
		var sig strings.Builder
		for _, key := range []string{"ORG-A", "ORG-B"} {
			o, _ := mp.Resolve(orgs[slices.IndexFunc(orgs, func(o config.Organization) bool { return o.Key == key })].Senders[0], "", "")
			want := expectedMembers(truth, members[key], o.Triggers, pidOf)
			resp, body := c.do(http.MethodGet, c.base+"/Group?"+url.Values{"identifier": {server.GroupIdentifierSystem + "|" + key}}.Encode(), "Accept", "application/fhir+json")
			bundle := map[string]any{}
			decodeJSON(t, resp, body, &bundle)
			entries := arr(bundle, "entry")
			if len(want) == 0 {
				if len(entries) != 0 {
					t.Errorf("%s, %s: a Group although no evidence is accepted", pol.name, key)
				}
				continue
			}
			if len(entries) != 1 {
				t.Fatalf("%s: Group %s: %d found: %s", pol.name, key, len(entries), body)
			}
			g := obj(entries[0], "resource")
			got := map[string]string{}
			for _, mb := range arr(g, "member") {
				got[strings.TrimPrefix(str(obj(mb, "entity"), "reference"), "Patient/")] = str(obj(mb, "period"), "start")
			}
			for pid, first := range want {
				if got[pid] == "" {
					t.Errorf("%s, %s: Patient %s missing", pol.name, key, pid)
				} else if ts, _ := time.Parse(time.RFC3339, got[pid]); !ts.Equal(first) {
					t.Errorf("%s, %s: Patient %s period.start %s, want the first evidence %s", pol.name, key, pid, got[pid], first.Format(time.RFC3339))
				}
			}
			for pid := range got {
				if _, ok := want[pid]; !ok {
					t.Errorf("%s, %s: Patient %s is not a member by the truth", pol.name, key, pid)
				}
			}
			// The Group's export: exactly its members' Patients.
			_, m := c.export("/Group/"+str(g, "id")+"/$export", url.Values{"_type": {"Patient"}})
			var exported []string
			for _, pt := range c.fetch(m).byType["Patient"] {
				exported = append(exported, str(pt, "id"))
			}
			slices.Sort(exported)
			wantIDs := slices.Sorted(func(yield func(string) bool) {
				for k := range want {
					if !yield(k) {
						return
					}
				}
			})
			if !slices.Equal(exported, wantIDs) {
				t.Errorf("%s, %s: export Patients %v, want %v", pol.name, key, exported, wantIDs)
			}
			sig.WriteString(key + ":")
			for _, id := range wantIDs {
				sig.WriteString(id + "@" + want[id].Format(time.RFC3339) + ",")
			}
			t.Logf("%s: %s has %d members", pol.name, key, len(want))
		}
		if sig.String() == prev || sigs[sig.String()] != "" {
			t.Errorf("%s: the same members as the policy %q: the world does not tell them apart", pol.name, sigs[sig.String()])
		}
		prev = sig.String()
		sigs[prev] = pol.name
		// Only the table's organizations have learned Groups.
		resp, body := c.do(http.MethodGet, c.base+"/Group?_summary=count", "Accept", "application/fhir+json")
		bundle := map[string]any{}
		decodeJSON(t, resp, body, &bundle)
		if n, _ := bundle["total"].(float64); n > 2 {
			t.Errorf("%s: %v Groups; senders outside the table make none", pol.name, bundle["total"])
		}
		// Unknown senders in /metrics.
		_, mb := c.do(http.MethodGet, strings.TrimSuffix(c.base, "/fhir")+"/metrics")
		if got := metric(t, mb, "iisbridge_group_unknown_sender_records"); got != unknownRecords || unknownRecords == 0 {
			t.Errorf("%s: unknown sender records %d, want %d", pol.name, got, unknownRecords)
		}
		if got := metric(t, mb, "iisbridge_group_unknown_senders"); got < 1 || got > len(unknown) {
			t.Errorf("%s: unknown senders %d, want 1..%d", pol.name, got, len(unknown))
		}
		stop()
	}
}

// expectedMembers is the truth's Group of the facilities under triggers:
// Patient id → first accepted evidence.
func expectedMembers(truth *synth.Truth, facilities []string, tr membership.Triggers, pidOf map[string]string) map[string]time.Time {
	out := map[string]time.Time{}
	for i := range truth.Links {
		l := &truth.Links[i]
		if !slices.Contains(facilities, l.Facility) {
			continue
		}
		sp, ok := l.Span(tr.Accepts)
		if !ok {
			continue
		}
		pid := pidOf[l.Person]
		if f, seen := out[pid]; !seen || sp.First.Before(f) {
			out[pid] = sp.First
		}
	}
	return out
}

func decodeJSON(t *testing.T, resp *http.Response, body []byte, v any) {
	t.Helper()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("%s: %d: %s", resp.Request.URL, resp.StatusCode, body)
	}
	if err := json.Unmarshal(body, v); err != nil {
		t.Fatalf("%s: %v", resp.Request.URL, err)
	}
}

// metric reads an unlabelled gauge or counter from a Prometheus text page.
func metric(t *testing.T, page []byte, name string) int {
	t.Helper()
	m := regexp.MustCompile(`(?m)^` + name + ` ([0-9.e+]+)$`).FindSubmatch(page)
	if m == nil {
		t.Fatalf("/metrics has no %s", name)
	}
	f, _ := strconv.ParseFloat(string(m[1]), 64)
	return int(f)
}
