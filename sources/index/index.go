// Package index is the bridge's on-disk index of the records a
// sources.Source reads (SQLite, modernc.org/sqlite). The source says what
// each record is (sources.Record: kind, identity keys, organization,
// time); the index stores source-neutral rows and never parses a record.
// It holds where every record sits, which person it
// belongs to (identity keys joined by a persistent union-find), which
// organizations reported or queried whom, and when the bridge indexed what.
//
// An export never holds an archive in memory: it walks persons in Patient
// id order from the index and re-reads each person's messages from the
// archive by offset. Every message is stored with its id and a 64-bit checksum
// of its bytes (sources.DataHash), and every re-read through the source
// is checked against them (Message.Locator, sources.Rereader): bytes that
// changed since indexing are never taken for the message indexed there.
//
// Indexing is incremental, and what an input is (a file, a table) is the
// source's business: the index keeps an opaque cursor per input for the
// source (the inputs table) and applies the changes the source reports
// against those cursors (sources.Source.Changes): records of new inputs
// and appended records are stored, a rewritten input's records are
// replaced (and the links rebuilt), a moved input keeps its records under
// its new name, a dropped one loses them. An input that cannot be read
// now keeps what was indexed of it and does not stop the update. The
// index stores what a Record and its Locator say: the input, the span or
// key, and the source that read it (sources.Named).
//
// Times are stored as unix microseconds (no overflow in years 0001-9999).
//
// Patient ids: the hash of the smallest identity key of the person (IIS id
// keys sort before MRN keys, MRN keys before demographics), optionally
// salted (IdentityConfig.IDSalt). When a later link merges two persons
// already exported, the loser's id is recorded as deleted.
package index

import (
	"crypto/sha256"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"

	_ "modernc.org/sqlite" // database/sql driver "sqlite"

	"github.com/iisbridge/iisbridge/sources"
)

// Options tune an Index.
type Options struct {
	Identity IdentityConfig
	// Source reads and classifies the archives (required); the index
	// stores what it says of each record and never parses one.
	Source    sources.Source
	BatchSize int              // messages per write transaction; default 10000
	CacheSize int              // identity keys cached in memory (×2 at most); default 100000
	Now       func() time.Time // clock for indexed-at times; default time.Now
	// Progress, when set, is called during Update with the bytes of the
	// inputs covered so far (unchanged ones count as covered) and their
	// total size (sources.Change.Size): progress bars and readiness.
	Progress func(done, total int64)
	// NoLedger: Update does not keep the membership ledger (ledger.go),
	// for an index that no Group is read from (convert's). It is a
	// quarter of the update's CPU, on one core. The next Update without
	// NoLedger rebuilds the ledger from all the messages, whether or not
	// an input changed.
	NoLedger bool
	// Scratch: the index is removed after one use (convert's temporary
	// one), so its writes are neither synced nor journaled (a failed
	// Update leaves it to be removed), and it lets go of its cached
	// identity keys after an Update. With NoLedger as well, nothing will
	// read its Groups (groupless).
	Scratch bool
}

// Index is an open on-disk index. Update and the read methods are safe
// for concurrent use; exports read from a Snapshot.
type Index struct {
	db   *sql.DB
	dir  string
	opts Options

	// commitMu orders batches (stamped and committed while holding it)
	// against snapshots (opened while holding it), so a snapshot taken
	// after time T sees every message whose indexed-at time is before T.
	commitMu sync.RWMutex
	updateMu sync.Mutex // one Update at a time
	uf       *unionFind
	// rebuilt is why Open emptied the index ("" = it did not); the first
	// Update reports it in UpdateStats.Rebuilt.
	rebuilt     string
	rebuiltTold bool
	sourceID    int64 // the source's row in the sources table
	// msgBatch is the records one INSERT writes (msgBatch; a test sets 1,
	// the record-by-record reference)
	msgBatch int
}

// 5: source-neutral rows (sources.Record); 6: the source of each record,
// spools kept by the source; 7: membership ledger, evidence bits,
// senders, query demographics (ledger.go); 8: inputs with the source's
// cursors instead of files with their stat and checksums; 9: a person's
// message's walk record (walkRecord) instead of its checksum column; a
// message's source is its input's.
const schemaVersion = "9"

