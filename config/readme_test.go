package config

import (
	"os"
	"strings"
	"testing"
)

// TestREADMEConfigKeys keeps the README's examples of the server
// configuration on keys the configuration has: every yaml block (indented
// ones in lists too) whose first key is a top-level configuration key is
// parsed, and a problem naming an unknown key fails. Other problems (an
// unset environment variable, a file the example names, a "..." to fill
// in) belong to the reader's machine, not to the example.
func TestREADMEConfigKeys(t *testing.T) {
	b, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(string(b), "\n")
	checked := 0
	for i := 0; i < len(lines); i++ {
		indent := len(lines[i]) - len(strings.TrimLeft(lines[i], " "))
		if strings.TrimSpace(lines[i]) != "```yaml" {
			continue
		}
		start, j := i+1, i+1
		var block []string
		for ; j < len(lines) && strings.TrimSpace(lines[j]) != "```"; j++ {
			block = append(block, strings.TrimPrefix(lines[j], strings.Repeat(" ", indent)))
		}
		i = j
		if len(block) == 0 {
			continue
		}
		key, _, _ := strings.Cut(block[0], ":")
		if _, ok := schema[key]; !ok {
			continue // a mapping, a reader's description, a matcher config
		}
		checked++
		_, err := Parse("README.md", []byte(strings.Join(block, "\n")))
		if err == nil {
			continue
		}
		for _, p := range strings.Split(err.Error(), "\n") {
			if strings.Contains(p, "unknown key") {
				t.Errorf("the configuration example at README.md:%d: %s", start, p)
			}
		}
	}
	if checked < 5 {
		t.Fatalf("checked %d configuration examples in README.md: is the block search still right?", checked)
	}
}
