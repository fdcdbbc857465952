package index

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/iisbridge/iisbridge/sources"
)

// vxu builds a small CDC-style VXU^V04 (segments ended by \r).
func vxu(ctrl, fac, ts, pid3, name, dob, sex string, rxas ...string) string {
	var b strings.Builder
	b.WriteString("MSH|^~\\&|EHR|" + fac + "|IIS|MYIIS|" + ts + "||VXU^V04^VXU_V04|" + ctrl + "|P|2.5.1|||ER|AL|||||Z22^CDCPHINVS\r")
	b.WriteString("PID|1||" + pid3 + "||" + name + "||" + dob + "|" + sex + "\r")
	for i, r := range rxas {
		b.WriteString("ORC|RE||" + fac + "-" + ctrl + "-" + string(rune('1'+i)) + "^" + fac + "\r")
		b.WriteString(r + "\r")
	}
	return b.String()
}

func rxa(date, cvx, src string) string {
	return "RXA|0|1|" + date + "||" + cvx + "^vaccine^CVX|0.5|mL^mL^UCUM||" + src + "^x^NIP001||||||LOT1||||CP|A"
}

func rsp(ctrl, asker, qctrl, ts, pid3, name, dob, sex string, pids int) string {
	var b strings.Builder
	b.WriteString("MSH|^~\\&|IIS|MYIIS|EHR|" + asker + "|" + ts + "||RSP^K11^RSP_K11|" + ctrl + "|P|2.5.1|||NE|NE|||||Z32^CDCPHINVS\r")
	b.WriteString("MSA|AA|" + qctrl + "\rQAK|" + qctrl + "|OK|Z34^Request Immunization History^CDCPHINVS\r")
	for i := 0; i < pids; i++ {
		b.WriteString("PID|1||" + pid3 + "||" + name + "||" + dob + "|" + sex + "\r")
	}
	return b.String()
}

func qbp(ctrl, asker, ts string) string {
	return "MSH|^~\\&|EHR|" + asker + "|IIS|MYIIS|" + ts + "||QBP^Q11^QBP_Q11|" + ctrl + "|P|2.5.1|||ER|AL|||||Z34^CDCPHINVS\r" +
		"QPD|Z34^Request Immunization History^CDCPHINVS|" + ctrl + "|X1^^^" + asker + "^MR|SMITH^JOHN||20200101|M\rRCP|I|1^RD&records&HL70126\r"
}

