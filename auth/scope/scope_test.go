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
		{"system/Patient.cud", "", false},
		{"system/*.cud", "", false},
		{"system/Group.cud", "Group", true},
		{"system/Group.c", "Group", true},
		{"system/Group.ud", "Group", true},
		{"system/Group.write", "Group", true},
		{"system/Group.cruds", "Group", true},
		{"system/Group.dc", "", false},
		{"system/Group.cr", "", false},
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
	reg := []Scope{{"system/Patient.read", "Patient", "rs"}, {"system/Group.rs", "Group", "rs"}}
	g, err := Grant("system/Patient.rs system/Immunization.read system/Group.rs junk system/Patient.rs", reg)
	if err != nil || String(g) != "system/Patient.rs system/Group.rs" {
		t.Errorf("Grant = %q, %v", String(g), err)
	}
	if got := Types(g); !slices.Equal(got, []string{"Patient", "Group"}) {
		t.Errorf("Types = %v", got)
	}
	all := []Scope{{"system/*.read", "*", "rs"}}
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

func TestGroupWrites(t *testing.T) {
	var reg []Scope
	for _, r := range []string{"system/*.rs", "system/Group.cud"} {
		s, err := Parse(r)
		if err != nil {
			t.Fatal(err)
		}
		reg = append(reg, s)
	}
	g, err := Grant("system/Group.rs system/Group.c system/Group.cud system/Group.cruds", reg)
	if err != nil || String(g) != "system/Group.rs system/Group.c system/Group.cud" {
		t.Errorf("Grant = %q, %v (cruds spans two registrations: not granted)", String(g), err)
	}
	if got := Writes(g); !slices.Equal(got, []string{"Group.c", "Group.u", "Group.d"}) {
		t.Errorf("Writes = %v", got)
	}
	if got := Types(g); !slices.Equal(got, []string{"Group"}) {
		t.Errorf("Types = %v (write-only scopes grant no reading)", got)
	}
	// A read registration never covers a write request.
	g, _ = Grant("system/Group.cud system/Group.u", reg[:1])
	if len(g) != 0 {
		t.Errorf("read-only registration granted %q", String(g))
	}
	if w := Writes(reg[:1]); len(w) != 0 {
		t.Errorf("Writes of a read scope = %v", w)
	}
}
