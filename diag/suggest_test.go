package diag

import (
	"strings"
	"testing"
)

func TestNearest(t *testing.T) {
	elems := []string{"birthDate", "gender", "name", "identifier", "address"}
	for _, c := range []struct {
		in, want string
		ok       bool
	}{
		{"brithDate", "birthDate", true},
		{"BirthDate", "birthDate", true},
		{"gendr", "gender", true},
		{"nmae", "name", true},
		{"name", "", false}, // valid already
		{"telecom", "", false},
		{"", "", false},
	} {
		got, ok := Nearest(c.in, elems)
		if got != c.want || ok != c.ok {
			t.Errorf("Nearest(%q) = %q, %v; want %q, %v", c.in, got, ok, c.want, c.ok)
		}
	}
	if got := DidYouMean("uper", []string{"upper", "lower", "trim"}); got != `; did you mean "upper"?` {
		t.Errorf("DidYouMean: %q", got)
	}
	if got := DidYouMean("$sendr", []string{"$sender", "$input.source"}); !strings.Contains(got, "$sender") {
		t.Errorf("DidYouMean variable: %q", got)
	}
}

func TestQuote(t *testing.T) {
	src := []byte("resources:\n  - resource: Patient\n    rules:\n\t- {target: brithDate}\n")
	got := Quote(src, Problem{File: "m.yaml", Line: 2, Col: 15, Msg: "bad"})
	want := "m.yaml:2:15: bad\n    2 |   - resource: Patient\n      |               ^"
	if got != want {
		t.Errorf("Quote:\n%s\nwant:\n%s", got, want)
	}
	// A tab before the column stays a tab, so the caret lines up.
	got = Quote(src, Problem{File: "m.yaml", Line: 4, Col: 12, Msg: "unknown element"})
	if !strings.HasSuffix(got, "| \t          ^") {
		t.Errorf("Quote with tab:\n%q", got)
	}
	// No such line, or a whole-file problem: the header only.
	for _, p := range []Problem{{File: "m.yaml", Line: 40, Col: 1, Msg: "x"}, {File: "m.yaml", Msg: "x"}} {
		if got := Quote(src, p); got != p.String() {
			t.Errorf("Quote(%v) = %q", p, got)
		}
	}
}
