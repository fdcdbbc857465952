package pipeline

import (
	"context"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/iisbridge/iisbridge/mapping"
	"github.com/iisbridge/iisbridge/sources/synth"
)

// exportJSON is everything an export sent, in order: resources,
// deletions and OperationOutcomes as JSON.
func exportJSON(t *testing.T, p *Pipeline, q Query) (res, deleted, issues []string, st Stats) {
	t.Helper()
	var s memSink
	if err := p.Export(context.Background(), q, &s); err != nil {
		t.Fatal(err)
	}
	for _, r := range s.res {
		res = append(res, string(r.AppendJSON(nil)))
	}
	for _, oo := range s.issues {
		issues = append(issues, string(oo.AppendJSON(nil)))
	}
	return res, s.deleted, issues, p.Stats()
}

// withRecall runs fn with the recall on, then off.
func withRecall(t *testing.T, fn func(on bool)) {
	t.Cleanup(func() { noRecall = false })
	for _, on := range []bool{true, false} {
		noRecall = !on
		fn(on)
	}
}

// sameExport fails unless the two exports sent the same things in the
// same order.
func sameExport(t *testing.T, what string, a, b [3][]string) {
	t.Helper()
	for i, kind := range []string{"resources", "deletions", "issues"} {
		if !slices.Equal(a[i], b[i]) {
			n := min(len(a[i]), len(b[i]))
			for k := 0; k < n; k++ {
				if a[i][k] != b[i][k] {
					t.Fatalf("%s: %s differ at %d of %d/%d:\nwith the recall    %s\nwithout the recall %s", what, kind, k, len(a[i]), len(b[i]), a[i][k], b[i][k])
				}
			}
			t.Fatalf("%s: %d %s with the recall, %d without", what, len(a[i]), kind, len(b[i]))
		}
	}
}

// On a generated world, the export with the recall is the export without
// it, byte for byte and in the same order (Provenance, issues and a
// _since export included), and the recall takes a share of the Patients.
func TestRecallIsExact(t *testing.T) {
	p, _ := genWorld(t, synth.Config{Seed: 7, Messages: 2000, Framings: []string{"msh", "mllp"}})
	for name, q := range map[string]Query{"full": {Provenance: true}, "_since": {Since: time.Date(2026, 1, 1, 0, 0, 30, 0, time.UTC)}} {
		var out [2][3][]string
		var recalled [2]int64
		withRecall(t, func(on bool) {
			res, del, iss, st := exportJSON(t, p, q)
			k := 0
			if !on {
				k = 1
			}
			out[k] = [3][]string{res, del, iss}
			recalled[k] = st.Recalled
		})
		sameExport(t, name, out[0], out[1])
		if recalled[0] == 0 || recalled[1] != 0 {
			t.Fatalf("recalled %d Patients with the recall on, %d with it off", recalled[0], recalled[1])
		}
		t.Logf("%s: %d messages' Patients recalled", name, recalled[0])
	}
}

// A person's Patient that comes back after another is recalled from its
// first message and merged where it came last (the newest wins); a
// Patient whose mapping reported something is mapped again each time, so
// each message's issues are sent.
func TestRecallOrderAndIssues(t *testing.T) {
	dir := t.TempDir()
	arch := filepath.Join(dir, "archive.hl7")
	a := "MRN1^^^CLINIC^MR"
	write(t, arch, false,
		vxu("C1", "CLINIC", "20240101100000", a, "DOE^JANE", "20230101", "F", "1 ELM ST^^TOWN^WI^53703",
			order{orc3: "D1", date: "20240101", cvx: "08", src: "00"}),
		vxu("C2", "CLINIC", "20240201100000", a, "DOE^JANE", "20230101", "F", "2 OAK ST^^TOWN^WI^53703",
			order{orc3: "D2", date: "20240201", cvx: "20", src: "00"}),
		vxu("C3", "CLINIC", "20240301100000", a, "DOE^JANE", "20230101", "F", "1 ELM ST^^TOWN^WI^53703",
			order{orc3: "D3", date: "20240301", cvx: "10", src: "00"}),
		// A birth date the mapping warns about, sent twice.
		vxu("C4", "CLINIC", "20240401100000", "MRN2^^^CLINIC^MR", "ROE^RON", "2023011", "M", "",
			order{orc3: "D4", date: "20240401", cvx: "08", src: "00"}),
		vxu("C5", "CLINIC", "20240501100000", "MRN2^^^CLINIC^MR", "ROE^RON", "2023011", "M", "",
			order{orc3: "D5", date: "20240501", cvx: "20", src: "00"}),
	)
	p, _ := openTest(t, dir, time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), arch)
	var out [2][3][]string
	var recalled [2]int64
	withRecall(t, func(on bool) {
		res, del, iss, st := exportJSON(t, p, Query{Provenance: true})
		k := 0
		if !on {
			k = 1
		}
		out[k] = [3][]string{res, del, iss}
		recalled[k] = st.Recalled
	})
	sameExport(t, "crafted", out[0], out[1])
	if recalled[0] != 1 {
		t.Fatalf("recalled %d Patients, want 1 (the third message's)", recalled[0])
	}
	if iss := out[0][2]; len(iss) != 2 || !strings.Contains(iss[0], "MSH-10 C4 field PID-7") || !strings.Contains(iss[1], "MSH-10 C5 field PID-7") {
		t.Fatalf("want the bad birth date reported for both messages, got %q", iss)
	}
}

// The recall follows what the mapping says, not which mapping it is: a
// renamed copy of the default recalls its Patient; a Patient that reads
// an input of its record (the control id) in a rule, or a mapping with a
// second Patient definition, is not recalled.
func TestRecallFollowsTheMapping(t *testing.T) {
	reds := func(m *mapping.Mapping) []typedReducer {
		r, err := reducers(m)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	if rc := newRecall(mapping.Default(), reds(mapping.Default())); rc == nil || rc.typ != "Patient" {
		t.Fatalf("the default mapping's recall: %+v", rc)
	}
	copied := copyDefault(t, "jurisdiction.yaml", "")
	if rc := newRecall(copied, reds(copied)); rc == nil || rc.typ != "Patient" {
		t.Fatalf("a renamed copy's recall: %+v", rc)
	}
	const lastUpdated = "      - target: meta.lastUpdated\n        value: $input.last_updated\n"
	for name, edit := range map[string]func(string) string{
		"a rule reading $input.control_id": func(s string) string {
			return strings.Replace(s, lastUpdated, lastUpdated+"      - {target: meta.source, value: $input.control_id}\n", 1)
		},
		"a second Patient": func(s string) string {
			return s + "  - resource: Patient\n    when: {value: MSH-9.1, equals: ZZZ}\n    rules:\n      - {target: gender, const: unknown}\n"
		},
	} {
		m := copyDefaultEdited(t, "edited.yaml", func(b []byte) []byte {
			s := edit(string(b))
			if s == string(b) {
				t.Fatalf("%s: the edit changed nothing", name)
			}
			return []byte(s)
		})
		if rc := newRecall(m, reds(m)); rc != nil {
			t.Errorf("%s: recalled %s", name, rc.typ)
		}
	}
}
