// Package match scores how likely two demographic records name the same
// person, for Patient/$bulk-match and roster uploads: normalization (case,
// punctuation, diacritics, common nicknames), a deterministic rule (an
// identifier shared with the same system) and a weighted comparison
// (Jaro-Winkler on names, exact, transposed or partial birth dates, sex,
// postal code, phone), graded certain, probable or possible by thresholds.
//
// Scores are in [0, 1]. A clear disagreement of the given name (twins) or
// of the birth date (namesakes) multiplies the score by 0.6. A field missing on either side takes no part: its
// weight leaves the sum and the divisor; given name, family name and birth
// date must be present on both sides for a scored match at all.
package match

import (
	"strings"
	"unicode"

	"golang.org/x/text/runes"
	"golang.org/x/text/transform"
	"golang.org/x/text/unicode/norm"
)

// Person is the demographics compared.
type Person struct {
	Given, Family string
	BirthDate     string // YYYY-MM-DD
	Sex           string // FHIR administrative gender
	PostalCode    string
	Phone         string
	Identifiers   []Identifier
}

// Identifier is system|value.
type Identifier struct{ System, Value string }

// Grades of a match (the Bulk Data match-grade codes).
const (
	Certain  = "certain"
	Probable = "probable"
	Possible = "possible"
	NotMatch = "certainly-not"
)

// Config holds the thresholds and weights; Default is tuned on the
// synthetic rosters.
type Config struct {
	Certain, Probable, Possible float64
	Weights                     Weights
}

// Weights of the scored fields.
type Weights struct {
	Family, Given, BirthDate, Sex, PostalCode, Phone float64
}

// Default returns the default configuration.
func Default() Config {
	return Config{Certain: 0.95, Probable: 0.85, Possible: 0.7,
		Weights: Weights{Family: 0.25, Given: 0.2, BirthDate: 0.3, Sex: 0.05, PostalCode: 0.1, Phone: 0.1}}
}

// Grade names the grade of a score.
func (c Config) Grade(score float64) string {
	switch {
	case score >= c.Certain:
		return Certain
	case score >= c.Probable:
		return Probable
	case score >= c.Possible:
		return Possible
	}
	return NotMatch
}

// Normalized is a Person prepared for comparison (Normalize once, compare
// many times).
type Normalized struct {
	Given, Family, BirthDate, Sex, Postal, Phone string
	idents                                       map[Identifier]bool
}

var fold = transform.Chain(norm.NFD, runes.Remove(runes.In(unicode.Mn)), norm.NFC)

// name lowercases, strips diacritics and keeps letters only (hyphens,
// apostrophes and spaces go: O'Brien = OBRIEN, Smith-Jones = SMITHJONES).
func name(s string) string {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 { // diacritics to fold (the transform costs more than the rest)
			s, _, _ = transform.String(fold, s)
			break
		}
	}
	var b strings.Builder
	for _, r := range strings.ToLower(s) {
		if unicode.IsLetter(r) {
			b.WriteRune(r)
		}
	}
	return b.String()
}

func digits(s string) string {
	var b strings.Builder
	for _, r := range s {
		if r >= '0' && r <= '9' {
			b.WriteRune(r)
		}
	}
	return b.String()
}

// Normalize prepares p.
func Normalize(p Person) Normalized {
	n := Normalized{
		Family: name(p.Family), BirthDate: strings.TrimSpace(p.BirthDate), Sex: strings.ToLower(strings.TrimSpace(p.Sex)),
		Postal: digits(p.PostalCode), Phone: digits(p.Phone),
	}
	given := strings.Fields(p.Given)
	if len(given) > 0 {
		n.Given = name(given[0])
		if full, ok := nicknames[n.Given]; ok {
			n.Given = full
		}
	}
	if len(n.Postal) > 5 {
		n.Postal = n.Postal[:5]
	}
	if len(n.Phone) > 10 {
		n.Phone = n.Phone[len(n.Phone)-10:]
	}
	if n.Sex == "unknown" {
		n.Sex = ""
	}
	for _, id := range p.Identifiers {
		if id.Value != "" {
			if n.idents == nil {
				n.idents = map[Identifier]bool{}
			}
			n.idents[Identifier{id.System, strings.TrimSpace(id.Value)}] = true
		}
	}
	return n
}

// Keys are the blocking keys of a record: two records are compared only
// when they share one (birth date; family name start with birth year;
// phone; identifier value).
func (n Normalized) Keys() []string {
	var ks []string
	if n.BirthDate != "" {
		ks = append(ks, "d:"+n.BirthDate)
		if len(n.Family) >= 2 && len(n.BirthDate) >= 4 {
			ks = append(ks, "f:"+n.Family[:2]+n.BirthDate[:4])
		}
	}
	if len(n.Phone) >= 7 {
		ks = append(ks, "p:"+n.Phone[len(n.Phone)-7:])
	}
	for id := range n.idents {
		ks = append(ks, "i:"+id.Value)
	}
	return ks
}

