package match

import (
	"bufio"
	_ "embed"
	"fmt"
	"io"
	"strings"
	"unicode"

	"golang.org/x/text/unicode/norm"
)

// Record is one person's demographics as a roster row, a $bulk-match
// input Patient or a candidate gives them. Empty means unknown.
type Record struct {
	ID          string // candidate: the Patient id; input: the client's row or resource id
	Given       string // first given name (middle names go in Middle)
	Middle      string
	Family      string
	BirthDate   string // YYYY-MM-DD (also YYYYMMDD, MM/DD/YYYY)
	Sex         string // M, F, male, female, ... (U/unknown = empty)
	Postal      string // ZIP or ZIP+4
	Phone       string
	Identifiers []Identifier
}

// Identifier is a system|value pair (PID-3, Patient.identifier, a roster
// column).
type Identifier struct{ System, Value string }

func (id Identifier) String() string { return id.System + "|" + id.Value }

// normalized is a Record ready to compare: names reduced to lower-case
// ASCII letters, the date to 8 digits, phone and postal to digits.
type normalized struct {
	given, middle, family string
	familyTokens          []string
	givenGroups           []int32 // nickname groups the given name belongs to
	birth                 string  // YYYYMMDD or ""
	sex                   byte    // 'M', 'F', 'O' or 0
	postal                string  // 5 digits or ""
	phone                 string  // 10 digits (7 when only a local number) or ""
	ids                   []string
}

// nameText reduces a name to lower-case letters: diacritics dropped
// (each non-ASCII rune decomposed, NFD, and its combining marks left
// out), punctuation and digits dropped, words separated by single spaces.
func nameText(s string) string {
	var b strings.Builder
	b.Grow(len(s))
	space := false
	var dec [16]byte
	put := func(r rune) {
		if space && b.Len() > 0 {
			b.WriteByte(' ')
		}
		space = false
		b.WriteRune(r)
	}
	for _, r := range s {
		switch {
		case r >= 'a' && r <= 'z':
			put(r)
		case r >= 'A' && r <= 'Z':
			put(r + 'a' - 'A')
		case r == 'ß':
			put('s')
			b.WriteByte('s')
		case r == '\'' || r == '.' || r == '’': // O'Brien, St. John: no word break
		case r >= 0x80 && unicode.IsLetter(r):
			for _, d := range string(norm.NFD.Append(dec[:0], []byte(string(r))...)) {
				if !unicode.Is(unicode.Mn, d) {
					put(unicode.ToLower(d))
				}
			}
		default:
			space = true
		}
	}
	return b.String()
}

// compact is a name without its spaces, the form compared.
func compact(s string) string { return strings.ReplaceAll(s, " ", "") }

// normDate accepts YYYY-MM-DD (or a longer FHIR dateTime), YYYYMMDD and
// MM/DD/YYYY, and returns YYYYMMDD or "".
func normDate(s string) string {
	s = strings.TrimSpace(s)
	var y, m, d string
	switch {
	case len(s) >= 10 && s[4] == '-' && s[7] == '-':
		y, m, d = s[:4], s[5:7], s[8:10]
	case len(s) == 8 && digits(s):
		y, m, d = s[:4], s[4:6], s[6:8]
	case strings.Count(s, "/") == 2:
		p := strings.Split(s, "/")
		if len(p[2]) != 4 {
			return ""
		}
		y, m, d = p[2], fmt.Sprintf("%02s", p[0]), fmt.Sprintf("%02s", p[1])
	default:
		return ""
	}
	out := y + m + d
	if len(out) != 8 || !digits(out) {
		return ""
	}
	return out
}

func digits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}

func onlyDigits(s string) string {
	b := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		if s[i] >= '0' && s[i] <= '9' {
			b = append(b, s[i])
		}
	}
	return string(b)
}

func normPhone(s string) string {
	d := onlyDigits(s)
	if len(d) == 11 && d[0] == '1' {
		d = d[1:]
	}
	switch {
	case len(d) >= 10:
		return d[len(d)-10:]
	case len(d) == 7:
		return d
	}
	return ""
}

func normPostal(s string) string {
	d := onlyDigits(s)
	if len(d) < 5 {
		return ""
	}
	return d[:5]
}

