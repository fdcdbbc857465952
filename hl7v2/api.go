// Package hl7v2 parses HL7 v2 (ER7) messages.
//
// CONTRACT STUB: the signatures in this file are the package's agreed public
// API, used by sources/, mapping/ and pipeline/. The hl7v2 implementer
// replaces the bodies (and may split the file); changing a signature needs
// the lead's agreement because other packages are written against it.
package hl7v2

import "time"

// Delimiters are the encoding characters of one message (MSH-1, MSH-2).
// Truncation is 0 when MSH-2 has no fifth character (before v2.7).
type Delimiters struct {
	Field, Component, Repetition, Escape, Subcomponent, Truncation byte
}

// DefaultDelimiters are |^~\& .
var DefaultDelimiters = Delimiters{'|', '^', '~', '\\', '&', 0}

// Message is one parsed message. It references the bytes given to Parse
// (no copy): the caller must not modify them while the Message is in use.
type Message struct{ impl messageImpl }

// Parse splits data (one message; segments ended by \r, \n or \r\n) into
// segments. It fails when data does not start with MSH (after an optional
// BOM / whitespace) or MSH-1/MSH-2 are unusable.
func Parse(data []byte) (*Message, error) { panic("unimplemented") }

func (m *Message) Delimiters() Delimiters { panic("unimplemented") }
func (m *Message) Raw() []byte            { panic("unimplemented") }

// Segments lists every segment in order (MSH first).
func (m *Message) Segments() Segments { panic("unimplemented") }

// Type is MSH-9: code (VXU), trigger (V04), structure (VXU_V04, may be empty).
func (m *Message) Type() (code, trigger, structure string) { panic("unimplemented") }

// ControlID is MSH-10, decoded.
func (m *Message) ControlID() string { panic("unimplemented") }

// Orders returns the ORDER groups of a VXU^V04 / RSP^K11 message: each RXA
// with its own ORC (the one before it, if not already used), RXR and the
// OBX/NTE/Z segments that follow it up to the next ORC or RXA.
func (m *Message) Orders() []Order { panic("unimplemented") }

// Warnings lists non-fatal oddities seen while parsing (unknown non-Z
// segment names, repaired MSH-2, ...), for the error file.
func (m *Message) Warnings() []string { panic("unimplemented") }

// Order is one ORDER group. Absent segments are zero Segments (IsZero).
type Order struct {
	ORC, RXA, RXR Segment
	OBX           []Segment
	All           Segments // every segment of the group in order, ORC first
}

// Segments is an ordered list of segments; paths resolve against it, so a
// path can address a whole message or one ORDER group alike.
type Segments []Segment

// Value returns the first value at p (decoded); "" when absent.
func (s Segments) Value(p Path) Value { panic("unimplemented") }

// Values returns every value at p, expanding each [*] in p.
func (s Segments) Values(p Path) []Value { panic("unimplemented") }

// Find returns the n-th (1-based) segment named name.
func (s Segments) Find(name string, n int) (Segment, bool) { panic("unimplemented") }

// Segment is one segment view.
type Segment struct{ impl segmentImpl }

func (s Segment) IsZero() bool   { panic("unimplemented") }
func (s Segment) Name() string   { panic("unimplemented") }
func (s Segment) NumFields() int { panic("unimplemented") }
func (s Segment) Raw() []byte    { panic("unimplemented") }

// Field returns field n (1-based, as in PID-3; for MSH, MSH-1 is the field
// separator and MSH-2 the encoding characters).
func (s Segment) Field(n int) Field { panic("unimplemented") }

// Field is one field with its repetitions.
type Field struct{ impl fieldImpl }

func (f Field) NumReps() int    { panic("unimplemented") }
func (f Field) Rep(i int) Value { panic("unimplemented") } // 1-based
func (f Field) Raw() []byte     { panic("unimplemented") }

