package mapping

import (
	"bytes"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/iisbridge/iisbridge/fhirout"
	"github.com/iisbridge/iisbridge/hl7v2"
	"github.com/iisbridge/iisbridge/sources"
	"github.com/iisbridge/iisbridge/sources/synth"
	"github.com/iisbridge/iisbridge/sources/v2archive"
)

// covers reports whether a Dependencies list reads field (SEG-F) or one
// of its components.
func covers(list []string, field string) bool {
	return slices.ContainsFunc(list, func(e string) bool { return e == field || strings.HasPrefix(e, field+".") })
}

// The default Immunization reads at least every message-level field the
// pipeline's ORDER memo (pipeline/ordermemo.go, orderContext) hand-lists:
// MSH-3, MSH-4, MSH-9, the zone of MSH-7, PID-3 and whether a second PID
// exists; and its own ORDER group's ORC and RXA.
func TestReadsDefaultImmunization(t *testing.T) {
	m := Default()
	d := m.ReadsOf("Immunization")
	if !d.PerOrder {
		t.Error("Immunization is made per ORDER group")
	}
	for _, f := range []string{"MSH-3", "MSH-4", "MSH-7:zone", "MSH-9", "PID-3"} {
		if !covers(d.Message, f) {
			t.Errorf("Reads(Immunization).Message lacks %s: %v", f, d.Message)
		}
	}
	for _, f := range []string{"ORC-3", "RXA-3", "RXA-5", "RXA-9", "RXA-20", "RXA-21", "RXR-1", "OBX-3", "OBX-5"} {
		if !covers(d.Order, f) {
			t.Errorf("Reads(Immunization).Order lacks %s: %v", f, d.Order)
		}
	}
	for _, list := range [][]string{d.Order} {
		for _, e := range list {
			if seg, _, _ := strings.Cut(e, "-"); seg == "MSH" || seg == "PID" {
				t.Errorf("%s listed inside the ORDER group", e)
			}
		}
	}
	if !slices.Equal(d.Refs, []string{"$patient"}) {
		t.Errorf("the Immunization refers to the Patient: Refs %v", d.Refs)
	}
	p := m.ReadsOf("Patient")
	if p.PerOrder || len(p.Order) > 0 {
		t.Errorf("Patient reads no ORDER group: %+v", p)
	}
	for _, f := range []string{"PID-3", "PID-5", "PID-7", "PID-8", "PID-11", "NK1-2", "MSH-4"} {
		if !covers(p.Message, f) {
			t.Errorf("Reads(Patient).Message lacks %s: %v", f, p.Message)
		}
	}
	t.Logf("Immunization: order %v\nmessage %v\ninputs %v", d.Order, d.Message, d.Inputs)
}