const schema = `
CREATE TABLE IF NOT EXISTS meta(k TEXT PRIMARY KEY, v TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS sources(
	id INTEGER PRIMARY KEY,
	name TEXT NOT NULL UNIQUE);  -- sources.Named (Locator.From)
CREATE TABLE IF NOT EXISTS inputs(
	id INTEGER PRIMARY KEY,
	source_id INTEGER NOT NULL,  -- sources.id
	name TEXT NOT NULL,          -- as the source names it (Locator.Source: a file, a table)
	cursor BLOB,                 -- the source's, opaque (sources.Scope.Known)
	UNIQUE(source_id, name));
CREATE TABLE IF NOT EXISTS messages(
	id INTEGER PRIMARY KEY,      -- arrival order
	input_id INTEGER NOT NULL,   -- inputs.id (its source_id: the adapter that read it)
	off INTEGER NOT NULL, len INTEGER NOT NULL, line INTEGER NOT NULL, idx INTEGER NOT NULL,
	rec_id TEXT NOT NULL,        -- the record's own id (MSH-10, row key)
	rkey TEXT,                   -- locator of a table row (NULL for files: off, len)
	at_time INTEGER NOT NULL,    -- when the record says it was made: unix µs, 0 = unknown
	warn INTEGER NOT NULL DEFAULT 0, -- warning issues an export reports about it as read (reader, parser)
	walk BLOB,                   -- a person's message (key_id): what Walk reads of it, with the checksum
	                             -- (sources.DataHash) re-reads are checked against (walkRecord)
	kind TEXT NOT NULL,          -- sources.Kind: P person, Q query, C candidates/none, S skipped, E error, W warnings only
	type TEXT NOT NULL,          -- the record's type (VXU^V04, a table name)
	key_id INTEGER,              -- first identity key (P)
	links TEXT,                  -- the other keys' ids, comma separated
	org_key TEXT, org_name TEXT, -- the organization behind the record (sources.Record)
	facility TEXT,               -- its MSH-4 when org_key is another id (sources.Record.Facility)
	holds INTEGER NOT NULL DEFAULT 0, -- sources.Evidence bits (1: the organization gave the person a dose)
	answers TEXT,                -- the rec_id of the query this record answers
	err TEXT,                    -- E: the reason
	indexed_at INTEGER NOT NULL); -- unix µs, as every time below
CREATE TABLE IF NOT EXISTS keys(
	id INTEGER PRIMARY KEY,
	key TEXT NOT NULL UNIQUE,
	parent INTEGER NOT NULL,
	pid TEXT NOT NULL);          -- Patient id if this key is the root
CREATE TABLE IF NOT EXISTS counts(kind TEXT PRIMARY KEY, n INTEGER NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS patients(
	pid TEXT PRIMARY KEY,
	first_at INTEGER NOT NULL,
	gone_at INTEGER) WITHOUT ROWID;
-- Problems, which every export reads before its first person, without a
-- scan of every message (40 ms at 200k, one core). Kept up while loading:
-- it holds only the few broken and warned records.
CREATE INDEX IF NOT EXISTS messages_problems ON messages(indexed_at) WHERE kind IN ('E', 'W');
` + lookupIndexes

// lookupIndexes are the schema's secondary indexes: reads need them, the
// writing of new records does not (bulk.go). messages_query and
// messages_answers pair queries with answers for the ledger (ledger.go).
const lookupIndexes = `
CREATE INDEX IF NOT EXISTS messages_key ON messages(key_id) WHERE key_id IS NOT NULL;
CREATE INDEX IF NOT EXISTS messages_query ON messages(rec_id) WHERE kind = 'Q';
CREATE INDEX IF NOT EXISTS messages_answers ON messages(answers) WHERE answers IS NOT NULL;
CREATE INDEX IF NOT EXISTS keys_parent ON keys(parent);
CREATE INDEX IF NOT EXISTS keys_root_pid ON keys(pid) WHERE parent = id;
`

// sorterThreads is how many helper threads SQLite's sorter may start:
// an export's workers wait for the walk's sort of every message by person
// (Snapshot.Walk), and the cores they leave idle then sort with it (the
// first person of a 1M index after 1.8-2.0 s instead of 2.7-3.1 on two
// cores). A few MB of sorter memory each.
func sorterThreads() int { return max(min(runtime.GOMAXPROCS(0)-1, 4), 0) }

