package sql

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/iisbridge/iisbridge/diag"
)

// scanAll reads every record and the problems.
func scanAll(t testing.TB, r *Reader, opt ScanOptions) ([]*Record, []Problem, *Result) {
	t.Helper()
	var recs []*Record
	var ps []Problem
	opt.OnProblem = func(p Problem) { ps = append(ps, p) }
	res, err := r.Scan(context.Background(), opt, func(rec *Record) error { recs = append(recs, rec); return nil })
	if err != nil {
		t.Fatal(err)
	}
	return recs, ps, res
}

func open(t testing.TB, c *Config) *Reader {
	t.Helper()
	r, err := Open(c)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return r
}

// rowTimes lists the declared last-modified values of a record's rows.
func rowTimes(c *Config, rec *Record) []time.Time {
	var out []time.Time
	add := func(t *Table, r *Row) {
		if v, ok := r.Column(t.Modified); ok && t.Modified != "" {
			m, _ := time.Parse(time.RFC3339Nano, v)
			out = append(out, m)
		}
	}
	add(&c.Persons, rec.Person)
	for i := range c.Children {
		for _, r := range rec.Children[c.Children[i].Name] {
			add(&c.Children[i], r)
		}
	}
	return out
}

// TestSinceUntil: a person is in the window when any of their rows
// changed in it; checked against a full scan filtered in Go.
func TestSinceUntil(t *testing.T) {
	for _, engine := range engines(t) {
		t.Run(engine, func(t *testing.T) {
			tdb := newTestDB(t, engine)
			loadDemo(t, tdb)
			c := tdb.config(13)
			r := open(t, c)
			all, _, _ := scanAll(t, r, ScanOptions{})
			var times []time.Time
			for _, rec := range all {
				times = append(times, rowTimes(c, rec)...)
			}
			slices.SortFunc(times, func(a, b time.Time) int { return a.Compare(b) })
			for _, w := range []struct{ since, until time.Time }{
				{times[len(times)/2], time.Time{}},
				{times[len(times)*9/10], time.Time{}},
				{time.Time{}, times[len(times)/10]},
				{times[len(times)/3], times[len(times)/2]},
				{times[len(times)-1].Add(time.Second), time.Time{}},
			} {
				var want []string
				for _, rec := range all {
					for _, m := range rowTimes(c, rec) {
						if (w.since.IsZero() || !m.Before(w.since)) && (w.until.IsZero() || m.Before(w.until)) {
							want = append(want, rec.Key)
							break
						}
					}
				}
				recs, ps, _ := scanAll(t, r, ScanOptions{Since: w.since, Until: w.until})
				var got []string
				for _, rec := range recs {
					got = append(got, rec.Key)
				}
				if !slices.Equal(got, want) || len(ps) > 0 {
					t.Errorf("window %v..%v: %d persons, want %d (problems %v)", w.since, w.until, len(got), len(want), ps)
				}
			}
			// Deleted doses come through a window as deleted rows.
			deleted := 0
			recs, _, _ := scanAll(t, r, ScanOptions{Since: times[0]})
			for _, rec := range recs {
				for _, v := range rec.Children["immunizations"] {
					if v.Deleted {
						deleted++
					}
				}
			}
			if deleted == 0 {
				t.Error("no soft-deleted immunization surfaced")
			}
		})
	}
}

// TestBatchBoundaries: batch sizes around the person count, and 1, give
// the same persons and account for every row.
func TestBatchBoundaries(t *testing.T) {
	tdb := newTestDB(t, "sqlite")
	loadDemo(t, tdb)
	n := int(tdb.count(t, "patient_master"))
	var first []string
	for _, b := range []int{n, n - 1, n + 1, 1, 2} {
		recs, _, res := scanAll(t, open(t, tdb.config(b)), ScanOptions{})
		var keys []string
		for _, r := range recs {
			keys = append(keys, r.Key)
		}
		if first == nil {
			first = keys
		}
		if len(keys) != n || !slices.Equal(keys, first) {
			t.Errorf("batch %d: %d persons, want %d in the same order", b, len(keys), n)
		}
		if st := res.Tables["immunizations"]; st.Read != tdb.count(t, "vaccination_master") || st.Yielded != st.Read {
			t.Errorf("batch %d: immunizations %+v", b, *st)
		}
	}
	// Re-read by key equals the scanned record.
	r := open(t, tdb.config(0))
	rec, err := r.Person(context.Background(), first[5])
	if err != nil || rec == nil || rec.Key != first[5] {
		t.Fatalf("Person(%s) = %v, %v", first[5], rec, err)
	}
	if none, err := r.Person(context.Background(), "999999999"); none != nil || err != nil {
		t.Errorf("Person(unknown) = %v, %v", none, err)
	}
}

