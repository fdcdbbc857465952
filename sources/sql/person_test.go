package sql

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"

	"github.com/iisbridge/iisbridge/mapping"
	"github.com/iisbridge/iisbridge/sources"
)

// byName hides a Row's reads by position (mapping.IndexedRow) and its
// resolved lookups: the mapping reads it as any Row, by column name.
type byName struct{ r *Row }

func (b byName) Column(n string) (string, bool) { return b.r.Column(n) }
func (b byName) Origin() (string, string)       { return b.r.Origin() }
func (b byName) SoftDeleted() bool              { return b.r.SoftDeleted() }

// byNamePerson is a Record whose rows are byName and whose lookups are
// found by the lookup's from: column among the person's lookup rows.
type byNamePerson struct{ rec *Record }

func (p byNamePerson) Root() mapping.Row { return byName{p.rec.Person} }
func (p byNamePerson) Rows(child string) []mapping.Row {
	var out []mapping.Row
	for _, r := range p.rec.Children[child] {
		out = append(out, byName{r})
	}
	return out
}
func (p byNamePerson) Lookup(name string, from mapping.Row) (mapping.Row, bool) {
	via, ok := p.rec.lookupFrom[name]
	f := from.(byName).r
	if !ok || f.Table != via[0] {
		return nil, false
	}
	v, ok := f.Column(via[1])
	for _, l := range p.rec.Lookups[name] {
		if ok && l.Key == v {
			return byName{l}, true
		}
	}
	return nil, false
}

// TestReadsByPosition: the default mapping gives the same resources,
// issues and traces over the demo world whether it reads the reader's rows
// by position (and their lookups as the reader resolved them) or by name.
func TestReadsByPosition(t *testing.T) {
	tdb := newTestDB(t, "sqlite")
	loadDemo(t, tdb)
	r, err := Open(tdb.config(0))
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	m := mapping.DefaultSQL()
	text := func(o mapping.Output) string {
		b, err := json.Marshal(struct {
			R []any
			I any
			T any
		}{[]any{o.Resources}, o.Issues, o.Trace})
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	n, lots := 0, 0
	if _, err := r.Scan(context.Background(), ScanOptions{}, func(rec *Record) error {
		in := mapping.Input{Person: rec, Loc: sources.Location{Source: "iis"}, PatientID: rec.Key}
		got := text(m.Apply(in, true))
		in.Person = byNamePerson{rec}
		want := text(m.Apply(in, true))
		if got != want {
			return fmt.Errorf("person %s by position:\n%s\nby name:\n%s", rec.Key, got, want)
		}
		n++
		lots += len(rec.Lookups["lots"])
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if n < 100 || lots == 0 {
		t.Fatalf("%d persons, %d lot rows: the demo world is not what the test needs", n, lots)
	}
}
