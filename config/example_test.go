package config

import "testing"

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