func write(t *testing.T, path string, msgs ...string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(strings.Join(msgs, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
}

func appendTo(t *testing.T, path string, msgs ...string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteString(strings.Join(msgs, "\n") + "\n"); err != nil {
		t.Fatal(err)
	}
}

// clock hands out increasing times so indexed-at stamps differ per batch.
type clock struct{ t time.Time }

func (c *clock) now() time.Time { c.t = c.t.Add(time.Second); return c.t }

func openTest(t *testing.T, dir string, c *clock) *Index {
	t.Helper()
	x, err := open(dir, Options{Now: c.now, BatchSize: 2})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { x.Close() })
	return x
}

// persons maps Patient id → number of messages.
func persons(t *testing.T, x *Index) map[string]int {
	t.Helper()
	ctx := context.Background()
	s := openSnapshot(t, x)
	out := map[string]int{}
	after := ""
	for {
		ps, err := s.Persons(ctx, after, 2)
		if err != nil {
			t.Fatal(err)
		}
		if len(ps) == 0 {
			return out
		}
		for _, p := range ps {
			ms, err := s.Messages(ctx, p, time.Time{})
			if err != nil {
				t.Fatal(err)
			}
			out[p.ID] = len(ms)
			after = p.ID
		}
	}
}

// linkedRecords are three persons' records, two of them linked across
// clinics: TestIdentityLinks follows them.
func linkedRecords() []string {
	return []string{
		vxu("1", "CLINICA", "20240101120000", "A1^^^CLINICA^MR", "SMITH^JOHN", "20200101", "M", rxa("20240101", "08", "00")),
		// Same person at another clinic, no shared id, same demographics.
		vxu("2", "CLINICB", "20240102120000", "B7^^^CLINICB^MR", "Smith^John", "20200101", "M", rxa("20240101", "08", "01")),
		// Another person, MRN only, placeholder name: no demographics key.
		vxu("3", "CLINICA", "20240103120000", "A2^^^CLINICA^MR", "DOE^BABY GIRL", "20231201", "F"),
		vxu("4", "CLINICC", "20240104120000", "C9^^^CLINICC^MR", "DOE^BABY GIRL", "20231201", "F"),
		qbp("Q1", "CLINICC", "20240105120000"),
		// The IIS answers CLINICC with C9 and the SR id; a later VXU from
		// CLINICA carries A2 with the same SR: C9 and A2 join.
		rsp("R1", "CLINICC", "Q1", "20240105120001", "C9^^^CLINICC^MR~S200^^^MYIIS^SR", "DOE^BABY GIRL", "20231201", "F", 1),
	}
}

func TestIdentityLinks(t *testing.T) {
	dir := t.TempDir()
	arch := filepath.Join(dir, "a.hl7")
	write(t, arch, append([]string{"this is not a message\n"}, linkedRecords()...)...)
	c := &clock{t: time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)}
	x := openTest(t, filepath.Join(dir, "data"), c)
	ctx := context.Background()
	st, err := x.Update(ctx, []string{dir + "/*.hl7"})
	if err != nil {
		t.Fatal(err)
	}
	if st.New != 1 || st.Messages != 7 || st.Errors != 1 {
		t.Fatalf("stats %+v", st)
	}
	got := persons(t, x)
	// SMITH (2 msgs), A2 (1), C9+RSP (2)
	if len(got) != 3 {
		t.Fatalf("persons %v", got)
	}
	appendTo(t, arch, vxu("5", "CLINICA", "20240106120000", "A2^^^CLINICA^MR~S200^^^MYIIS^SR", "DOE^JANE", "20231201", "F", rxa("20240106", "20", "00")))
	st, err = x.Update(ctx, []string{dir})
	if err != nil {
		t.Fatal(err)
	}
	if st.Appended != 1 || st.Messages != 1 {
		t.Fatalf("append stats %+v", st)
	}
	got2 := persons(t, x)
	if len(got2) != 2 {
		t.Fatalf("after link: persons %v", got2)
	}
	var sizes []int
	for _, n := range got2 {
		sizes = append(sizes, n)
	}
	if sizes[0]+sizes[1] != 6 {
		t.Fatalf("messages per person %v", got2)
	}
	// The IIS-id person keeps an id derived from its SR key; the former
	// MRN-only person (A2) that merged into it is reported gone.
	var gone []string
	s, _ := x.Snapshot(ctx)
	defer s.Close()
	s.DeletedPatients(ctx, time.Time{}, time.Time{}, func(id string, at time.Time) error { gone = append(gone, id); return nil })
	if len(gone) != 1 {
		t.Fatalf("gone %v", gone)
	}
	for _, id := range gone {
		if _, ok := got2[id]; ok || got[id] == 0 {
			t.Fatalf("gone id %s: before %v after %v", id, got, got2)
		}
	}
	want := x.Identity().PatientID(sources.PrefixIIS + "MYIIS|S200")
	if got2[want] != 4 {
		t.Fatalf("SR person %s: %v", want, got2)
	}
	// The ledger: every kind of evidence, by sender. A2 (CLINICA's VXU
	// without doses) merged into S200: its entry moved to the survivor.
	smith := ""
	for id, n := range got2 {
		if id != want && n == 2 {
			smith = id
		}
	}
	name := map[string]string{smith: "SMITH", want: "S200"}
	got3 := ledgerOf(t, x, name)
	exp := []string{
		"S200 CLINICA vxu 2 2024-01-03..2024-01-06 3..5",
		"S200 CLINICA vxu-administered 1 2024-01-06..2024-01-06 5..5",
		"S200 CLINICC query 1 2024-01-05..2024-01-05 Q1..Q1",
		"S200 CLINICC vxu 1 2024-01-04..2024-01-04 4..4",
		"SMITH CLINICA vxu 1 2024-01-01..2024-01-01 1..1",
		"SMITH CLINICA vxu-administered 1 2024-01-01..2024-01-01 1..1",
		"SMITH CLINICB vxu 1 2024-01-02..2024-01-02 2..2",
		"SMITH CLINICB vxu-historical 1 2024-01-02..2024-01-02 2..2",
	}
	if strings.Join(got3, "\n") != strings.Join(exp, "\n") {
		t.Fatalf("ledger:\n%s\nwant\n%s", strings.Join(got3, "\n"), strings.Join(exp, "\n"))
	}
	// Idempotent: the same archive indexed from scratch gives the same
	// ledger as the incremental updates and the merge.
	y := openTest(t, filepath.Join(dir, "data2"), c)
	if _, err := y.Update(ctx, []string{dir + "/*.hl7"}); err != nil {
		t.Fatal(err)
	}
	if got4 := ledgerOf(t, y, name); strings.Join(got4, "\n") != strings.Join(got3, "\n") {
		t.Fatalf("fresh index ledger:\n%s\nincremental\n%s", strings.Join(got4, "\n"), strings.Join(got3, "\n"))
	}
	// Senders of VXU and QBP, counted.
	var senders []string
	s.Senders(ctx, func(x Sender) error { senders = append(senders, fmt.Sprintf("%s=%d", x.OrgKey, x.Records)); return nil })
	if strings.Join(senders, " ") != "CLINICA=3 CLINICB=1 CLINICC=2" {
		t.Fatalf("senders %v", senders)
	}
}

