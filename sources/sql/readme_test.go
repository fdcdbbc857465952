package sql

import (
	"strings"
	"testing"

	"github.com/iisbridge/iisbridge/internal/doctest"
)

// TestREADMEDescriptionParses keeps the README's example of a reader's
// description (the yaml block that starts with "source:") valid.
func TestREADMEDescriptionParses(t *testing.T) {
	t.Setenv("IIS_DB_PASSWORD", "x")
	found := 0
	for _, b := range doctest.Blocks(doctest.Read(t, "../../README.md"), "yaml") {
		if !strings.HasPrefix(b.Text, "source: ") {
			continue
		}
		found++
		c, err := ParseConfig("README.md", []byte(b.Text))
		if err != nil {
			t.Errorf("the description at README.md:%d: %v", b.Line, err)
			continue
		}
		if c.Persons.Table == "" || len(c.Children) == 0 || len(c.Lookups) == 0 {
			t.Errorf("the description at README.md:%d lost its persons, children or lookups: %+v", b.Line, c)
		}
	}
	if found == 0 {
		t.Fatal("README.md has no yaml block starting with source:")
	}
}
