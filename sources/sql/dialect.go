// Package sql reads a registry's relational database: persons and their
// child rows (names, addresses, identifiers, immunizations, lookups),
// streamed in person-key order out of one read-only snapshot, ready for
// the YAML mapping. It also holds the default legacy IIS schema and a
// loader that writes the synthetic world (sources/synth) into it.
//
// Four dialects: SQLite (modernc.org/sqlite, driver "sqlite"), MariaDB and
// MySQL (go-sql-driver/mysql, "mysql"), PostgreSQL (pgx stdlib, "pgx") and
// SQL Server (go-mssqldb, "sqlserver"). SQL Server cannot run on the
// project's machines: its dialect is covered by unit tests only.
//
// The package never writes to the registry's database when reading: every
// scan runs in one read-only transaction, so one export sees one snapshot.
//
// # The sources contract
//
// A Reader is the relational side of the sources contract (scan new
// records from a cursor; re-read one by its locator): Scan with Since set
// to the last scan's Result.TransactionTime is the incremental scan, the
// cursor being that time; Person(key) is the re-read, the locator being
// source + root table + person key (Record.Locator). A Record carries what
// the contract's record holds: the locator, the kind (a person, or a
// deleted or merged-away one: Deleted, MergedInto), the identity key (Key;
// identifier rows for the mapping's identity: section), the organization
// (a child or lookup column the mapping names), the time (Modified) and
// the warnings (Problems). A Record is the mapping's relational person
// (mapping.Person: Root, Rows, Lookup) and its rows are mapping.Rows that
// say their table, key and soft-delete (mapping.SourceRow); the shipped
// mapping of the default schema is mapping.DefaultSQL, and
// Reader.CheckMapping validates a mapping's tables and columns against
// the live database. Where the
// contract's re-read returns bytes checked against a checksum, a record's
// bytes are Encode's (deterministic; DecodeRecord reads them back), and a
// re-read whose bytes differ from the indexed checksum is a changed row.
package sql

import (
	"context"
	"database/sql"
	"fmt"
	"strconv"
	"strings"
	"time"

	_ "github.com/go-sql-driver/mysql"
	_ "github.com/jackc/pgx/v5/stdlib"
	_ "github.com/microsoft/go-mssqldb"
	_ "modernc.org/sqlite"
)

// Dialect is what differs between the databases: quoting, parameters,
// column types, pagination, the snapshot and the clock.
type Dialect struct {
	Name   string // sqlite, mysql, postgres, sqlserver
	Driver string // the database/sql driver name
}

var dialects = []Dialect{
	{"sqlite", "sqlite"},
	{"mysql", "mysql"},
	{"postgres", "pgx"},
	{"sqlserver", "sqlserver"},
}

// DialectFor names the dialect of a driver (sqlite, mysql, pgx, sqlserver;
// also the aliases mariadb, postgres, postgresql, mssql).
func DialectFor(driver string) (Dialect, error) {
	switch strings.ToLower(driver) {
	case "mariadb":
		driver = "mysql"
	case "postgres", "postgresql":
		driver = "pgx"
	case "mssql":
		driver = "sqlserver"
	}
	for _, d := range dialects {
		if d.Driver == driver {
			return d, nil
		}
	}
	return Dialect{}, fmt.Errorf("unknown database driver %q (want sqlite, mysql, pgx or sqlserver)", driver)
}

// SplitDSN takes a driver from a DSN's scheme when driver is empty:
// mysql://user@tcp(host)/db, mariadb://..., postgres://... (kept whole:
// pgx reads URLs), sqlserver://... (kept whole), sqlite:path or
// sqlite://path, or a bare file path (SQLite).
func SplitDSN(driver, dsn string) (Dialect, string, error) {
	scheme, rest, ok := strings.Cut(dsn, ":")
	if driver != "" {
		d, err := DialectFor(driver)
		if err == nil && ok {
			// A scheme the driver itself does not read is dropped.
			switch s := strings.ToLower(scheme); {
			case d.Name == "mysql" && (s == "mysql" || s == "mariadb"),
				d.Name == "sqlite" && s == "sqlite":
				dsn = strings.TrimPrefix(rest, "//")
			}
		}
		return d, dsn, err
	}
	if !ok || strings.ContainsAny(scheme, "/\\@(") {
		return dialects[0], dsn, nil // a file path
	}
	switch strings.ToLower(scheme) {
	case "mysql", "mariadb":
		return dialects[1], strings.TrimPrefix(rest, "//"), nil
	case "postgres", "postgresql":
		return dialects[2], dsn, nil
	case "sqlserver":
		return dialects[3], dsn, nil
	case "sqlite", "file":
		return dialects[0], strings.TrimPrefix(rest, "//"), nil
	}
	return Dialect{}, "", fmt.Errorf("cannot tell the database from the DSN's scheme %q: give --driver (sqlite, mysql, pgx, sqlserver)", scheme)
}

