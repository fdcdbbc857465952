// Package sqltest gives tests outside sources/sql a fresh database on each
// engine the machine has: SQLite always, MariaDB/MySQL and PostgreSQL
// when IISBRIDGE_MYSQL_DSN / IISBRIDGE_POSTGRES_DSN are set (.ci/run sets
// them). Each database is created for the test and dropped after it.
package sqltest

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	sqlsrc "github.com/iisbridge/iisbridge/sources/sql"
)

// Engines lists the engines to test: sqlite, and mysql / postgres when
// their DSNs are set (the test logs which are skipped).
func Engines(t testing.TB) []string {
	out := []string{"sqlite"}
	if os.Getenv("IISBRIDGE_MYSQL_DSN") != "" {
		out = append(out, "mysql")
	} else {
		t.Log("IISBRIDGE_MYSQL_DSN unset: MariaDB not tested")
	}
	if os.Getenv("IISBRIDGE_POSTGRES_DSN") != "" {
		out = append(out, "postgres")
	} else {
		t.Log("IISBRIDGE_POSTGRES_DSN unset: PostgreSQL not tested")
	}
	return out
}

// DB is a fresh, empty database.
type DB struct {
	Engine string // sqlite, mysql, postgres
	Driver string // the database/sql driver name
	DSN    string
	Name   string // the database's name (mysql, postgres)
}

// New creates a database on engine, dropped when the test ends.
func New(t testing.TB, engine string) *DB {
	t.Helper()
	ctx := context.Background()
	var b [6]byte
	rand.Read(b[:])
	name := "iisb_" + hex.EncodeToString(b[:])
	db := &DB{Engine: engine, Name: name}
	admin := func(driver, dsn string) {
		a, err := sql.Open(driver, dsn)
		if err != nil {
			t.Fatal(err)
		}
		defer a.Close()
		if _, err := a.ExecContext(ctx, "CREATE DATABASE "+name); err != nil {
			t.Fatalf("creating a %s test database: %v", engine, err)
		}
		drop := "DROP DATABASE " + name
		if engine == "postgres" {
			drop += " WITH (FORCE)"
		}
		t.Cleanup(func() {
			a, _ := sql.Open(driver, dsn)
			defer a.Close()
			a.Exec(drop)
		})
	}
	switch engine {
	case "sqlite":
		db.Driver, db.DSN = "sqlite", filepath.Join(t.TempDir(), "iis.db")
	case "mysql":
		base := os.Getenv("IISBRIDGE_MYSQL_DSN")
		admin("mysql", base)
		i := strings.LastIndex(base, "/")
		rest := ""
		if q := strings.IndexByte(base[i:], '?'); q >= 0 {
			rest = base[i+q:]
		}
		db.Driver, db.DSN = "mysql", base[:i+1]+name+rest
	case "postgres":
		base := os.Getenv("IISBRIDGE_POSTGRES_DSN")
		admin("pgx", base)
		u, err := url.Parse(base)
		if err != nil {
			t.Fatal(err)
		}
		u.Path = "/" + name
		db.Driver, db.DSN = "pgx", u.String()
	default:
		t.Fatalf("unknown engine %s", engine)
	}
	return db
}

// Load writes the world of truthPath (synth.Generate's truth.json) into
// the database in the default schema.
func (db *DB) Load(t testing.TB, truthPath string) *sqlsrc.LoadSummary {
	t.Helper()
	sum, _, err := sqlsrc.LoadDSN(context.Background(), db.Driver, db.DSN, truthPath)
	if err != nil {
		t.Fatalf("loading the world into %s: %v", db.Engine, err)
	}
	return sum
}

// Config is the default description pointed at the database.
func (db *DB) Config(source string) *sqlsrc.Config {
	c := sqlsrc.DefaultConfig()
	c.Source, c.Driver, c.DSN = source, db.Driver, db.DSN
	return c
}

// Exec runs statements on the database (a test changing rows).
func (db *DB) Exec(t testing.TB, stmts ...string) {
	t.Helper()
	d, err := sql.Open(db.Driver, db.DSN)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	for _, s := range stmts {
		if _, err := d.Exec(s); err != nil {
			t.Fatalf("%s: %v", s, err)
		}
	}
}

// Query runs a query and calls fn with the first column of each row.
func (db *DB) Query(t testing.TB, q string, fn func(any)) {
	t.Helper()
	d, err := sql.Open(db.Driver, db.DSN)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	rows, err := d.Query(q)
	if err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	defer rows.Close()
	for rows.Next() {
		var v any
		if err := rows.Scan(&v); err != nil {
			t.Fatal(err)
		}
		fn(v)
	}
}