// ledgerOf renders x's ledger: person (by name), sender, trigger, records,
// first..last evidence day, first..last message (MSH-10).
func ledgerOf(t *testing.T, x *Index, name map[string]string) []string {
	t.Helper()
	ctx := context.Background()
	s := openSnapshot(t, x)
	var out []string
	var keys []LedgerKey
	err := s.Ledger(ctx, func(e LedgerEntry) error {
		keys = append(keys, LedgerKey{e.PatientID, e.OrgKey, e.Facility, e.OrgName, e.Trigger})
		who := name[e.PatientID]
		if who == "" {
			who = e.PatientID
		}
		out = append(out, fmt.Sprintf("%s %s %s %d %s..%s %s..%s", who, e.OrgKey, e.Trigger, e.Records,
			e.First.Format(time.DateOnly), e.Last.Format(time.DateOnly), e.FirstLoc.ControlID, e.LastLoc.ControlID))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	// LedgerKeys: the same entries in the same order.
	var got []LedgerKey
	if err := s.LedgerKeys(ctx, func(k LedgerKey) error { got = append(got, k); return nil }); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got, keys) {
		t.Fatalf("LedgerKeys %v, Ledger %v", got, keys)
	}
	sort.Strings(out)
	return out
}

// A person's keys learned newest-smallest form a chain in the union-find
// (each new key becomes the root above the last): after an Update every
// key points at its root, on a first load and on a later one that makes
// the chain deeper.
func TestDeepChainCompressed(t *testing.T) {
	dir := t.TempDir()
	arch := filepath.Join(dir, "a.hl7")
	// MRNs M8 and M9 first, then M7 with M8, M6 with M7, ...: M9 ends
	// eight levels below the root M1 before compression. The shared
	// demographics are one more key.
	msg := func(i int) string {
		lo, hi := string(rune('0'+9-i)), string(rune('0'+10-i))
		return vxu(fmt.Sprint(i), "CLINICA", fmt.Sprintf("202401%02d120000", i),
			"M"+hi+"^^^CLINICA^MR~M"+lo+"^^^CLINICA^MR", "DOE^JANE", "20231201", "F")
	}
	var msgs []string
	for i := 1; i <= 5; i++ {
		msgs = append(msgs, msg(i))
	}
	write(t, arch, msgs...)
	x := openTest(t, filepath.Join(dir, "data"), &clock{t: time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)})
	ctx := context.Background()
	check := func(keys, messages int) {
		t.Helper()
		var n, roots, deep int
		if err := x.db.QueryRow(`SELECT count(*), sum(parent = id),
			sum(EXISTS (SELECT 1 FROM keys p WHERE p.id = keys.parent AND p.parent != p.id)) FROM keys`).Scan(&n, &roots, &deep); err != nil {
			t.Fatal(err)
		}
		if n != keys || roots != 1 || deep != 0 {
			t.Fatalf("keys %d (want %d), roots %d (want 1), keys under a non-root %d (want 0)", n, keys, roots, deep)
		}
		got := persons(t, x)
		if len(got) != 1 {
			t.Fatalf("persons %v, want one", got)
		}
		for id, m := range got {
			if m != messages {
				t.Fatalf("person %s has %d messages, want %d", id, m, messages)
			}
		}
	}
	if _, err := x.Update(ctx, []string{arch}); err != nil {
		t.Fatal(err)
	}
	check(7, 5)
	for i := 6; i <= 8; i++ {
		appendTo(t, arch, msg(i))
	}
	if _, err := x.Update(ctx, []string{arch}); err != nil {
		t.Fatal(err)
	}
	check(10, 8)
}

