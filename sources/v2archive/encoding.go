package v2archive

import (
	"encoding/binary"
	"strings"
	"unicode/utf8"

	"golang.org/x/text/encoding/charmap"

	"github.com/iisbridge/iisbridge/hl7v2"
)

// isASCII reports whether b has no byte >= 0x80; then every supported
// encoding reads it the same way.
func isASCII(b []byte) bool {
	for len(b) >= 8 {
		if binary.LittleEndian.Uint64(b)&0x8080808080808080 != 0 {
			return false
		}
		b = b[8:]
	}
	for _, c := range b {
		if c >= 0x80 {
			return false
		}
	}
	return true
}

// decode returns raw as UTF-8 (raw itself when nothing changes, else a
// buffer reused across messages) and warnings about the choice made.
func (s *stream) decode(raw []byte, msh *hl7v2.Message) ([]byte, []string) {
	if isASCII(raw) {
		return raw, nil
	}
	enc, warns := encodingOf(raw, msh, s.opts.Encoding)
	switch enc {
	case "utf-8":
		if utf8.Valid(raw) {
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
// option enc, with warnings about the choice.
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
