package scope

import (
	"errors"
	"slices"
	"testing"
)

func TestParse(t *testing.T) {
	for _, c := range []struct {
		in, typ string
		ok      bool
	}{
		{"system/*.read", "*", true},
		{"system/*.rs", "*", true},
		{"system/Patient.read", "Patient", true},
		{"system/Immunization.rs", "Immunization", true},
		{"system/Patient.cruds", "Patient", true},
		{"system/Patient.*", "Patient", true},
		{"system/Patient.r", "", false},
		{"system/Patient.sr", "", false},
		{"system/Patient.write", "", false},
		{"patient/Patient.read", "", false},
		{"user/*.rs", "", false},
		{"system/patient.read", "", false},
		{"system/Patient", "", false},
		{"openid", "", false},
	} {
		s, err := Parse(c.in)
		if (err == nil) != c.ok || s.Type != c.typ {
			t.Errorf("Parse(%q) = %+v, %v; want type %q ok %v", c.in, s, err, c.typ, c.ok)
		}
	}
	if _, err := Parse("system/Immunization.rs?status=completed"); !errors.Is(err, ErrGranular) {
		t.Errorf("granular: %v", err)
	}
}

func TestGrant(t *testing.T) {
	reg := []Scope{{"system/Patient.read", "Patient"}, {"system/Group.rs", "Group"}}
	g, err := Grant("system/Patient.rs system/Immunization.read system/Group.rs junk system/Patient.rs", reg)
	if err != nil || String(g) != "system/Patient.rs system/Group.rs" {
		t.Errorf("Grant = %q, %v", String(g), err)
	}
	if got := Types(g); !slices.Equal(got, []string{"Patient", "Group"}) {
		t.Errorf("Types = %v", got)
	}
	all := []Scope{{"system/*.read", "*"}}
	g, _ = Grant("system/*.rs", all)
	if String(g) != "system/*.rs" || !slices.Equal(Types(g), []string{"*"}) {
		t.Errorf("wildcard grant %q", String(g))
	}
	if g, _ := Grant("system/*.rs", reg); len(g) != 0 {
		t.Errorf("a wildcard request is granted by narrower registrations: %q", String(g))
	}
	if _, err := Grant("system/Patient.rs system/Immunization.rs?status=completed", all); !errors.Is(err, ErrGranular) {
		t.Errorf("granular request: %v", err)
	}
}
