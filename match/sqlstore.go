package match

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"strings"

	_ "modernc.org/sqlite" // database/sql driver "sqlite"
)

// SQLStore is a Candidates on disk (SQLite): memory stays flat in the
// number of persons. Persons are stored as JSON, blocking keys as 64-bit
// hashes (FNV-1a, stable across processes). A store is read with the
// blocking keys it was built with: OpenSQLStore refuses others.
type SQLStore struct {
	db     *sql.DB
	m      *Matcher
	lookup *sql.Stmt
	recs   *sql.Stmt
	person *sql.Stmt
}

// OpenSQLStore opens or creates the store in file path for m.
func OpenSQLStore(path string, m *Matcher) (*SQLStore, error) {
	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=journal_mode(WAL)&_pragma=synchronous(NORMAL)&_pragma=busy_timeout(30000)")
	if err != nil {
		return nil, err
	}
	_, err = db.Exec(`CREATE TABLE IF NOT EXISTS person (n INTEGER PRIMARY KEY, id TEXT NOT NULL UNIQUE, rec BLOB NOT NULL);
		CREATE TABLE IF NOT EXISTS block (h INTEGER NOT NULL, n INTEGER NOT NULL, PRIMARY KEY (h, n)) WITHOUT ROWID;
		CREATE TABLE IF NOT EXISTS meta (k TEXT PRIMARY KEY, v TEXT NOT NULL);
		CREATE INDEX IF NOT EXISTS block_n ON block(n);`)
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("match store %s: %w", path, err)
	}
	s := &SQLStore{db: db, m: m}
	keys, _ := json.Marshal(m.cfg.Blocking.Keys)
	var have string
	switch err := db.QueryRow(`SELECT v FROM meta WHERE k = 'blocking'`).Scan(&have); {
	case err == sql.ErrNoRows:
		_, err = db.Exec(`INSERT INTO meta (k, v) VALUES ('blocking', ?)`, string(keys))
		if err != nil {
			db.Close()
			return nil, err
		}
	case err != nil:
		db.Close()
		return nil, err
	case have != string(keys):
		db.Close()
		return nil, fmt.Errorf("match store %s was built with blocking keys %s, not %s: build it again", path, have, keys)
	}
	if s.lookup, err = db.Prepare(`SELECT p.id FROM block b JOIN person p ON p.n = b.n WHERE b.h = ? LIMIT ?`); err == nil {
		s.person, err = db.Prepare(`SELECT rec FROM person WHERE id = ?`)
	}
	if err == nil {
		s.recs, err = db.Prepare(`SELECT p.rec FROM block b JOIN person p ON p.n = b.n WHERE b.h = ? LIMIT ?`)
	}
	if err != nil {
		db.Close()
		return nil, err
	}
	return s, nil
}

// Close closes the database.
func (s *SQLStore) Close() error { return s.db.Close() }

// Add files persons in one transaction (ids must be new).
func (s *SQLStore) Add(ctx context.Context, rs []Record) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	ins, err := tx.Prepare(`INSERT INTO person (id, rec) VALUES (?, ?)`)
	if err != nil {
		return err
	}
	blk, err := tx.Prepare(`INSERT OR IGNORE INTO block (h, n) VALUES (?, ?)`)
	if err != nil {
		return err
	}
	for i := range rs {
		res, err := ins.Exec(rs[i].ID, encodeRecord(&rs[i]))
		if err != nil {
			return fmt.Errorf("adding person %q: %w", rs[i].ID, err)
		}
		n, _ := res.LastInsertId()
		for _, k := range s.m.BlockingKeys(rs[i]) {
			if _, err := blk.Exec(fnv64(k), n); err != nil {
				return err
			}
		}
	}
	return tx.Commit()
}

// Put files persons in one transaction, replacing any filed under the
// same id (their blocking keys with them): a person whose demographics
// changed is found under its new keys only.
func (s *SQLStore) Put(ctx context.Context, rs []Record) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if err := deletePersons(ctx, tx, recordIDs(rs)); err != nil {
		return err
	}
	ins, err := tx.PrepareContext(ctx, `INSERT INTO person (id, rec) VALUES (?, ?)`)
	if err != nil {
		return err
	}
	blk, err := tx.PrepareContext(ctx, `INSERT OR IGNORE INTO block (h, n) VALUES (?, ?)`)
	if err != nil {
		return err
	}
	for i := range rs {
		res, err := ins.ExecContext(ctx, rs[i].ID, encodeRecord(&rs[i]))
		if err != nil {
			return fmt.Errorf("filing person %q: %w", rs[i].ID, err)
		}
		n, _ := res.LastInsertId()
		for _, k := range s.m.BlockingKeys(rs[i]) {
			if _, err := blk.ExecContext(ctx, fnv64(k), n); err != nil {
				return err
			}
		}
	}
	return tx.Commit()
}

// Delete removes persons by id (unknown ids are ignored).
func (s *SQLStore) Delete(ctx context.Context, ids []string) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if err := deletePersons(ctx, tx, ids); err != nil {
		return err
	}
	return tx.Commit()
}

