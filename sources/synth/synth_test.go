package synth

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"
)

var (
	demoOnce  sync.Once
	demoDir   string
	demoSum   *Summary
	demoTruth *Truth
	demoErr   error
)

func TestMain(m *testing.M) {
	code := m.Run()
	if demoDir != "" {
		os.RemoveAll(demoDir)
	}
	os.Exit(code)
}

// demo generates the default demo world once for all tests.
func demo(t *testing.T) (string, *Summary, *Truth) {
	t.Helper()
	demoOnce.Do(func() {
		demoDir, demoErr = os.MkdirTemp("", "synth-demo-")
		if demoErr != nil {
			return
		}
		demoSum, demoErr = Generate(demoDir, Config{Seed: 7})
		if demoErr != nil {
			return
		}
		demoTruth, demoErr = ReadTruth(filepath.Join(demoDir, "truth.json"))
	})
	if demoErr != nil {
		t.Fatal(demoErr)
	}
	return demoDir, demoSum, demoTruth
}

// record is one record as a naive splitter finds it in an archive file.
type record struct {
	data      []byte
	truncated bool // MLLP frame without its trailer
}

type splitResult struct {
	records   []record
	btsCounts []int // BTS-1 of each batch
	batchMsgs []int // messages actually found in each batch
	fts       int   // FTS-1, -1 when absent
	gzip      bool
}

// split is the test's own reader: independent of sources/v2archive so the
// two can be checked against each other.
func split(t *testing.T, path, framing string) splitResult {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	res := splitResult{fts: -1}
	if len(raw) > 2 && raw[0] == 0x1f && raw[1] == 0x8b {
		res.gzip = true
		zr, err := gzip.NewReader(bytes.NewReader(raw))
		if err != nil {
			t.Fatal(err)
		}
		if raw, err = io.ReadAll(zr); err != nil {
			t.Fatal(err)
		}
	}
	switch framing {
	case "mllp":
		for _, chunk := range bytes.Split(raw, []byte{0x0b})[1:] {
			if bytes.HasSuffix(chunk, []byte{0x1c, 0x0d}) {
				res.records = append(res.records, record{data: chunk[:len(chunk)-2]})
			} else {
				res.records = append(res.records, record{data: chunk, truncated: true})
			}
		}
	case "blank":
		for _, chunk := range bytes.Split(raw, []byte("\n\n")) {
			if len(chunk) > 0 {
				res.records = append(res.records, record{data: chunk})
			}
		}
	default:
		term := []byte("\r")
		if framing == "crlf" {
			term = []byte("\r\n")
		}
		var cur []byte
		flush := func() {
			if cur != nil {
				res.records = append(res.records, record{data: cur})
				if len(res.batchMsgs) > 0 {
					res.batchMsgs[len(res.batchMsgs)-1]++
				}
			}
			cur = nil
		}
		for _, seg := range bytes.Split(raw, term) {
			if len(seg) == 0 {
				continue
			}
			name := string(seg[:3])
			switch name {
			case "FHS":
				continue
			case "BHS":
				flush()
				res.batchMsgs = append(res.batchMsgs, 0)
				continue
			case "BTS", "FTS":
				flush()
				n, _ := strconv.Atoi(strings.Split(string(seg), "|")[1])
				if name == "BTS" {
					res.btsCounts = append(res.btsCounts, n)
				} else {
					res.fts = n
				}
				continue
			case "MSH":
				flush()
				cur = []byte{}
			}
			cur = append(cur, seg...)
			cur = append(cur, '\r')
		}
		flush()
	}
	return res
}

// segments splits a record into segments on any terminator.
func segments(data []byte) [][]string {
	var out [][]string
	for _, line := range strings.FieldsFunc(string(data), func(r rune) bool { return r == '\r' || r == '\n' }) {
		out = append(out, strings.Split(line, "|"))
	}
	return out
}

func field(seg []string, n int) string { // n as in PID-3; MSH handled by caller
	if n < len(seg) {
		return seg[n]
	}
	return ""
}

func mshField(seg []string, n int) string { return field(seg, n-1) }

func latin1ToUTF8(b []byte) []byte {
	out := make([]byte, 0, len(b))
	for _, c := range b {
		out = utf8.AppendRune(out, rune(c))
	}
	return out
}

