package sql

import (
	"bytes"
	"context"
	"net/url"
	"os"
	"reflect"
	"strings"
	"testing"
	"time"
)

// encodeAll is every record's byte form, in scan order.
func encodeAll(t *testing.T, recs []*Record) [][]byte {
	t.Helper()
	out := make([][]byte, len(recs))
	for i, r := range recs {
		b, err := r.Encode()
		if err != nil {
			t.Fatal(err)
		}
		out[i] = b
	}
	return out
}

// samePaths scans c twice, through pgx's protocol reader where it applies
// and through database/sql only, and wants the same records, problems and
// counts; it returns how each table was read by the first.
func samePaths(t *testing.T, c *Config, opt ScanOptions) map[string]bool {
	t.Helper()
	native := open(t, c)
	how := map[string]bool{}
	native.pgPath = func(table string, ok bool) { how[table] = ok }
	plain := open(t, c)
	plain.viaDatabaseSQL = true
	recs2, ps2, res2 := scanAll(t, plain, opt)
	recs, ps, res := scanAll(t, native, opt)
	got, want := encodeAll(t, recs), encodeAll(t, recs2)
	if len(got) != len(want) {
		t.Fatalf("%d records read natively, %d through database/sql", len(got), len(want))
	}
	for i := range got {
		if !bytes.Equal(got[i], want[i]) {
			t.Fatalf("record %d differs:\nnative       %s\ndatabase/sql %s", i, got[i], want[i])
		}
	}
	if !reflect.DeepEqual(ps, ps2) {
		t.Errorf("problems differ:\nnative       %v\ndatabase/sql %v", ps, ps2)
	}
	if !reflect.DeepEqual(res.Tables, res2.Tables) {
		t.Errorf("counts differ: %v, %v", res.Tables, res2.Tables)
	}
	if len(recs) == 0 {
		t.Error("nothing read")
	}
	return how
}

