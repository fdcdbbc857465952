package membership

import (
	"strings"
	"testing"
)

func TestAccepts(t *testing.T) {
	cases := []struct {
		t    Triggers
		want string // triggers accepted, in the order below
	}{
		{DefaultTriggers(), "vxu vxu-administered vxu-historical vxu-refusal query links"},
		{Triggers{VXU: VXUAdministered, Query: true}, "vxu-administered query links"},
		{Triggers{VXU: VXUOff, UnansweredQuery: true}, "query-matched links"},
	}
	for _, c := range cases {
		var got []string
		for _, tr := range []string{TriggerVXU, TriggerAdministered, TriggerHistorical, TriggerRefusal, TriggerQuery, TriggerQueryMatched, "", "query-unanswered"} {
			if c.t.Accepts(tr) {
				if tr == "" {
					tr = "links"
				}
				got = append(got, tr)
			}
		}
		if strings.Join(got, " ") != c.want {
			t.Errorf("%+v accepts %v, want %s", c.t, got, c.want)
		}
	}
}

func TestResolve(t *testing.T) {
	admin := Triggers{VXU: VXUAdministered}
	p, err := New([]Organization{
		{Key: "A", Name: "Org A", Senders: []string{"IL1000", "clinic-a|1.2.3"}, Triggers: &admin},
		{Key: "B", Senders: []string{"pharm", "9.9.9"}},
	}, DefaultTriggers())
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ org, fac, want string }{
		{"IL1000", "ELSEWHERE|7.7", "A"},  // MSH-22 id
		{"IL2000", "CLINIC-A|1.2.3", "A"}, // unknown MSH-22, MSH-4 whole
		{"CLINIC-A|1.2.3", "", "A"},       // MSH-4 as org key
		{"PHARM|4.4.4", "", "B"},          // by namespace
		{"X|9.9.9", "", "B"},              // by universal id
		{"CLINIC-A|1.2.4", "", ""},        // another OID is another sender
		{"OTHER", "", ""},
	} {
		o, ok := p.Resolve(c.org, c.fac, "msg name")
		if got := map[bool]string{true: o.Key}[ok]; got != c.want {
			t.Errorf("Resolve(%q, %q) = %q, want %q", c.org, c.fac, got, c.want)
		}
	}
	if o, _ := p.Resolve("IL1000", "", ""); o.Name != "Org A" || o.Triggers != admin {
		t.Errorf("A: %+v", o)
	}
	if o, _ := p.Resolve("PHARM", "", ""); o.Name != "B" || o.Triggers != DefaultTriggers() {
		t.Errorf("B takes the key as name and the defaults: %+v", o)
	}
	u := p.Unknown([]Sender{{OrgKey: "IL1000", Records: 3}, {OrgKey: "OTHER", Records: 5}})
	if len(u) != 1 || u[0].OrgKey != "OTHER" {
		t.Errorf("unknown %+v", u)
	}
	if o, ok := Default().Resolve("ANY|1", "", "Any Clinic"); !ok || o.Key != "ANY|1" || o.Name != "Any Clinic" {
		t.Errorf("without a table: %+v %v", o, ok)
	}
	for _, bad := range [][]Organization{
		{{Key: "", Senders: []string{"x"}}},
		{{Key: "A", Senders: []string{"x"}}, {Key: "A", Senders: []string{"y"}}},
		{{Key: "A", Senders: []string{"x"}}, {Key: "B", Senders: []string{"X"}}},
		{{Key: "A"}},
		{{Key: "A", Senders: []string{"x"}, Triggers: &Triggers{VXU: "sometimes"}}},
	} {
		if _, err := New(bad, DefaultTriggers()); err == nil {
			t.Errorf("%+v accepted", bad)
		}
	}
}
