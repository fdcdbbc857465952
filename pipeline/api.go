// Package pipeline runs records one way through the bridge: source →
// identity/history reduction → mapping → a Sink (export files, stdout).
// The server and `iisbridge convert` both drive it, so offline conversion
// and $export agree.
//
// It knows its input through the index and the sources.Source contract
// (records re-read by locator; cmd wires the v2 archive source in), or,
// for a relational database, through sources/sql's Reader (persons read
// in place, one snapshot per export). By file: pipeline.go the Pipeline
// (over the index) and Export, relational.go the Relational exporter,
// composite.go one Exporter over several sources, pool.go the ordered
// worker pool, person.go one person's phases (load → map → reduce →
// deletions → emit), origin.go where a mapped record came from (message
// or rows), reduce.go the reducers the mapping declares per resource
// type, doses.go the dose reduction, merge.go the Patient merge,
// deletions.go the deletions of merged Patients, provenance.go Provenance.
//
// CONTRACT STUB: the types in this file are the agreed seam between the
// server (consumer) and the pipeline (implementer).
package pipeline

import (
	"context"
	"time"

	"github.com/iisbridge/iisbridge/fhirout"
	"github.com/iisbridge/iisbridge/sources"
)

// Query selects what an export contains. Zero values mean "no limit".
type Query struct {
	Types      []string  // resource types; empty = every type the exporter serves
	Since      time.Time // meta.lastUpdated > Since (and deletions after Since)
	Until      time.Time // meta.lastUpdated <= Until
	AsOf       time.Time // snapshot (the manifest's transactionTime): nothing indexed after it
	PatientIDs []string  // restrict to these Patient ids (Group members, `patient`); nil = everyone
	Provenance bool      // includeAssociatedData=LatestProvenanceResources
	// SourceIssues adds the source-wide broken-input issues (records that
	// are no one's: unparsable stretches, warning-only items) to the
	// export's issues. Without it an export reports only issues about the
	// records it exports, so a Patient or Group export never carries other
	// senders' message ids. The server sets it for system exports by
	// operator-level clients.
	SourceIssues bool
}

// Loss counts the records an export had to leave out because their
// source could not be read (permission denied, file gone, archive
// changed or truncated since indexing), by reason (the Unreadable*
// constants). An export with a loss is incomplete: the server fails it or
// completes it with a warning, by policy; it never passes as complete.
type Loss struct {
	Records  int64
	ByReason map[string]int64
}

// Why an indexed record could not be read again.
const (
	UnreadablePermission = "permission-denied" // the file is there but may not be read
	UnreadableGone       = "gone"              // the file no longer exists
	UnreadableTruncated  = "truncated"         // the file is shorter than when indexed
	UnreadableChanged    = "changed"           // other bytes than the indexed message sit at its place
	UnreadableIO         = "io-error"          // any other read error
)

// LossSink is implemented by sinks that want to know what an export could
// not read: Export calls Lost once, after the last record, when the loss
// is not zero.
type LossSink interface {
	Lost(l Loss) error
}

// Sink receives an export's records. Implementations apply output-side
// options (_typeFilter, _elements) and write files.
type Sink interface {
	Resource(r *fhirout.Object) error
	// Deleted reports a resource deleted (or merged away) after Query.Since;
	// called only when Since is set.
	Deleted(resourceType, id string, at time.Time) error
	// Issue receives an OperationOutcome about one bad input record.
	Issue(oo *fhirout.Object) error
}

// ReleasingSink is implemented by sinks done with every Object they are
// given when Resource or Issue returns: they encode or copy it at once and
// keep no reference to it or to any value in it. The exporter then makes
// later persons' resources in the memory of those already sent instead of
// allocating it again (a mapping.Memory), their strings included: a
// string of an Object, or an id Deleted is given, is valid only until the
// call returns, and a sink that keeps one longer keeps a copy
// (strings.Clone). Resource types are the mapping's own strings. A sink
// that wraps another releases only when the one it wraps does.
type ReleasingSink interface {
	Sink
	ReleasesObjects()
}

// ProgressSink is implemented by sinks that show how far an export is
// (the server's X-Progress): Progress is called after each person sent,
// with the persons sent so far and the number the export will visit (the
// index's person count, or the Patient ids asked for; 0 = unknown).
type ProgressSink interface {
	Progress(done, total int64)
}

// Exporter streams the converted, reduced data set. Export must keep
// memory flat in the data set's size and stop promptly when ctx is done.
type Exporter interface {
	Export(ctx context.Context, q Query, sink Sink) error
	ResourceTypes() []string
}

// Membership is one organization → patient link learned from v2 traffic
// (VXU sender, QBP asker with a single match). The server's Group store is
// filled from these (one persistent Group per organization), through its
// membership.Policy (organizations table, triggers).
type Membership struct {
	OrgKey    string // stable key: MSH-22 id, else MSH-4 (namespace|universal id)
	OrgName   string
	PatientID string
	First     time.Time // first evidence (message time)
	Last      time.Time
	// Optional (the v2 ledger fills them): Facility is the MSH-4 when
	// OrgKey is the MSH-22 id; Trigger the kind of evidence
	// (membership.Trigger*; "" = a link the policy always accepts);
	// Location the record behind the first evidence; Confidence 0..1 (0
	// = unstated, taken as 1).
	Facility   string
	Trigger    string
	Location   string
	Confidence float64
	// Asked, with Trigger "query-unanswered" and no PatientID, is what a
	// query without an answer in the log asks about: the consumer may
	// match it (membership: unanswered_query). PHI.
	Asked *sources.Demographics
}

// TriggerUnanswered marks a Membership that is a query without an
// answer: Asked says whom it asks about, no PatientID yet.
const TriggerUnanswered = "query-unanswered"

// Sender is one sender of records that may be membership evidence (VXU,
// QBP), with how many it sent.
type Sender struct {
	OrgKey, Facility, Name string
	Records                int64
}

// SenderSource is implemented by MembershipSources that count their
// senders: an organizations table reports the senders outside it.
type SenderSource interface {
	Senders(ctx context.Context, fn func(Sender) error) error
}

// MembershipSource is implemented by exporters that learn Groups.
type MembershipSource interface {
	Memberships(ctx context.Context, fn func(Membership) error) error
}
