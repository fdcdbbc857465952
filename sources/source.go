package sources

import (
	"context"
	"errors"
	"time"
)

// Source is the contract an indexed input adapter implements
// (v2archive). It follows its own inputs from one update to
// the next through cursors the index keeps for it, opaque to the index:
// Changes compares the inputs with those cursors and says what changed
// (new, grown, rewritten, moved, gone), Scan reads the records a change
// calls for, each saying what the index needs (kind, identity keys,
// organization, time), and Rereader reads one record again by its
// locator. The index stores what a Record says and applies what a Change
// says; it never parses an input format, nor knows what an input is (a
// file, a table). The pipeline re-reads through Reread and never knows
// which adapter it reads from.
//
// Optional capabilities are separate interfaces, found by type assertion:
// Fingerprinter (settings that change what the records are), Named.
type Source interface {
	// Changes compares the inputs q names with those indexed before
	// (q.Known) and says what changed; an input it does not mention is
	// kept as indexed. It fails only when the comparison itself cannot
	// be made (a bad argument, a cancelled context): an input that
	// cannot be read now is a Change of Op Unreadable.
	Changes(ctx context.Context, q Scope) (*Changes, error)
	// Scan carries out change c of the last Changes, once the index has
	// applied its moves and drops: it settles what re-reads of the input
	// need (they read it under c.Name from now on; a Dropped one no
	// more), then reads the records c calls for (New and Rewritten: all,
	// Appended: those after the cursor; none for the other ops) calling
	// fn for each in order (fn is nil for Dropped), and returns the
	// cursor to keep with them (also for Unchanged: the input seen again,
	// touched or moved). A record that cannot be read is passed as one of
	// Kind Broken; Scan fails only when the input itself fails.
	Scan(ctx context.Context, c *Change, fn func(*Record) error) (Scanned, error)
	// Rereader opens a reader of records by locator, for one export
	// (adapters keep their inputs open between calls).
	Rereader() (Rereader, error)
}

// Scope is what the index asks Changes about.
type Scope struct {
	// Args name the inputs (paths, globs, tables: the source's syntax);
	// the index holds exactly these inputs after the update.
	Args []string
	// Known are the inputs indexed before, by name, with the cursor the
	// source left with each (a Change's Cursor when a read did not end).
	Known map[string][]byte
	// Own is where the index keeps its own data (an input tree may hold
	// it): nothing under it is an input.
	Own string
}

// Changes is what changed in a source's inputs since the cursors it left.
type Changes struct {
	// Inputs are the inputs Args name, in order, with Dropped ones
	// (known inputs gone or no longer named) after them.
	Inputs []Change
	// Unlisted counts arguments that named no input now (missing, cannot
	// be listed): the inputs under one that cannot be listed are kept.
	Unlisted int
	// Release frees what the changes hold (copies nobody kept); the
	// index calls it when it is done with them. nil: nothing to free.
	Release func()
}

// Op is what changed in one input.
type Op int

const (
	Unchanged  Op = iota // nothing to read
	New                  // not indexed before: read it all
	Appended             // grown: its records stay, those after the cursor are read
	Rewritten            // changed otherwise: its records go, it is read again whole
	Dropped              // gone, or no longer named: its records go
	Unreadable           // cannot be read now: what was indexed of it is kept
)

// Change is what changed in one input, and what to do about it.
type Change struct {
	Name string // the input, as indexed from now on
	// From is the name the input was indexed under when it moved
	// (renamed, rotated, compressed): its records are kept and follow
	// it. Only with Unchanged and Appended.
	From string
	Op   Op
	// Cursor, with New, Appended and Rewritten, is stored with the first
	// records read, until Scan's cursor replaces it: left by a read that
	// did not end, it must make the next Changes read the input again
	// whole.
	Cursor []byte
	Size   int64 // bytes the input holds, for progress
	// Broken says why (part of) the input is refused (a decompression
	// bomb, a corrupt stream): its records end with one of Kind Broken.
	Broken string
	Err    error // Unreadable: why
	// State is the source's own (what to read from where); the index
	// passes it back to Scan untouched.
	State any
	// Groupless, set by the reader before Scan, says it keeps no Group
	// membership (an index without a ledger: convert's): a source may
	// leave its records' Facility, Holds, Evidence, Answers and Asked
	// empty.
	Groupless bool
}

