package server

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"time"

	_ "modernc.org/sqlite" // driver "sqlite"
)

// Job states as stored.
const (
	stateQueued  = "queued"
	stateRunning = "running"
	stateDone    = "done"
	stateFailed  = "failed"
	stateDeleted = "deleted"
)

// interruptedMsg is what a job that was running when the server stopped
// reports; such jobs are not resumed (a new export is cheap to start and
// a half-written snapshot would mix two index states).
const interruptedMsg = "export interrupted by server restart; start a new export"

// jobFile is one file of a finished job, in the manifest.
type jobFile struct {
	Kind  string `json:"kind"` // output | error | deleted
	Type  string `json:"type"`
	Name  string `json:"name"` // file name inside the job's kind directory
	Count int64  `json:"count"`
	Bytes int64  `json:"bytes"`
}

// jobRecord is a job's persistent state.
type jobRecord struct {
	ID              string
	Owner           string
	State           string
	Level           string // system | patient | group
	Request         string // kick-off URL as the manifest reports it
	Style           string // manifest style
	RequiresToken   bool
	SinceGiven      bool // _since was given: the manifest lists deleted files
	Created         time.Time
	TransactionTime time.Time
	Finished        time.Time
	Expires         time.Time
	Error           string
	Files           []jobFile
	// Store names the object store holding the files ("" = the data
	// directory; see objectStore) and FileURLs its URL mode.
	Store, FileURLs string
}

// store is the embedded SQLite database: jobs and Groups. One connection
// serializes writers, which SQLite wants anyway.
type store struct{ db *sql.DB }

const schemaSQL = `
CREATE TABLE IF NOT EXISTS jobs (
  id TEXT PRIMARY KEY,
  owner TEXT NOT NULL,
  state TEXT NOT NULL,
  level TEXT NOT NULL,
  request TEXT NOT NULL,
  style TEXT NOT NULL,
  requires_token INTEGER NOT NULL,
  since_given INTEGER NOT NULL DEFAULT 0,
  created INTEGER NOT NULL,
  transaction_time INTEGER NOT NULL DEFAULT 0,
  finished INTEGER NOT NULL DEFAULT 0,
  expires INTEGER NOT NULL DEFAULT 0,
  error TEXT NOT NULL DEFAULT '',
  files TEXT NOT NULL DEFAULT '[]'
);
CREATE INDEX IF NOT EXISTS jobs_owner_state ON jobs(owner, state);
CREATE TABLE IF NOT EXISTS groups (
  id TEXT PRIMARY KEY,
  name TEXT NOT NULL,
  org_key TEXT NOT NULL DEFAULT '',
  org_name TEXT NOT NULL DEFAULT '',
  static INTEGER NOT NULL DEFAULT 0,
  updated INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS group_members (
  group_id TEXT NOT NULL,
  patient_id TEXT NOT NULL,
  first INTEGER NOT NULL DEFAULT 0,
  last INTEGER NOT NULL DEFAULT 0,
  PRIMARY KEY (group_id, patient_id)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS job_storage (
  job_id TEXT PRIMARY KEY,
  store TEXT NOT NULL,
  file_urls TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS job_losses (
  job_id TEXT PRIMARY KEY,
  records INTEGER NOT NULL,
  text TEXT NOT NULL
);
`

func openStore(dir string) (*store, error) {
	path := filepath.Join(dir, "iisbridge.db")
	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(5000)&_pragma=journal_mode(WAL)&_pragma=synchronous(NORMAL)")
	if err != nil {
		return nil, fmt.Errorf("open job store %s: %w", path, err)
	}
	db.SetMaxOpenConns(1)
	if _, err := db.Exec(schemaSQL); err != nil {
		db.Close()
		return nil, fmt.Errorf("open job store %s: %w", path, err)
	}
	if err := migrateGroups(db); err != nil {
		db.Close()
		return nil, fmt.Errorf("open job store %s: %w", path, err)
	}
	return &store{db: db}, nil
}

func (s *store) Close() error { return s.db.Close() }

func nanos(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
}

func fromNanos(n int64) time.Time {
	if n == 0 {
		return time.Time{}
	}
	return time.Unix(0, n).UTC()
}

func (s *store) insertJob(ctx context.Context, j *jobRecord) error {
	_, err := s.db.ExecContext(ctx, `INSERT INTO jobs(id, owner, state, level, request, style, requires_token, since_given, created) VALUES(?,?,?,?,?,?,?,?,?)`,
		j.ID, j.Owner, j.State, j.Level, j.Request, j.Style, j.RequiresToken, j.SinceGiven, nanos(j.Created))
	if err == nil && j.Store != "" {
		_, err = s.db.ExecContext(ctx, `INSERT INTO job_storage(job_id, store, file_urls) VALUES(?,?,?)`, j.ID, j.Store, j.FileURLs)
	}
	return err
}

// jobStorage returns the object store and URL mode of a job ("" = the
// data directory).
func (s *store) jobStorage(ctx context.Context, id string) (store, fileURLs string, err error) {
	err = s.db.QueryRowContext(ctx, `SELECT store, file_urls FROM job_storage WHERE job_id = ?`, id).Scan(&store, &fileURLs)
	if errors.Is(err, sql.ErrNoRows) {
		return "", "", nil
	}
	return store, fileURLs, err
}

const jobCols = `id, owner, state, level, request, style, requires_token, since_given, created, transaction_time, finished, expires, error, files`