// TestBadRows: an unparseable date, a child without a parent (inside the
// key range and beyond the last person) and a dangling lookup are
// reported with source, table and key and no value; the scan goes on and
// every row is accounted for.
func TestBadRows(t *testing.T) {
	for _, engine := range engines(t) {
		t.Run(engine, func(t *testing.T) {
			tdb := newTestDB(t, engine)
			loadDemo(t, tdb)
			q := tdb.d.Quote
			exec := func(s string) {
				t.Helper()
				if _, err := tdb.db.Exec(s); err != nil {
					t.Fatalf("%s: %v", s, err)
				}
			}
			exec(fmt.Sprintf("UPDATE %s SET %s = 'NOTADATE' WHERE %s = 2", q("patient_master"), q("patient_birth_date"), q("patient_id")))
			exec(fmt.Sprintf("UPDATE %s SET %s = '31-FOO-2024' WHERE %s = 1", q("vaccination_master"), q("administered_date"), q("vaccination_id")))
			exec(fmt.Sprintf("UPDATE %s SET %s = 99999 WHERE %s = 2", q("vaccination_master"), q("lot_id"), q("vaccination_id")))
			exec(fmt.Sprintf("UPDATE %s SET %s = 5 WHERE %s = 3", q("vaccination_master"), q("patient_id"), q("vaccination_id")))       // odd key: no such person
			exec(fmt.Sprintf("UPDATE %s SET %s = 9999999 WHERE %s = 4", q("vaccination_master"), q("patient_id"), q("vaccination_id"))) // beyond the last
			for _, b := range []int{1000, 3} {
				recs, ps, res := scanAll(t, open(t, tdb.config(b)), ScanOptions{})
				var got []string
				for _, p := range ps {
					got = append(got, p.String())
					if strings.Contains(p.String(), "NOTADATE") || strings.Contains(p.String(), "FOO") {
						t.Errorf("problem quotes a value: %s", p)
					}
				}
				slices.Sort(got)
				want := []string{
					"iis: immunizations key 1 column administered_date: unparseable date (want layout 02-Jan-2006)",
					"iis: immunizations key 2 column lot_id: points to no lots row",
					"iis: immunizations key 3: child row whose parent patient_id is no person read",
					"iis: immunizations key 4: child row whose parent patient_id is no person read",
					"iis: persons key 2 column patient_birth_date: unparseable date (want layout 01/02/2006)",
				}
				if !slices.Equal(got, want) {
					t.Errorf("batch %d: problems\n%s\nwant\n%s", b, strings.Join(got, "\n"), strings.Join(want, "\n"))
				}
				st := res.Tables["immunizations"]
				if st.Read != tdb.count(t, "vaccination_master") || st.Orphans != 2 || st.Yielded+st.Orphans != st.Read || st.Problems != 1 {
					t.Errorf("batch %d: immunizations %+v", b, *st)
				}
				if recs[0].Key != "2" || len(recs[0].Problems) != 3 { // birth date; dose 1: its date, dose 2: its lot (both P000001's)
					t.Errorf("batch %d: first record %s problems %v", b, recs[0].Key, recs[0].Problems)
				}
				if _, ok := recs[0].Person.Column("patient_birth_date"); ok {
					t.Errorf("batch %d: the bad birth date is still in the row", b)
				}
			}
		})
	}
}