// Scanned is what Scan read.
type Scanned struct {
	Cursor []byte // to store with the records read (nil: keep the stored one)
	Bytes  int64  // input bytes read
}

// Rereader reads records again. Reread returns the bytes of the record
// at loc, checked against its locator (its id and checksum): anything
// else is ErrChanged, never other bytes. It is safe for concurrent use.
type Rereader interface {
	Reread(loc Locator) ([]byte, error)
	Close() error
}

// Fingerprinter is a Source whose settings change the records it reads
// (an encoding shifts offsets, identity rules change keys): an index
// built under another fingerprint is rebuilt.
type Fingerprinter interface {
	Fingerprint() string
}

// Locator says where to read a record again: a byte span of a file
// (Source, Offset, Length) or a table row (Source, Key), with the id and
// checksum it had when it was first read.
type Locator struct {
	From           string // the source adapter that read it (Named), "" = the only one
	Source         string // file (as indexed: the adapter finds its spool) or table
	Offset, Length int64  // byte span in Source (files)
	Key            string // primary key (tables); empty for files
	ID             string // the record's own id (MSH-10, the row key)
	Hash           uint64 // DataHash of the record's bytes
}

// ErrChanged says that what a re-read found at a record's place is not
// the record indexed there: the input changed since indexing.
var ErrChanged = errors.New("the archive changed since indexing: the bytes at this place are not the message indexed there")

// Kind says what a record is to the index.
type Kind string

const (
	Person     Kind = "P" // about one person: its keys name or join the person
	Query      Kind = "Q" // a question about a person (its answer links the asker)
	Candidates Kind = "C" // an answer naming no single person (candidates, none)
	Skipped    Kind = "S" // read but of no use to the bridge (other message types)
	Broken     Kind = "E" // unreadable input: Err says why
	Warning    Kind = "W" // no record, only warnings about the input around it
)

// Record is what a Source says of one record. It holds identity keys
// (PHI): they go to the index only, never to logs.
type Record struct {
	Loc  Location
	Kind Kind
	Type string    // e.g. VXU^V04, or a table name
	Time time.Time // when the record says it was made; zero = unknown
	// Keys are the record's identity keys (Kind Person), its own first;
	// all of them are joined to one person.
	Keys            []string
	OrgKey, OrgName string // the organization behind the record
	// Facility is the sending facility as "namespace|universal id"
	// (MSH-4) when OrgKey names the organization otherwise (MSH-22): an
	// organizations table may map either.
	Facility string
	// Holds says the record shows its organization holds the person
	// (a VXU with an administered dose): Evidence&Administered.
	Holds bool
	// Evidence says what the record shows of its organization's relation
	// to the person, for Group membership triggers (the index keeps it
	// all; policies choose when reading).
	Evidence Evidence
	// Answers is the id (Loc.ControlID) of the query this record answers:
	// the asker of that query holds the person.
	Answers string
	// Asked is what a query (Kind Query) asks about: the demographics a
	// query without an answer in the log is matched on. PHI: index only.
	Asked *Demographics
	Hash  uint64 // DataHash of the record's bytes (not for Broken, Warning)
	Err   string // Broken: why; otherwise warnings about the input, joined
	// Warn is how many warning issues an export reports about the record
	// as read (input around it, its own structure).
	Warn int
}

// Evidence is what one record shows of its organization's relation to
// the person it is about (bits; a VXU may show several).
type Evidence uint8

const (
	Administered Evidence = 1 << iota // a VXU with a dose given there (RXA-9 00)
	Historical                        // a VXU with a historical dose (RXA-9 not 00: from a card, another provider)
	Refusal                           // a VXU with a refusal row (RXA-20 RE)
	Reported                          // any VXU about the person (the bits above refine it)
	AnswerOK                          // an answer (RSP^K11, QAK-2 OK) naming exactly one person
)

// Demographics are the person a query asks about (QPD of a QBP^Q11):
// dates as YYYY-MM-DD, sex as sent (M, F, U...), phone digits.
type Demographics struct {
	Given, Middle, Family string
	BirthDate, Sex        string
	Postal, Phone         string
}

// Named is a Source with a name of its own: the index stores it with
// every record the source reads (Locator.From), so a re-read goes back to
// the adapter that read it when an index holds several.
type Named interface {
	Name() string
}
