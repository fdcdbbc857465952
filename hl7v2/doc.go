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
// separators are tolerated. Warnings reports what was tolerated but worth
// telling: a repaired MSH-2 (MSH|^~&| lacks the escape character: \ is
// assumed), unknown non-Z segment names, lines that are not segments.
//
// # Values
//
// An empty value was not sent (keep what is stored); the two-character
// value "" is the explicit null (erase it): IsNull reports it and String
// returns "". A value holding only separators ("^^") is empty too.
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
// component separators kept. Paths resolve against any Segments: a whole
// message or one ORDER group.
//
// # ORDER groups
//
// Message.Orders groups VXU^V04 and RSP^K11 bodies: each RXA forms one
// group with the ORC immediately before it (an RXA without ORC, as 2.3.1
// and 2.4 feeds send, still forms one), the RXR after it and the OBX (with
// their NTE) up to the next ORC or RXA. Z-segments anywhere in a group stay
// in Order.All. Segments before the first ORC/RXA (PID, PD1, NK1, ...)
// belong to no group.
//
// # Data types
//
// ParseTS reads TS/DTM/DT with its precision (see ParseTS for tolerated
// deviations) and renders FHIR date and dateTime; ParseHD, ParseCX,
// ParseXPN, ParseXAD, ParseXTN, ParseCWE (also CE), ParseXCN and ParseNM
// read the composite and numeric types IIS messages use.
package hl7v2