// TestSnapshot: writes committed while a scan runs are not seen by it.
func TestSnapshot(t *testing.T) {
	for _, engine := range engines(t) {
		t.Run(engine, func(t *testing.T) {
			tdb := newTestDB(t, engine)
			loadDemo(t, tdb)
			before := tdb.count(t, "vaccination_master")
			q := tdb.d.Quote
			r := open(t, tdb.config(5))
			var seen int64
			var names []string
			wrote := false
			_, err := r.Scan(context.Background(), ScanOptions{}, func(rec *Record) error {
				if !wrote {
					wrote = true
					for _, s := range []string{
						fmt.Sprintf("UPDATE %s SET %s = 'CHANGED' WHERE %s >= 300", q("patient_master"), q("patient_name_last"), q("patient_id")),
						fmt.Sprintf("INSERT INTO %s (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s) SELECT %s + 100000, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s FROM %s WHERE %s >= 300",
							q("vaccination_master"), q("vaccination_id"), q("patient_id"), q("vaccination_external_link"), q("administered_date"), q("vaccine_cvx_code"),
							q("completion_code"), q("refusal_reason"), q("lot_id"), q("org_id"), q("filler_order_id"), q("information_source"), q("action_code"),
							q("deleted_flag"), q("deleted_date"), q("reported_date"), q("updated_date"),
							q("vaccination_id"), q("patient_id"), q("vaccination_external_link"), q("administered_date"), q("vaccine_cvx_code"),
							q("completion_code"), q("refusal_reason"), q("lot_id"), q("org_id"), q("filler_order_id"), q("information_source"), q("action_code"),
							q("deleted_flag"), q("deleted_date"), q("reported_date"), q("updated_date"), q("vaccination_master"), q("patient_id")),
						fmt.Sprintf("DELETE FROM %s WHERE %s >= 390", q("patient_master"), q("patient_id")),
					} {
						if _, err := tdb.db.Exec(s); err != nil {
							return fmt.Errorf("concurrent write %q: %w", s, err)
						}
					}
				}
				seen += int64(len(rec.Children["immunizations"]))
				names = append(names, col(rec.Person, "patient_name_last"))
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			if after := tdb.count(t, "vaccination_master"); after == before {
				t.Fatal("the concurrent insert wrote nothing: the test proves nothing")
			}
			if seen != before {
				t.Errorf("scan saw %d immunizations, the snapshot held %d", seen, before)
			}
			if slices.Contains(names, "CHANGED") {
				t.Error("scan saw a name changed after its snapshot")
			}
		})
	}
}

// TestConnectionLost: the server ends the reader's connection mid-scan;
// the scan stops with an error saying so.
func TestConnectionLost(t *testing.T) {
	for _, engine := range engines(t) {
		if engine == "sqlite" {
			continue // embedded: no connection to lose
		}
		t.Run(engine, func(t *testing.T) {
			tdb := newTestDB(t, engine)
			loadDemo(t, tdb)
			r := open(t, tdb.config(10))
			n := 0
			_, err := r.Scan(context.Background(), ScanOptions{}, func(rec *Record) error {
				n++
				if n == 1 {
					kill(t, tdb)
				}
				return nil
			})
			if err == nil || !strings.Contains(err.Error(), "connection may be lost") || !strings.Contains(err.Error(), "source iis: reading persons") {
				t.Fatalf("scan after a lost connection: %v (after %d persons)", err, n)
			}
			if n != 10 {
				t.Errorf("%d persons yielded, want the first batch of 10", n)
			}
		})
	}
}

// kill ends every other connection to the test database.
func kill(t *testing.T, tdb *testDB) {
	t.Helper()
	switch tdb.name {
	case "mysql":
		rows, err := tdb.db.Query("SELECT ID FROM information_schema.PROCESSLIST WHERE DB = DATABASE() AND ID <> CONNECTION_ID()")
		if err != nil {
			t.Fatal(err)
		}
		var ids []int64
		for rows.Next() {
			var id int64
			rows.Scan(&id)
			ids = append(ids, id)
		}
		rows.Close()
		if len(ids) == 0 {
			t.Fatal("no reader connection to kill")
		}
		for _, id := range ids {
			if _, err := tdb.db.Exec(fmt.Sprintf("KILL %d", id)); err != nil {
				t.Fatal(err)
			}
		}
	case "postgres":
		var n int
		if err := tdb.db.QueryRow("SELECT COUNT(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()").Scan(&n); err != nil || n == 0 {
			t.Fatalf("terminating the reader: %d, %v", n, err)
		}
	}
}

// TestDSNSecret: ${NAME} is expanded, and neither its value nor a literal
// password reaches an error.
func TestDSNSecret(t *testing.T) {
	const pw = "s3cret-Pa55word"
	t.Setenv("IISB_TEST_PW", pw)
	for _, c := range []struct{ driver, dsn string }{
		{"pgx", "postgres://reader:${IISB_TEST_PW}@127.0.0.1:1/iis?connect_timeout=2"},
		{"mysql", "reader:${IISB_TEST_PW}@tcp(127.0.0.1:1)/iis?timeout=2s"},
		{"pgx", "postgres://reader:" + pw + "@127.0.0.1:1/iis?connect_timeout=2"},
		{"sqlite", "file:" + t.TempDir() + "/no/such/dir/${IISB_TEST_PW}.db?mode=ro"},
		{"pgx", "postgres://reader:${IISB_TEST_PW}@[::1/bad"},
	} {
		cfg := DefaultConfig()
		cfg.Driver, cfg.DSN = c.driver, c.dsn
		r, err := Open(cfg)
		if err == nil {
			_, err = r.Scan(context.Background(), ScanOptions{}, func(*Record) error { return nil })
			r.Close()
		}
		if err == nil {
			t.Errorf("%s: no error", c.dsn)
			continue
		}
		if strings.Contains(err.Error(), pw) {
			t.Errorf("the secret is in the error: %v", err)
		}
	}
	cfg := DefaultConfig()
	cfg.DSN = "postgres://reader:${IISB_UNSET_VAR_X}@h/db"
	if _, err := Open(cfg); err == nil || !strings.Contains(err.Error(), "IISB_UNSET_VAR_X is not set") {
		t.Errorf("unset variable: %v", err)
	}
}

// TestConfigProblems: every problem of a description with its position.
func TestConfigProblems(t *testing.T) {
	src := `source: iis
batch_size: 5000
persons:
  table: patient_master
children:
  - name: doses
    table: vaccination_master
    key: vaccination_id
    dates: {administered_date: "2006-13"}
  - name: doses
    query: SELECT 1
    table: x
    key: k
    parent: p
lookups:
  - name: lots
    table: lot_master
    key: lot_id
    from: shots.lot_id
    colour: red
`
	_, err := ParseConfig("iis.yaml", []byte(src))
	var l *diag.List
	if !errors.As(err, &l) {
		t.Fatalf("want a diag.List, got %v", err)
	}
	got := err.Error()
	if !strings.Contains(got, "iis.yaml:20:1: field colour not found") {
		t.Fatalf("unknown field not reported at its line:\n%s", got)
	}
	src = strings.Replace(src, "    colour: red\n", "", 1)
	_, err = ParseConfig("iis.yaml", []byte(src))
	want := []string{
		"iis.yaml:2:13: batch_size: want 1..2000, got 5000",
		"iis.yaml:4:3: persons: key: name the column that identifies a row",
		"iis.yaml:6:5: children: doses: parent: name the column holding the person key",
		`iis.yaml:9:32: children: dates: administered_date: layout "2006-13" does not hold a full date`,
		"iis.yaml:10:5: children: give either table or query",
		`iis.yaml:10:11: children: name "doses" is used twice`,
		`iis.yaml:19:11: lookups: lots: from: want CHILD.COLUMN naming one of the children, got "shots.lot_id"`,
	}
	if err == nil {
		t.Fatal("no problems")
	}
	for _, w := range want {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("missing %q in\n%s", w, err)
		}
	}
	if n := len(strings.Split(err.Error(), "\n")); n != len(want) {
		t.Errorf("%d problems, want %d:\n%s", n, len(want), err)
	}
}

func TestDefaultConfig(t *testing.T) {
	c := DefaultConfig()
	if c.BatchSize != defaultBatch || len(c.Children) != 7 || len(c.Lookups) != 4 {
		t.Errorf("default description: %+v", c)
	}
}

// TestEmptyVersusNull: an empty string is a value, NULL is none, on every
// engine.
func TestEmptyVersusNull(t *testing.T) {
	for _, engine := range engines(t) {
		t.Run(engine, func(t *testing.T) {
			tdb := newTestDB(t, engine)
			loadDemo(t, tdb)
			q := tdb.d.Quote
			if _, err := tdb.db.Exec(fmt.Sprintf("UPDATE %s SET %s = '', %s = NULL WHERE %s = 4", q("patient_master"),
				q("patient_name_middle"), q("org_id"), q("patient_id"))); err != nil {
				t.Fatal(err)
			}
			rec, err := open(t, tdb.config(0)).Person(context.Background(), "4")
			if err != nil || rec == nil {
				t.Fatalf("Person(4) = %v, %v", rec, err)
			}
			if v, ok := rec.Person.Column("patient_name_middle"); v != "" || !ok {
				t.Errorf("empty middle name read as %q, %v", v, ok)
			}
			if v, ok := rec.Person.Column("org_id"); ok {
				t.Errorf("NULL org_id read as %q", v)
			}
			if v, ok := rec.Person.Column("patient_name_last"); v == "" || !ok {
				t.Errorf("family name read as %q, %v", v, ok)
			}
		})
	}
}

// TestCheck: the default description fits the default schema on every
// engine; a description naming what the database lacks gets each problem
// at its position.
func TestCheck(t *testing.T) {
	for _, engine := range engines(t) {
		t.Run(engine, func(t *testing.T) {
			tdb := newTestDB(t, engine)
			if err := CreateSchema(context.Background(), tdb.db, tdb.d); err != nil {
				t.Fatal(err)
			}
			if err := open(t, tdb.config(0)).Check(context.Background()); err != nil {
				t.Fatalf("default description against the default schema: %v", err)
			}
			src := `source: iis
persons:
  table: patient_master
  key: patient_id
  modified: last_changed
children:
  - name: immunizations
    table: vaccination_master
    key: vaccination_id
    parent: Patient_ID
    dates: {given_on: "01/02/2006"}
  - name: names
    table: no_such_table
    key: id
    parent: patient_id
lookups:
  - name: lots
    table: lot_master
    key: lot_id
    from: immunizations.lot
`
			c, err := ParseConfig("iis.yaml", []byte(src))
			if err != nil {
				t.Fatal(err)
			}
			c.Driver, c.DSN = tdb.d.Driver, tdb.dsn
			err = open(t, c).Check(context.Background())
			if err == nil {
				t.Fatal("no problem found")
			}
			for _, w := range []string{
				`iis.yaml:5:13: persons: no column "last_changed"`,
				`iis.yaml:10:13: immunizations: no column "Patient_ID" (did you mean "patient_id"?`,
				`iis.yaml:11:23: immunizations: no column "given_on"`,
				`iis.yaml:13:12: names: cannot be read: `,
				`iis.yaml:20:11: lots: from: immunizations has no column "lot"`,
			} {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("missing %q in\n%s", w, err)
				}
			}
			if n := len(strings.Split(err.Error(), "\n")); n != 5 {
				t.Errorf("%d problems, want 5:\n%s", n, err)
			}
		})
	}
}

