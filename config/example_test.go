package config

import (
	"os"
	"strings"
	"testing"
)

// The example the README points to must stay loadable as the config evolves.
func TestExampleConfigLoads(t *testing.T) {
	c, err := Load("../testdata/example.yaml")
	if err != nil {
		t.Fatalf("testdata/example.yaml: %v", err)
	}
	if len(c.Sources) != 1 || len(c.Sources[0].Paths) != 1 {
		t.Fatalf("example sources = %+v, want one source with one path", c.Sources)
	}
	if c.AuthEnabled() {
		t.Fatal("the example runs without auth clients (loopback only)")
	}
}

// The commented auth section of the example documents every auth key; it
// must load when uncommented.
func TestExampleAuthSectionLoads(t *testing.T) {
	b, err := os.ReadFile("../testdata/example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	in := false
	for _, l := range strings.Split(string(b), "\n") {
		if l == "# auth:" {
			in = true
		}
		if in {
			out = append(out, strings.TrimPrefix(l, "# "))
		} else if !strings.HasPrefix(l, "#") {
			out = append(out, l)
		}
	}
	c, err := Parse("../testdata/example.yaml", []byte(strings.Join(out, "\n")))
	if err != nil {
		t.Fatalf("uncommented auth section: %v", err)
	}
	if len(c.Auth.Clients) != 3 || c.Auth.Clients[1].FileURLs != "signed" || !c.Auth.Clients[0].SystemExport {
		t.Errorf("auth clients: %+v", c.Auth.Clients)
	}
}
