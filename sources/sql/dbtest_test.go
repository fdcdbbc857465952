package sql

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// testDB is a fresh, empty database on one of the three engines the tests
// run against; it is dropped when the test ends.
type testDB struct {
	name string // sqlite, mysql, postgres
	d    Dialect
	dsn  string // for the reader (driver given separately)
	db   *sql.DB
}

// engines returns SQLite always, MariaDB/MySQL and PostgreSQL when
// IISBRIDGE_MYSQL_DSN / IISBRIDGE_POSTGRES_DSN are set.
func engines(t *testing.T) []string {
	out := []string{"sqlite"}
	if os.Getenv("IISBRIDGE_MYSQL_DSN") != "" {
		out = append(out, "mysql")
	}
	if os.Getenv("IISBRIDGE_POSTGRES_DSN") != "" {
		out = append(out, "postgres")
	}
	if len(out) == 1 {
		t.Log("IISBRIDGE_MYSQL_DSN and IISBRIDGE_POSTGRES_DSN unset: SQLite only")
	}
	return out
}

func newTestDB(t testing.TB, engine string) *testDB {
	t.Helper()
	ctx := context.Background()
	var b [6]byte
	rand.Read(b[:])
	dbName := "iisb_" + hex.EncodeToString(b[:])
	tdb := &testDB{name: engine}
	switch engine {
	case "sqlite":
		tdb.d, _ = DialectFor("sqlite")
		tdb.dsn = filepath.Join(t.TempDir(), "iis.db")
	case "mysql":
		tdb.d, _ = DialectFor("mysql")
		base := os.Getenv("IISBRIDGE_MYSQL_DSN")
		admin, err := sql.Open("mysql", base)
		if err != nil {
			t.Fatal(err)
		}
		defer admin.Close()
		if _, err := admin.ExecContext(ctx, "CREATE DATABASE "+dbName); err != nil {
			t.Fatalf("creating a MariaDB test database: %v", err)
		}
		t.Cleanup(func() {
			a, _ := sql.Open("mysql", base)
			defer a.Close()
			a.Exec("DROP DATABASE " + dbName)
		})
		i := strings.LastIndex(base, "/")
		rest := ""
		if q := strings.IndexByte(base[i:], '?'); q >= 0 {
			rest = base[i+q:]
		}
		tdb.dsn = base[:i+1] + dbName + rest
	case "postgres":
		tdb.d, _ = DialectFor("pgx")
		base := os.Getenv("IISBRIDGE_POSTGRES_DSN")
		admin, err := sql.Open("pgx", base)
		if err != nil {
			t.Fatal(err)
		}
		defer admin.Close()
		if _, err := admin.ExecContext(ctx, "CREATE DATABASE "+dbName); err != nil {
			t.Fatalf("creating a PostgreSQL test database: %v", err)
		}
		t.Cleanup(func() {
			a, _ := sql.Open("pgx", base)
			defer a.Close()
			a.Exec("DROP DATABASE " + dbName + " WITH (FORCE)")
		})
		u, err := url.Parse(base)
		if err != nil {
			t.Fatal(err)
		}
		u.Path = "/" + dbName
		tdb.dsn = u.String()
	default:
		t.Fatalf("unknown engine %s", engine)
	}
	db, err := sql.Open(tdb.d.Driver, tdb.dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	tdb.db = db
	return tdb
}

// config is the default description pointed at this database.
func (tdb *testDB) config(batch int) *Config {
	c := DefaultConfig()
	c.Driver, c.DSN = tdb.d.Driver, tdb.dsn
	if batch > 0 {
		c.BatchSize = batch
	}
	return c
}

func (tdb *testDB) count(t testing.TB, table string) int64 {
	t.Helper()
	var n int64
	if err := tdb.db.QueryRow(fmt.Sprintf("SELECT COUNT(*) FROM %s", tdb.d.Quote(table))).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}
