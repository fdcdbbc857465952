package mapping

import "testing"

func TestDefaultSQLCompiles(t *testing.T) {
	m := DefaultSQL()
	if !m.PersonMapping() || m.Source() != "sql" {
		t.Fatalf("DefaultSQL: person mapping %v, source %q", m.PersonMapping(), m.Source())
	}
	if r := m.Reduction("Immunization"); r.By != "newest" || r.Elements["deleted"] == nil {
		t.Fatalf("Immunization reduction = %+v, want newest with deleted", r)
	}
}
