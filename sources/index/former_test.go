package index

import (
	"context"
	"path/filepath"
	"slices"
	"testing"
	"time"
)

// TestFormerMessages: an MRN-only person is linked to an IIS person in a
// later update. Its former messages are those of the batches in which it
// was still a Patient of its own: not the survivor's, not an unrelated
// person's, and not one that arrived in the batch of the link (no
// snapshot ever showed it under the former Patient).
func TestFormerMessages(t *testing.T) {
	dir := t.TempDir()
	arch := filepath.Join(dir, "a.hl7")
	const girl, dob = "DOE^BABY GIRL", "20231201" // placeholder name: no demographics key
	write(t, arch,
		vxu("1", "CLINICA", "20240101120000", "S1^^^MYIIS^SR", girl, dob, "F", rxa("20240101", "08", "00")),
		vxu("2", "CLINICA", "20240102120000", "A2^^^CLINICA^MR", girl, dob, "F", rxa("20240102", "10", "00")))
	c := &clock{t: time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)}
	x := openTest(t, filepath.Join(dir, "data"), c) // batches of 2 messages
	ctx := context.Background()
	if _, err := x.Update(ctx, []string{arch}); err != nil {
		t.Fatal(err)
	}
	if n := len(persons(t, x)); n != 2 {
		t.Fatalf("%d persons before the link, want 2", n)
	}
	appendTo(t, arch,
		vxu("3", "CLINICA", "20240103120000", "A2^^^CLINICA^MR", girl, dob, "F", rxa("20240103", "49", "00")),
		vxu("4", "CLINICA", "20240104120000", "A9^^^CLINICA^MR", girl, dob, "F", rxa("20240104", "20", "00")),
		vxu("5", "CLINICA", "20240105120000", "A2^^^CLINICA^MR", girl, dob, "F", rxa("20240105", "83", "00")),
		vxu("6", "CLINICA", "20240106120000", "A2^^^CLINICA^MR~S1^^^MYIIS^SR", girl, dob, "F"))
	if _, err := x.Update(ctx, []string{arch}); err != nil {
		t.Fatal(err)
	}
	s := openSnapshot(t, x)
	var survivor Person
	var formerID string
	ps, err := s.Persons(ctx, "", 10)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range ps {
		merged, err := s.MergedInto(ctx, p, time.Time{}, time.Time{})
		if err != nil {
			t.Fatal(err)
		}
		if len(merged) == 1 {
			survivor, formerID = p, merged[0].ID
		}
	}
	if formerID == "" {
		t.Fatalf("no person with a merged-away Patient among %d", len(ps))
	}
	msgs, err := s.Messages(ctx, survivor, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	ctrl := map[int64]string{}
	for _, m := range msgs {
		ctrl[m.Seq()] = m.Loc.ControlID
	}
	got, err := s.FormerMessages(ctx, survivor, []string{formerID, survivor.ID, "nosuchpatient"})
	if err != nil {
		t.Fatal(err)
	}
	var former []string
	for _, seq := range got[0] {
		former = append(former, ctrl[seq])
	}
	slices.Sort(former)
	if want := []string{"2", "3"}; !slices.Equal(former, want) {
		t.Errorf("former Patient's messages %v, want %v", former, want)
	}
	if got[1] != nil || got[2] != nil {
		t.Errorf("the survivor and an unknown id have former messages: %v, %v", got[1], got[2])
	}
}