func TestIncremental(t *testing.T) {
	dir := t.TempDir()
	in := filepath.Join(dir, "in")
	os.Mkdir(in, 0o755)
	a, b := filepath.Join(in, "a.hl7"), filepath.Join(in, "b.hl7")
	write(t, a, vxu("1", "CLINICA", "20240101120000", "A1^^^CLINICA^MR", "SMITH^JOHN", "20200101", "M"))
	c := &clock{t: time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)}
	x := openTest(t, filepath.Join(dir, "data"), c)
	ctx := context.Background()
	count := func() int64 {
		s := openSnapshot(t, x)
		n, err := s.Counts(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return n.Records
	}
	if _, err := x.Update(ctx, []string{in}); err != nil || count() != 1 {
		t.Fatalf("first: %v %d", err, count())
	}
	st, _ := x.Update(ctx, []string{in})
	if st.Unchanged != 1 || st.Messages != 0 || count() != 1 {
		t.Fatalf("unchanged: %+v", st)
	}
	// Appended bytes only.
	appendTo(t, a, vxu("2", "CLINICA", "20240102120000", "A1^^^CLINICA^MR", "SMITH^JOHN", "20200101", "M"))
	st, _ = x.Update(ctx, []string{in})
	if st.Appended != 1 || st.Messages != 1 || count() != 2 {
		t.Fatalf("append: %+v count %d", st, count())
	}
	// The appended message keeps absolute offsets and ordinals.
	s, _ := x.Snapshot(ctx)
	ps, _ := s.Persons(ctx, "", 10)
	ms, _ := s.Messages(ctx, ps[0], time.Time{})
	s.Close()
	if len(ms) != 2 || ms[1].Loc.Index != 2 || ms[1].Loc.Offset <= ms[0].Loc.Offset || ms[1].Loc.Line <= 1 {
		t.Fatalf("locations %+v", ms)
	}
	// New file.
	write(t, b, vxu("3", "CLINICB", "20240103120000", "B1^^^CLINICB^MR", "ROE^ANN", "20200202", "F"))
	st, _ = x.Update(ctx, []string{in})
	if st.New != 1 || st.Unchanged != 1 || count() != 3 {
		t.Fatalf("new file: %+v", st)
	}
	if n := len(persons(t, x)); n != 2 {
		t.Fatalf("persons %d", n)
	}
	// a.hl7 rewritten in place (same size, other content): re-indexed, its
	// old messages gone, the links rebuilt.
	old, _ := os.ReadFile(a)
	rew := strings.ReplaceAll(string(old), "SMITH^JOHN", "SMYTH^JOHN")
	rew = strings.ReplaceAll(rew, "A1^^^CLINICA^MR", "Z1^^^CLINICA^MR")
	os.WriteFile(a, []byte(rew), 0o644)
	st, _ = x.Update(ctx, []string{in})
	if st.Rewritten != 1 || st.Messages != 2 || count() != 3 {
		t.Fatalf("rewrite: %+v count %d", st, count())
	}
	got := persons(t, x)
	if len(got) != 2 || got[x.Identity().PatientID(sources.PrefixMRN+"CLINICA|MR|Z1")] != 2 {
		t.Fatalf("after rewrite %v", got)
	}
	// Shrunk file: re-indexed too.
	write(t, a, vxu("9", "CLINICA", "20240109120000", "Z1^^^CLINICA^MR", "SMYTH^JOHN", "20200101", "M"))
	st, _ = x.Update(ctx, []string{in})
	if st.Rewritten != 1 || count() != 2 {
		t.Fatalf("shrink: %+v count %d", st, count())
	}
}

