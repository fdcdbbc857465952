package pipeline

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/iisbridge/iisbridge/fhirout"
)

// faultWorld writes a.hl7 (four persons, one VXU each, the 2nd and 3rd
// of the same length, between 20 filler persons on each side, so they sit
// in the middle of a file over 8 KB) and b.hl7 (two persons) and returns
// a.hl7's bytes with the spans of the 2nd and 3rd of the four.
func faultWorld(t *testing.T, dir string) (a, b string, data []byte, x, y [2]int) {
	t.Helper()
	a, b = filepath.Join(dir, "in", "a.hl7"), filepath.Join(dir, "in", "b.hl7")
	os.MkdirAll(filepath.Dir(a), 0o755)
	msgs := []string{
		vxu("C0001", "CLINICA", "20240101100000", "MA1^^^CLINICA^MR", "ADAMS^ANN", "20230101", "F", "", order{"A-1", "20240101", "08", "00", "L1", "A"}),
		vxu("C0002", "CLINICA", "20240102100000", "MX1^^^CLINICA^MR", "XAVIER^XIA", "20230202", "F", "", order{"X-1", "20240102", "20", "00", "L2", "A"}),
		vxu("C0003", "CLINICA", "20240103100000", "MY1^^^CLINICA^MR", "YOUNGS^YUL", "20220303", "M", "", order{"Y-1", "20240103", "10", "00", "L3", "A"}),
		vxu("C0004", "CLINICA", "20240104100000", "MD1^^^CLINICA^MR", "DOE^DAN", "20230404", "M", "", order{"D-1", "20240104", "03", "00", "L4", "A"}),
	}
	if len(msgs[1]) != len(msgs[2]) {
		t.Fatal("test premise: messages 2 and 3 differ in length")
	}
	filler := func(from int) (out []string) {
		for i := from; i < from+fillers; i++ {
			n := fmt.Sprintf("%02d", i)
			out = append(out, vxu("F00"+n, "CLINICF", "20230101100000", "F"+n+"^^^CLINICF^MR", "FILLER^F"+n, "20220101", "F", "",
				order{"F-" + n, "20230101", "08", "00", "LF", "A"}))
		}
		return out
	}
	msgs = append(append(filler(0), msgs...), filler(fillers)...)
	write(t, a, false, msgs...)
	off := 0
	for i, m := range msgs {
		switch i {
		case fillers + 1:
			x = [2]int{off, off + len(m)}
		case fillers + 2:
			y = [2]int{off, off + len(m)}
		}
		off += len(m) + 1
	}
	if x[0] < 4096 || off-y[1] < 4096 {
		t.Fatal("test premise: the swapped messages are not in the middle of the file")
	}
	write(t, b, false,
		vxu("C0005", "CLINICB", "20240105100000", "MB1^^^CLINICB^MR", "BAKER^BEA", "20230505", "F", "", order{"B-1", "20240105", "08", "00", "L5", "A"}),
		vxu("C0006", "CLINICB", "20240106100000", "MB2^^^CLINICB^MR", "BROWN^BOB", "20230606", "M", "", order{"B-2", "20240106", "08", "00", "L6", "A"}))
	data, _ = os.ReadFile(a)
	return a, b, data, x, y
}

// fillers is the number of filler persons on each side in faultWorld.
const fillers = 20

// allMRNs counts faultWorld's persons.
const allMRNs = 6 + 2*fillers

// lossSink is a memSink that hears about records left out.
type lossSink struct {
	memSink
	loss Loss
	// onResource runs once, at the first resource (fault injection
	// during an export).
	onResource func()
}

func (s *lossSink) Lost(l Loss) error { s.loss = l; return nil }
func (s *lossSink) Resource(r *fhirout.Object) error {
	if s.onResource != nil {
		s.onResource()
		s.onResource = nil
	}
	return s.memSink.Resource(r)
}

