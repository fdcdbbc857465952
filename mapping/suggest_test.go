package mapping

import "testing"

func TestSuggestions(t *testing.T) {
	for _, c := range []struct{ got, want string }{
		{suggestElement("Patient", "brithDate"), `; did you mean "birthDate"?`},
		{suggestElement("HumanName", "famly"), `; did you mean "family"?`},
		{suggestElement("Patient", "zzzzzz"), ``},
		{suggestFunction("uper"), `; did you mean "upper"?`},
		{suggestFunction("datetme"), `; did you mean "datetime"?`},
		{suggestVariable("sendr", []string{"sender", "patient"}), `; did you mean "$sender"?`},
		{suggestVariable("input.patent_id", nil), `; did you mean "$input.patient_id"?`},
		{suggestKey("valeu", []string{"target", "value", "const"}), `; did you mean "value"?`},
		{suggestKey("mtach", []string{"match", "rules"}), `; did you mean "match"?`},
	} {
		if c.got != c.want {
			t.Errorf("got %q, want %q", c.got, c.want)
		}
	}
}
