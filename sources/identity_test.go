package sources

import "testing"

func TestNormName(t *testing.T) {
	for in, want := range map[string]string{" Müller ": "MULLER", "peña": "PENA", "O'Brien-Smith": "OBRIEN SMITH", `""`: ""} {
		if got := NormName(in); got != want {
			t.Errorf("NormName(%q) = %q, want %q", in, got, want)
		}
	}
	c := DefaultIdentity()
	for in, want := range map[string]bool{"BABY BOY": true, "TWIN A": true, "Baby Girl 2": true, "JANE": false, "BABY JANE": false} {
		if got := c.Placeholder(NormName(in)); got != want {
			t.Errorf("placeholder(%q) = %v", in, got)
		}
	}
}