// Open opens (creating) the index in dir.
func Open(dir string, opts Options) (*Index, error) {
	if opts.Source == nil {
		return nil, errors.New("index: no source")
	}
	opts.Identity = opts.Identity.WithDefaults()
	if err := opts.Identity.Validate(); err != nil {
		return nil, fmt.Errorf("index: %w", err)
	}
	if opts.BatchSize <= 0 {
		opts.BatchSize = 10000
	}
	if opts.CacheSize <= 0 {
		opts.CacheSize = 100000
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	// Absolute: the index leaves its own directory out of the inputs.
	dir, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("index: %w", err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("index: %w", err)
	}
	sync, journal := "NORMAL", "WAL"
	if opts.Scratch {
		sync, journal = "OFF", "OFF"
	}
	dsn := "file:" + filepath.Join(dir, "index.db") +
		"?_pragma=journal_mode(" + journal + ")&_pragma=synchronous(" + sync + ")&_pragma=busy_timeout(30000)" +
		"&_pragma=cache_size(" + strconv.Itoa(cacheKB) + ")&_pragma=temp_store(FILE)" +
		"&_pragma=threads(" + strconv.Itoa(sorterThreads()) + ")"
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, fmt.Errorf("index: open %s: %w", dir, err)
	}
	x := &Index{db: db, dir: dir, opts: opts, uf: newUnionFind(opts.Identity, opts.CacheSize), msgBatch: msgBatch}
	if err := x.init(); err != nil {
		db.Close()
		return nil, fmt.Errorf("index: %s: %w", dir, err)
	}
	return x, nil
}

// init creates the schema; an index built with other identity rules, an
// older schema or another reader encoding is emptied (its person ids or
// offsets would be wrong) and rebuilt by the next Update. The rebuild is
// logged and reported (Rebuilt, UpdateStats.Rebuilt), never silent.
func (x *Index) init() error {
	if _, err := x.db.Exec(schema + ledgerSchema); err != nil {
		return err
	}
	want := x.fingerprint()
	parts := x.fingerprintParts()
	var have string
	err := x.db.QueryRow(`SELECT v FROM meta WHERE k = 'fingerprint'`).Scan(&have)
	if errors.Is(err, sql.ErrNoRows) {
		if _, err = x.db.Exec(`INSERT INTO meta(k, v) VALUES('fingerprint', ?), ('fingerprint_parts', ?)`, want, parts.encode()); err != nil {
			return err
		}
		return x.registerSource()
	}
	if err != nil {
		return err
	}
	var haveParts string
	if err := x.db.QueryRow(`SELECT v FROM meta WHERE k = 'fingerprint_parts'`).Scan(&haveParts); err != nil && !errors.Is(err, sql.ErrNoRows) {
		return err
	}
	if have == want {
		if haveParts == "" {
			if _, err = x.db.Exec(`INSERT INTO meta(k, v) VALUES('fingerprint_parts', ?)`, parts.encode()); err != nil {
				return err
			}
		}
		return x.registerSource()
	}
	var dropped int64
	if err := x.db.QueryRow(`SELECT count(*) FROM messages`).Scan(&dropped); err != nil {
		return err
	}
	x.rebuilt = parts.why(haveParts)
	slog.Warn("index: emptied, to be rebuilt from the archives by the next update",
		"dir", x.dir, "reason", x.rebuilt, "dropped_messages", dropped)
	// Dropped and created again: another schema version may have other
	// columns.
	if _, err := x.db.Exec(`DROP TABLE messages; DROP TABLE keys; DROP TABLE IF EXISTS files; DROP TABLE IF EXISTS inputs;
		DROP TABLE patients; DROP TABLE counts; DROP TABLE IF EXISTS sources; DROP TABLE IF EXISTS ledger; DROP TABLE IF EXISTS senders; DROP TABLE IF EXISTS asked;
		DELETE FROM meta WHERE k = 'ledger_mark'`); err != nil {
		return err
	}
	if _, err := x.db.Exec(schema + ledgerSchema); err != nil {
		return err
	}
	_, err = x.db.Exec(`UPDATE meta SET v = ? WHERE k = 'fingerprint';
		INSERT INTO meta(k, v) VALUES('fingerprint_parts', ?) ON CONFLICT(k) DO UPDATE SET v = excluded.v`, want, parts.encode())
	if err != nil {
		return err
	}
	return x.registerSource()
}

// sourceName is the name the source's records are stored under.
func (x *Index) sourceName() string {
	if n, ok := x.opts.Source.(sources.Named); ok {
		return n.Name()
	}
	return "default"
}

