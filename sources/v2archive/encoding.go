package v2archive

import (
	"encoding/binary"
	"math/bits"
	"strings"
	"unicode/utf8"

	"golang.org/x/text/encoding/charmap"

	"github.com/iisbridge/iisbridge/hl7v2"
)

// isASCII reports whether b has no byte >= 0x80; then every supported
// encoding reads it the same way.
func isASCII(b []byte) bool { return asciiPrefix(b) == len(b) }

// asciiPrefix is the length of b's leading bytes < 0x80, read 16 bytes a
// step: every message is read through, and most are ASCII.
func asciiPrefix(b []byte) int {
	const hi = 0x8080808080808080
	i := 0
	for ; i+16 <= len(b); i += 16 {
		w := b[i : i+16 : i+16]
		if (binary.LittleEndian.Uint64(w)|binary.LittleEndian.Uint64(w[8:]))&hi != 0 {
			break
		}
	}
	for ; i+8 <= len(b); i += 8 {
		if m := binary.LittleEndian.Uint64(b[i:i+8:i+8]) & hi; m != 0 {
			return i + bits.TrailingZeros64(m)>>3
		}
	}
	for ; i < len(b) && b[i] < 0x80; i++ {
	}
	return i
}

// decode returns raw as UTF-8 (raw itself when nothing changes, else a
// buffer reused across messages) and warnings about the choice made.
func (s *stream) decode(raw []byte, msh *hl7v2.Message) ([]byte, []string) {
	i := asciiPrefix(raw)
	if i == len(raw) {
		return raw, nil
	}
	// raw[:i] is ASCII: raw is valid UTF-8 when raw[i:] is, which is
	// all encodingOf and the check below read.
	enc, warns := encodingOf(raw[i:], msh, s.opts.Encoding)
	switch enc {
	case "utf-8":
		if utf8.Valid(raw[i:]) {
			return raw, warns
		}
		s.conv = append(s.conv[:0], strings.ToValidUTF8(string(raw), "\uFFFD")...)
		return s.conv, append(warns, "invalid UTF-8 bytes replaced by U+FFFD")
	case "latin1":
		s.conv = s.conv[:0]
		for _, c := range raw {
			s.conv = utf8.AppendRune(s.conv, rune(c))
		}
		return s.conv, warns
	case "latin9":
		return s.charmap(raw, charmap.ISO8859_15), warns
	default:
		return s.charmap(raw, charmap.Windows1252), warns
	}
}

// encodingOf is the encoding a non-ASCII message is read in under the
// option enc, with warnings about the choice. raw is the message, or
// its part from the first byte >= 0x80 on: only its validity as UTF-8
// counts.
func encodingOf(raw []byte, msh *hl7v2.Message, enc string) (string, []string) {
	var warns []string
	if enc == "auto" {
		enc = ""
		if cs, ok := msh18(msh); ok {
			switch {
			case cs == "", cs == "ASCII":
			case cs == "8859/1":
				enc = "latin1"
				if utf8.Valid(raw) {
					warns = append(warns, "MSH-18 says 8859/1 but the message is valid UTF-8; decoded as Latin-1 as declared")
				}
			case cs == "8859/15":
				enc = "latin9"
			case cs == "UNICODE UTF-8":
				enc = "utf-8"
			default:
				warns = append(warns, "MSH-18 character set "+cs+" is not supported; encoding guessed from the bytes")
			}
		}
		if enc == "" {
			enc = "windows-1252"
			if utf8.Valid(raw) {
				enc = "utf-8"
			}
		}
	}
	return enc, warns
}

func (s *stream) charmap(raw []byte, cm *charmap.Charmap) []byte {
	s.conv = s.conv[:0]
	for _, c := range raw {
		if c < 0x80 {
			s.conv = append(s.conv, c)
		} else {
			s.conv = utf8.AppendRune(s.conv, cm.DecodeByte(c))
		}
	}
	return s.conv
}

// msh18 returns MSH-18 (character set), first repetition, upper case.
func msh18(msh *hl7v2.Message) (string, bool) {
	segs := msh.Segments()
	if len(segs) == 0 {
		return "", false
	}
	f := segs[0].Field(18)
	if f.NumReps() == 0 {
		return "", true
	}
	return strings.ToUpper(strings.TrimSpace(string(f.Rep(1).Raw()))), true
}