// Score compares two normalized records.
func (c Config) Score(a, b Normalized) float64 {
	for id := range a.idents {
		if b.idents[id] {
			return 1 // deterministic: the same identifier of the same system
		}
	}
	if a.Given == "" || b.Given == "" || a.Family == "" || b.Family == "" || a.BirthDate == "" || b.BirthDate == "" {
		return 0
	}
	w := c.Weights
	gs, ds := givenScore(a.Given, b.Given), dateScore(a.BirthDate, b.BirthDate)
	sum := w.Family*JaroWinkler(a.Family, b.Family) + w.Given*gs + w.BirthDate*ds
	div := w.Family + w.Given + w.BirthDate
	if a.Sex != "" && b.Sex != "" {
		div += w.Sex
		if a.Sex == b.Sex {
			sum += w.Sex
		}
	}
	if a.Postal != "" && b.Postal != "" {
		div += w.PostalCode
		switch {
		case a.Postal == b.Postal:
			sum += w.PostalCode
		case len(a.Postal) >= 3 && len(b.Postal) >= 3 && a.Postal[:3] == b.Postal[:3]:
			sum += w.PostalCode / 2
		}
	}
	if len(a.Phone) >= 7 && len(b.Phone) >= 7 {
		div += w.Phone
		if a.Phone[len(a.Phone)-7:] == b.Phone[len(b.Phone)-7:] {
			sum += w.Phone
		}
	}
	score := sum / div
	// Twins share all but the given name, namesakes all but the birth
	// date: a clear disagreement there outweighs the rest.
	if gs < 0.75 {
		score *= 0.6
	}
	if ds == 0 {
		score *= 0.6
	}
	return score
}

// givenScore compares first given names: equal after nicknames, an
// initial against a name, or Jaro-Winkler.
func givenScore(a, b string) float64 {
	if a == b {
		return 1
	}
	if len(a) == 1 || len(b) == 1 {
		if a[0] == b[0] {
			return 0.8
		}
		return 0
	}
	return JaroWinkler(a, b)
}

// dateScore compares YYYY-MM-DD dates: equal 1; one digit different
// 0.8; month and day swapped 0.7; same year and month 0.5; else 0.
func dateScore(a, b string) float64 {
	if a == b {
		return 1
	}
	if len(a) != 10 || len(b) != 10 {
		return 0
	}
	if a[:4] == b[:4] && a[5:7] == b[8:10] && a[8:10] == b[5:7] {
		return 0.7
	}
	diff := 0
	for i := range len(a) {
		if a[i] != b[i] {
			diff++
		}
	}
	switch {
	case diff == 1:
		return 0.8
	case a[:7] == b[:7]:
		return 0.5
	}
	return 0
}

// JaroWinkler is the Jaro-Winkler similarity of two strings (prefix
// scale 0.1, prefix up to 4).
func JaroWinkler(a, b string) float64 {
	if a == b {
		return 1
	}
	ra, rb := []rune(a), []rune(b)
	if len(ra) == 0 || len(rb) == 0 {
		return 0
	}
	window := max(len(ra), len(rb))/2 - 1
	window = max(window, 0)
	ma := make([]bool, len(ra))
	mb := make([]bool, len(rb))
	m := 0
	for i := range ra {
		lo, hi := max(0, i-window), min(len(rb), i+window+1)
		for j := lo; j < hi; j++ {
			if !mb[j] && ra[i] == rb[j] {
				ma[i], mb[j] = true, true
				m++
				break
			}
		}
	}
	if m == 0 {
		return 0
	}
	t, k := 0, 0
	for i := range ra {
		if !ma[i] {
			continue
		}
		for !mb[k] {
			k++
		}
		if ra[i] != rb[k] {
			t++
		}
		k++
	}
	fm := float64(m)
	jaro := (fm/float64(len(ra)) + fm/float64(len(rb)) + (fm-float64(t)/2)/fm) / 3
	l := 0
	for l < 4 && l < len(ra) && l < len(rb) && ra[l] == rb[l] {
		l++
	}
	return jaro + float64(l)*0.1*(1-jaro)
}

// nicknames maps common English nicknames to the name they stand for.
var nicknames = map[string]string{
	"bill": "william", "will": "william", "billy": "william", "liam": "william",
	"bob": "robert", "rob": "robert", "bobby": "robert", "robbie": "robert",
	"jim": "james", "jimmy": "james", "jamie": "james",
	"mike": "michael", "mikey": "michael", "mick": "michael",
	"tom": "thomas", "tommy": "thomas",
	"dick": "richard", "rick": "richard", "ricky": "richard",
	"joe": "joseph", "joey": "joseph",
	"dan": "daniel", "danny": "daniel",
	"dave": "david", "davey": "david",
	"chris": "christopher", "matt": "matthew", "nick": "nicholas", "tony": "anthony",
	"alex": "alexander", "andy": "andrew", "drew": "andrew", "ben": "benjamin", "sam": "samuel",
	"jack": "john", "johnny": "john", "jon": "jonathan", "nate": "nathan", "zach": "zachary",
	"steve": "steven", "greg": "gregory", "jake": "jacob", "josh": "joshua", "ed": "edward", "eddie": "edward",
	"liz": "elizabeth", "beth": "elizabeth", "betty": "elizabeth", "lizzie": "elizabeth", "eliza": "elizabeth",
	"kate": "katherine", "katie": "katherine", "kathy": "katherine", "kat": "katherine",
	"peggy": "margaret", "maggie": "margaret", "meg": "margaret",
	"jenny": "jennifer", "jen": "jennifer", "sue": "susan", "susie": "susan",
	"abby": "abigail", "becky": "rebecca", "mandy": "amanda", "patty": "patricia", "trish": "patricia",
	"debbie": "deborah", "vicky": "victoria", "sandy": "sandra", "cathy": "catherine", "annie": "ann",
	"sophie": "sophia", "ellie": "eleanor", "nora": "eleanor", "bella": "isabella", "izzy": "isabella",
	"maddie": "madison", "emmy": "emily", "livvy": "olivia", "liv": "olivia", "ava": "ava",
}
