// Package roster reads and writes rosters (CSV lists of demographics a
// clinic, plan or school sends to be matched) and generates synthetic
// populations and rosters with a known truth, to measure the matcher.
//
// Roster CSV: a header row naming the columns, in any order, from
// id, given, family, birth_date, sex, postal_code, phone, identifiers
// (case-insensitive; id optional: the row number stands in). identifiers
// holds system|value pairs separated by ";". Dates are YYYY-MM-DD
// (YYYYMMDD and MM/DD/YYYY are accepted).
package roster

import (
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"

	"github.com/iisbridge/iisbridge/match"
)

// Columns are the roster columns, in the order Write puts them.
var Columns = []string{"id", "given", "family", "birth_date", "sex", "postal_code", "phone", "identifiers"}

// Reader reads roster rows one at a time (constant memory).
type Reader struct {
	cr   *csv.Reader
	name string
	col  map[string]int
	row  int
}

// NewReader reads the header; name labels errors (file name).
func NewReader(r io.Reader, name string) (*Reader, error) {
	cr := csv.NewReader(r)
	cr.FieldsPerRecord = -1
	cr.TrimLeadingSpace = true
	hdr, err := cr.Read()
	if err != nil {
		if errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("%s: empty roster: want a header row (%s)", name, strings.Join(Columns, ","))
		}
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	rd := &Reader{cr: cr, name: name, col: map[string]int{}}
	for i, h := range hdr {
		h = strings.ToLower(strings.TrimSpace(strings.TrimPrefix(h, "\ufeff")))
		if !slices.Contains(Columns, h) {
			return nil, fmt.Errorf("%s:1:%d: unknown column %q (known: %s)", name, i+1, h, strings.Join(Columns, ", "))
		}
		if _, dup := rd.col[h]; dup {
			return nil, fmt.Errorf("%s:1:%d: column %q twice", name, i+1, h)
		}
		rd.col[h] = i
	}
	if _, ok := rd.col["family"]; !ok {
		if _, ok := rd.col["identifiers"]; !ok {
			return nil, fmt.Errorf("%s:1:1: want a family or an identifiers column", name)
		}
	}
	return rd, nil
}

// RowError is a row that cannot be read (a CSV syntax error, a bad
// date or identifier list): the reader can go on with the next row.
// Its message names file:line:column and never quotes the value (PHI).
type RowError struct {
	Row int    // 1 = the first row after the header
	ID  string // the row's id, else its row number
	Msg string
}

func (e *RowError) Error() string { return e.Msg }

// Next returns the next row; ok is false at the end. A row without an id
// gets its row number (1 = the first row after the header). A row that
// cannot be read is a *RowError (ok false); reading may go on.
func (rd *Reader) Next() (r match.Record, ok bool, err error) {
	rec, err := rd.cr.Read()
	if errors.Is(err, io.EOF) {
		return r, false, nil
	}
	var pe *csv.ParseError
	if errors.As(err, &pe) {
		rd.row++
		return r, false, &RowError{Row: rd.row, ID: strconv.Itoa(rd.row), Msg: fmt.Sprintf("%s:%d:%d: %v", rd.name, pe.Line, pe.Column, pe.Err)}
	}
	if err != nil {
		return r, false, fmt.Errorf("%s: %w", rd.name, err)
	}
	rd.row++
	get := func(c string) string {
		if i, ok := rd.col[c]; ok && i < len(rec) {
			return strings.TrimSpace(rec[i])
		}
		return ""
	}
	r = match.Record{ID: get("id"), Given: get("given"), Family: get("family"), BirthDate: get("birth_date"),
		Sex: get("sex"), Postal: get("postal_code"), Phone: get("phone")}
	if r.ID == "" {
		r.ID = strconv.Itoa(rd.row)
	}
	if s := get("identifiers"); s != "" {
		for _, p := range strings.Split(s, ";") {
			sys, val, found := strings.Cut(strings.TrimSpace(p), "|")
			if !found || val == "" {
				line, col := rd.cr.FieldPos(rd.col["identifiers"])
				return r, false, &RowError{Row: rd.row, ID: r.ID, Msg: fmt.Sprintf("%s:%d:%d: identifiers: want system|value pairs separated by ;", rd.name, line, col)} // the value is PHI: not quoted
			}
			r.Identifiers = append(r.Identifiers, match.Identifier{System: sys, Value: val})
		}
	}
	if r.BirthDate != "" && !match.ValidDate(r.BirthDate) {
		line, col := rd.cr.FieldPos(rd.col["birth_date"])
		return r, false, &RowError{Row: rd.row, ID: r.ID, Msg: fmt.Sprintf("%s:%d:%d: birth_date: want YYYY-MM-DD", rd.name, line, col)} // the value is PHI: not quoted
	}
	return r, true, nil
}

// Writer writes roster rows.
type Writer struct{ cw *csv.Writer }

// NewWriter writes the header.
func NewWriter(w io.Writer) (*Writer, error) {
	cw := csv.NewWriter(w)
	return &Writer{cw}, cw.Write(Columns)
}

// Write writes one row.
func (w *Writer) Write(r match.Record) error {
	ids := make([]string, len(r.Identifiers))
	for i, id := range r.Identifiers {
		ids[i] = id.String()
	}
	return w.cw.Write([]string{r.ID, r.Given, r.Family, r.BirthDate, r.Sex, r.Postal, r.Phone, strings.Join(ids, ";")})
}

// Flush flushes and reports any write error.
func (w *Writer) Flush() error { w.cw.Flush(); return w.cw.Error() }