// Value is a view of one field repetition, component or subcomponent.
// Accessors do not allocate; String decodes escapes (allocating only when
// the raw bytes hold an escape or are not valid to share).
type Value struct{ impl valueImpl }

func (v Value) Raw() []byte           { panic("unimplemented") }
func (v Value) String() string        { panic("unimplemented") }
func (v Value) IsEmpty() bool         { panic("unimplemented") } // not sent
func (v Value) IsNull() bool          { panic("unimplemented") } // sent as "" (explicit null)
func (v Value) Component(i int) Value { panic("unimplemented") } // 1-based
func (v Value) Sub(i int) Value       { panic("unimplemented") } // 1-based; on a repetition: Component(1).Sub(i) semantics are the implementer's to document
func (v Value) NumComponents() int    { panic("unimplemented") }
func (v Value) NumSubs() int          { panic("unimplemented") }

// Path addresses values in the notation IIS admins use:
//
//	PID-5  PID-5.1  PID-5.1.1  PID-3[2].1  PID-3[*]  OBX[2]-5  OBX[*]-5.1
//
// Segment occurrence and repetition are 1-based; absent means the first;
// [*] means all (expanded by Segments.Values).
type Path struct {
	Segment   string
	SegOcc    int // 0 = first; -1 = all
	Field     int
	Rep       int // 0 = first; -1 = all
	Component int // 0 = whole repetition
	Sub       int // 0 = whole component
}

func ParsePath(s string) (Path, error) { panic("unimplemented") }
func (p Path) String() string          { panic("unimplemented") }

// Precision of a TS/DTM/DT value as sent.
type Precision int

const (
	PrecYear Precision = iota + 1
	PrecMonth
	PrecDay
	PrecHour
	PrecMinute
	PrecSecond
	PrecFraction
)

// TS is a parsed TS/DTM/DT: YYYY[MM[DD[HH[MM[SS[.S...]]]]]][+/-ZZZZ].
type TS struct {
	Time      time.Time // in the value's own offset, or UTC when it has none
	Precision Precision
	HasOffset bool
}

func ParseTS(s string) (TS, error) { panic("unimplemented") }

// FHIRDate renders at most day precision: 2023, 2023-01, 2023-01-05.
func (t TS) FHIRDate() string { panic("unimplemented") }

// FHIRDateTime renders a FHIR dateTime at the sent precision; with a time
// part, seconds are padded and the offset is the value's own, else def's.
func (t TS) FHIRDateTime(def *time.Location) string { panic("unimplemented") }

// Typed views of composite data types.
type HD struct{ Namespace, UniversalID, UniversalIDType string }
type CX struct {
	ID, CheckDigit     string
	AssigningAuthority HD
	IDType             string
	AssigningFacility  HD
}
type XPN struct{ Family, Given, Middle, Suffix, Prefix, Degree, NameType string }
type XAD struct{ Street, Other, City, State, Zip, Country, Type, County string }
type XTN struct {
	Number, Use, Equipment, Email, CountryCode, AreaCode, Local, Extension string
}
type CWE struct{ Code, Text, System, AltCode, AltText, AltSystem string }
type XCN struct {
	ID, Family, Given, Middle, Suffix, Prefix string
	AssigningAuthority                        HD
	IDType                                    string
}

func ParseHD(v Value) HD                { panic("unimplemented") }
func ParseCX(v Value) CX                { panic("unimplemented") }
func ParseXPN(v Value) XPN              { panic("unimplemented") }
func ParseXAD(v Value) XAD              { panic("unimplemented") }
func ParseXTN(v Value) XTN              { panic("unimplemented") }
func ParseCWE(v Value) CWE              { panic("unimplemented") }
func ParseXCN(v Value) XCN              { panic("unimplemented") }
func ParseNM(s string) (float64, error) { panic("unimplemented") }

type messageImpl struct{}
type segmentImpl struct{}
type fieldImpl struct{}
type valueImpl struct{}
