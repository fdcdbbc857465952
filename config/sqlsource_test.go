package config

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A sql source: driver and DSN (with ${ENV}), the tables description
// inline or in a file, checked with positions; the DSN's secret is never
// in a problem.
func TestSQLSource(t *testing.T) {
	t.Setenv("IISB_TEST_DB_PW", "s3cret-pw")
	dir := t.TempDir()
	p := write(t, "ok.yaml", `sources:
  - name: iis
    kind: sql
    driver: mysql
    dsn: "reader:${IISB_TEST_DB_PW}@tcp(127.0.0.1:3306)/iis"
    memberships: default
  - name: archive
    kind: v2archive
    paths: [`+filepath.Join(dir)+`]
`)
	c, err := Load(p)
	if err != nil {
		t.Fatal(err)
	}
	s := c.Sources[0]
	if s.SQL == nil || s.SQL.Source != "iis" || s.SQL.Driver != "mysql" || len(s.SQL.Children) == 0 {
		t.Fatalf("sql source = %+v", s.SQL)
	}

	// Inline tables: a problem inside points into the server config.
	p = write(t, "bad.yaml", `sources:
  - name: iis
    kind: sql
    driver: pgx
    dsn: "postgres://reader:${IISB_TEST_DB_PW}@db/iis"
    tables:
      persons:
        table: patient_master
        key: patient_id
        colour: red
  - name: iis2
    kind: sql
    driver: nosuchdb
    dsn: "u:s3cret-pw@tcp(x)/y"
    paths: [a]
  - name: iis3
    kind: sql
    dsn: "u:${IISB_UNSET_VAR}@tcp(x)/y"
    tables: nowhere.yaml
`)
	_, err = Load(p)
	var ce *Error
	if !errors.As(err, &ce) {
		t.Fatalf("want *Error, got %v", err)
	}
	msg := err.Error()
	for _, w := range []string{
		`bad.yaml:10:9: unknown key "colour" in tables.persons`,
		`bad.yaml:13:13: sources[1]: driver:`,
		`bad.yaml:15:12: sources[1].paths: not for kind sql`,
		`bad.yaml:18:10: sources[2].dsn: environment variable IISB_UNSET_VAR is not set`,
		`sources[2].tables:`,
	} {
		if !strings.Contains(msg, w) {
			t.Errorf("missing %q in:\n%s", w, msg)
		}
	}
	if strings.Contains(msg, "s3cret") {
		t.Errorf("a problem quotes the DSN's secret:\n%s", msg)
	}

	// A tables file: its own problems carry its own positions.
	tf := filepath.Join(dir, "tables.yaml")
	os.WriteFile(tf, []byte("source: x\npersons:\n  table: t\n  key: k\n  batch: 3\n"), 0o644)
	p = write(t, "file.yaml", "sources:\n  - name: iis\n    kind: sql\n    driver: sqlite\n    dsn: "+filepath.Join(dir, "iis.db")+"\n    tables: "+tf+"\n")
	_, err = Load(p)
	if err == nil || !strings.Contains(err.Error(), "tables.yaml:5:") {
		t.Errorf("tables file problem: %v", err)
	}
	os.WriteFile(tf, []byte("source: x\npersons:\n  table: t\n  key: k\n"), 0o644)
	c, err = Load(p)
	if err != nil {
		t.Fatal(err)
	}
	if c.Sources[0].SQL.Source != "iis" || c.Sources[0].SQL.Persons.Table != "t" {
		t.Errorf("tables file: %+v", c.Sources[0].SQL)
	}
}