func hashDir(t *testing.T, dir string) map[string][32]byte {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][32]byte{}
	for _, e := range ents {
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		out[e.Name()] = sha256.Sum256(b)
	}
	return out
}

func TestDeterministic(t *testing.T) {
	cfg := Config{Seed: 42, People: 90, FilesPerFraming: 1}
	a, b := t.TempDir(), t.TempDir()
	if _, err := Generate(a, cfg); err != nil {
		t.Fatal(err)
	}
	if _, err := Generate(b, cfg); err != nil {
		t.Fatal(err)
	}
	ha, hb := hashDir(t, a), hashDir(t, b)
	if len(ha) != 8 { // 7 framings + truth.json, no temporary files left behind
		t.Fatalf("files: %v", ha)
	}
	for name, h := range ha {
		if hb[name] != h {
			t.Errorf("%s differs between two runs with the same seed", name)
		}
	}
	c := t.TempDir()
	cfg.Seed = 43
	if _, err := Generate(c, cfg); err != nil {
		t.Fatal(err)
	}
	if hashDir(t, c)["msh-01.hl7"] == ha["msh-01.hl7"] {
		t.Error("another seed gave the same file")
	}
}

// TestTruthAccountsForEveryRecord: the truth's message list is exactly
// what a splitter finds in the files, index by index.
func TestTruthAccountsForEveryRecord(t *testing.T) {
	dir, sum, tr := demo(t)
	checkAccounts(t, dir, sum, tr)
	for _, f := range tr.Files {
		if f.Framing == "batch" && f.Batches < 2 {
			t.Errorf("%s: %d batches, want several", f.Name, f.Batches)
		}
	}
	if len(tr.Broken) != tr.Counts.ByKind["broken"] || len(tr.Broken) != 3 {
		t.Errorf("broken: %v, counted %d", tr.Broken, tr.Counts.ByKind["broken"])
	}
}

func checkAccounts(t *testing.T, dir string, sum *Summary, tr *Truth) {
	t.Helper()
	if int64(len(tr.Messages)) != sum.Messages || tr.Counts.Messages != len(tr.Messages) {
		t.Fatalf("summary %d messages, truth lists %d, counts %d", sum.Messages, len(tr.Messages), tr.Counts.Messages)
	}
	byFile := map[string][]Message{}
	for _, m := range tr.Messages {
		byFile[m.File] = append(byFile[m.File], m)
	}
	var total int64
	for _, f := range tr.Files {
		st, err := os.Stat(filepath.Join(dir, f.Name))
		if err != nil {
			t.Fatal(err)
		}
		if st.Size() != f.Bytes {
			t.Errorf("%s: %d bytes on disk, truth says %d", f.Name, st.Size(), f.Bytes)
		}
		total += f.Bytes
		res := split(t, filepath.Join(dir, f.Name), f.Framing)
		if res.gzip != f.Gzip {
			t.Errorf("%s: gzip content %v, truth %v", f.Name, res.gzip, f.Gzip)
		}
		want := byFile[f.Name]
		if len(res.records) != f.Messages || len(want) != f.Messages {
			t.Fatalf("%s: splitter finds %d records, file entry %d, message list %d", f.Name, len(res.records), f.Messages, len(want))
		}
		for i, rec := range res.records {
			m := want[i]
			if m.Index != i+1 {
				t.Fatalf("%s: entry %d has index %d", f.Name, i+1, m.Index)
			}
			if m.Kind == "broken" {
				if bytes.HasPrefix(rec.data, []byte("MSH|")) && !rec.truncated {
					t.Errorf("%s #%d: broken record (%s) looks whole", f.Name, m.Index, m.Profile)
				}
				continue
			}
			segs := segments(rec.data)
			if segs[0][0] != "MSH" {
				t.Fatalf("%s #%d: record does not start with MSH", f.Name, m.Index)
			}
			if got := mshField(segs[0], 10); got != m.ControlID {
				t.Errorf("%s #%d: MSH-10 %q, truth %q", f.Name, m.Index, got, m.ControlID)
			}
			if typ := strings.SplitN(mshField(segs[0], 9), "^", 2)[0]; typ != m.Kind {
				t.Errorf("%s #%d: MSH-9 %q, truth kind %s", f.Name, m.Index, typ, m.Kind)
			}
			if p := strings.SplitN(mshField(segs[0], 21), "^", 2)[0]; p != m.Profile {
				t.Errorf("%s #%d: MSH-21 %q, truth profile %s", f.Name, m.Index, p, m.Profile)
			}
			nonASCII := bytes.ContainsFunc(rec.data, func(r rune) bool { return r >= 0x80 })
			wantCS := map[bool]string{false: "UNICODE UTF-8", true: "8859/1"}[f.Charset == "ISO-8859-1"]
			if cs := mshField(segs[0], 18); nonASCII && cs != wantCS || !nonASCII && cs != "" {
				t.Errorf("%s #%d: MSH-18 %q for a message with non-ASCII text %v", f.Name, m.Index, cs, nonASCII)
			}
			if ts := mshField(segs[0], 7); ts != m.Time.Format("20060102150405-0700") {
				t.Errorf("%s #%d: MSH-7 %s, truth %s", f.Name, m.Index, ts, m.Time)
			}
		}
		if f.Framing == "batch" {
			if res.fts != len(res.btsCounts) || res.fts != f.Batches || res.fts < 1 {
				t.Errorf("%s: FTS-1 %d, %d BTS, truth %d batches", f.Name, res.fts, len(res.btsCounts), f.Batches)
			}
			for i := range res.btsCounts {
				if res.btsCounts[i] != res.batchMsgs[i] {
					t.Errorf("%s: batch %d holds %d messages, BTS-1 says %d", f.Name, i+1, res.batchMsgs[i], res.btsCounts[i])
				}
			}
		}
	}
	if total != sum.Bytes {
		t.Errorf("summary %d bytes, files %d", sum.Bytes, total)
	}
}