// served exports and checks that nothing wrong is served (each Patient
// id has the MRN it had in the first export, whose data is its own) and
// that every person message of the index is accounted for (mapped or
// reported left out, with an issue each). owner maps Patient ids to their
// MRN, learned at the first call. It returns the MRNs exported.
func served(t *testing.T, p *Pipeline, s *lossSink, owner map[string]string) map[string]bool {
	t.Helper()
	ctx := context.Background()
	if err := p.Export(ctx, Query{}, s); err != nil {
		t.Fatal(err)
	}
	first := len(owner) == 0
	got := map[string]bool{}
	for _, pt := range s.of("Patient") {
		for _, id := range idents(pt) {
			mrn, ok := strings.CutPrefix(id, "MR|")
			if !ok {
				continue
			}
			got[mrn] = true
			if first {
				owner[pt.ID()] = mrn
			} else if want, ok := owner[pt.ID()]; ok && want != mrn {
				t.Errorf("Patient %s (MRN %s) served with the data of MRN %s", pt.ID(), want, mrn)
			}
		}
	}
	st := p.Stats()
	snap, err := p.idx.Snapshot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	c, _ := snap.Counts(ctx)
	snap.Close()
	if st.Messages+st.ReadErrors != c.Person {
		t.Errorf("%d messages mapped + %d left out, the index has %d person messages", st.Messages, st.ReadErrors, c.Person)
	}
	if s.loss.Records != st.ReadErrors {
		t.Errorf("loss reported to the sink: %d records, export left out %d", s.loss.Records, st.ReadErrors)
	}
	left := 0
	for _, oo := range s.issues {
		if strings.Contains(oo.String(), "indexed message left out of this export") {
			left++
			if strings.Contains(oo.String(), filepath.Dir(p.opts.Sources[0].Paths[0])) || !strings.Contains(oo.String(), `"registry/a.hl7`) {
				t.Errorf("issue does not name the file by source: %s", oo)
				break
			}
		}
	}
	if int64(left) != st.ReadErrors {
		t.Errorf("%d left-out issues for %d records left out", left, st.ReadErrors)
	}
	return got
}

// openNamed opens a pipeline over paths as the source "registry".
func openNamed(t *testing.T, dir string, paths ...string) *Pipeline {
	t.Helper()
	c := &clock{t: time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)}
	p, err := openV2(openOptions{DataDir: filepath.Join(dir, "data"), Sources: []Source{{Name: "registry", Paths: paths}}, Now: c.now})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

// Two same-length VXUs of different persons swapped in the middle of a
// served file: the export never gives one person the other's data, says
// what it left out, and the next update reads the file again.
func TestExportNeverServesSwappedBytes(t *testing.T) {
	dir := t.TempDir()
	a, b, data, x, y := faultWorld(t, dir)
	p := openNamed(t, dir, a, b)
	owner := map[string]string{}
	if got := served(t, p, &lossSink{}, owner); len(got) != allMRNs {
		t.Fatalf("first export: %v", got)
	}
	fi, _ := os.Stat(a)
	sw := bytes.Clone(data)
	copy(sw[x[0]:x[1]], data[y[0]:y[1]])
	copy(sw[y[0]:y[1]], data[x[0]:x[1]])
	f, _ := os.OpenFile(a, os.O_WRONLY, 0)
	f.WriteAt(sw, 0)
	f.Close()
	os.Chtimes(a, fi.ModTime(), fi.ModTime())

	var s lossSink
	got := served(t, p, &s, owner)
	if got["MX1"] || got["MY1"] || len(got) != allMRNs-2 || s.loss.ByReason[UnreadableChanged] != 2 {
		t.Fatalf("export after the swap: MRNs %v, loss %+v; want X and Y left out as changed", got, s.loss)
	}
	if !p.Stale() {
		t.Error("an export left records out, yet the pipeline does not say the index is stale")
	}
	st, err := p.Update(context.Background())
	if err != nil || st.Unchanged != 1 || st.Rewritten != 1 {
		t.Fatalf("update after the swap: %+v %v; want a.hl7 read again", st, err)
	}
	if p.Stale() {
		t.Error("stale after the update")
	}
	s = lossSink{}
	if got := served(t, p, &s, owner); len(got) != allMRNs || s.loss.Records != 0 {
		t.Fatalf("after the update: MRNs %v, loss %+v", got, s.loss)
	}
}

