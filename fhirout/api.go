// Package fhirout builds FHIR JSON resources and writes them: NDJSON files
// per resource type with rotation, and OperationOutcome for errors.
//
// CONTRACT STUB: the signatures in this file are the agreed public API used
// by mapping/, pipeline/ and server/. The fhirout implementer replaces the
// bodies (and may split the file); changing a signature needs the lead.
package fhirout

import "io"

// Object is a JSON object with keys kept in insertion order; a resource is
// an Object whose first key is resourceType. Values are string, bool,
// Number, *Object or []any of those.
type Object struct {
	keys []string
	vals []any
}

// Number is a JSON number kept as its decimal text (FHIR decimals keep
// their precision: "0.50" stays "0.50").
type Number string

func NewResource(resourceType string) *Object { panic("unimplemented") }
func NewObject() *Object                      { panic("unimplemented") }

func (o *Object) ResourceType() string       { panic("unimplemented") }
func (o *Object) ID() string                 { panic("unimplemented") }
func (o *Object) Len() int                   { panic("unimplemented") }
func (o *Object) Keys() []string             { panic("unimplemented") }
func (o *Object) Get(key string) (any, bool) { panic("unimplemented") }
func (o *Object) Set(key string, v any)      { panic("unimplemented") } // replaces in place, else appends
func (o *Object) Delete(key string)          { panic("unimplemented") }

// Child returns the object at key, creating it when absent.
func (o *Object) Child(key string) *Object { panic("unimplemented") }

// Elem returns the i-th (0-based) object of the array at key, creating the
// array and padding it with empty objects as needed.
func (o *Object) Elem(key string, i int) *Object { panic("unimplemented") }

// Append adds v to the array at key, creating it.
func (o *Object) Append(key string, v any) { panic("unimplemented") }

// Clone is a deep copy.
func (o *Object) Clone() *Object { panic("unimplemented") }

// Prune removes empty strings, empty objects and empty arrays, recursively,
// so a mapping never emits "" or {} (both invalid FHIR).
func (o *Object) Prune() { panic("unimplemented") }

// AppendJSON appends the compact JSON encoding to dst (no trailing newline).
func (o *Object) AppendJSON(dst []byte) []byte { panic("unimplemented") }
func (o *Object) MarshalJSON() ([]byte, error) { panic("unimplemented") }

// ParseObject decodes JSON text into an Object, keeping key order.
func ParseObject(data []byte) (*Object, error) { panic("unimplemented") }

// Input says which input record an issue is about. It is filled from the
// source's location; fhirout does not depend on sources.
type Input struct {
	Source    string // file or table
	Offset    int64
	Line      int
	Index     int
	ControlID string // MSH-10 / row key
	Field     string // v2 path or column, e.g. "PID-7"
}

// Issue is one problem with one input record (or one export request).
// Diagnostics must not carry PHI: name the field and the rule, not values
// that identify a person (codes and dates of non-patient data are fine).
type Issue struct {
	Severity    string   // fatal | error | warning | information
	Code        string   // FHIR issue-type: invalid, structure, required, value, code-invalid, not-found, not-supported, processing, exception, ...
	Diagnostics string   // plain reason
	Expression  []string // FHIR element(s) concerned, e.g. "Immunization.occurrenceDateTime"
	Input       *Input   // nil for request-level issues
	Rule        string   // mapping file:line that raised it, when a rule did
}

// OperationOutcome builds one OperationOutcome resource holding issues.
func OperationOutcome(issues ...Issue) *Object { panic("unimplemented") }

// RotateOptions bound each output file; 0 means unbounded.
type RotateOptions struct {
	MaxResources int64
	MaxBytes     int64
}

// FileInfo describes one finished output file.
type FileInfo struct {
	Type  string // resourceType of every line
	Path  string
	Count int64 // lines
	Bytes int64
}

// DirWriter writes NDJSON files per resource type into a directory:
// Patient.ndjson, then Patient.2.ndjson ... when rotation cuts a file.
type DirWriter struct{ impl dirWriterImpl }

func NewDirWriter(dir string, opts RotateOptions) (*DirWriter, error) { panic("unimplemented") }

// Write appends r as one line to the file of its resourceType.
func (w *DirWriter) Write(r *Object) error { panic("unimplemented") }

// WriteLine appends already-encoded JSON (no newline) as a resource of type t.
func (w *DirWriter) WriteLine(t string, line []byte) error { panic("unimplemented") }

// Close flushes and closes every file and lists them in creation order.
func (w *DirWriter) Close() ([]FileInfo, error) { panic("unimplemented") }

// StreamWriter writes every resource, of any type, as NDJSON to one writer.
type StreamWriter struct{ impl streamWriterImpl }

func NewStreamWriter(w io.Writer) *StreamWriter  { panic("unimplemented") }
func (w *StreamWriter) Write(r *Object) error    { panic("unimplemented") }
func (w *StreamWriter) Counts() map[string]int64 { panic("unimplemented") }
func (w *StreamWriter) Flush() error             { panic("unimplemented") }

type dirWriterImpl struct{}
type streamWriterImpl struct{}
