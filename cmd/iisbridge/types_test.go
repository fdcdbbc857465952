package main

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/iisbridge/iisbridge/config"
)

// The resource types served follow the live mapping: a mapping that adds
// a type gets it in the CapabilityStatement and accepted in _type, with
// no code that knows it.
func TestServedTypesFollowTheMapping(t *testing.T) {
	dir := t.TempDir()
	mapFile := copyDefaults(t, filepath.Join(dir, "m"))
	archive, _ := filepath.Abs("testdata/archive.hl7")
	cfgFile := filepath.Join(dir, "c.yaml")
	os.WriteFile(cfgFile, []byte("data_dir: data\nsources:\n  - name: a\n    paths: ["+archive+"]\n    mapping: m/default.yaml\n"), 0o644)
	cfg, err := config.Load(cfgFile)
	if err != nil {
		t.Fatal(err)
	}
	b, c, _ := startBridge(t, cfg, false)
	types := func() []string {
		_, body := c.do("GET", c.base+"/metadata")
		var cs struct {
			Rest []struct {
				Resource []struct{ Type string } `json:"resource"`
			} `json:"rest"`
		}
		if err := json.Unmarshal(body, &cs); err != nil || len(cs.Rest) == 0 {
			t.Fatalf("metadata: %v %s", err, body)
		}
		var out []string
		for _, r := range cs.Rest[0].Resource {
			out = append(out, r.Type)
		}
		return out
	}
	if got := types(); !slices.Contains(got, "ImmunizationRecommendation") || slices.Contains(got, "RelatedPerson") {
		t.Fatalf("default mapping serves %v", got)
	}
	data, _ := os.ReadFile(mapFile)
	os.WriteFile(mapFile, append(data, `
  - resource: RelatedPerson
    when: {has: NK1}
    id: 'hash("RelatedPerson", $patient, NK1-2.1)'
    rules:
      - {target: patient.reference, value: 'concat("Patient/", $patient)'}
`...), 0o644)
	b.reload(context.Background(), serveOptions{cfgPath: cfgFile}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if got := types(); !slices.Contains(got, "RelatedPerson") {
		t.Fatalf("after the reload: %v", got)
	}
	resp, body := c.do("GET", c.base+"/$export?_type=RelatedPerson,ImmunizationRecommendation", "Prefer", "respond-async", "Accept", "application/fhir+json")
	if resp.StatusCode != 202 {
		t.Fatalf("_type=RelatedPerson,ImmunizationRecommendation: %d %s", resp.StatusCode, body)
	}
}