// TestQueryTables: persons and children may be queries; a person the root
// query leaves out has its child rows counted as orphans (range mode),
// and re-read by key finds them filtered the same way.
func TestQueryTables(t *testing.T) {
	for _, engine := range engines(t) {
		t.Run(engine, func(t *testing.T) {
			tdb := newTestDB(t, engine)
			sum := loadDemo(t, tdb)
			c := tdb.config(50)
			c.Persons.Table, c.Persons.Query = "", "SELECT * FROM patient_master WHERE merged_into IS NULL"
			for i := range c.Children {
				if c.Children[i].Name == "immunizations" {
					c.Children[i].Table = ""
					c.Children[i].Query = "SELECT v.*, l.lot_number FROM vaccination_master v LEFT JOIN lot_master l ON l.lot_id = v.lot_id"
				}
			}
			recs, ps, res := scanAll(t, open(t, c), ScanOptions{})
			if len(recs) != sum.Persons {
				t.Errorf("%d persons, want %d", len(recs), sum.Persons)
			}
			if st := res.Tables["identifiers"]; st.Orphans != int64(sum.Merged) || len(ps) != sum.Merged {
				t.Errorf("identifiers %+v, %d problems; want the %d merged duplicates' identifiers as orphans", *st, len(ps), sum.Merged)
			}
			lots := 0
			for _, r := range recs {
				for _, v := range r.Children["immunizations"] {
					if l, ok := v.Column("lot_number"); ok && l != "" {
						lots++
					}
				}
			}
			if lots == 0 || res.Tables["immunizations"].Read != tdb.count(t, "vaccination_master") {
				t.Errorf("query child: %d lot numbers, %+v", lots, *res.Tables["immunizations"])
			}
		})
	}
}

