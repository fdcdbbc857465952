package pipeline

import (
	"context"
	"fmt"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/iisbridge/iisbridge/fhirout"
	"github.com/iisbridge/iisbridge/fhirout/fhirtest"
	"github.com/iisbridge/iisbridge/membership"
	"github.com/iisbridge/iisbridge/sources/synth"
	"github.com/iisbridge/iisbridge/sources/synth/synthtest"
)

// genWorld writes a synthetic archive and opens a pipeline over it.
func genWorld(t testing.TB, cfg synth.Config) (*Pipeline, *synth.Truth) {
	t.Helper()
	dir := t.TempDir()
	sum, err := synth.Generate(dir, cfg)
	if err != nil {
		t.Fatal(err)
	}
	truth, err := synth.ReadTruth(filepath.Join(dir, "truth.json"))
	if err != nil {
		t.Fatal(err)
	}
	var paths []string
	for _, f := range sum.Files {
		paths = append(paths, filepath.Join(dir, f))
	}
	p, _ := openTest(t, dir, time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), paths...)
	return p, truth
}

func idents(pt *fhirout.Object) []string {
	var out []string
	for _, v := range list(pt, "identifier") {
		io := v.(*fhirout.Object)
		typ := ""
		for _, c := range list(child(io, "type"), "coding") {
			typ = str(c.(*fhirout.Object), "code")
		}
		out = append(out, typ+"|"+str(io, "value"))
	}
	return out
}

