package sql

import (
	"strings"
	"testing"
	"time"
)

// SQL Server cannot run on this project's machines: its dialect (quoting,
// parameters, pagination, snapshot, DDL) is checked here as text.
func TestSQLServerDialect(t *testing.T) {
	d, err := DialectFor("sqlserver")
	if err != nil {
		t.Fatal(err)
	}
	if got := d.Quote("od]d"); got != "[od]]d]" {
		t.Errorf("Quote = %s", got)
	}
	if d.Param(3) != "@p3" || d.Limit(10) != "" || d.Top(10) != "TOP (10) " {
		t.Errorf("Param/Limit/Top: %s %q %q", d.Param(3), d.Limit(10), d.Top(10))
	}
	if b := d.beginStatements(); len(b) != 2 || b[0] != "SET TRANSACTION ISOLATION LEVEL SNAPSHOT" || b[1] != "BEGIN TRANSACTION" {
		t.Errorf("begin = %q", b)
	}
	if d.endStatement() != "IF @@TRANCOUNT > 0 ROLLBACK TRANSACTION" || !strings.Contains(d.clockQuery(), "SYSUTCDATETIME()") {
		t.Error("end/clock")
	}
	ddl := strings.Join(d.DDL(), ";\n")
	for _, w := range []string{"CREATE TABLE [patient_master] (", "[patient_name_last] NVARCHAR(250) NOT NULL", "[updated_date] DATETIME2(6) NOT NULL",
		"[merged_into] INT,", "PRIMARY KEY ([code_set], [local_code])", "CREATE INDEX [ix_vaccination_master_patient_id] ON [vaccination_master] ([patient_id])"} {
		if !strings.Contains(ddl, w) {
			t.Errorf("DDL lacks %q", w)
		}
	}
	if _, ok := d.TimeArg(time.Unix(0, 0)).(time.Time); !ok {
		t.Error("TimeArg: want a time.Time for SQL Server")
	}

	cfg := DefaultConfig()
	s := &scanner{cfg: cfg, d: d, window: true, opt: ScanOptions{Since: time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC)}}
	q, args := s.personQuery(int64(42), false)
	wantQ := "SELECT TOP (1000) p.* FROM [patient_master] p WHERE p.[patient_id] > @p1 AND ((p.[updated_date] >= @p2) OR " +
		"EXISTS (SELECT 1 FROM [patient_alias] c WHERE c.[patient_id] = p.[patient_id] AND c.[updated_date] >= @p3) OR "
	if !strings.HasPrefix(q, wantQ) || !strings.HasSuffix(q, ") ORDER BY p.[patient_id]") || strings.Contains(q, "LIMIT") {
		t.Errorf("person query:\n%s", q)
	}
	if len(args) != 2+len(cfg.Children) || args[0] != int64(42) {
		t.Errorf("args %v", args)
	}
	// A query as the root is read as a derived table.
	cfg.Persons.Table, cfg.Persons.Query = "", "SELECT * FROM dbo.patients WHERE test_flag = 0"
	s = &scanner{cfg: cfg, d: d}
	if q, _ := s.personQuery(nil, true); q != "SELECT TOP (1000) p.* FROM (SELECT * FROM dbo.patients WHERE test_flag = 0) p ORDER BY p.[patient_id]" {
		t.Errorf("query root:\n%s", q)
	}
	cfg.Persons.Query, cfg.Persons.Table = "", "dbo.patient_master"
	if q, _ := s.personQuery(nil, true); !strings.Contains(q, "FROM [dbo].[patient_master] p") {
		t.Errorf("schema-qualified table:\n%s", q)
	}
}

func TestDialectsQueries(t *testing.T) {
	for _, c := range []struct{ driver, want string }{
		{"mysql", "SELECT p.* FROM `patient_master` p WHERE `p`.`patient_id` > ? ORDER BY p.`patient_id` LIMIT 1000"},
		{"pgx", `SELECT p.* FROM "patient_master" p WHERE p."patient_id" > $1 ORDER BY p."patient_id" LIMIT 1000`},
		{"sqlite", `SELECT p.* FROM "patient_master" p WHERE p."patient_id" > ? ORDER BY p."patient_id" LIMIT 1000`},
	} {
		d, _ := DialectFor(c.driver)
		s := &scanner{cfg: DefaultConfig(), d: d}
		q, _ := s.personQuery(int64(1), false)
		want := strings.Replace(c.want, "`p`.", "p.", 1)
		if q != want {
			t.Errorf("%s:\n got %s\nwant %s", c.driver, q, want)
		}
	}
}

