package sql

import (
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"time"
)

// A Record's byte form: what a re-read by locator returns and what the
// index's checksum covers under a contract whose re-read yields bytes
// (the archive's record bytes have it for free). Deterministic: children
// and lookups in name order, rows in the order read, columns in query
// order, so equal database content gives equal bytes.

type wireRecord struct {
	Source     string    `json:"source"`
	Key        string    `json:"key"`
	Deleted    bool      `json:"deleted,omitempty"`
	MergedInto string    `json:"merged_into,omitempty"`
	Modified   string    `json:"modified,omitempty"`
	Person     wireRow   `json:"person"`
	Children   []wireSet `json:"children,omitempty"`
	Lookups    []wireSet `json:"lookups,omitempty"`
	Problems   []Problem `json:"problems,omitempty"`
}

type wireSet struct {
	Name string    `json:"name"`
	Rows []wireRow `json:"rows"`
}

type wireRow struct {
	Table   string    `json:"table"`
	Key     string    `json:"key"`
	Deleted bool      `json:"deleted,omitempty"`
	Columns []string  `json:"columns"`
	Values  []*string `json:"values"` // null = NULL
}

func toWire(r *Row) wireRow {
	w := wireRow{Table: r.Table, Key: r.Key, Deleted: r.Deleted, Columns: r.cols.names, Values: make([]*string, len(r.spans))}
	for i := range r.spans {
		if v, ok := r.value(i); ok {
			w.Values[i] = &v
		}
	}
	return w
}

func sets(m map[string][]*Row) []wireSet {
	var out []wireSet
	for _, name := range slices.Sorted(maps.Keys(m)) {
		s := wireSet{Name: name}
		for _, r := range m[name] {
			s.Rows = append(s.Rows, toWire(r))
		}
		out = append(out, s)
	}
	return out
}

// Encode is the record's byte form.
func (rec *Record) Encode() ([]byte, error) {
	w := wireRecord{Source: rec.Source, Key: rec.Key, Deleted: rec.Deleted, MergedInto: rec.MergedInto,
		Person: toWire(rec.Person), Children: sets(rec.Children), Lookups: sets(rec.Lookups), Problems: rec.Problems}
	if !rec.Modified.IsZero() {
		w.Modified = rec.Modified.UTC().Format(time.RFC3339Nano)
	}
	return json.Marshal(w)
}

// DecodeRecord reads a record's byte form back.
func DecodeRecord(b []byte) (*Record, error) {
	var w wireRecord
	if err := json.Unmarshal(b, &w); err != nil {
		return nil, fmt.Errorf("decoding a relational record: %w", err)
	}
	cache := map[string]*columns{} // rows of one table share their column list
	fromWire := func(w wireRow) (*Row, error) {
		if len(w.Values) != len(w.Columns) {
			return nil, fmt.Errorf("decoding a relational record: %s key %s: %d values for %d columns", w.Table, w.Key, len(w.Values), len(w.Columns))
		}
		c := cache[w.Table]
		if c == nil || !slices.Equal(c.names, w.Columns) {
			c = &columns{names: w.Columns, index: make(map[string]int, len(w.Columns))}
			for i, n := range w.Columns {
				c.index[n] = i
			}
			cache[w.Table] = c
		}
		r := &Row{Table: w.Table, Key: w.Key, Deleted: w.Deleted, cols: c, spans: make([]span, len(w.Values))}
		var text []byte
		for i, v := range w.Values {
			if v == nil {
				r.spans[i] = nullSpan
				continue
			}
			r.spans[i] = span{uint32(len(text)), uint32(len(text) + len(*v))}
			text = append(text, *v...)
		}
		r.text = string(text)
		return r, nil
	}
	rec := &Record{Source: w.Source, Key: w.Key, Deleted: w.Deleted, MergedInto: w.MergedInto, Problems: w.Problems, Children: map[string][]*Row{}}
	if w.Modified != "" {
		t, err := time.Parse(time.RFC3339Nano, w.Modified)
		if err != nil {
			return nil, fmt.Errorf("decoding a relational record: modified: %w", err)
		}
		rec.Modified = t
	}
	var err error
	if rec.Person, err = fromWire(w.Person); err != nil {
		return nil, err
	}
	for _, s := range w.Children {
		for _, wr := range s.Rows {
			r, err := fromWire(wr)
			if err != nil {
				return nil, err
			}
			rec.Children[s.Name] = append(rec.Children[s.Name], r)
		}
	}
	for _, s := range w.Lookups {
		if rec.Lookups == nil {
			rec.Lookups = map[string][]*Row{}
		}
		for _, wr := range s.Rows {
			r, err := fromWire(wr)
			if err != nil {
				return nil, err
			}
			rec.Lookups[s.Name] = append(rec.Lookups[s.Name], r)
		}
	}
	return rec, nil
}
