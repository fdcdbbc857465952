package mapping

import (
	"errors"
	"strings"
	"testing"
)

// One space of wrong indentation deep in a list is reported where it is,
// not at the start of the list (as the YAML parser alone does).
func TestYAMLIndentationErrorLine(t *testing.T) {
	lines := strings.Split(string(DefaultSource()), "\n")
	bad := -1
	for i := 300; i < len(lines); i++ { // a `key: value` line inside a list item
		if strings.HasPrefix(lines[i], "        warn: ") && strings.HasPrefix(lines[i-1], "        when: ") {
			bad = i
			break
		}
	}
	if bad < 0 {
		t.Fatal("no warn: line after a when: line in the default mapping")
	}
	lines[bad] = " " + lines[bad]
	_, err := Parse([]byte(strings.Join(lines, "\n")), "m.yaml", DefaultFS(), ".")
	var ce *CheckError
	if !errors.As(err, &ce) || len(ce.Problems) != 1 {
		t.Fatalf("want one problem, got %v", err)
	}
	p := ce.Problems[0]
	if p.Line != bad+1 || p.Col != 10 || !strings.HasPrefix(p.Msg, "invalid YAML: ") || !strings.Contains(p.Msg, "check this line's indentation") {
		t.Errorf("problem %v, want line %d col 10", p, bad+1)
	}
}
