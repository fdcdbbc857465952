package index

import (
	"context"
	"path/filepath"
	"reflect"
	"testing"
	"time"
)

// TestWalk: the one-pass walk gives, person by person, exactly what the
// per-person queries give (Persons, Messages, MergedInto), for the whole
// index and as of a moment between two updates; persons without messages
// in the window are left out. So it does in a groupless index (convert's:
// no lookups after its first load, all after a later Update, which here
// merges two persons).
func TestWalk(t *testing.T) {
	t.Run("kept", func(t *testing.T) { testWalk(t, Options{}) })
	t.Run("groupless", func(t *testing.T) { testWalk(t, Options{Scratch: true, NoLedger: true}) })
}

func testWalk(t *testing.T, o Options) {
	dir := t.TempDir()
	arch := filepath.Join(dir, "a.hl7")
	const girl, dob = "DOE^BABY GIRL", "20231201"
	write(t, arch,
		vxu("1", "CLINICA", "20240101120000", "S1^^^MYIIS^SR", girl, dob, "F", rxa("20240101", "08", "00")),
		vxu("2", "CLINICA", "20240102120000", "A2^^^CLINICA^MR", girl, dob, "F", rxa("20240102", "10", "00")),
		vxu("3", "CLINICB", "20240102130000", "B7^^^CLINICB^MR", "ROE^ANN", "20200202", "F", rxa("20240102", "03", "00")))
	c := &clock{t: time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)}
	o.Now, o.BatchSize = c.now, 2
	x, err := open(filepath.Join(dir, "data"), o)
	if err != nil {
		t.Fatal(err)
	}
	defer x.Close()
	ctx := context.Background()
	if _, err := x.Update(ctx, []string{arch}); err != nil {
		t.Fatal(err)
	}
	lookups := len(lookupIndexNames)
	if x.groupless() {
		lookups = 0
	}
	if n := lookupCount(t, x); n != lookups {
		t.Errorf("groupless %v: %d lookup indexes after the first load, want %d", x.groupless(), n, lookups)
	}
	between := c.t.Add(time.Millisecond)
	appendTo(t, arch,
		vxu("4", "CLINICA", "20240103120000", "A2^^^CLINICA^MR", girl, dob, "F", rxa("20240103", "49", "00")),
		vxu("5", "CLINICC", "20240104120000", "C1^^^CLINICC^MR", "POE^AL", "20210303", "M", rxa("20240104", "20", "00")),
		vxu("6", "CLINICA", "20240106120000", "A2^^^CLINICA^MR~S1^^^MYIIS^SR", girl, dob, "F"))
	if _, err := x.Update(ctx, []string{arch}); err != nil {
		t.Fatal(err)
	}
	if n := lookupCount(t, x); n != len(lookupIndexNames) {
		t.Errorf("%d lookup indexes after the second load, want all %d", n, len(lookupIndexNames))
	}
	s := openSnapshot(t, x)
	type person struct {
		P      Person
		Msgs   []Message
		Merged []Merged
	}
	merges := 0
	for _, asOf := range []time.Time{{}, between} {
		var want []person
		ps, err := s.Persons(ctx, "", 100)
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range ps {
			msgs, err := s.Messages(ctx, p, asOf)
			if err != nil {
				t.Fatal(err)
			}
			if len(msgs) == 0 {
				continue
			}
			merged, err := s.MergedInto(ctx, p, time.Time{}, asOf)
			if err != nil {
				t.Fatal(err)
			}
			merges += len(merged)
			want = append(want, person{p, msgs, merged})
		}
		var got []person
		var grown [][]Message
		err = s.Walk(ctx, asOf, func(p Person, msgs []Message, merged []Merged) error {
			// The slices are fn's to keep: one grown and the next
			// person's messages do not overwrite each other.
			msgs = append(msgs, Message{Type: "appended"})
			grown = append(grown, msgs)
			got = append(got, person{p, msgs[:len(msgs)-1], merged})
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		for _, msgs := range grown {
			if last := msgs[len(msgs)-1]; last.Type != "appended" {
				t.Errorf("a message appended by fn became %+v", last)
			}
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("as of %v: walk\n%+v\nper-person queries\n%+v", asOf, got, want)
		}
		if asOf.IsZero() && len(want) != 3 {
			t.Errorf("%d persons with messages, want 3", len(want))
		}
		// As of the first update the girl is already one person (persons
		// are current), and CLINICC's person has no messages yet.
		if !asOf.IsZero() && len(want) != 2 {
			t.Errorf("as of the first update: %d persons, want 2", len(want))
		}
	}
	if merges != 1 {
		t.Errorf("%d merged Patients seen, want 1 (the test needs a merge)", merges)
	}
}

// TestAsInt64 checks the integer columns' conversion against what
// database/sql's Scan into an int64 gives: the driver's int64 as it is,
// a number stored as text converted, NULL refused.
func TestAsInt64(t *testing.T) {
	for _, c := range []struct {
		v    any
		want int64
		ok   bool
	}{{int64(-7), -7, true}, {int64(1) << 62, 1 << 62, true}, {"42", 42, true}, {[]byte("9"), 9, true}, {nil, 0, false}, {"x", 0, false}} {
		got, err := asInt64(c.v)
		if got != c.want || (err == nil) != c.ok {
			t.Errorf("asInt64(%#v) = %d, %v; want %d, ok %v", c.v, got, err, c.want, c.ok)
		}
	}
}

// TestWalkRecord: a walk record reads back as written, and a truncated
// or longer one is refused.
func TestWalkRecord(t *testing.T) {
	for _, r := range []walkRecord{
		{},
		{source: 1, input: 2, off: 1 << 40, len: 300, line: -1, idx: 70000, atTime: -62135596800000000, indexed: 1796611831856000,
			hasHash: true, hash: 1<<64 - 1, recID: "M1", typ: "VXU^V04", orgKey: "2.16.840.1.113883.19.5.4", orgName: "JOS\u00c9 \x00\r", err: string(make([]byte, 300))},
	} {
		b := appendWalkRecord(nil, &r)
		got, err := readWalkRecord(b)
		if err != nil || got != r {
			t.Fatalf("read %+v, %v; want %+v", got, err, r)
		}
		for n := range len(b) {
			if _, err := readWalkRecord(b[:n]); err == nil {
				t.Fatalf("%d of %d bytes read", n, len(b))
			}
		}
		if _, err := readWalkRecord(append(b, 0)); err == nil {
			t.Fatal("a longer record read")
		}
	}
}