func scanJob(sc interface{ Scan(...any) error }) (*jobRecord, error) {
	var j jobRecord
	var created, tt, fin, exp int64
	var files string
	if err := sc.Scan(&j.ID, &j.Owner, &j.State, &j.Level, &j.Request, &j.Style, &j.RequiresToken, &j.SinceGiven, &created, &tt, &fin, &exp, &j.Error, &files); err != nil {
		return nil, err
	}
	j.Created, j.TransactionTime, j.Finished, j.Expires = fromNanos(created), fromNanos(tt), fromNanos(fin), fromNanos(exp)
	if err := json.Unmarshal([]byte(files), &j.Files); err != nil {
		return nil, fmt.Errorf("job %s: files column: %w", j.ID, err)
	}
	return &j, nil
}

// job returns the job or nil when there is none.
func (s *store) job(ctx context.Context, id string) (*jobRecord, error) {
	j, err := scanJob(s.db.QueryRowContext(ctx, `SELECT `+jobCols+` FROM jobs WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err == nil {
		j.Store, j.FileURLs, err = s.jobStorage(ctx, id)
	}
	return j, err
}

// setTransactionTime records the time of the snapshot a job read.
func (s *store) setTransactionTime(ctx context.Context, id string, tt time.Time) error {
	_, err := s.db.ExecContext(ctx, `UPDATE jobs SET transaction_time = ? WHERE id = ?`, nanos(tt.UTC()), id)
	return err
}

func (s *store) setRunning(ctx context.Context, id string, tt time.Time) (bool, error) {
	res, err := s.db.ExecContext(ctx, `UPDATE jobs SET state = ?, transaction_time = ? WHERE id = ? AND state = ?`, stateRunning, nanos(tt), id, stateQueued)
	if err != nil {
		return false, err
	}
	n, _ := res.RowsAffected()
	return n == 1, nil
}

// finish records a job's end, unless it was deleted meanwhile.
// It reports whether the job was still live.
func (s *store) finish(ctx context.Context, id, state, msg string, files []jobFile, finished, expires time.Time) (bool, error) {
	if files == nil {
		files = []jobFile{}
	}
	b, err := json.Marshal(files)
	if err != nil {
		return false, err
	}
	res, err := s.db.ExecContext(ctx, `UPDATE jobs SET state = ?, error = ?, files = ?, finished = ?, expires = ? WHERE id = ? AND state IN (?, ?)`,
		state, msg, string(b), nanos(finished), nanos(expires), id, stateQueued, stateRunning)
	if err != nil {
		return false, err
	}
	n, _ := res.RowsAffected()
	return n == 1, nil
}

func (s *store) markDeleted(ctx context.Context, id string) error {
	_, err := s.db.ExecContext(ctx, `UPDATE jobs SET state = ?, files = '[]' WHERE id = ?`, stateDeleted, id)
	return err
}

// activeJobs counts an owner's queued and running jobs.
func (s *store) activeJobs(ctx context.Context, owner string) (int, error) {
	var n int
	err := s.db.QueryRowContext(ctx, `SELECT count(*) FROM jobs WHERE owner = ? AND state IN (?, ?)`, owner, stateQueued, stateRunning).Scan(&n)
	return n, err
}

// failInterrupted ends every job left queued or running by a previous
// process, expiring at expires like any ended job, and returns their ids.
func (s *store) failInterrupted(ctx context.Context, now, expires time.Time) ([]string, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT id FROM jobs WHERE state IN (?, ?)`, stateQueued, stateRunning)
	if err != nil {
		return nil, err
	}
	var ids []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			rows.Close()
			return nil, err
		}
		ids = append(ids, id)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	_, err = s.db.ExecContext(ctx, `UPDATE jobs SET state = ?, error = ?, finished = ?, expires = ?, files = '[]' WHERE state IN (?, ?)`,
		stateFailed, interruptedMsg, nanos(now), nanos(expires), stateQueued, stateRunning)
	if err != nil {
		return nil, err
	}
	// Jobs interrupted by an earlier version never got an expiry.
	_, err = s.db.ExecContext(ctx, `UPDATE jobs SET expires = ? WHERE state = ? AND expires = 0`, nanos(expires), stateFailed)
	return ids, err
}

// expiredJobs lists finished jobs whose files expired before now.
func (s *store) expiredJobs(ctx context.Context, now time.Time) ([]string, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT id FROM jobs WHERE state IN (?, ?) AND expires > 0 AND expires <= ?`, stateDone, stateFailed, nanos(now))
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var ids []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, err
		}
		ids = append(ids, id)
	}
	return ids, rows.Err()
}

// forgetJobs removes job rows deleted or expired long ago.
func (s *store) forgetJobs(ctx context.Context, before time.Time) error {
	_, err := s.db.ExecContext(ctx, `DELETE FROM jobs WHERE state = ? AND created < ?`, stateDeleted, nanos(before))
	if err == nil {
		_, err = s.db.ExecContext(ctx, `DELETE FROM job_storage WHERE job_id NOT IN (SELECT id FROM jobs)`)
	}
	return err
}

// jobCounts reports jobs by state for /metrics.
func (s *store) jobCounts(ctx context.Context) (map[string]int, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT state, count(*) FROM jobs GROUP BY state`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	m := map[string]int{}
	for rows.Next() {
		var st string
		var n int
		if err := rows.Scan(&st, &n); err != nil {
			return nil, err
		}
		m[st] = n
	}
	return m, rows.Err()
}