// Every kind of read is found, each where it resolves: lets (followed
// through variables), conditions, ids, where, group_by, tables' inputs,
// relative paths, has:.
func TestReadsKinds(t *testing.T) {
	m := compileYAML(t, `
messages: [VXU^V04]
when: {has: PID}
let:
  who: 'first_nonempty(MSH-4.1, MSH-3.1)'
tables:
  t: {codes: {a: b}}
resources:
  - resource: Patient
    as: patient
    id: 'hash($who, PID-3.1)'
    rules:
      - {target: gender, value: 'table("t", PID-8)', when: {present: PD1-3}}
      - foreach: 'PID-5[*]'
        target: name[]
        rules:
          - {target: family, value: .1.1}
      - foreach: ORDER
        target: extension[]
        rules:
          - {target: valueDate, value: date(RXA-3)}
  - resource: Immunization
    foreach: ORDER
    when: {not: {value: RXA-5.1, equals: "998"}}
    let:
      lot: RXA-15
    rules:
      - {target: patient.reference, value: 'concat("Patient/", $patient)'}
      - {target: lotNumber, value: $lot}
      - foreach: OBX
        where: {value: OBX-3.1, equals: "64994-7"}
        group_by: OBX-4
        target: programEligibility[]
        rules:
          - {target: 'coding[0].code', value: OBX-5.1}
      - {target: occurrenceDateTime, value: datetime(RXA-3), when: {has: NK1, where: {present: NK1-2}}}
`, nil)
	if m.NumResources() != 2 || m.ResourceType(1) != "Immunization" {
		t.Fatalf("%d resources", m.NumResources())
	}
	p := m.Reads(0)
	want := Dependencies{Resource: "Patient", Message: []string{"MSH-3.1", "MSH-4.1", "MSH-7:zone", "MSH-9.1", "MSH-9.2", "NTE[*]", "OBX[*]", "ORC[*]", "PD1-3", "PID", "PID-3.1",
		"PID-5", "PID-5.1", "PID-8", "PRT[*]", "RXA-3", "RXA[*]", "RXR[*]", "TQ1[*]", "TQ2[*]"}}
	if !slices.Equal(p.Message, want.Message) || len(p.Order) > 0 || p.PerOrder {
		t.Errorf("Patient reads %+v\nwant %+v", p, want)
	}
	im := m.Reads(1)
	wantOrder := []string{"OBX-3.1", "OBX-4", "OBX-5.1", "OBX[*]", "RXA-15", "RXA-3", "RXA-5.1"}
	if !slices.Equal(im.Order, wantOrder) || !im.PerOrder {
		t.Errorf("Immunization reads in its group %v, want %v", im.Order, wantOrder)
	}
	wantMessage := []string{"MSH-7:zone", "MSH-9.1", "MSH-9.2", "NK1", "NK1-2", "PID"}
	if !slices.Equal(im.Message, wantMessage) || !slices.Equal(im.Refs, []string{"$patient"}) || !im.DefaultID || p.DefaultID {
		t.Errorf("Immunization reads in the message %v, want %v (default id %v)", im.Message, wantMessage, im.DefaultID)
	}
}

// A relational mapping reads columns, and no message.
func TestReadsColumns(t *testing.T) {
	m := compileYAML(t, `
source: sql
columns: [patient_id, last_name, birth_date, sex, unused]
let:
  key: 'concat("p-", patient_id)'
resources:
  - resource: Patient
    id: hash($key)
    when: {present: last_name}
    rules:
      - {target: birthDate, value: date(birth_date)}
      - {target: gender, value: lower(sex), default: unknown, when: {value: $input.source, equals: people}}
`, nil)
	d := m.Reads(0)
	if !slices.Equal(d.Columns, []string{"birth_date", "last_name", "patient_id", "sex"}) || len(d.Message) > 0 || len(d.Order) > 0 ||
		!slices.Equal(d.Inputs, []string{"$input.source"}) || d.DefaultID {
		t.Errorf("Reads = %+v", d)
	}
}

// Reads misses nothing a resource reads: over the generated world and
// the corpus, each message is changed in every field the resource's lists
// do not name (outside and inside the ORDER groups; MSH-1 and MSH-2
// aside), which leaves its AppendMessageKey as it was, and the resource
// (each ORDER group's, mapped alone with Input.Want) must stay the same.
func TestReadsCoverWhatResourcesRead(t *testing.T) {
	m := Default()
	compared := map[string]int{}
	check := func(msg *hl7v2.Message, _ sources.Location) {
		for _, typ := range []string{"Patient", "Immunization"} {
			d := m.ReadsOf(typ)
			changed := changeUnread(t, msg, d)
			if string(d.AppendMessageKey(nil, msg)) != string(d.AppendMessageKey(nil, changed)) {
				t.Fatalf("%s: changing unread fields changed the key of\n%s", typ, msg.Raw())
			}
			orders := []int{-1}
			if d.PerOrder {
				if len(msg.Orders()) != len(changed.Orders()) {
					t.Fatalf("changing unread fields changed the ORDER groups of\n%s", msg.Raw())
				}
				orders = orders[:0]
				for k := range msg.Orders() {
					orders = append(orders, k)
				}
			}
			for _, k := range orders {
				in := Input{PatientID: "p-1", LastUpdated: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC), Loc: sources.Location{Source: "x", ControlID: "c"},
					Want: func(rt string, ord int) bool { return rt == typ && ord == k }}
				in.Msg = msg
				a := m.Apply(in, false)
				in.Msg = changed
				b := m.Apply(in, false)
				compared[typ]++
				if len(a.Resources) != len(b.Resources) {
					t.Errorf("%s %d: %d resources, %d once unread fields changed:\n%s\n%s", typ, k, len(a.Resources), len(b.Resources), msg.Raw(), changed.Raw())
					continue
				}
				for i := range a.Resources {
					if x, y := a.Resources[i].AppendJSON(nil), b.Resources[i].AppendJSON(nil); string(x) != string(y) {
						t.Errorf("%s %d changed with fields Reads does not list:\n%s\n%s\nmessage:\n%s", typ, k, x, y, changed.Raw())
					}
				}
			}
		}
	}
	eachWorldAndCorpusMessage(t, check)
	if compared["Patient"] < 400 || compared["Immunization"] < 1000 {
		t.Errorf("only %v compared", compared)
	}
	t.Logf("compared %v", compared)
}