// TestCancel: a cancelled context ends the scan with context.Canceled.
func TestCancel(t *testing.T) {
	for _, engine := range engines(t) {
		t.Run(engine, func(t *testing.T) {
			tdb := newTestDB(t, engine)
			loadDemo(t, tdb)
			ctx, cancel := context.WithCancel(context.Background())
			n := 0
			r := open(t, tdb.config(10))
			_, err := r.Scan(ctx, ScanOptions{}, func(*Record) error {
				n++
				if n == 3 {
					cancel()
				}
				return nil
			})
			if !errors.Is(err, context.Canceled) || n != 10 {
				t.Errorf("after cancel: %v (%d persons)", err, n)
			}
			// The connection goes back to the pool usable (or is dropped).
			if _, _, res := scanAll(t, r, ScanOptions{}); res.Persons == 0 {
				t.Error("no person read after a cancelled scan")
			}
		})
	}
}

// TestEncode: every record of the demo world survives its byte form, the
// bytes are deterministic, and a re-read by key gives the same bytes as
// the scan (what a contract re-read checks its checksum against).
func TestEncode(t *testing.T) {
	tdb := newTestDB(t, "sqlite")
	loadDemo(t, tdb)
	if _, err := tdb.db.Exec(`UPDATE patient_master SET patient_name_middle = '', patient_birth_date = 'BAD' WHERE patient_id = 4`); err != nil {
		t.Fatal(err)
	}
	r := open(t, tdb.config(0))
	recs, _, _ := scanAll(t, r, ScanOptions{})
	for _, rec := range recs {
		b, err := rec.Encode()
		if err != nil {
			t.Fatal(err)
		}
		back, err := DecodeRecord(b)
		if err != nil {
			t.Fatal(err)
		}
		if dump(back) != dump(rec) {
			t.Fatalf("record %s changed through its byte form:\n%s\n%s", rec.Key, dump(rec), dump(back))
		}
		again, err := back.Encode()
		if err != nil || string(again) != string(b) {
			t.Fatalf("record %s: bytes not deterministic", rec.Key)
		}
		if rec.Key == "4" || rec.Key == "246" {
			re, err := r.Person(context.Background(), rec.Key)
			if err != nil {
				t.Fatal(err)
			}
			rb, _ := re.Encode()
			if string(rb) != string(b) {
				t.Errorf("re-read of %s differs from the scan:\n%s\n%s", rec.Key, rb, b)
			}
		}
	}
	if _, err := DecodeRecord([]byte(`{"person":{"table":"persons","key":"1","columns":["a"],"values":[]}}`)); err == nil {
		t.Error("a row with fewer values than columns decoded")
	}
}

