package pipeline

import (
	"context"
	"path/filepath"
	"testing"
	"time"
)

// progressSink records Progress calls.
type progressSink struct {
	memSink
	calls [][2]int64
}

func (s *progressSink) Progress(done, total int64) { s.calls = append(s.calls, [2]int64{done, total}) }

// An export tells a ProgressSink, after each person, how many of how
// many it has sent: the index's person count, or the Patient ids asked.
func TestExportReportsProgress(t *testing.T) {
	dir := t.TempDir()
	arch := filepath.Join(dir, "archive.hl7")
	write(t, arch, false,
		vxu("A1", "CLINICA", "20240101100000", "MA1^^^CLINICA^MR", "SMITH^JOHN", "20231201", "M", "", order{"A-1", "20240101", "08", "00", "L1", "A"}),
		vxu("B1", "CLINICB", "20240102100000", "MB1^^^CLINICB^MR", "ROE^ANN", "20220202", "F", "", order{"B-1", "20240102", "03", "00", "L2", "A"}),
		vxu("C1", "CLINICC", "20240103100000", "MC1^^^CLINICC^MR", "DOE^JANE", "20210303", "F", "", order{"C-1", "20240103", "20", "00", "L3", "A"}),
	)
	p, _ := openTest(t, dir, time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC), arch)
	for _, workers := range []int{1, 4} {
		p.workers = workers
		var s progressSink
		if err := p.Export(context.Background(), Query{}, &s); err != nil {
			t.Fatal(err)
		}
		if len(s.calls) != 3 || s.calls[2] != [2]int64{3, 3} || s.calls[0] != [2]int64{1, 3} {
			t.Errorf("workers %d: progress %v, want 1..3 of 3", workers, s.calls)
		}
		ids := []string{}
		for _, pt := range s.of("Patient") {
			ids = append(ids, pt.ID())
		}
		var g progressSink
		if err := p.Export(context.Background(), Query{PatientIDs: append(ids[:1], ids[0])}, &g); err != nil {
			t.Fatal(err)
		}
		if len(g.calls) != 1 || g.calls[0] != [2]int64{1, 1} {
			t.Errorf("workers %d: one Patient asked (twice): progress %v", workers, g.calls)
		}
	}
}