// eachWorldAndCorpusMessage calls fn with every message of the
// differential world and of the shared corpus (when it is there).
func eachWorldAndCorpusMessage(t *testing.T, fn func(*hl7v2.Message, sources.Location)) {
	t.Helper()
	dir := t.TempDir()
	sum, err := synth.Generate(dir, differentialWorld)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range sum.Files {
		eachMessage(t, filepath.Join(dir, f), fn)
	}
	if corpus := corpusDir(); corpus != "" {
		filepath.WalkDir(corpus, func(p string, de fs.DirEntry, err error) error {
			if err == nil && !de.IsDir() && !strings.HasSuffix(p, ".md") {
				eachMessage(t, p, fn)
			}
			return err
		})
	}
}

// changeUnread rewrites every field of msg that neither d.Message nor
// d.Order names (field or component) to a value of its own.
func changeUnread(t *testing.T, msg *hl7v2.Message, d Dependencies) *hl7v2.Message {
	t.Helper()
	fs := string(msg.Delimiters().Field)
	var out []string
	for _, seg := range msg.Segments() {
		parts := strings.Split(string(seg.Raw()), fs)
		name := parts[0]
		for i := 1; i < len(parts); i++ {
			f := i
			if name == "MSH" {
				f = i + 1 // MSH-1 is the separator itself
				if f <= 2 {
					continue
				}
			}
			field := name + "-" + strconv.Itoa(f)
			if covers(d.Message, field) || covers(d.Order, field) || name == "MSH" && f == 7 {
				continue // MSH-7 (its zone is read) is changed below
			}
			parts[i] = "Q" + strconv.Itoa(f)
		}
		if name == "MSH" && len(parts) > 6 && covers(d.Message, "MSH-7:zone") && !covers(d.Message, "MSH-7") {
			// Another time, the same zone.
			ts := parts[6]
			zone := ""
			if len(ts) > 8 {
				if j := strings.IndexAny(ts[8:], "+-"); j >= 0 {
					zone = ts[8+j:]
				}
			}
			parts[6] = "19991231235959" + zone
		}
		out = append(out, strings.Join(parts, fs))
	}
	changed, err := hl7v2.Parse([]byte(strings.Join(out, "\r")))
	if err != nil {
		t.Fatalf("changed message does not parse: %v", err)
	}
	return changed
}

// Two messages that differ where the Immunization reads nothing have one
// key; a difference in a field it reads gives another.
func TestAppendMessageKey(t *testing.T) {
	d := Default().ReadsOf("Immunization")
	base := msg(t, benchVXU)
	other := msg(t, strings.Replace(benchVXU, "Quillfeather^Marigold", "Smith^Jane", 1)) // PID-5: not read
	if string(d.AppendMessageKey(nil, base)) != string(d.AppendMessageKey(nil, other)) {
		t.Error("a name change changed the Immunization's key")
	}
	for _, edit := range [][2]string{{"MYEHR|NORTHCLINIC", "MYEHR|SOUTHCLINIC"}, {"MRN4471", "MRN4472"}, {"20240310142530-0500", "20240310142530-0600"}} {
		changed := msg(t, strings.Replace(benchVXU, edit[0], edit[1], 1))
		if string(d.AppendMessageKey(nil, base)) == string(d.AppendMessageKey(nil, changed)) {
			t.Errorf("%s → %s left the key unchanged", edit[0], edit[1])
		}
	}
}