func normSex(s string) byte {
	s = strings.ToUpper(strings.TrimSpace(s))
	if s == "" {
		return 0
	}
	switch s[0] {
	case 'M':
		return 'M'
	case 'F':
		return 'F'
	case 'O':
		return 'O'
	}
	return 0 // U, unknown, A (ambiguous), N (not applicable)
}

// normIdentifier keeps the system as given (URIs are case-sensitive) and
// upper-cases the value without spaces or dashes, as registries print
// Medicaid and MRN numbers in several ways.
var idSeparators = strings.NewReplacer(" ", "", "-", "")

func normIdentifier(id Identifier) string {
	v := strings.ToUpper(idSeparators.Replace(strings.TrimSpace(id.Value)))
	sys := strings.TrimSpace(id.System)
	if v == "" {
		return ""
	}
	return sys + "|" + v
}

func (m *Matcher) normalize(r *Record) normalized {
	var n normalized
	given := nameText(r.Given)
	if i := strings.IndexByte(given, ' '); i > 0 && r.Middle == "" { // "Mary Ann" stays whole; the first word also
		n.middle = given[i+1:]
	}
	n.given = compact(given)
	if r.Middle != "" {
		n.middle = compact(nameText(r.Middle))
	}
	fam := nameText(r.Family)
	n.family = compact(fam)
	if strings.IndexByte(fam, ' ') > 0 {
		n.familyTokens = strings.Fields(fam)
	}
	if m.nick != nil {
		n.givenGroups = m.nick.groups[n.given]
		if n.givenGroups == nil && n.middle != "" {
			if first, _, ok := strings.Cut(given, " "); ok {
				n.givenGroups = m.nick.groups[first]
			}
		}
	}
	n.birth = normDate(r.BirthDate)
	n.sex = normSex(r.Sex)
	n.postal = normPostal(r.Postal)
	n.phone = normPhone(r.Phone)
	for _, id := range r.Identifiers {
		if k := normIdentifier(id); k != "" {
			n.ids = append(n.ids, k)
		}
	}
	return n
}

//go:embed nicknames.csv
var shippedNicknames string

// nicknames maps a normalized given name to the groups (formal name and
// its diminutives) it belongs to; "alex" is in Alexander's and
// Alexandra's.
type nicknames struct{ groups map[string][]int32 }

// parseNicknames reads lines "formal,nick,nick,..."; # starts a comment.
func parseNicknames(r io.Reader, into *nicknames, file string) error {
	if into.groups == nil {
		into.groups = map[string][]int32{}
	}
	sc := bufio.NewScanner(r)
	g := int32(len(into.groups))
	for line := 1; sc.Scan(); line++ {
		s := strings.TrimSpace(sc.Text())
		if s == "" || s[0] == '#' {
			continue
		}
		names := strings.Split(s, ",")
		if len(names) < 2 {
			return fmt.Errorf("%s:%d:1: want a formal name and at least one nickname, separated by commas", file, line)
		}
		g++
		for _, nm := range names {
			k := compact(nameText(nm))
			if k == "" {
				continue
			}
			if l := into.groups[k]; len(l) == 0 || l[len(l)-1] != g {
				into.groups[k] = append(l, g)
			}
		}
	}
	return sc.Err()
}

func sameGroup(a, b []int32) bool {
	for _, x := range a {
		for _, y := range b {
			if x == y {
				return true
			}
		}
	}
	return false
}

// ShippedNicknames is the shipped nickname table: each formal given name
// (normalized) with its diminutives, for generators of test rosters.
func ShippedNicknames() map[string][]string {
	out := map[string][]string{}
	for _, line := range strings.Split(shippedNicknames, "\n") {
		line = strings.TrimSpace(line)
		if line == "" || line[0] == '#' {
			continue
		}
		p := strings.Split(line, ",")
		out[p[0]] = append(out[p[0]], p[1:]...)
	}
	return out
}

// ValidDate reports whether the matcher reads s as a date (YYYY-MM-DD,
// YYYYMMDD or M/D/YYYY).
func ValidDate(s string) bool { return normDate(s) != "" }