// Faults injected between exports: the export right after serves nothing
// wrong and accounts for every record (left out, with the reason); the
// update after it brings the index in line and the export is complete
// again.
func TestExportFaultsBetweenExports(t *testing.T) {
	all := []string{"MA1", "MX1", "MY1", "MD1", "MB1", "MB2", "F00", "F39"}
	for _, tc := range []struct {
		name   string
		fault  func(t *testing.T, a string, data []byte)
		reason string   // why a.hl7's records are left out before the update
		after  []string // MRNs exported after the update
	}{
		{"truncated", func(t *testing.T, a string, data []byte) {
			os.Truncate(a, int64(len(data)/2))
		}, UnreadableTruncated, []string{"F00", "F10", "MB1", "MB2"}},
		{"gone", func(t *testing.T, a string, data []byte) {
			os.Remove(a)
		}, UnreadableGone, []string{"MB1", "MB2"}},
		{"rewritten", func(t *testing.T, a string, data []byte) {
			os.WriteFile(a, bytes.ReplaceAll(data, []byte("C000"), []byte("Z000")), 0o644)
		}, UnreadableChanged, all},
		{"rotated", func(t *testing.T, a string, data []byte) {
			os.Rename(a, a+".1")
			os.WriteFile(a, bytes.Repeat([]byte("MSH|^~\\&|X\r\n"), len(data)/12+1), 0o644)
		}, UnreadableChanged, all},
		{"gzipped", func(t *testing.T, a string, data []byte) {
			var buf bytes.Buffer
			zw := gzip.NewWriter(&buf)
			zw.Write(data)
			zw.Close()
			os.WriteFile(a+".gz", buf.Bytes(), 0o644)
			os.Remove(a)
		}, UnreadableGone, all},
		{"permission", func(t *testing.T, a string, data []byte) {
			if os.Geteuid() == 0 {
				t.Skip("running as root: file permissions are not enforced")
			}
			os.Chmod(a, 0)
			t.Cleanup(func() { os.Chmod(a, 0o644) })
		}, UnreadablePermission, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			a, b, data, _, _ := faultWorld(t, dir)
			p := openNamed(t, dir, filepath.Join(dir, "in"))
			owner := map[string]string{}
			if got := served(t, p, &lossSink{}, owner); len(got) != allMRNs {
				t.Fatalf("first export: %v", got)
			}
			_ = b
			tc.fault(t, a, data)
			var s lossSink
			served(t, p, &s, owner)
			if s.loss.Records == 0 || s.loss.ByReason[tc.reason] == 0 {
				t.Fatalf("export after the fault: loss %+v, want some %s", s.loss, tc.reason)
			}
			if _, err := p.Update(context.Background()); err != nil {
				t.Fatal(err)
			}
			s = lossSink{}
			got := served(t, p, &s, owner)
			if tc.name == "permission" {
				// Still unreadable: kept as indexed (not dropped), still
				// reported; readable again, it is served in full.
				if s.loss.ByReason[UnreadablePermission] != 2*fillers+4 {
					t.Errorf("after the update: loss %+v, want a.hl7's records left out as permission-denied", s.loss)
				}
				os.Chmod(a, 0o644)
				s = lossSink{}
				got = served(t, p, &s, owner)
				tc.after = all
			}
			if s.loss.Records != 0 {
				t.Errorf("after the update: loss %+v", s.loss)
			}
			for _, m := range tc.after {
				if !got[m] {
					t.Errorf("after the update MRN %s is not exported (got %v)", m, got)
				}
			}
		})
	}
}

// Faults injected while an export runs (after its first resource):
// whatever it reads after the fault is verified, so it serves nothing
// wrong, and it accounts for every record.
func TestExportFaultsDuringExport(t *testing.T) {
	for _, tc := range []struct {
		name  string
		fault func(a string, data []byte, x, y [2]int)
	}{
		{"swapped", func(a string, data []byte, x, y [2]int) {
			sw := bytes.Clone(data)
			copy(sw[x[0]:x[1]], data[y[0]:y[1]])
			copy(sw[y[0]:y[1]], data[x[0]:x[1]])
			f, _ := os.OpenFile(a, os.O_WRONLY, 0)
			f.WriteAt(sw, 0)
			f.Close()
		}},
		{"truncated", func(a string, data []byte, x, y [2]int) { os.Truncate(a, int64(x[0])) }},
		{"rewritten", func(a string, data []byte, x, y [2]int) {
			os.WriteFile(a, bytes.ReplaceAll(data, []byte("CLINICA"), []byte("CLINICZ")), 0o644)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			a, b, data, x, y := faultWorld(t, dir)
			p := openNamed(t, dir, a, b)
			owner := map[string]string{}
			served(t, p, &lossSink{}, owner)
			for _, workers := range []int{1, 3} {
				os.WriteFile(a, data, 0o644)
				if _, err := p.Update(context.Background()); err != nil {
					t.Fatal(err)
				}
				p.workers = workers
				s := lossSink{onResource: func() { tc.fault(a, data, x, y) }}
				served(t, p, &s, owner)
			}
		})
	}
}