// eachMessage calls fn with every message of an archive file that
// parses, and where it was read.
func eachMessage(t testing.TB, path string, fn func(*hl7v2.Message, sources.Location)) {
	t.Helper()
	r, err := v2archive.Open([]string{path}, v2archive.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	for {
		it, err := r.Next()
		if errors.Is(err, io.EOF) {
			return
		}
		if err != nil {
			t.Fatal(err)
		}
		if it.Err != nil {
			continue
		}
		// The item's data is the reader's: a copy is parsed, for fn to keep.
		if msg, err := hl7v2.Parse(bytes.Clone(it.Data)); err == nil {
			fn(msg, it.Loc)
		}
	}
}

// corpusDir is the shared corpus's v2 directory, "" when absent.
func corpusDir() string {
	dir := os.Getenv("IISBRIDGE_CORPUS")
	if dir == "" {
		dir = filepath.Join("..", "..", "shared", "corpus")
	}
	v2 := filepath.Join(dir, "v2")
	if _, err := os.Stat(v2); err != nil {
		return ""
	}
	return v2
}

// ReadsExcept leaves out what only the id rule and the rules of the
// elements named read, and misses nothing else: over the generated world
// and the corpus, a message changed in every field its lists do not name
// keys alike (MessageKey) and, mapped with another time and place, gives
// the same resources but for id and meta.lastUpdated.
func TestReadsExceptCoversTheRest(t *testing.T) {
	m := Default()
	except := []string{"id", "meta.lastUpdated"}
	d := m.ReadsExcept(0, except...)
	full := m.Reads(0)
	if d.Resource != "Patient" || !slices.Contains(full.Message, "MSH-10") || slices.Contains(d.Message, "MSH-10") ||
		!slices.Contains(full.Inputs, "$input.last_updated") || !slices.Equal(d.Inputs, []string{"$input.patient_id"}) || d.DefaultID {
		t.Fatalf("ReadsExcept(0, %q) = %+v\nReads(0) = %+v", except, d, full)
	}
	for _, e := range d.Message {
		if !slices.Contains(full.Message, e) {
			t.Fatalf("ReadsExcept lists %s, which Reads does not", e)
		}
	}
	strip := func(r *fhirout.Object) string {
		r.Delete("id")
		if meta := r.Child("meta"); meta != nil {
			meta.Delete("lastUpdated")
		}
		return string(r.AppendJSON(nil))
	}
	compared := 0
	check := func(msg *hl7v2.Message, _ sources.Location) {
		for i := 0; i < m.NumResources(); i++ {
			d := m.ReadsExcept(i, except...)
			if d.PerOrder {
				continue // the recall keys whole messages
			}
			changed := changeUnread(t, msg, d)
			key := d.MessageKey()
			if string(key.Append(nil, msg)) != string(key.Append(nil, changed)) {
				t.Fatalf("%s: changing unread fields changed the key of\n%s", d.Resource, msg.Raw())
			}
			typ := d.Resource
			want := func(rt string, _ int) bool { return rt == typ }
			a := m.Apply(Input{Msg: msg, PatientID: "p-1", LastUpdated: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC),
				Loc: sources.Location{Source: "x", ControlID: "c"}, Want: want}, false)
			b := m.Apply(Input{Msg: changed, PatientID: "p-1", LastUpdated: time.Date(2027, 6, 7, 8, 9, 10, 0, time.UTC),
				Loc: sources.Location{Source: "y", ControlID: "d", Line: 9}, Want: want}, false)
			if len(a.Resources) != len(b.Resources) || len(a.Issues) != len(b.Issues) {
				t.Errorf("%s: %d resources and %d issues, %d and %d once unread fields changed:\n%s\n%s", typ,
					len(a.Resources), len(a.Issues), len(b.Resources), len(b.Issues), msg.Raw(), changed.Raw())
				continue
			}
			compared++
			for k := range a.Resources {
				if x, y := strip(a.Resources[k]), strip(b.Resources[k]); x != y {
					t.Errorf("%s changed with fields ReadsExcept does not list:\n%s\n%s\nmessage:\n%s", typ, x, y, changed.Raw())
				}
			}
		}
	}
	eachWorldAndCorpusMessage(t, check)
	if compared < 800 {
		t.Errorf("only %d compared", compared)
	}
}