// Len is the number of persons filed.
func (s *SQLStore) Len(ctx context.Context) (int64, error) {
	var n int64
	err := s.db.QueryRowContext(ctx, `SELECT count(*) FROM person`).Scan(&n)
	return n, err
}

// Meta reads a value the store's user keeps beside the persons ("" when
// unset); SetMeta writes one.
func (s *SQLStore) Meta(ctx context.Context, k string) (string, error) {
	var v string
	err := s.db.QueryRowContext(ctx, `SELECT v FROM meta WHERE k = ?`, "user."+k).Scan(&v)
	if err == sql.ErrNoRows {
		return "", nil
	}
	return v, err
}

// SetMeta writes a value Meta reads.
func (s *SQLStore) SetMeta(ctx context.Context, k, v string) error {
	_, err := s.db.ExecContext(ctx, `INSERT INTO meta (k, v) VALUES (?, ?) ON CONFLICT(k) DO UPDATE SET v = excluded.v`, "user."+k, v)
	return err
}

func recordIDs(rs []Record) []string {
	ids := make([]string, len(rs))
	for i := range rs {
		ids[i] = rs[i].ID
	}
	return ids
}

func deletePersons(ctx context.Context, tx *sql.Tx, ids []string) error {
	for _, id := range ids {
		var n int64
		switch err := tx.QueryRowContext(ctx, `SELECT n FROM person WHERE id = ?`, id).Scan(&n); {
		case err == sql.ErrNoRows:
			continue
		case err != nil:
			return err
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM block WHERE n = ?`, n); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM person WHERE n = ?`, n); err != nil {
			return err
		}
	}
	return nil
}

// fnv64 is FNV-1a: a hash stable across processes and versions.
func fnv64(s string) int64 {
	h := uint64(14695981039346656037)
	for i := 0; i < len(s); i++ {
		h ^= uint64(s[i])
		h *= 1099511628211
	}
	return int64(h)
}

// Lookup implements Candidates.
func (s *SQLStore) Lookup(ctx context.Context, key string, limit int) ([]string, bool, error) {
	rows, err := s.lookup.QueryContext(ctx, fnv64(key), limit+1)
	if err != nil {
		return nil, false, err
	}
	defer rows.Close()
	var ids []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, false, err
		}
		ids = append(ids, id)
	}
	if len(ids) > limit {
		return nil, true, rows.Err()
	}
	return ids, false, rows.Err()
}

// Person implements Candidates.
func (s *SQLStore) Person(ctx context.Context, id string) (Record, bool, error) {
	var b []byte
	switch err := s.person.QueryRowContext(ctx, id).Scan(&b); {
	case err == sql.ErrNoRows:
		return Record{}, false, nil
	case err != nil:
		return Record{}, false, err
	}
	r, err := decodeRecord(b)
	if err != nil {
		return Record{}, false, fmt.Errorf("candidate store: person %q: %w", id, err)
	}
	return r, true, nil
}

// LookupRecords implements RecordLookup.
func (s *SQLStore) LookupRecords(ctx context.Context, key string, limit int) ([]Record, bool, error) {
	rows, err := s.recs.QueryContext(ctx, fnv64(key), limit+1)
	if err != nil {
		return nil, false, err
	}
	defer rows.Close()
	var out []Record
	for rows.Next() {
		if len(out) == limit {
			return nil, true, nil
		}
		var b []byte
		if err := rows.Scan(&b); err != nil {
			return nil, false, err
		}
		r, err := decodeRecord(b)
		if err != nil {
			return nil, false, fmt.Errorf("candidate store: %w", err)
		}
		out = append(out, r)
	}
	return out, false, rows.Err()
}

// encodeRecord joins the fields with the ASCII unit separator (0x1F);
// identifiers follow as system 0x1E value pairs. Control characters in
// the values are dropped (names and ids carry none).
func encodeRecord(r *Record) string {
	clean := func(s string) string {
		return strings.Map(func(c rune) rune {
			if c == 0x1e || c == 0x1f {
				return -1
			}
			return c
		}, s)
	}
	f := []string{clean(r.ID), clean(r.Given), clean(r.Middle), clean(r.Family), clean(r.BirthDate), clean(r.Sex), clean(r.Postal), clean(r.Phone)}
	for _, id := range r.Identifiers {
		f = append(f, clean(id.System)+"\x1e"+clean(id.Value))
	}
	return strings.Join(f, "\x1f")
}

func decodeRecord(b []byte) (Record, error) {
	f := strings.Split(string(b), "\x1f")
	if len(f) < 8 {
		return Record{}, fmt.Errorf("a stored person with %d fields, want at least 8", len(f))
	}
	r := Record{ID: f[0], Given: f[1], Middle: f[2], Family: f[3], BirthDate: f[4], Sex: f[5], Postal: f[6], Phone: f[7]}
	for _, x := range f[8:] {
		sys, val, _ := strings.Cut(x, "\x1e")
		r.Identifiers = append(r.Identifiers, Identifier{System: sys, Value: val})
	}
	return r, nil
}