func TestPersistence(t *testing.T) {
	dir := t.TempDir()
	a := filepath.Join(dir, "a.hl7")
	write(t, a,
		vxu("1", "CLINICA", "20240101120000", "A1^^^CLINICA^MR", "SMITH^JOHN", "20200101", "M"),
		vxu("2", "CLINICB", "20240101120000", "B1^^^CLINICB^MR~S1^^^MYIIS^SR", "SMITH^JOHNNY", "20200101", "M"))
	c := &clock{t: time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)}
	data := filepath.Join(dir, "data")
	x, err := open(data, Options{Now: c.now})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if _, err := x.Update(ctx, []string{a}); err != nil {
		t.Fatal(err)
	}
	x.Close()
	// A new process: the union-find is on disk; a message linking A1 to
	// S1 joins the two persons.
	b := filepath.Join(dir, "b.hl7")
	write(t, b, vxu("3", "CLINICA", "20240102120000", "A1^^^CLINICA^MR~S1^^^MYIIS^SR", "SMITH^JOHN", "20200101", "M"))
	x = openTest(t, data, c)
	if _, err := x.Update(ctx, []string{a, b}); err != nil {
		t.Fatal(err)
	}
	got := persons(t, x)
	if len(got) != 1 || got[x.Identity().PatientID(sources.PrefixIIS+"MYIIS|S1")] != 3 {
		t.Fatalf("persons %v", got)
	}
}

func TestGzipSpool(t *testing.T) {
	dir := t.TempDir()
	a := filepath.Join(dir, "a.log") // gzip by content, not by name
	var buf strings.Builder
	zw := gzipWriter(&buf)
	zw.Write([]byte(vxu("1", "CLINICA", "20240101120000", "A1^^^CLINICA^MR", "SMITH^JOHN", "20200101", "M") + "\n" +
		vxu("2", "CLINICA", "20240102120000", "A1^^^CLINICA^MR", "SMITH^JOHN", "20200101", "M") + "\n"))
	zw.Close()
	os.WriteFile(a, []byte(buf.String()), 0o644)
	c := &clock{t: time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)}
	x := openTest(t, filepath.Join(dir, "data"), c)
	ctx := context.Background()
	if _, err := x.Update(ctx, []string{a}); err != nil {
		t.Fatal(err)
	}
	s, _ := x.Snapshot(ctx)
	defer s.Close()
	ps, _ := s.Persons(ctx, "", 10)
	if len(ps) != 1 {
		t.Fatalf("persons %v", ps)
	}
	ms, _ := s.Messages(ctx, ps[0], time.Time{})
	if len(ms) != 2 || ms[1].Loc.Source != a || ms[1].From != "v2" {
		t.Fatalf("messages %+v", ms)
	}
	// Read again by the file's own path: the source reads its spool.
	if sp, _ := filepath.Glob(filepath.Join(dir, "data", "spool", "*")); len(sp) != 1 {
		t.Fatalf("spool holds %v", sp)
	}
	rr, err := x.Source().Rereader()
	if err != nil {
		t.Fatal(err)
	}
	defer rr.Close()
	if data, err := rr.Reread(ms[1].Locator()); err != nil || !strings.Contains(string(data), "|2|P|") {
		t.Fatalf("re-read %q: %v", data, err)
	}
	st, _ := x.Update(ctx, []string{a})
	if st.Unchanged != 1 {
		t.Fatalf("gzip unchanged: %+v", st)
	}
}

