package diag

import "testing"

func TestString(t *testing.T) {
	for _, c := range []struct {
		p    Problem
		want string
	}{
		{Problem{"m.yaml", 3, 7, "unknown function"}, "m.yaml:3:7: unknown function"},
		{Problem{"tables/cvx.csv", 0, 0, "file not found"}, "tables/cvx.csv: file not found"},
	} {
		if got := c.p.String(); got != c.want {
			t.Errorf("%+v: %q, want %q", c.p, got, c.want)
		}
	}
	err := &List{Problems: []Problem{{"a", 1, 2, "x"}, {"b", 0, 0, "y"}}}
	if got := err.Error(); got != "a:1:2: x\nb: y" {
		t.Errorf("List.Error() = %q", got)
	}
}
