package pipeline

import (
	"context"
	"path/filepath"
	"slices"
	"testing"
	"time"
)

// MissingPatients names the ids the index does not know, including one
// merged into another person since (it no longer exists).
func TestMissingPatients(t *testing.T) {
	dir := t.TempDir()
	arch := filepath.Join(dir, "a.hl7")
	write(t, arch, false,
		vxu("A1", "CLINICA", "20240101100000", "MA1^^^CLINICA^MR", "SMITH^JOHN", "20231201", "M", "",
			order{"A-1", "20240101", "08", "00", "LOT1", "A"}))
	p, _ := openTest(t, dir, time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC), arch)
	ctx := context.Background()
	var s memSink
	if err := p.Export(ctx, Query{}, &s); err != nil {
		t.Fatal(err)
	}
	old := s.of("Patient")[0].ID()
	got, err := p.MissingPatients(ctx, []string{old, "nope", old, "nope"})
	if err != nil || !slices.Equal(got, []string{"nope"}) {
		t.Fatalf("MissingPatients = %v, %v; want [nope]", got, err)
	}
	if got, err := p.MissingPatients(ctx, []string{old}); err != nil || got != nil {
		t.Fatalf("MissingPatients(known) = %v, %v", got, err)
	}
	// A second MRN links the person to another key: a new Patient id.
	write(t, arch, true,
		vxu("A2", "CLINICA", "20240201100000", "MA1^^^CLINICA^MR~S77^^^MYIIS^SR", "SMITH^JOHN", "20231201", "M", ""))
	if _, err := p.Update(ctx); err != nil {
		t.Fatal(err)
	}
	var s2 memSink
	if err := p.Export(ctx, Query{}, &s2); err != nil {
		t.Fatal(err)
	}
	cur := s2.of("Patient")[0].ID()
	if cur == old {
		t.Fatal("the link kept the Patient id; test premise broken")
	}
	got, err = p.MissingPatients(ctx, []string{cur, old})
	if err != nil || !slices.Equal(got, []string{old}) {
		t.Fatalf("after merge MissingPatients = %v, %v; want [%s]", got, err, old)
	}
}