// Quote quotes an identifier.
func (d Dialect) Quote(id string) string {
	switch d.Name {
	case "mysql":
		return "`" + strings.ReplaceAll(id, "`", "``") + "`"
	case "sqlserver":
		return "[" + strings.ReplaceAll(id, "]", "]]") + "]"
	}
	return `"` + strings.ReplaceAll(id, `"`, `""`) + `"`
}

// Param is the placeholder of the n-th (1-based) parameter.
func (d Dialect) Param(n int) string {
	switch d.Name {
	case "postgres":
		return "$" + strconv.Itoa(n)
	case "sqlserver":
		return "@p" + strconv.Itoa(n)
	}
	return "?"
}

// Limit wraps a SELECT's tail: SQL Server has no LIMIT; it takes TOP in
// the select list, which Top returns.
func (d Dialect) Limit(n int) string {
	if d.Name == "sqlserver" {
		return ""
	}
	return " LIMIT " + strconv.Itoa(n)
}

// Top is the select-list prefix that limits rows (SQL Server only).
func (d Dialect) Top(n int) string {
	if d.Name == "sqlserver" {
		return "TOP (" + strconv.Itoa(n) + ") "
	}
	return ""
}

// TimeArg is a timestamp as a query parameter comparable with the
// schema's last-modified columns, which hold UTC wall time (SQLite: text
// 'YYYY-MM-DD HH:MM:SS').
func (d Dialect) TimeArg(t time.Time) any {
	t = t.UTC()
	if d.Name == "sqlite" {
		return t.Format(sqliteTime)
	}
	return t
}

const sqliteTime = "2006-01-02 15:04:05.000000"

// clockQuery reads the database's clock, in UTC.
func (d Dialect) clockQuery() string {
	switch d.Name {
	case "mysql":
		return "SELECT UTC_TIMESTAMP(6)"
	case "postgres":
		return "SELECT to_char(clock_timestamp() AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.US')"
	case "sqlserver":
		return "SELECT CONVERT(varchar(27), SYSUTCDATETIME(), 121)"
	}
	return "SELECT strftime('%Y-%m-%d %H:%M:%f', 'now')"
}

// beginStatements open the read-only snapshot on one connection.
// MariaDB/MySQL: REPEATABLE READ, snapshot taken at once; PostgreSQL:
// REPEATABLE READ READ ONLY; SQL Server: SNAPSHOT isolation, which the
// database must allow (ALTER DATABASE ... SET ALLOW_SNAPSHOT_ISOLATION
// ON), else the scan fails with the server's error naming it; SQLite: a
// deferred transaction, its snapshot taken at the first read (WAL mode
// lets writers go on meanwhile).
func (d Dialect) beginStatements() []string {
	switch d.Name {
	case "mysql":
		return []string{"SET SESSION TRANSACTION ISOLATION LEVEL REPEATABLE READ", "START TRANSACTION WITH CONSISTENT SNAPSHOT, READ ONLY"}
	case "postgres":
		return []string{"BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY"}
	case "sqlserver":
		return []string{"SET TRANSACTION ISOLATION LEVEL SNAPSHOT", "BEGIN TRANSACTION"}
	}
	return []string{"BEGIN DEFERRED"}
}

func (d Dialect) endStatement() string {
	if d.Name == "sqlserver" {
		return "IF @@TRANCOUNT > 0 ROLLBACK TRANSACTION"
	}
	return "ROLLBACK"
}

// snapshot opens the export's transaction on conn and returns the
// database clock read just before the snapshot (so a change committed
// after the returned time may be seen again by the next _since, never
// lost).
func (d Dialect) snapshot(ctx context.Context, conn *sql.Conn) (time.Time, error) {
	var s string
	if err := conn.QueryRowContext(ctx, d.clockQuery()).Scan(&s); err != nil {
		return time.Time{}, fmt.Errorf("reading the database clock: %w", err)
	}
	t, err := parseDBTime(s)
	if err != nil {
		return time.Time{}, fmt.Errorf("reading the database clock: %w", err)
	}
	for _, q := range d.beginStatements() {
		if _, err := conn.ExecContext(ctx, q); err != nil {
			return time.Time{}, fmt.Errorf("opening the read-only snapshot (%s): %w", q, err)
		}
	}
	return t, nil
}

// parseDBTime reads a UTC timestamp as the databases print it.
func parseDBTime(s string) (time.Time, error) {
	s = strings.TrimSpace(strings.Replace(s, "T", " ", 1))
	s = strings.TrimSuffix(strings.TrimSuffix(s, "Z"), "+00:00")
	for _, l := range []string{"2006-01-02 15:04:05.999999999", "2006-01-02 15:04:05", "2006-01-02"} {
		if t, err := time.Parse(l, s); err == nil {
			return t.UTC(), nil
		}
	}
	return time.Time{}, fmt.Errorf("unreadable timestamp %q", s)
}
