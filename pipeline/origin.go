package pipeline

import (
	"fmt"
	"strings"
	"time"

	"github.com/iisbridge/iisbridge/fhirout"
	"github.com/iisbridge/iisbridge/sources"
	"github.com/iisbridge/iisbridge/sources/index"
)

// origin is where one mapped record came from: an indexed message, or a
// person's rows in a relational source. The reducers, deletions and
// Provenance read only this, so both kinds of input go through the same
// phases.
type origin struct {
	seq     int64     // arrival order in the index (messages); 0 for rows
	at      time.Time // when the bridge learned it: indexed at, or the rows' last-modified time
	time    time.Time // the record's own time (MSH-7); zero for rows
	kind    string    // message type (VXU^V04), or "" for rows
	orgKey  string    // sending organization (messages)
	orgName string
	loc     sources.Location
	// rows marks a relational record: the registry's own current state,
	// so a deleted row deletes its dose even when no live row of it was
	// read (there is no earlier order to match, as a sender's RXA-21 D
	// needs), and a live row of a dose outranks a deleted one.
	rows bool
}

// fromMessage is the origin of an indexed message.
func fromMessage(m *index.Message) *origin {
	return &origin{seq: m.Seq(), at: m.IndexedAt, time: m.Time, kind: m.Type, orgKey: m.OrgKey, orgName: m.OrgName, loc: m.Loc}
}

// rsp says whether the record is a query answer (its dose copies rank
// below the givers' own reports).
func (o *origin) rsp() bool { return strings.HasPrefix(o.kind, "RSP") }

// input is the record's place for an OperationOutcome (no values).
func (o *origin) input(field string) *fhirout.Input {
	return input(o.loc.Source, o.loc.Offset, o.loc.Line, o.loc.Index, o.loc.ControlID, field)
}

// describe is the Provenance entity's display: what the record is, never
// patient data.
func (o *origin) describe() string {
	if o.rows {
		return "rows of source " + o.loc.Source + " (person key " + o.loc.ControlID + ")"
	}
	d := o.kind + " message"
	if o.orgKey != "" {
		d += " from " + o.orgKey
	}
	if !o.time.IsZero() {
		d += " at " + o.time.Format(time.RFC3339)
	}
	return fmt.Sprintf("%s (record %d)", d, o.loc.Index)
}
