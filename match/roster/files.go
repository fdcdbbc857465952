package roster

import (
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/iisbridge/iisbridge/match"
	"github.com/iisbridge/iisbridge/sources/synth"
)

// FromSynth is the registry side of a synthetic IIS world: one record per
// truth person, id = the truth person key (the bridge's Patient ids are
// found from it with synthtest.MatchPatients). With iisSystem, a person
// the registry gave an id carries it (the identifier system the bridge's
// Patients give it), as a roster from a partner that knows it would;
// Generate then leaves it off half the rows.
func FromSynth(persons []synth.Person, iisSystem string) []match.Record {
	out := make([]match.Record, len(persons))
	for i, p := range persons {
		out[i] = match.Record{ID: p.Key, Given: p.Name.Given, Middle: p.Name.Middle, Family: p.Name.Family,
			BirthDate: p.BirthDate, Sex: p.Sex, Postal: p.Address.Zip, Phone: p.Phone}
		if iisSystem != "" && p.IISID != "" {
			out[i].Identifiers = []match.Identifier{{System: iisSystem, Value: p.IISID}}
		}
	}
	return out
}

// WriteFiles writes the roster CSV and its truth CSV (id, person, kind).
func WriteFiles(rosterPath, truthPath string, rows []Row) (err error) {
	write := func(path string, fill func(io.Writer) error) error {
		f, err := os.Create(path)
		if err != nil {
			return err
		}
		if err := fill(f); err != nil {
			f.Close()
			return fmt.Errorf("writing %s: %w", path, err)
		}
		return f.Close()
	}
	err = write(rosterPath, func(f io.Writer) error {
		w, err := NewWriter(f)
		if err != nil {
			return err
		}
		for _, r := range rows {
			if err := w.Write(r.Record); err != nil {
				return err
			}
		}
		return w.Flush()
	})
	if err != nil {
		return err
	}
	return write(truthPath, func(f io.Writer) error {
		w := csv.NewWriter(f)
		w.Write([]string{"id", "person", "kind"})
		for _, r := range rows {
			w.Write([]string{r.ID, r.Person, r.Kind})
		}
		w.Flush()
		return w.Error()
	})
}

// ReadTruth reads a truth CSV written by WriteFiles: row id → (person, kind).
func ReadTruth(path string) (map[string]Row, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	cr := csv.NewReader(f)
	out := map[string]Row{}
	for line := 1; ; line++ {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		if len(rec) != 3 {
			return nil, fmt.Errorf("%s:%d: want id,person,kind", path, line)
		}
		if line == 1 {
			continue
		}
		out[rec[0]] = Row{Record: match.Record{ID: rec[0]}, Person: rec[1], Kind: rec[2]}
	}
}
