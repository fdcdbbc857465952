package auth

import (
	"database/sql"
	"fmt"
	"path/filepath"
	"time"

	_ "modernc.org/sqlite" // driver "sqlite"
)

// replayCache remembers each client's assertion jti until the assertion
// could no longer be accepted, across restarts.
type replayCache struct{ db *sql.DB }

func openReplayCache(dir string) (*replayCache, error) {
	path := filepath.Join(dir, "replay.db")
	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(5000)&_pragma=journal_mode(WAL)&_pragma=synchronous(FULL)")
	if err != nil {
		return nil, fmt.Errorf("auth: replay cache %s: %w", path, err)
	}
	db.SetMaxOpenConns(1)
	if _, err := db.Exec(`CREATE TABLE IF NOT EXISTS jti (
  client TEXT NOT NULL, jti TEXT NOT NULL, until INTEGER NOT NULL,
  PRIMARY KEY (client, jti)) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS jti_until ON jti(until);`); err != nil {
		db.Close()
		return nil, fmt.Errorf("auth: replay cache %s: %w", path, err)
	}
	return &replayCache{db: db}, nil
}

func (c *replayCache) Close() error { return c.db.Close() }

// use records jti for client until `until` and reports whether it had been
// used already (a replay). Expired entries are dropped first.
func (c *replayCache) use(client, jti string, until, now time.Time) (replayed bool, err error) {
	if _, err := c.db.Exec(`DELETE FROM jti WHERE until < ?`, now.UnixNano()); err != nil {
		return false, err
	}
	res, err := c.db.Exec(`INSERT OR IGNORE INTO jti(client, jti, until) VALUES(?,?,?)`, client, jti, until.UnixNano())
	if err != nil {
		return false, err
	}
	n, err := res.RowsAffected()
	return n == 0, err
}
