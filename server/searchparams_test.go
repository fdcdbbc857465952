package server

import (
	"os"
	"strings"
	"testing"
)

// TestSearchParamDocs keeps the README's table of search parameters equal
// to the table that parses and evaluates them.
func TestSearchParamDocs(t *testing.T) {
	b, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	i, j := strings.Index(s, searchDocsBegin), strings.Index(s, searchDocsEnd)
	if i < 0 || j < i {
		t.Fatal("README.md lacks the search parameter markers")
	}
	if got := strings.TrimSpace(s[i+len(searchDocsBegin) : j]); got != strings.TrimSpace(searchParamDocs()) {
		t.Errorf("README.md's search parameter table is stale; it should read:\n%s", searchParamDocs())
	}
}

// Every parameter of the table parses, is evaluated, and is named in the
// CapabilityStatement's form (its kind has a FHIR code).
func TestSearchParamTable(t *testing.T) {
	seen := map[string]bool{}
	for _, p := range searchParamTable {
		key := p.typ + "?" + p.name
		if seen[key] {
			t.Errorf("%s defined twice", key)
		}
		seen[key] = true
		if searchKinds[p.kind].code == "" || p.def == "" || p.path == "" {
			t.Errorf("%s: incomplete entry", key)
		}
		var get bool
		switch p.kind {
		case kindDate:
			get = p.dates != nil
		case kindToken:
			get = p.tokens != nil
		default:
			get = p.strings != nil
		}
		if !get {
			t.Errorf("%s: no accessor for a %s parameter", key, searchKinds[p.kind].code)
		}
		value := "x"
		if p.kind == kindDate {
			value = "ge2020-01-01"
		}
		typ, q, bad, err := parseTypeFilter(key+"="+value, func(string) bool { return true })
		if err != nil || len(bad) > 0 || typ != p.typ || len(q.clauses) != 1 {
			t.Errorf("%s: parse: %v %v", key, err, bad)
		}
		for _, m := range searchKinds[p.kind].modifiers {
			if _, _, bad, _ := parseTypeFilter(p.typ+"?"+p.name+":"+m+"="+value, func(string) bool { return true }); len(bad) > 0 {
				t.Errorf("%s:%s refused: %v", key, m, bad)
			}
		}
		if _, _, bad, _ := parseTypeFilter(p.typ+"?"+p.name+":missing="+value, func(string) bool { return true }); len(bad) != 1 {
			t.Errorf("%s:missing accepted", key)
		}
	}
}
