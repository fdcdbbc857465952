package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/iisbridge/iisbridge/membership"
)

func TestGroupsOrganizations(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "c.yaml")
	doc := `groups:
  triggers: {query: false}
  organizations:
    - key: ORG-1
      name: Riverside Health
      senders: [IL1000, "RIVERSIDE|2.16.840.1.113883.3.9"]
      triggers: {vxu: administered}
    - key: ORG-2
      senders: [NORTHPHARM]
  static:
    - name: Demo
      members: [p1]
`
	c, err := Parse(path, []byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Groups.Static) != 1 || c.Groups.Static[0].ID != "demo" {
		t.Fatalf("static %+v", c.Groups.Static)
	}
	p, err := c.Groups.Policy()
	if err != nil {
		t.Fatal(err)
	}
	o, ok := p.Resolve("IL1000", "RIV1|2.16.1", "x")
	if !ok || o.Key != "ORG-1" || o.Triggers != (membership.Triggers{VXU: "administered"}) {
		t.Fatalf("IL1000: %+v %v", o, ok)
	}
	// MSH-4 alone, by its namespace; the organization inherits query: false.
	if o, ok := p.Resolve("NORTHPHARM|2.16.5", "", ""); !ok || o.Key != "ORG-2" || o.Triggers.Query || o.Triggers.VXU != "any" {
		t.Fatalf("NORTHPHARM: %+v %v", o, ok)
	}
	if _, ok := p.Resolve("ELSEWHERE|1.2", "", ""); ok {
		t.Fatal("a sender outside the table resolved")
	}

	bad := `groups:
  triggers: {vxu: sometimes}
  organizations:
    - key: A
      senders: [X]
    - key: B
      senders: [x]
`
	_, err = Parse(path, []byte(bad))
	if err == nil {
		t.Fatal("bad groups accepted")
	}
	for _, want := range []string{`c.yaml:2:`, `vxu: want any, administered or off`, `c.yaml:7:17: groups.organizations[1].senders[0]: "x" is already organization "A"'s`} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
	_, err = Parse(path, []byte("groups:\n  organizations:\n    - key: B\n      senders: [x]\n      bogus: 1\n"))
	for _, want := range []string{`c.yaml:5:7: unknown key "bogus" in groups.organizations[0]`} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}

	gf := filepath.Join(dir, "groups.yaml")
	os.WriteFile(gf, []byte("organizations:\n  - key: A\n    senders: [X]\n"), 0o644)
	if p, err := LoadGroups(gf); err != nil || !p.Table() {
		t.Fatalf("LoadGroups: %v %v", p, err)
	}
	os.WriteFile(gf, []byte("organizations:\n  - name: A\n"), 0o644)
	if _, err := LoadGroups(gf); err == nil || !strings.Contains(err.Error(), "groups.yaml:2:5: groups.organizations[0]: key is required") {
		t.Fatalf("LoadGroups of a bad file: %v", err)
	}
}
