package diag

import (
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

func TestYAMLCheckerKeys(t *testing.T) {
	src := "jobs:\n  concurency: 2\nclients:\n  - id: a\n    colour: red\n  - x\nfree:\n  anything: 1\nlist: 3\n"
	var doc yaml.Node
	if err := yaml.Unmarshal([]byte(src), &doc); err != nil {
		t.Fatal(err)
	}
	spec := map[string]any{
		"jobs":    map[string]any{"concurrency": nil},
		"clients": map[string]any{"[]": map[string]any{"id": nil}},
		"free":    "*",
		"list":    map[string]any{"[]": nil},
	}
	c := &YAMLChecker{File: "c.yaml"}
	c.CheckKeys(doc.Content[0], spec, "")
	c.AddDecodeError("line 9: cannot unmarshal !!str into int")
	var got []string
	for _, p := range c.Problems {
		got = append(got, p.String())
	}
	want := []string{
		`c.yaml:2:3: unknown key "concurency" in jobs`,
		`c.yaml:5:5: unknown key "colour" in clients[0]`,
		`c.yaml:6:5: clients[1]: want a mapping`,
		`c.yaml:9:7: list: want a list`,
		`c.yaml:9:1: cannot unmarshal !!str into int`,
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("problems:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}