// TestKeys: a Patient-level selection reads the named persons in key
// order, batch by batch, skipping unknown keys and repeats.
func TestKeys(t *testing.T) {
	for _, engine := range engines(t) {
		t.Run(engine, func(t *testing.T) {
			tdb := newTestDB(t, engine)
			loadDemo(t, tdb)
			r := open(t, tdb.config(3))
			full, _, _ := scanAll(t, r, ScanOptions{})
			byKey := map[string]string{}
			for _, rec := range full {
				byKey[rec.Key] = dump(rec)
			}
			keys := []string{"40", "2", "999999", "8", "40", "1000", "3", "10", "6", "4"}
			recs, _, res := scanAll(t, r, ScanOptions{Keys: keys})
			var got []string
			for _, rec := range recs {
				got = append(got, rec.Key)
				if dump(rec) != byKey[rec.Key] {
					t.Errorf("%s read by key differs from the full scan", rec.Key)
				}
			}
			var want []string
			for _, k := range []string{"2", "4", "6", "8", "10", "40", "1000"} {
				if _, ok := byKey[k]; ok {
					want = append(want, k)
				}
			}
			if len(want) < 5 {
				t.Fatalf("the demo world lacks the persons this test names (%v)", want)
			}
			if !slices.Equal(got, want) || res.Persons != int64(len(want)) {
				t.Errorf("keys %v read %v, want %v", keys, got, want)
			}
			if recs, _, _ := scanAll(t, r, ScanOptions{Keys: []string{}}); len(recs) != 0 {
				t.Errorf("an empty selection read %d persons", len(recs))
			}
			// The window applies to a selection too.
			future := time.Now().Add(24 * time.Hour)
			if recs, _, _ := scanAll(t, r, ScanOptions{Keys: keys, Since: future}); len(recs) != 0 {
				t.Errorf("_since tomorrow read %d selected persons", len(recs))
			}
		})
	}
}
