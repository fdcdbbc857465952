// Package hl7v2 parses HL7 v2 (ER7) messages, as sent by immunization
// information systems: VXU^V04, QBP^Q11, RSP^K11 and ACK.
//
// # Parsing
//
// Parse takes one message and records where its segments and field
// separators are; it copies nothing. Repetitions, components and
// subcomponents are split when accessed, and escape sequences are decoded
// only by String (Raw gives the bytes as sent). Delimiters are read per
// message from MSH-1 and MSH-2, so custom encoding characters work; a fifth
// MSH-2 character is the v2.7 truncation character. ReadDelimiters reads
// them from an MSH, FHS or BHS segment start for batch readers.
//
// MSH-1 is the field separator itself and MSH-2 the encoding characters:
// both are returned literally, never split or decoded, and MSH-3 is the
// first field after them (Field(n) numbers fields as the standard does).
//
// Segments may end in \r, \n or \r\n, mixed. Blank lines, a UTF-8 byte
// order mark or whitespace before MSH, MLLP framing bytes and trailing
// separators are tolerated. Parse fails when the data does not start with
// MSH, when MSH-1/MSH-2 are unusable, or on a line of binary bytes.
// Warnings reports what was tolerated but worth telling, naming lines and
// segments but never content:
//
//   - a repaired MSH-2: MSH|^~&| lacks the escape character, \ is assumed
//     (with MSH|^~\| the subcomponent separator & is);
//   - an unknown segment name that is not a Z-segment (kept);
//   - a segment-like name that is not 3 characters, such as WHOOPS| (kept);
//   - a line with no segment name at all, such as text wrapped out of an
//     NTE (skipped);
//   - a second MSH (a split error upstream).
//
// Views (Segment, Field, Value) are small values that point into the
// input; accessors never allocate. Rep(i), Component(i) and Sub(i) scan from
// the start of their parent, which suits the few values a mapping reads.
//
// # Values
//
// An empty value was not sent (keep what is stored); the two-character
// value "" is the explicit null (erase it): IsNull reports it and String
// returns "". A value holding only separators of lower levels ("^^") is
// empty too. Absent fields, repetitions, components and segments are empty
// values, never errors.
//
// # Escape sequences
//
// String decodes, using the message's own delimiters:
//
//	\F\ \S\ \T\ \R\ \E\   the field, component, subcomponent, repetition, escape character
//	\P\                   the truncation character (v2.7; kept verbatim when MSH-2 has none)
//	\Xhh...\              bytes in hex, any even number of digits; kept when they form
//	                      UTF-8, else read as Latin-1
//	\.br\ \.sp\           a line break "\n"
//	\.in\ \.ti\ \.sk\ \.ce\ \.fi\ \.nf\ (with arguments)  dropped (formatting)
//	\H\ \N\               dropped (highlighting)
//	\Zxx\ \Cxxyy\ \Mxxyyzz\, unknown ones, a lone escape character: kept verbatim
//
// Text that is not valid UTF-8 is read as Latin-1 (ISO-8859-1), so String
// always returns UTF-8.
//
// # Paths
//
// A Path names values in the notation registry staff use:
//
//	PID-5        first repetition of PID-5, whole (components and all, decoded)
//	PID-5.1      its first component; PID-5.1.1 that component's first subcomponent
//	PID-3[2].1   component 1 of the second repetition
//	PID-3[*]     every repetition (Segments.Values)
//	OBX[2]-5     OBX-5 of the second OBX
//	OBX[*]-5.1   OBX-5.1 of every OBX
//
// Numbers are 1-based; an absent index means the first. A path without a
// component addresses the whole repetition: its text decoded with
// component separators kept ("Doe^Jane"). Paths resolve against any
// Segments: a whole message or one ORDER group. Segments.Value gives the
// first match; Segments.Values expands [*] (one value per segment
// occurrence, empty ones included so OBX[*]-5 lines up with the OBX
// segments; one per repetition sent, none for an empty field).
//
// # ORDER groups
//
// Message.Orders groups VXU^V04 and RSP^K11 bodies by the VXU_V04 ORDER
// structure (OrderSegments, InOrder): each RXA forms one group with the ORC
// before it and the PRT/TQ1/TQ2 between them (an RXA without ORC, as 2.3.1
// and 2.4 feeds send, still forms one), the RXR after it and the OBX (with
// their NTE and v2.8 PRT) up to the next ORC or RXA. Z-segments anywhere in
// a group stay in Order.All. Segments before the first ORC/RXA (PID, PD1, NK1, ...)
// belong to no group, and so does an ORC that no RXA follows. A group also
// ends at a standard segment that has no place in an ORDER (a second PID
// in an RSP). Every RXA is in exactly one group.
//
// # Data types
//
// ParseTS reads TS/DTM/DT with its precision (see ParseTS for tolerated
// deviations: 17-digit timestamps, implausible offsets reported in
// TS.DroppedOffset rather than failing) and renders FHIR date and
// dateTime, never inventing a time; ParseHD, ParseCX,
// ParseXPN, ParseXAD, ParseXTN, ParseCWE (also CE), ParseXCN and ParseNM
// read the composite and numeric types IIS messages use.
package hl7v2