func TestFeaturesPresent(t *testing.T) {
	dir, _, tr := demo(t)
	var multiFac, noSR, withSR, updated, deleted, refused, na, primaryFalse, twins, renamed, moved, patientLevel int
	for _, p := range tr.Persons {
		facs := map[string]bool{}
		for _, id := range p.IDs {
			facs[id.Facility] = true
		}
		if len(facs) >= 2 {
			multiFac++
		}
		if p.IISID == "" {
			noSR++
		} else {
			withSR++
		}
		if p.Twin != "" {
			twins++
		}
		if len(p.FormerNames) > 0 {
			renamed++
		}
		if len(p.FormerAddresses) > 0 {
			moved++
		}
		patientLevel += p.PatientLevel
		for _, d := range p.Doses {
			switch {
			case d.Updated:
				updated++
			}
			switch d.Status {
			case "entered-in-error":
				deleted++
				if d.DeletedAt == nil {
					t.Errorf("%s: deleted without time", d.Key)
				}
			case "not-done":
				if d.Completion == "RE" {
					refused++
					if d.RefusalReason == "" {
						t.Errorf("%s: refusal without reason", d.Key)
					}
				} else {
					na++
				}
			}
			if !d.PrimarySource {
				primaryFalse++
			}
		}
	}
	for name, n := range map[string]int{"several facilities": multiFac, "no SR": noSR, "SR": withSR,
		"U": updated, "D": deleted, "RE": refused, "NA": na, "historical only": primaryFalse, "twins": twins,
		"name change": renamed, "new address": moved, "998": patientLevel} {
		if n == 0 {
			t.Errorf("no person shows %s", name)
		}
	}
	if len(tr.UnseenDeletes) != 1 {
		t.Errorf("unseen deletes: %v", tr.UnseenDeletes)
	}
	for _, p := range []string{"Z22", "Z34", "Z44", "Z32", "Z42", "Z31", "Z33", "Z23"} {
		if tr.Counts.ByProfile[p] == 0 {
			t.Errorf("no %s message", p)
		}
	}
	via := map[string]bool{}
	for _, l := range tr.Links {
		for _, v := range l.Via {
			via[v] = true
		}
		if l.Last.Before(l.First) {
			t.Errorf("link %v ends before it starts", l)
		}
	}
	if !via["vxu"] || !via["qbp"] {
		t.Errorf("links via %v", via)
	}
	raw := func(name string) []byte {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	l1 := raw("latin1-01.hl7")
	if utf8.Valid(l1) || !bytes.Contains(l1, []byte("|8859/1|")) {
		t.Error("latin1 file holds no ISO-8859-1 bytes or no MSH-18 8859/1")
	}
	if !bytes.ContainsAny(l1, "\xc4\xc5\xc9\xd1\xd3\xd6\xd8\xdc\xc7\xd4\xda\xc1") {
		t.Error("latin1 file has no accented capital letters")
	}
	if g := raw("gzip-01.hl7"); g[0] != 0x1f || g[1] != 0x8b {
		t.Error("gzip file lacks the gzip magic")
	}
	if m := raw("mllp-01.hl7"); m[0] != 0x0b || !bytes.Contains(m, []byte{0x1c, 0x0d, 0x0b}) {
		t.Error("mllp file is not MLLP-framed")
	}
	if c := raw("crlf-01.hl7"); bytes.Count(c, []byte("\r\n")) < 100 {
		t.Error("crlf file has no CRLF terminators")
	}
	if !bytes.Contains(raw("msh-01.hl7"), []byte(`\T\`)) && !bytes.Contains(raw("blank-01.hl7"), []byte(`\T\`)) {
		t.Error("no escaped facility name anywhere")
	}
}

// TestKeysNeverShared: no two persons share a demographic key (current or
// former name), a (facility, MRN) pair or an IIS id.
func TestKeysNeverShared(t *testing.T) {
	_, _, tr := demo(t)
	checkKeys(t, tr)
}

func checkKeys(t *testing.T, tr *Truth) {
	t.Helper()
	owner := map[string]string{}
	claim := func(k, p string) {
		if o, ok := owner[k]; ok && o != p {
			t.Errorf("%s and %s share %s", o, p, k)
		}
		owner[k] = p
	}
	for _, p := range tr.Persons {
		dob, sex := p.BirthDate, p.Sex
		for _, n := range append([]Name{p.Name}, p.FormerNames...) {
			claim("demo|"+strings.ToUpper(n.Family)+"|"+strings.ToUpper(n.Given)+"|"+dob+"|"+sex, p.Key)
		}
		for _, id := range p.IDs {
			claim("mr|"+id.Facility+"|"+id.MRN, p.Key)
		}
		if p.IISID != "" {
			claim("sr|"+p.IISID, p.Key)
		}
		if p.Twin != "" {
			for _, q := range tr.Persons {
				if q.Key == p.Twin && (q.BirthDate != p.BirthDate || q.Name.Given == p.Name.Given) {
					t.Errorf("twins %s/%s: %s %s vs %s %s", p.Key, q.Key, p.BirthDate, p.Name.Given, q.BirthDate, q.Name.Given)
				}
			}
		}
		seen := map[string]bool{}
		for _, d := range p.Doses {
			k := d.CVX + d.Date
			if seen[k] {
				t.Errorf("%s: two doses %s on %s", p.Key, d.CVX, d.Date)
			}
			seen[k] = true
		}
	}
}

// TestLinkableFromBytes reads the files back and checks the identity rules
// on what is really written: within a person every PID-carrying message
// links to the others through SR, (authority, MR) or the normalized
// demographic key; across persons no such key repeats; and every dose an
// RSP carries is a dose of that person in the truth.
func TestLinkableFromBytes(t *testing.T) {
	dir, _, tr := demo(t)
	checkLinkable(t, dir, tr)
}

func checkLinkable(t *testing.T, dir string, tr *Truth) {
	t.Helper()
	persons := map[string]*Person{}
	for i := range tr.Persons {
		persons[tr.Persons[i].Key] = &tr.Persons[i]
	}
	msgs := map[string]Message{}
	for _, m := range tr.Messages {
		msgs[m.File+"#"+strconv.Itoa(m.Index)] = m
	}
	parent := map[string]string{}
	var find func(string) string
	find = func(x string) string {
		if parent[x] == "" || parent[x] == x {
			parent[x] = x
			return x
		}
		r := find(parent[x])
		parent[x] = r
		return r
	}
	keyOwner := map[string]string{}
	nodes := map[string][]string{} // person → message nodes
	for _, f := range tr.Files {
		res := split(t, filepath.Join(dir, f.Name), f.Framing)
		for i, rec := range res.records {
			m := msgs[f.Name+"#"+strconv.Itoa(i+1)]
			if m.Person == "" || (m.Kind != "VXU" && m.Kind != "RSP") {
				continue
			}
			data := rec.data
			if f.Charset == "ISO-8859-1" {
				data = latin1ToUTF8(data)
			}
			node := "msg|" + m.File + "#" + strconv.Itoa(m.Index)
			nodes[m.Person] = append(nodes[m.Person], node)
			var keys []string
			pids := 0
			for _, seg := range segments(data) {
				switch seg[0] {
				case "PID":
					pids++
					for _, rep := range strings.Split(field(seg, 3), "~") {
						c := strings.Split(rep, "^")
						switch c[4] {
						case "MR":
							keys = append(keys, "mr|"+c[3]+"|"+c[0])
						case "SR":
							keys = append(keys, "sr|"+c[3]+"|"+c[0])
						}
					}
					n := strings.Split(field(seg, 5), "^")
					keys = append(keys, "demo|"+strings.ToUpper(n[0])+"|"+strings.ToUpper(n[1])+"|"+field(seg, 7)+"|"+field(seg, 8))
				case "RXA":
					if m.Kind != "RSP" || strings.HasPrefix(field(seg, 5), "998^") {
						continue
					}
					cvx, date := strings.Split(field(seg, 5), "^")[0], field(seg, 3)
					if d := findDose(persons[m.Person], cvx, date); d == nil || d.Status != "completed" {
						t.Errorf("%s: RSP dose %s %s is not a completed dose of %s in the truth", node, cvx, date, m.Person)
					}
				}
			}
			if pids != 1 {
				t.Errorf("%s: %d PID segments", node, pids)
			}
			for _, k := range keys {
				if o, ok := keyOwner[k]; ok && o != m.Person {
					t.Errorf("key %s used by %s and %s", k, o, m.Person)
				}
				keyOwner[k] = m.Person
				parent[find(node)] = find(k)
			}
		}
	}
	for p, ns := range nodes {
		root := find(ns[0])
		for _, n := range ns[1:] {
			if find(n) != root {
				t.Errorf("%s: message %s does not link to %s", p, n, ns[0])
			}
		}
	}
	if len(nodes) != len(tr.Persons) {
		t.Errorf("%d persons with PID messages, truth has %d", len(nodes), len(tr.Persons))
	}
}

func findDose(p *Person, cvx, yyyymmdd string) *Dose {
	if p == nil || len(yyyymmdd) < 8 {
		return nil
	}
	date := yyyymmdd[:4] + "-" + yyyymmdd[4:6] + "-" + yyyymmdd[6:8]
	for i := range p.Doses {
		if p.Doses[i].CVX == cvx && p.Doses[i].Date == date {
			return &p.Doses[i]
		}
	}
	return nil
}

// TestOtherShapes runs the file-level checks on worlds unlike the demo:
// the smallest facility set (no mass-vax site), a one-year span, two
// files per framing; and the largest facility set.
func TestOtherShapes(t *testing.T) {
	for _, cfg := range []Config{
		{Seed: 11, People: 150, Facilities: 3, FilesPerFraming: 2,
			Start: time.Date(2024, 3, 1, 0, 0, 0, 0, time.UTC), End: time.Date(2025, 2, 28, 0, 0, 0, 0, time.UTC)},
		{Seed: 99, People: 250, Facilities: 10, Framings: []string{"mllp", "latin1", "batch"}},
	} {
		dir := t.TempDir()
		sum, err := Generate(dir, cfg)
		if err != nil {
			t.Fatal(err)
		}
		tr, err := ReadTruth(filepath.Join(dir, "truth.json"))
		if err != nil {
			t.Fatal(err)
		}
		checkAccounts(t, dir, sum, tr)
		checkKeys(t, tr)
		checkLinkable(t, dir, tr)
		if len(tr.Facilities) != cfg.Facilities || len(tr.Files) != len(sum.Files) {
			t.Errorf("%d facilities, %d files", len(tr.Facilities), len(tr.Files))
		}
		for _, m := range tr.Messages {
			if m.Kind != "broken" && (m.Time.Before(tr.Config.Start) || m.Time.After(tr.Config.End)) {
				t.Errorf("%s #%d at %s, outside the span", m.File, m.Index, m.Time)
			}
		}
	}
}

func TestMessageTarget(t *testing.T) {
	dir := t.TempDir()
	sum, err := Generate(dir, Config{Seed: 3, Messages: 3001, Framings: []string{"msh", "blank"}, FilesPerFraming: 2})
	if err != nil {
		t.Fatal(err)
	}
	if sum.Messages != 3001 || len(sum.Files) != 4 {
		t.Fatalf("summary %+v", sum)
	}
	tr, err := ReadTruth(filepath.Join(dir, "truth.json"))
	if err != nil {
		t.Fatal(err)
	}
	for i, f := range tr.Files {
		want := 750
		if i == 0 {
			want = 751
		}
		if f.Messages != want {
			t.Errorf("%s: %d messages, want %d", f.Name, f.Messages, want)
		}
		if n := len(split(t, filepath.Join(dir, f.Name), f.Framing).records); n != want {
			t.Errorf("%s: splitter finds %d", f.Name, n)
		}
	}
	if tr.Config.People != 0 || tr.Counts.Persons != sum.People || sum.People < 100 {
		t.Errorf("people: config %d, counts %d, summary %d", tr.Config.People, tr.Counts.Persons, sum.People)
	}
}

func TestConfigErrors(t *testing.T) {
	for _, c := range []Config{
		{Framings: []string{"zip"}},
		{Facilities: 2},
		{Start: time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC), End: time.Date(2024, 1, 5, 0, 0, 0, 0, time.UTC)},
		{Messages: 10},
	} {
		if _, err := Generate(t.TempDir(), c); err == nil {
			t.Errorf("%+v: no error", c)
		}
	}
}

func TestPermIsBijective(t *testing.T) {
	p := newPerm(1000, 9)
	seen := make([]bool, 1000)
	for i := uint64(0); i < 1000; i++ {
		x := p.at(i)
		if x >= 1000 || seen[x] {
			t.Fatalf("perm(%d) = %d repeats or escapes", i, x)
		}
		seen[x] = true
	}
}

func TestCivil(t *testing.T) {
	for _, s := range []string{"1970-01-01", "2000-02-29", "2024-12-31", "1969-12-31", "2100-03-01"} {
		tm, _ := time.Parse(time.DateOnly, s)
		if got := isoDate(day(tm.Unix() / secondsADay)); got != s {
			t.Errorf("%s → %s", s, got)
		}
	}
	ts := time.Date(2024, 7, 4, 9, 5, 3, 0, tz).Unix()
	if got := string(appendTS(nil, ts)); got != "20240704090503-0600" {
		t.Errorf("appendTS: %s", got)
	}
}

func BenchmarkGenerate(b *testing.B) {
	dir := b.TempDir()
	var bytes int64
	for b.Loop() {
		sum, err := Generate(dir, Config{Seed: 1, Messages: 20000, Framings: []string{"msh"}})
		if err != nil {
			b.Fatal(err)
		}
		bytes = sum.Bytes
	}
	b.SetBytes(bytes)
	b.ReportMetric(20000, "msgs/op")
}

func TestWalkTruth(t *testing.T) {
	dir, _, tr := demo(t)
	var persons, links, msgs int
	hdr, err := WalkTruth(filepath.Join(dir, "truth.json"), TruthWalker{
		Person:  func(p *Person) error { persons++; return nil },
		Link:    func(l *Link) error { links++; return nil },
		Message: func(m *Message) error { msgs++; return nil },
	})
	if err != nil {
		t.Fatal(err)
	}
	if hdr.Persons != nil || persons != len(tr.Persons) || links != len(tr.Links) || msgs != len(tr.Messages) {
		t.Errorf("walked %d/%d/%d, read %d/%d/%d", persons, links, msgs, len(tr.Persons), len(tr.Links), len(tr.Messages))
	}
	if persons != hdr.Counts.Persons || links != hdr.Counts.Links || hdr.Files == nil {
		t.Errorf("header counts %+v", hdr.Counts)
	}
	stop := fmt.Errorf("stop")
	if _, err := WalkTruth(filepath.Join(dir, "truth.json"), TruthWalker{Link: func(*Link) error { return stop }}); err == nil || !strings.Contains(err.Error(), "stop") {
		t.Errorf("walker error lost: %v", err)
	}
}
