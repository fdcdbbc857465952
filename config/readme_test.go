package config

import (
	"strings"
	"testing"

	"github.com/iisbridge/iisbridge/internal/doctest"
)

// TestREADMEConfigKeys keeps the README's examples of the server
// configuration on keys the configuration has: every yaml block (indented
// ones in lists too) whose first key is a top-level configuration key is
// parsed, and a problem naming an unknown key fails. Other problems (an
// unset environment variable, a file the example names, a "..." to fill
// in) belong to the reader's machine, not to the example.
func TestREADMEConfigKeys(t *testing.T) {
	checked := 0
	for _, b := range doctest.Blocks(doctest.Read(t, "../README.md"), "yaml") {
		key, _, _ := strings.Cut(b.Text, ":")
		if _, ok := schema[key]; !ok {
			continue // a mapping, a reader's description, a matcher config
		}
		checked++
		_, err := Parse("README.md", []byte(b.Text))
		if err == nil {
			continue
		}
		for _, p := range strings.Split(err.Error(), "\n") {
			if strings.Contains(p, "unknown key") {
				t.Errorf("the configuration example at README.md:%d: %s", b.Line, p)
			}
		}
	}
	if checked < 5 {
		t.Fatalf("checked %d configuration examples in README.md: is the block search still right?", checked)
	}
}