// TestPostgresTextPath: PostgreSQL results read through pgx's protocol
// reader (values as the server's text) give exactly what database/sql
// gives: the demo world in full, in a _since window (its persons query,
// with timestamp parameters, through database/sql) and by keys; and a
// table of every type the text path takes, in a session whose time zone
// is not UTC, beside one with types it leaves to database/sql.
func TestPostgresTextPath(t *testing.T) {
	tdb := postgresDemo(t)
	c := tdb.config(40)
	how := samePaths(t, c, ScanOptions{})
	for _, name := range []string{"persons", "immunizations", "lots", "facilities", "identifiers"} {
		if !how[name] {
			t.Errorf("table %s was not read natively (%v)", name, how)
		}
	}
	samePaths(t, c, ScanOptions{Since: time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)})
	samePaths(t, c, ScanOptions{Keys: []string{"9", "3", "17", "4", "999999"}})

	for _, q := range []string{
		`CREATE TABLE typed_person (pid int8 PRIMARY KEY, small int2, code char(4), label text, nm name,
			born date, seen timestamp(6), at timestamptz, flag bool, amount numeric(8,3), ratio float8)`,
		`CREATE TABLE typed_child (cid int4 PRIMARY KEY, pid int8, code char(4), label varchar(20),
			born date, seen timestamp(6), at timestamptz, tag text)`,
		`CREATE TABLE typed_tag (tag text PRIMARY KEY, note varchar(10))`,
		`INSERT INTO typed_tag VALUES ('a"b', '1'), ('c\d', '2'), ('e,f', '3'), (' g ', '4'), ('{h}', '5'), ('NULL', '6'), ('', '7')`,
		`INSERT INTO typed_person VALUES
			(1, -3, 'ab', 'x', 'n', '2020-02-29', '2021-03-04 05:06:07.25', '2021-03-04 05:06:07.125+02', true, 12.500, 0.1),
			(2, NULL, NULL, '', NULL, NULL, NULL, NULL, false, NULL, NULL),
			(3, 7, 'abcd', 'é', 'z', '1999-12-31', 'infinity', '-infinity', NULL, -1, 1e300)`,
		`INSERT INTO typed_child VALUES
			(10, 1, 'a', 'é ü', '2020-02-29', '2021-03-04 05:06:07.000001', '2021-03-04 23:59:59.999999-09:30', 'a"b'),
			(11, 1, NULL, '', NULL, NULL, NULL, NULL),
			(12, 3, 'abcd', 'y', '0001-01-01', '1970-01-01 00:00:00', '1970-01-01 00:00:00+00', 'c\d'),
			(13, 3, 'q', 'z', 'infinity', 'infinity', 'infinity', 'e,f'),
			(15, 3, 'r', 'z', NULL, NULL, NULL, ' g '),
			(16, 3, 's', 'z', NULL, NULL, NULL, '{h}'),
			(17, 3, 't', 'z', NULL, NULL, NULL, 'NULL'),
			(18, 3, 'u', 'z', NULL, NULL, NULL, ''),
			(19, 3, 'v', 'z', NULL, NULL, NULL, 'nowhere'),
			(14, 99, 'o', 'orphan', '2020-01-01', '2020-01-01 00:00:00', '2020-01-01 00:00:00+00', NULL)`,
	} {
		if _, err := tdb.db.Exec(q); err != nil {
			t.Fatal(err)
		}
	}
	u, err := url.Parse(tdb.dsn)
	if err != nil {
		t.Fatal(err)
	}
	v := u.Query()
	v.Set("timezone", "Asia/Kolkata") // timestamptz text at +05:30
	u.RawQuery = v.Encode()
	tc := &Config{Source: "typed", Driver: "pgx", DSN: u.String(), BatchSize: 2,
		Persons:  Table{Name: "persons", Table: "typed_person", Key: "pid", Timestamps: []string{"label"}},
		Children: []Table{{Name: "kids", Table: "typed_child", Key: "cid", Parent: "pid", Modified: "at"}},
		Lookups:  []Table{{Name: "tags", Table: "typed_tag", Key: "tag", From: "kids.tag"}},
	}
	how = samePaths(t, tc, ScanOptions{})
	if how["persons"] || !how["kids"] || !how["tags"] {
		t.Errorf("typed_person (bool, numeric, float) should go through database/sql, typed_child and typed_tag natively: %v", how)
	}
	// Every tag found (the later batches' by one array parameter), but the
	// one pointing nowhere.
	recs, ps, _ := scanAll(t, open(t, tc), ScanOptions{})
	tags, nowhere := 0, 0
	for _, r := range recs {
		tags += len(r.Lookups["tags"])
	}
	for _, p := range ps {
		if p.Table == "kids" && p.Column == "tag" {
			nowhere++
		}
	}
	if tags != 7 || nowhere != 1 {
		t.Errorf("%d tags found, %d pointing nowhere; want 7 and 1 (problems %v)", tags, nowhere, ps)
	}
	// The same values read natively on both sides.
	tc.Persons.Query, tc.Persons.Table = "SELECT pid, small, code, label, nm, born, seen, at FROM typed_person", ""
	how = samePaths(t, tc, ScanOptions{})
	if !how["persons"] {
		t.Errorf("the typed persons query was not read natively: %v", how)
	}
	// A date declared as text with a layout: its text would differ.
	tc.Children[0].Dates = map[string]string{"born": "2006-01-02"}
	how = samePaths(t, tc, ScanOptions{})
	if how["kids"] {
		t.Errorf("a date column declared under dates: was read natively: %v", how)
	}
}

// TestPostgresQueryError: a description's query that PostgreSQL refuses
// fails the scan with the server's own error (the first statement to
// fail aborts the snapshot's transaction, so nothing is tried again).
func TestPostgresQueryError(t *testing.T) {
	tdb := postgresDemo(t)
	c := tdb.config(0)
	c.Children[0].Table, c.Children[0].Query = "", "SELECT *, no_such_column FROM patient_alias"
	_, err := open(t, c).Scan(context.Background(), ScanOptions{}, func(*Record) error { return nil })
	if err == nil || !strings.Contains(err.Error(), "no_such_column") || !strings.Contains(err.Error(), "reading "+c.Children[0].Name) {
		t.Errorf("scan with a bad query: %v", err)
	}
}

// postgresDemo is a PostgreSQL test database holding the demo world; the
// test skips when no server is configured.
func postgresDemo(t *testing.T) *testDB {
	t.Helper()
	if os.Getenv("IISBRIDGE_POSTGRES_DSN") == "" {
		t.Skip("IISBRIDGE_POSTGRES_DSN unset")
	}
	tdb := newTestDB(t, "postgres")
	loadDemo(t, tdb)
	return tdb
}
