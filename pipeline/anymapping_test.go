package pipeline

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/iisbridge/iisbridge/mapping"
	"github.com/iisbridge/iisbridge/sources/synth"
)

// copyDefault writes the embedded default mapping and its tables into a
// folder of the test, under name, with extra appended to its resources
// (the last section of the file), and loads it.
func copyDefault(t *testing.T, name, extra string) *mapping.Mapping {
	return copyDefaultEdited(t, name, func(b []byte) []byte { return append(b, extra...) })
}

// copyDefaultEdited is copyDefault with the YAML passed through edit.
func copyDefaultEdited(t *testing.T, name string, edit func([]byte) []byte) *mapping.Mapping {
	t.Helper()
	dir := t.TempDir()
	src := filepath.Join("..", "mapping", "defaults")
	err := filepath.WalkDir(src, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		if rel == "default.yaml" {
			rel, b = name, edit(b)
		}
		os.MkdirAll(filepath.Join(dir, filepath.Dir(rel)), 0o755)
		return os.WriteFile(filepath.Join(dir, rel), b, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
	m, err := mapping.Load(filepath.Join(dir, name))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// An edited copy of the default mapping exports exactly what the embedded
// default exports, plus the resource types it adds: no code path depends
// on which mapping is loaded, and any type a mapping emits is exported.
func TestAnyMappingExportsItsTypes(t *testing.T) {
	p, _ := genWorld(t, synth.Config{Seed: 3, Messages: 600, Framings: []string{"msh"}})
	q := Query{Provenance: true}
	since := Query{Since: time.Date(2026, 1, 1, 0, 0, 30, 0, time.UTC)}
	base, baseSince := exportDigest(t, p, q), exportDigest(t, p, since)

	p.SetMapping(copyDefault(t, "jurisdiction.yaml", ""))
	if got := exportDigest(t, p, q); !slices.Equal(got, base) {
		t.Fatalf("a renamed copy of the default exports %d lines, the default %d", len(got), len(base))
	}
	if got := exportDigest(t, p, since); !slices.Equal(got, baseSince) {
		t.Fatalf("_since: a renamed copy exports %d lines, the default %d", len(got), len(baseSince))
	}

	// A copy made before the reduce: section existed reduces as the
	// default declares.
	noReduce := copyDefaultEdited(t, "old.yaml", func(b []byte) []byte {
		s := string(b)
		i, j := strings.Index(s, "\nreduce:\n"), strings.Index(s, "\nresources:\n")
		if i < 0 || j < i {
			t.Fatal("default.yaml has no reduce: section before resources:")
		}
		return []byte(s[:i] + s[j:])
	})
	p.SetMapping(noReduce)
	if got := exportDigest(t, p, since); !slices.Equal(got, baseSince) {
		t.Fatalf("a mapping without reduce: exports %d lines, the default %d", len(got), len(baseSince))
	}

	const extra = `
  - resource: RelatedPerson
    when: {has: NK1}
    id: 'hash("RelatedPerson", $patient, NK1-2.1, NK1-2.2, NK1-3.1)'
    rules:
      - {target: patient.reference, value: 'concat("Patient/", $patient)'}
      - target: name[]
        rules:
          - {target: family, value: NK1-2.1}
          - {target: 'given[]', value: NK1-2.2}
`
	m := copyDefault(t, "with-related.yaml", extra)
	if got := m.ResourceTypes(); !slices.Equal(got, []string{"Patient", "Immunization", "ImmunizationRecommendation", "RelatedPerson"}) {
		t.Fatalf("mapping types %v", got)
	}
	p.SetMapping(m)
	if got := p.ResourceTypes(); !slices.Contains(got, "RelatedPerson") {
		t.Fatalf("exported types %v lack the mapping's RelatedPerson", got)
	}
	got := exportDigest(t, p, q)
	var added, rest []string
	for _, l := range got {
		if strings.HasPrefix(l, "RelatedPerson/") {
			added = append(added, l)
		} else {
			rest = append(rest, l)
		}
	}
	if len(added) == 0 {
		t.Fatal("no RelatedPerson exported")
	}
	// Each RelatedPerson comes with its Provenance: the rest is the
	// default's export plus as many Provenances.
	var prov int
	baseSet := map[string]bool{}
	for _, l := range base {
		baseSet[l] = true
	}
	for _, l := range rest {
		if !baseSet[l] {
			if !strings.HasPrefix(l, "Provenance/") {
				t.Fatalf("resource not in the default's export: %s", l)
			}
			prov++
		}
	}
	if prov != len(added) || len(rest)-prov != len(base) {
		t.Fatalf("%d RelatedPerson, %d new Provenance; %d other lines, the default %d", len(added), prov, len(rest)-prov, len(base))
	}
	// _type selects it like any type.
	only := exportDigest(t, p, Query{Types: []string{"RelatedPerson"}})
	if !slices.Equal(only, added) {
		t.Fatalf("_type=RelatedPerson gave %d lines, want %d", len(only), len(added))
	}
}
