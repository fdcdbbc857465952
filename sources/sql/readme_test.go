package sql

import (
	"os"
	"strings"
	"testing"
)

// TestREADMEDescriptionParses keeps the README's example of a reader's
// description (the yaml block that starts with "source:") valid.
func TestREADMEDescriptionParses(t *testing.T) {
	b, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	const open = "```yaml\nsource: "
	i := strings.Index(s, open)
	if i < 0 {
		t.Fatal("README.md has no yaml block starting with source:")
	}
	block := s[i+len("```yaml\n"):]
	block = block[:strings.Index(block, "\n```")]
	line := strings.Count(s[:i], "\n") + 2
	t.Setenv("IIS_DB_PASSWORD", "x")
	c, err := ParseConfig("README.md", []byte(block))
	if err != nil {
		t.Fatalf("the description at README.md:%d: %v", line, err)
	}
	if c.Persons.Table == "" || len(c.Children) == 0 || len(c.Lookups) == 0 {
		t.Errorf("the description at README.md:%d lost its persons, children or lookups: %+v", line, c)
	}
}