// registerSource numbers the source in the sources table (x.sourceID).
func (x *Index) registerSource() error {
	name := x.sourceName()
	if _, err := x.db.Exec(`INSERT INTO sources(name) VALUES(?) ON CONFLICT(name) DO NOTHING`, name); err != nil {
		return err
	}
	return x.db.QueryRow(`SELECT id FROM sources WHERE name = ?`, name).Scan(&x.sourceID)
}

// fpParts are the inputs of the fingerprint, kept to say why it changed.
// The identity rules are kept as a hash (they may hold the id salt).
type fpParts struct {
	Schema   string `json:"schema"`
	Identity string `json:"identity"`
	Encoding string `json:"encoding"`
}

func (x *Index) fingerprintParts() fpParts {
	b, _ := json.Marshal(x.opts.Identity)
	h := sha256.Sum256(b)
	return fpParts{Schema: schemaVersion, Identity: fmt.Sprintf("%x", h[:8]), Encoding: x.encoding()}
}

func (f fpParts) encode() string {
	b, _ := json.Marshal(f)
	return string(b)
}

// why says what changed since the index was built with old (its stored
// parts; "" for an index from before they were stored).
func (f fpParts) why(old string) string {
	var o fpParts
	if old == "" || json.Unmarshal([]byte(old), &o) != nil {
		return "index built by an older version of iisbridge (schema, identity rules or encoding unknown)"
	}
	var r []string
	if o.Schema != f.Schema {
		r = append(r, fmt.Sprintf("index schema version %s, this version uses %s", o.Schema, f.Schema))
	}
	if o.Identity != f.Identity {
		r = append(r, "identity rules changed (person ids would differ)")
	}
	if o.Encoding != f.Encoding {
		r = append(r, fmt.Sprintf("source settings (reader encoding, the mapping's identity: section) changed from %q to %q", o.Encoding, f.Encoding))
	}
	if len(r) == 0 {
		return "index fingerprint changed"
	}
	return strings.Join(r, "; ")
}

// Rebuilt says why Open emptied the index for a rebuild ("" when it
// did not).
func (x *Index) Rebuilt() string { return x.rebuilt }

// encoding is the source's fingerprint (a v2 archive's encoding and the
// mapping's identity section).
func (x *Index) encoding() string {
	if f, ok := x.opts.Source.(sources.Fingerprinter); ok {
		return f.Fingerprint()
	}
	return ""
}

func (x *Index) fingerprint() string {
	enc := x.encoding()
	b, _ := json.Marshal(struct {
		V string
		I IdentityConfig
		E string
	}{schemaVersion, x.opts.Identity, enc})
	h := sha256.Sum256(b)
	return fmt.Sprintf("%x", h[:8])
}

// Identity is the identity configuration in force.
func (x *Index) Identity() IdentityConfig { return x.opts.Identity }

// groupless: no Group will be read from the index (used once, without
// a ledger: convert's, whose one read is a system export's Walk), so it
// keeps nothing only Groups read: query demographics (table asked),
// sender counts (senders), a record's sender and evidence columns
// (writer.store), and tells its source so (sources.Change.Groupless),
// which may then not read them at all; and its first load builds no
// lookup index (Update): Person, Messages and MergedInto still answer,
// by scans.
func (x *Index) groupless() bool { return x.opts.Scratch && x.opts.NoLedger }

// Source is the source the index reads (exports re-read through it).
func (x *Index) Source() sources.Source { return x.opts.Source }

// Close closes the database.
func (x *Index) Close() error { return x.db.Close() }

// cacheKB is the SQLite page cache of the index's connections (negative:
// KiB); SQLite sizes a sorter's memory by it too. 2 MB: an export's reads
// are one sorted scan, which a larger cache does not speed up (each
// running export stays about 50 MB smaller than at 16 MB), and indexing
// 200k messages at 16 MB took 40 MB more RSS (the C allocator gives a
// 4 KiB page an 8 KiB slot) for no CPU measurably saved: the pages it
// misses are read from the OS's cache.
const cacheKB = -2000

// Times in the index are unix microseconds: every FHIR instant (years
// 0001-9999) fits, where nanoseconds overflow outside 1678-2262 (a _since
// in 2300 wrapped around to 1715). Indexed-at stamps are whole
// milliseconds, so bounds truncated to microseconds compare exactly.
func micros(t time.Time) int64 { return t.UnixMicro() }

func fromMicros(n int64) time.Time { return time.UnixMicro(n).UTC() }

// Open bounds of time windows.
const (
	noLower = int64(math.MinInt64)
	noUpper = int64(math.MaxInt64)
)