func TestUnreadableReasons(t *testing.T) {
	for err, want := range map[error]string{
		&fs.PathError{Op: "open", Path: "/srv/x", Err: fs.ErrPermission}: UnreadablePermission,
		&fs.PathError{Op: "open", Path: "/srv/x", Err: fs.ErrNotExist}:   UnreadableGone,
		errors.New("v2archive: ReadAt x at offset 3: EOF"):               UnreadableIO,
	} {
		why, text := unreadable(err)
		if why != want || strings.Contains(text, "/srv") {
			t.Errorf("%v: %s %q, want %s without the path", err, why, text, want)
		}
	}
}

// At start-up a missing file, a corrupt gzip file or a directory that
// cannot be listed does not stop the pipeline (nor the server on it): the
// rest is indexed and served.
func TestOpenSurvivesUnreadableInput(t *testing.T) {
	dir := t.TempDir()
	a, b, _, _, _ := faultWorld(t, dir)
	os.WriteFile(filepath.Join(dir, "in", "c.gz"), []byte{0x1f, 0x8b, 8, 0, 0, 0}, 0o644)
	p := openNamed(t, dir, filepath.Join(dir, "in"), filepath.Join(dir, "missing.hl7"), a, b)
	owner := map[string]string{}
	if got := served(t, p, &lossSink{}, owner); len(got) != allMRNs {
		t.Fatalf("export: %d MRNs, want %d", len(got), allMRNs)
	}
	if c := p.IngestCounts(); c["unreadable"] != 1 || c["broken"] != 1 {
		t.Errorf("ingest counts %v: want the missing file unreadable and the gzip broken", c)
	}
}

// _since far outside 1678-2262 does not wrap around the index's times:
// 2300 gives what 2100 gives (nothing), 1500 everything.
func TestFarSince(t *testing.T) {
	dir := t.TempDir()
	a, b, _, _, _ := faultWorld(t, dir)
	os.WriteFile(filepath.Join(dir, "in", "broken.hl7"), []byte("PID|1|orphan\r"), 0o644)
	p := openNamed(t, dir, filepath.Join(dir, "in"), a, b)
	count := func(year int) (int, int) {
		var s memSink
		if err := p.Export(context.Background(), Query{Since: time.Date(year, 1, 1, 0, 0, 0, 0, time.UTC), SourceIssues: true}, &s); err != nil {
			t.Fatal(err)
		}
		return len(s.res), len(s.issues)
	}
	r21, i21 := count(2100)
	r23, i23 := count(2300)
	r15, i15 := count(1500)
	if r21 != 0 || i21 != 0 || r23 != 0 || i23 != 0 || r15 == 0 || i15 != 1 {
		t.Fatalf("_since 2100: %d resources %d issues; 2300: %d, %d; 1500: %d, %d", r21, i21, r23, i23, r15, i15)
	}
}

// An export's error file holds issues about the records it exports: the
// source-wide broken input (records that are no one's) only when asked
// (system exports).
func TestSourceIssuesOnlyWhenAsked(t *testing.T) {
	dir := t.TempDir()
	a, b, _, _, _ := faultWorld(t, dir)
	os.WriteFile(filepath.Join(dir, "in", "broken.hl7"), []byte("PID|1|orphan\r"), 0o644)
	p := openNamed(t, dir, filepath.Join(dir, "in"), a, b)
	for _, q := range []Query{{}, {PatientIDs: []string{}}, {SourceIssues: true}} {
		var s memSink
		if err := p.Export(context.Background(), q, &s); err != nil {
			t.Fatal(err)
		}
		want := 0
		if q.SourceIssues {
			want = 1
		}
		if len(s.issues) != want || want == 1 && !strings.Contains(s.issues[0].String(), `"registry/broken.hl7"`) {
			t.Errorf("%+v: issues %v, want %d about registry/broken.hl7", q, s.issues, want)
		}
	}
}
