// Package mapping turns source records (v2 messages, SQL rows) into FHIR
// resources with declarative YAML mappings that IIS admins edit.
//
// CONTRACT STUB: the signatures in this file are the agreed public API used
// by pipeline/, server/ and cmd/. The mapping implementer replaces the
// bodies (and may split the file); changing a signature needs the lead.
package mapping

import (
	"fmt"
	"strings"
	"time"

	"iisbridge/fhirout"
	"iisbridge/hl7v2"
	"iisbridge/sources"
)

// Mapping is a compiled mapping: validated once, applied per record,
// safe for concurrent use.
type Mapping struct{ impl mappingImpl }

// Problem is one thing wrong with a mapping file, at a position.
type Problem struct {
	File      string
	Line, Col int
	Msg       string
}

func (p Problem) String() string { return fmt.Sprintf("%s:%d:%d: %s", p.File, p.Line, p.Col, p.Msg) }

// CheckError lists every problem found in a mapping (not just the first).
type CheckError struct{ Problems []Problem }

func (e *CheckError) Error() string {
	s := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		s[i] = p.String()
	}
	return strings.Join(s, "\n")
}

// Load reads, validates and compiles a mapping file (and the code-table
// files it names, relative to it). Validation errors are a *CheckError.
func Load(path string) (*Mapping, error) { panic("unimplemented") }

// Default is the shipped mapping for CDC IIS v2.5.1 VXU^V04 / RSP^K11.
func Default() *Mapping { panic("unimplemented") }

// Row is one relational record: column name to value (the SQL source
// implements it later).
type Row interface {
	Column(name string) (value string, ok bool)
}

// Input is one source record plus what the identity layer knows of it.
type Input struct {
	Msg *hl7v2.Message // v2 sources
	Row Row            // relational sources
	Loc sources.Location
	// PatientID is the identity layer's id for this record's person; when
	// empty the mapping derives a stable id from the record itself.
	PatientID string
	// LastUpdated becomes meta.lastUpdated of every resource; zero = omit.
	LastUpdated time.Time
}

// Trace says which rule produced one FHIR element, from which source value.
type Trace struct {
	Element string // e.g. Patient.name[0].family
	Rule    string // file:line
	Source  string // e.g. PID-5.1
	Value   string
}

// Output is what one record became. Resources in emission order (Patient
// first). A rejected resource is absent from Resources and has an error
// Issue; the rest of the record still converts.
type Output struct {
	Resources []*fhirout.Object
	Issues    []fhirout.Issue
	Trace     []Trace // only when asked for
}

// Apply converts one record. It never panics on bad input.
func (m *Mapping) Apply(in Input, trace bool) Output { panic("unimplemented") }

type mappingImpl struct{}