// TestSynthTruth checks the export against the generator's truth: one
// Patient per person holding all of its ids, the final dose set, the
// deletions, the unseen-D warnings and the memberships.
func TestSynthTruth(t *testing.T) {
	p, truth := genWorld(t, synth.Config{Seed: 7, People: 60})
	ctx := context.Background()
	var s memSink
	if err := p.Export(ctx, Query{Since: time.Unix(1, 0), SourceIssues: true}, &s); err != nil {
		t.Fatal(err)
	}
	pats := s.of("Patient")
	if len(pats) != len(truth.Persons) {
		t.Errorf("%d Patients, truth has %d persons", len(pats), len(truth.Persons))
	}
	// Which Patients hold each id.
	holders := map[string][]string{}
	byID := map[string]*fhirout.Object{}
	for _, pt := range pats {
		byID[pt.ID()] = pt
		seen := map[string]bool{}
		for _, k := range idents(pt) {
			if !seen[k] {
				seen[k] = true
				holders[k] = append(holders[k], pt.ID())
			}
		}
	}
	pidOf, problems := synthtest.MatchPatients(truth.Persons, holders)
	for _, p := range problems {
		t.Error(p)
	}
	for _, tp := range truth.Persons {
		pt := byID[pidOf[tp.Key]]
		if pt == nil {
			t.Errorf("person %s: no Patient", tp.Key)
			continue
		}
		// Demographics: the latest wins; the former names are kept as old.
		n0 := list(pt, "name")[0].(*fhirout.Object)
		if str(n0, "family") != tp.Name.Family || !strings.HasPrefix(strs(n0, "given"), tp.Name.Given) ||
			str(pt, "birthDate") != tp.BirthDate {
			t.Errorf("person %s: current name/birth date differ from truth", tp.Key)
		}
		olds := 0
		for _, n := range list(pt, "name") {
			if str(n.(*fhirout.Object), "use") == "old" {
				olds++
			}
		}
		if olds < len(tp.FormerNames) {
			t.Errorf("person %s: %d old names, truth has %d former names", tp.Key, olds, len(tp.FormerNames))
		}
		if a := list(pt, "address"); len(a) == 0 || strs(a[0].(*fhirout.Object), "line") != tp.Address.Line {
			t.Errorf("person %s: current address differs from truth", tp.Key)
		}
	}
	// Doses per Patient.
	got := map[string][]string{}
	for _, im := range s.of("Immunization") {
		pid := strings.TrimPrefix(str(child(im, "patient"), "reference"), "Patient/")
		got[pid] = append(got[pid], cvxDates([]*fhirout.Object{im})[0])
	}
	deleted := 0
	for _, tp := range truth.Persons {
		var want []string
		for _, d := range tp.Doses {
			if d.Status == "entered-in-error" {
				deleted++
				continue
			}
			want = append(want, d.CVX+"@"+d.Date+"/"+d.Status+"/"+d.Lot)
		}
		sort.Strings(want)
		g := got[pidOf[tp.Key]]
		sort.Strings(g)
		if strings.Join(g, " ") != strings.Join(want, " ") {
			t.Errorf("person %s doses:\n got %v\nwant %v", tp.Key, g, want)
		}
	}
	if len(s.deleted) != deleted {
		t.Errorf("%d deletions listed, truth has %d deleted doses", len(s.deleted), deleted)
	}
	if st := p.Stats(); st.UnseenDeletes != int64(len(truth.UnseenDeletes)) {
		t.Errorf("%d unseen deletes, truth %d", st.UnseenDeletes, len(truth.UnseenDeletes))
	}
	// Memberships, under each trigger policy: the ledger's evidence, by
	// the policy, equals the truth's.
	var sizes []int
	seen := map[string]bool{}
	for _, pol := range []membership.Triggers{
		membership.DefaultTriggers(),
		{VXU: membership.VXUAdministered, Query: true},
		{VXU: membership.VXUAny},
		{VXU: membership.VXUOff, Query: true},
	} {
		var wantM, gotM []string
		for _, l := range truth.Links {
			if sp, ok := l.Span(pol.Accepts); ok {
				wantM = append(wantM, fmt.Sprintf("%s>%s %s..%s", l.OrgKey, pidOf[l.Person], sp.First.UTC().Format(time.RFC3339), sp.Last.UTC().Format(time.RFC3339)))
			}
		}
		type span struct{ first, last time.Time }
		agg := map[string]*span{}
		p.Memberships(ctx, func(m Membership) error {
			if !pol.Accepts(m.Trigger) {
				return nil
			}
			k := m.OrgKey + ">" + m.PatientID
			if a := agg[k]; a == nil {
				agg[k] = &span{m.First, m.Last}
			} else {
				a.first, a.last = minTime(a.first, m.First), maxTime(a.last, m.Last)
			}
			return nil
		})
		for k, a := range agg {
			gotM = append(gotM, fmt.Sprintf("%s %s..%s", k, a.first.Format(time.RFC3339), a.last.Format(time.RFC3339)))
		}
		sizes = append(sizes, len(wantM))
		sort.Strings(wantM)
		if seen[strings.Join(wantM, "\n")] {
			t.Errorf("policy %+v gives the memberships of another: the world does not tell them apart", pol)
		}
		seen[strings.Join(wantM, "\n")] = true
		sort.Strings(gotM)
		if strings.Join(gotM, "\n") != strings.Join(wantM, "\n") {
			t.Errorf("memberships under %+v:\n got %d %v\nwant %d %v", pol, len(gotM), gotM, len(wantM), wantM)
		}
	}
	t.Logf("memberships by policy (default, administered, no queries, queries only): %v", sizes)
	// In = out: every record of the archive is accounted for.
	snap, _ := p.idx.Snapshot(ctx)
	c, _ := snap.Counts(ctx)
	snap.Close()
	if c.Records != int64(truth.Counts.Messages) || c.Errors != int64(len(truth.Broken)) ||
		c.Skipped != int64(truth.Counts.ByKind["ACK"]) || c.Queries != int64(truth.Counts.ByKind["QBP"]) {
		t.Errorf("index counts %+v vs truth %+v", c, truth.Counts)
	}
	if st := p.Stats(); st.Messages+st.ReadErrors != c.Person || st.ReadErrors != 0 || st.Problems != c.Errors+c.Warnings {
		t.Errorf("export stats %+v vs index %+v", st, c)
	}
	// Parallel and sequential exports are the same stream.
	seq := func(workers int) string {
		p.workers = workers
		var m memSink
		if err := p.Export(ctx, Query{Since: time.Unix(1, 0), SourceIssues: true}, &m); err != nil {
			t.Fatal(err)
		}
		var b strings.Builder
		for _, r := range m.res {
			b.WriteString(r.ResourceType() + "/" + r.ID() + " ")
		}
		return b.String() + strings.Join(m.deleted, " ") + fmt.Sprint(len(m.issues))
	}
	if a, b := seq(1), seq(3); a != b {
		t.Errorf("sequential and parallel exports differ")
	}
	for _, r := range s.res[:min(len(s.res), 200)] {
		fhirtest.Validate(t, []byte(r.String()))
	}
}

func minTime(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}

func maxTime(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}