func TestSplitDSN(t *testing.T) {
	for _, c := range []struct{ driver, dsn, name, out string }{
		{"", "mysql://root@tcp(127.0.0.1:3306)/iis", "mysql", "root@tcp(127.0.0.1:3306)/iis"},
		{"", "mariadb://u:p@tcp(h)/iis", "mysql", "u:p@tcp(h)/iis"},
		{"", "postgres://u@h/iis?sslmode=disable", "postgres", "postgres://u@h/iis?sslmode=disable"},
		{"", "sqlserver://u:p@h?database=iis", "sqlserver", "sqlserver://u:p@h?database=iis"},
		{"", "sqlite:/var/iis.db", "sqlite", "/var/iis.db"},
		{"", "/var/iis.db", "sqlite", "/var/iis.db"},
		{"", "iis.db", "sqlite", "iis.db"},
		{"mysql", "u@tcp(h)/iis", "mysql", "u@tcp(h)/iis"},
		{"mysql", "mariadb://u@tcp(h)/iis", "mysql", "u@tcp(h)/iis"},
		{"sqlite", "sqlite:iis.db", "sqlite", "iis.db"},
		{"sqlite", "file:iis.db?mode=ro", "sqlite", "file:iis.db?mode=ro"},
		{"pgx", "postgres://u@h/iis", "postgres", "postgres://u@h/iis"},
		{"postgresql", "host=h dbname=iis", "postgres", "host=h dbname=iis"},
	} {
		d, out, err := SplitDSN(c.driver, c.dsn)
		if err != nil || d.Name != c.name || out != c.out {
			t.Errorf("SplitDSN(%q, %q) = %s, %q, %v", c.driver, c.dsn, d.Name, out, err)
		}
	}
	if _, _, err := SplitDSN("", "oracle://x"); err == nil || !strings.Contains(err.Error(), "--driver") {
		t.Errorf("unknown scheme: %v", err)
	}
}

func TestParseDBTime(t *testing.T) {
	for _, s := range []string{"2024-03-05 10:11:12.123456", "2024-03-05T10:11:12.123456Z", "2024-03-05 10:11:12.123456+00:00"} {
		got, err := parseDBTime(s)
		if err != nil || !got.Equal(time.Date(2024, 3, 5, 10, 11, 12, 123456000, time.UTC)) {
			t.Errorf("%s: %v %v", s, got, err)
		}
	}
}

// The fast timestamp path agrees with time.Parse + RFC3339Nano, and falls
// back (or fails) on anything else.
func TestCanonicalTS(t *testing.T) {
	for _, v := range []string{"2024-03-05 10:11:12", "2024-03-05 10:11:12.000000", "2024-03-05T10:11:12.120Z",
		"2024-03-05 10:11:12.123456789+00:00", "2024-02-29 00:00:00", "1999-12-31T23:59:59Z"} {
		got, ok := canonicalTS(v)
		want, err := parseDBTime(v)
		if !ok || err != nil || got != want.Format(time.RFC3339Nano) {
			t.Errorf("%s: %q %v, want %s (%v)", v, got, ok, want.Format(time.RFC3339Nano), err)
		}
	}
	for _, v := range []string{"2023-02-29 00:00:00", "2024-13-01 00:00:00", "2024-03-05 24:00:00", "2024-03-05 10:11:12+02:00",
		"2024-03-05", "2024-03-05 10:11:1x", "2024-03-05 10:11:12.", "garbage"} {
		if got, ok := canonicalTS(v); ok {
			t.Errorf("%s: accepted as %s", v, got)
		}
	}
	if _, err := normalize('t', "", "2023-02-29 00:00:00"); err == nil {
		t.Error("normalize accepted February 29 of 2023")
	}
}
