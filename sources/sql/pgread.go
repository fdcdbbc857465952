package sql

import (
	"context"
	"database/sql/driver"
	"errors"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/jackc/pgx/v5/stdlib"
)

// pgReader reads a scan's PostgreSQL results through pgx's protocol
// reader on the snapshot's own connection, every value in PostgreSQL's
// text format: the bytes the server sent go straight into the rows'
// text, where database/sql and pgx's stdlib adapter would decode each
// value into a Go value (a string, a time.Time) and print it again. A
// table is read so only when every column's type has the same text
// either way (integers, character types, and, under the ISO DateStyle,
// dates and timestamps, which the reader normalizes anyway); any other
// table, and a query with a timestamp parameter, goes through
// database/sql as before.
type pgReader struct {
	native map[string]bool // table name → its columns' types allow the text path
	heard  func(table string, native bool)
}

// pgTextTypes are the types whose text format is the text database/sql
// gives through pgx's stdlib adapter (or, for dates and timestamps, the
// same after normalize).
var pgTextTypes = map[uint32]byte{
	pgtype.Int2OID: 0, pgtype.Int4OID: 0, pgtype.Int8OID: 0,
	pgtype.TextOID: 0, pgtype.VarcharOID: 0, pgtype.BPCharOID: 0, pgtype.NameOID: 0,
	pgtype.DateOID: 'D', pgtype.TimestampOID: 't', pgtype.TimestamptzOID: 't',
}

// errNotPgx: the connection is not pgx's (never expected for dialect
// postgres; the caller falls back to database/sql).
var errNotPgx = errors.New("not a pgx connection")

// query runs q natively when it can; ok false means the caller reads it
// through database/sql.
func (p *pgReader) query(ctx context.Context, s *scanner, t *Table, name, q string, args []any) (out *result, ok bool, err error) {
	params := make([][]byte, len(args))
	for i, a := range args {
		switch v := a.(type) {
		case int64:
			params[i] = strconv.AppendInt(nil, v, 10)
		case string:
			params[i] = []byte(v)
		case pgTextArray:
			params[i] = v.literal()
		default:
			return nil, false, nil // a timestamp (the _since window): the driver encodes it
		}
	}
	native, known := p.native[name]
	if known && !native {
		return nil, false, nil
	}
	err = s.conn.Raw(func(dc any) error {
		c, isPgx := dc.(*stdlib.Conn)
		if !isPgx {
			return errNotPgx
		}
		pc := c.Conn().PgConn()
		if !known {
			var err error
			if native, err = p.describe(ctx, pc, t, q); err != nil {
				ok = true // the query's own error (it aborts the transaction: no second try)
				return err
			}
			p.native[name] = native
			if p.heard != nil {
				p.heard(name, native)
			}
			if !native {
				return nil
			}
		}
		ok = true
		out, err = p.read(ctx, s, pc, t, name, q, params)
		return err
	})
	var be *builderErr
	switch {
	case errors.Is(err, errNotPgx):
		p.native[name] = false
		return nil, false, nil
	case errors.As(err, &be):
		return nil, true, be.error
	case err != nil:
		return nil, true, s.readErr(ctx, name, err)
	}
	return out, ok, nil
}

// describe says whether q's columns can be read as text: each of a type
// in pgTextTypes, dates and timestamps only under the ISO DateStyle and
// not declared as dates held as text (whose layout would then see other
// text). A query that cannot be described fails with the server's error.
func (p *pgReader) describe(ctx context.Context, pc *pgconn.PgConn, t *Table, q string) (bool, error) {
	sd, err := pc.Prepare(ctx, "", q, nil)
	if err != nil {
		return false, err
	}
	iso := strings.HasPrefix(pc.ParameterStatus("DateStyle"), "ISO")
	for _, f := range sd.Fields {
		k, ok := pgTextTypes[f.DataTypeOID]
		if !ok {
			return false, nil
		}
		if k != 0 {
			if _, isDate := t.Dates[f.Name]; isDate || !iso {
				return false, nil
			}
		}
	}
	return true, nil
}

// read runs q with its parameters as text (their types inferred by the
// server from the columns they meet) and builds the rows from the values
// as they arrive. An error is returned with out nil.
func (p *pgReader) read(ctx context.Context, s *scanner, pc *pgconn.PgConn, t *Table, name, q string, params [][]byte) (*result, error) {
	rr := pc.ExecParams(ctx, q, params, nil, nil, nil)
	fds := rr.FieldDescriptions()
	names := make([]string, len(fds))
	kinds := make([]byte, len(fds))
	for i, f := range fds {
		names[i], kinds[i] = f.Name, pgTextTypes[f.DataTypeOID]
	}
	var b *builder
	if fds != nil {
		var err error
		if b, err = s.newBuilder(t, name, names, kinds); err != nil {
			rr.Close()
			return nil, &builderErr{err}
		}
	}
	for rr.NextRow() {
		vals := rr.Values()
		var key any
		if b.isRoot {
			// The cursor is the key's own text: passed back as text, it
			// compares as the column's type.
			if v := vals[b.keyIdx]; v != nil {
				key = string(v)
			}
		}
		b.add(vals, key)
	}
	if _, err := rr.Close(); err != nil {
		if pc.IsClosed() {
			err = errors.Join(err, driver.ErrBadConn)
		}
		return nil, err
	}
	if b == nil {
		return nil, errors.New("the query returned no result set")
	}
	return b.out, nil
}

// builderErr is an error of the description (a key column not in the
// result), returned as it is rather than as a read error.
type builderErr struct{ error }

func (e *builderErr) Unwrap() error { return e.error }

// pgTextArray is a list of keys as one array parameter of the text path,
// each element as its text (the server reads them as the column's type).
type pgTextArray []string

// literal is the array's text form: every element quoted, backslash and
// double quote escaped.
func (a pgTextArray) literal() []byte {
	n := 2
	for _, v := range a {
		n += len(v) + 3
	}
	b := make([]byte, 0, n)
	b = append(b, '{')
	for i, v := range a {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, '"')
		for j := 0; j < len(v); j++ {
			if v[j] == '"' || v[j] == '\\' {
				b = append(b, '\\')
			}
			b = append(b, v[j])
		}
		b = append(b, '"')
	}
	return append(b, '}')
}