// openSnapshot opens a snapshot of x, closed when the test ends.
func openSnapshot(t *testing.T, x *Index) *Snapshot {
	t.Helper()
	s, err := x.Snapshot(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// TestScratch: a scratch index neither syncs nor journals its writes;
// any other does (synchronous NORMAL, under WAL: durable at each
// checkpoint).
func TestScratch(t *testing.T) {
	for _, scratch := range []bool{false, true} {
		x, err := open(t.TempDir(), Options{Scratch: scratch})
		if err != nil {
			t.Fatal(err)
		}
		var sync int
		var journal string
		if err := x.db.QueryRow(`PRAGMA synchronous`).Scan(&sync); err != nil {
			t.Fatal(err)
		}
		if err := x.db.QueryRow(`PRAGMA journal_mode`).Scan(&journal); err != nil {
			t.Fatal(err)
		}
		x.Close()
		if want := map[bool]int{false: 1, true: 0}[scratch]; sync != want {
			t.Errorf("Scratch %v: synchronous %d, want %d", scratch, sync, want)
		}
		if want := map[bool]string{false: "wal", true: "off"}[scratch]; journal != want {
			t.Errorf("Scratch %v: journal_mode %s, want %s", scratch, journal, want)
		}
	}
}

// TestScratchDropsKeys: a scratch index lets go of the identity keys it
// cached once its Update is done (its export's collector would mark them
// all), any other keeps them for the next Update; a scratch index
// updated again still joins a person's new message to its keys.
func TestScratchDropsKeys(t *testing.T) {
	dir := t.TempDir()
	in := filepath.Join(dir, "a.hl7")
	write(t, in, vxu("1", "CLINICA", "20240101120000", "A1^^^CLINICA^MR", "SMITH^JOHN", "20200101", "M", rxa("20240101", "08", "00")))
	var keys int64 // the kept index's
	for _, scratch := range []bool{false, true} {
		x, err := open(filepath.Join(t.TempDir(), "data"), Options{Scratch: scratch})
		if err != nil {
			t.Fatal(err)
		}
		defer x.Close()
		ctx := context.Background()
		if _, err := x.Update(ctx, []string{in}); err != nil {
			t.Fatal(err)
		}
		if cached := len(x.uf.ids.young) + len(x.uf.ids.old); (cached == 0) != scratch {
			t.Errorf("Scratch %v: %d identity keys cached after the Update", scratch, cached)
		}
		appendTo(t, in, vxu("2", "CLINICB", "20240201120000", "A1^^^CLINICA^MR~B7^^^CLINICB^MR", "SMITH^JOHN", "20200101", "M", rxa("20240201", "08", "00")))
		if _, err := x.Update(ctx, []string{in}); err != nil {
			t.Fatal(err)
		}
		c, err := openSnapshot(t, x).Counts(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if c.Persons != 1 || keys != 0 && c.Keys != keys {
			t.Errorf("Scratch %v: %d persons, %d keys after the second Update, want 1 and %d", scratch, c.Persons, c.Keys, keys)
		}
		keys = c.Keys
		write(t, in, vxu("1", "CLINICA", "20240101120000", "A1^^^CLINICA^MR", "SMITH^JOHN", "20200101", "M", rxa("20240101", "08", "00")))
	}
}

// Every connection of the index lets SQLite's sorter use the other cores
// (the walk's sort holds up an export's workers), none on one core.
func TestSorterThreads(t *testing.T) {
	x, err := open(t.TempDir(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer x.Close()
	var n int
	if err := x.db.QueryRow(`PRAGMA threads`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if want := sorterThreads(); n != want {
		t.Errorf("PRAGMA threads %d, want %d", n, want)
	}
	if runtime.GOMAXPROCS(0) > 1 && n < 1 {
		t.Errorf("PRAGMA threads %d on %d cores", n, runtime.GOMAXPROCS(0))
	}
}
