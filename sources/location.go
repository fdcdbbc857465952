// Package sources holds what every source adapter shares: the contract
// the index reads through (Source, Record, Locator), identity keys, and
// where a record came from (Location). Adapters live in sub-packages:
// v2archive implements Source; sql streams a database's persons from one
// snapshot, with no index (its package says how it meets the contract).
package sources

import (
	"fmt"
	"strings"
)

// Location says where an input record sits, so an error about it can be
// traced back by an admin: file, byte offset, line, and the message's own id.
type Location struct {
	Source    string // file path, "-" for standard input, or a table name
	Member    string // entry inside Source when it is a container (e.g. a gzip member name); optional
	Offset    int64  // byte offset of the record's first byte in the (decompressed) stream
	Length    int64  // bytes the record spans in that stream (framing included)
	Line      int    // 1-based line of the record's first byte
	Index     int    // 1-based ordinal of the record within Source
	ControlID string // MSH-10 for v2 messages, the primary key for rows
}

func (l Location) String() string {
	var b strings.Builder
	b.WriteString(l.Source)
	if l.Line > 0 {
		fmt.Fprintf(&b, ":%d", l.Line)
	}
	fmt.Fprintf(&b, " (offset %d, record %d", l.Offset, l.Index)
	if l.ControlID != "" {
		fmt.Fprintf(&b, ", id %s", l.ControlID)
	}
	b.WriteString(")")
	return b.String()
}
