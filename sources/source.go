package sources

import (
	"errors"
	"io"
	"time"
)

// Source is the contract every input adapter implements (v2 archives
// today, SQL tables next): it reads the records of an input from a
// cursor the caller keeps, says for each what the index needs (kind,
// identity keys, organization, time), and reads one record again by its
// locator. The index stores what a Record says and never parses an input
// format; the pipeline re-reads through Reread and never knows which
// adapter it reads from.
//
// Optional capabilities are separate interfaces, found by type assertion:
// Expander (inputs named by paths), Fingerprinter (settings that change
// what the records are).
type Source interface {
	// Scan reads the records of r, the content of input name from a
	// cursor on (the caller positions r; locations are relative to it),
	// calling fn for each in order. A record that cannot be read is
	// passed as one of Kind Broken; Scan fails only when the input
	// itself fails.
	Scan(name string, r io.Reader, fn func(*Record) error) error
	// Rereader opens a reader of records by locator, for one export
	// (adapters keep their inputs open between calls).
	Rereader() (Rereader, error)
}

// Rereader reads records again. Reread returns the bytes of the record
// at loc, checked against its locator (its id and checksum): anything
// else is ErrChanged, never other bytes. It is safe for concurrent use.
type Rereader interface {
	Reread(loc Locator) ([]byte, error)
	Close() error
}

// Expander is a Source whose inputs are named by paths: Expand lists the
// files behind one path argument (a file, a folder, a glob), the same
// rule for every command, canonical-ready (callers make them absolute).
type Expander interface {
	Expand(arg string) []Input
}

// Input is one file behind a path argument, or why it cannot be listed.
type Input struct {
	Path string
	Err  error
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

// Unpacker is a Source whose input files may be compressed: it keeps a
// decompressed copy (a spool) of such a file, so its records can be read
// again by offset, and its Rereader reads that copy for the file. The
// index asks for a fresh copy when a file changed and says when the copy
// becomes the file's or is no longer needed; where copies live is the
// source's business.
type Unpacker interface {
	// Unpack decompresses the file at path (size bytes) into a fresh
	// copy when it is compressed (by content); nil when it is not. err is
	// a failure to read the file (or write the copy).
	Unpack(path string, size int64) (*Unpacked, error)
	// Keep makes the fresh copy u the one read for path (a copy already
	// open in a running export stays readable to it); u.Path becomes
	// the kept copy's.
	Keep(path string, u *Unpacked) error
	// Forget removes the copy kept for path, if any: the file is gone,
	// moved or no longer compressed.
	Forget(path string)
}

// Unpacked is a fresh decompressed copy (Unpacker.Unpack).
type Unpacked struct {
	// Path is the copy to read ("" with Discard). Until Keep, the caller
	// owns it: it removes the file when it does not keep it.
	Path  string
	Bytes int64 // decompressed bytes written
	// Broken says why the rest could not be decompressed (a corrupt
	// stream: what was written is kept), or, with Discard, why nothing
	// may be kept (an expansion past the limit: a decompression bomb).
	Broken  string
	Discard bool
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
