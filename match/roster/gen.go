package roster

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"time"
	"unicode"

	"github.com/iisbridge/iisbridge/match"
)

// Kinds of roster rows, as the truth names them. The member kinds carry
// one kind of error each (or none); the last two are not in the registry.
const (
	Clean          = "clean"           // as the registry has it
	Typo           = "typo"            // one keying error in the given or family name
	Nickname       = "nickname"        // a diminutive for the given name (Bill for William)
	TransposedDate = "transposed-date" // month and day swapped, or two adjacent digits
	DateTypo       = "date-typo"       // one digit of the birth date wrong
	Missing        = "missing"         // phone, postal code or sex left empty
	Moved          = "moved"           // another postal code (the phone kept)
	NameChange     = "name-change"     // another family name (marriage), rest as registered
	NonMember      = "non-member"      // a person not in the registry
	Lookalike      = "lookalike"       // not in the registry: a sibling or twin of a person who is (same family, birth date, address)
)

// memberKinds with their share of member rows (per mille).
var memberKinds = []struct {
	kind  string
	share int
}{{Clean, 300}, {Typo, 160}, {Nickname, 120}, {TransposedDate, 80}, {DateTypo, 80}, {Missing, 140}, {Moved, 90}, {NameChange, 30}}

// Kinds lists every row kind, member kinds first.
func Kinds() []string {
	var ks []string
	for _, k := range memberKinds {
		ks = append(ks, k.kind)
	}
	return append(ks, NonMember, Lookalike)
}

// MedicaidSystem is the identifier system of the synthetic Medicaid ids.
const MedicaidSystem = "urn:oid:2.16.840.1.113883.4.3.99"

// Person is person i of the synthetic population of seed: a reproducible
// record (id "P<i>") with realistic name collisions.
func Person(seed int64, i int) match.Record {
	r := rand.New(rand.NewPCG(uint64(seed), uint64(i)))
	return person(r, fmt.Sprintf("P%d", i))
}

func person(r *rand.Rand, id string) match.Record {
	p := match.Record{ID: id}
	if r.IntN(2) == 0 {
		p.Given, p.Sex = skewed(r, femaleGiven), "F"
	} else {
		p.Given, p.Sex = skewed(r, maleGiven), "M"
	}
	p.Family = skewed(r, family)
	start := time.Date(1940, 1, 1, 0, 0, 0, 0, time.UTC)
	p.BirthDate = start.AddDate(0, 0, r.IntN(86*365)).Format(time.DateOnly)
	p.Postal = fmt.Sprintf("%05d", 10000+r.IntN(3000)*29)
	if r.IntN(100) < 85 {
		p.Phone = fmt.Sprintf("%03d-%03d-%04d", 201+r.IntN(700), 200+r.IntN(800), r.IntN(10000))
	}
	if r.IntN(100) < 30 {
		p.Identifiers = []match.Identifier{{System: MedicaidSystem, Value: fmt.Sprintf("MA%09d", r.IntN(1e9))}}
	}
	return p
}

// skewed draws from a most-frequent-first table: the first names far more
// often than the last.
func skewed(r *rand.Rand, t []string) string {
	x := r.Float64()
	return t[int(math.Pow(x, 1.5)*float64(len(t)))] // the first ~3.5 % of a 150-name table, the last ~0.4 %
}

// Row is one generated roster row and its truth.
type Row struct {
	match.Record
	Person string // the registry person the row is; "" for a non-member
	Kind   string
}

// Config shapes a generated roster.
type Config struct {
	Seed int64
	Rows int
	// NonMembers is the share of rows that are nobody in the registry
	// (half strangers, half lookalikes); default 0.10.
	NonMembers float64
}

// Generate draws a roster from the registry's persons: each member row a
// distinct person, with the errors of its kind. persons must hold at
// least Rows persons.
func Generate(persons []match.Record, cfg Config) ([]Row, error) {
	if cfg.NonMembers == 0 {
		cfg.NonMembers = 0.10
	}
	if cfg.Rows > len(persons) {
		return nil, fmt.Errorf("roster: %d rows asked of %d persons", cfg.Rows, len(persons))
	}
	r := rand.New(rand.NewPCG(uint64(cfg.Seed), 0x7057e7))
	nick := match.ShippedNicknames()
	order := r.Perm(len(persons))
	next := 0
	rows := make([]Row, 0, cfg.Rows)
	for i := range cfg.Rows {
		id := fmt.Sprintf("R%d", i+1)
		if r.Float64() < cfg.NonMembers {
			if r.IntN(2) == 0 {
				p := person(r, id)
				p.Identifiers = nil
				rows = append(rows, Row{Record: p, Kind: NonMember})
				continue
			}
			src := persons[order[len(order)-1-i]] // from the far end: never a member row too
			p := src
			p.ID, p.Identifiers = id, nil
			for similarGiven(p.Given, src.Given) || src.Middle != "" && similarGiven(p.Given, src.Middle) {
				if r.IntN(2) == 0 {
					p.Given, p.Sex = skewed(r, femaleGiven), "F"
				} else {
					p.Given, p.Sex = skewed(r, maleGiven), "M"
				}
			}
			rows = append(rows, Row{Record: p, Kind: Lookalike})
			continue
		}
		src := persons[order[next]]
		next++
		row := Row{Record: src, Person: src.ID}
		row.ID = id
		if len(src.Identifiers) > 0 && r.IntN(2) == 0 {
			row.Identifiers = nil // half the rows that could carry the id do not
		}
		row.Kind = pickKind(r)
		switch row.Kind {
		case Typo:
			if r.IntN(2) == 0 {
				row.Given = typo(r, row.Given)
			} else {
				row.Family = typo(r, row.Family)
			}
		case Nickname:
			ns := nick[strings.ToLower(row.Given)]
			if len(ns) == 0 {
				row.Kind = Clean
				break
			}
			n := ns[r.IntN(len(ns))]
			row.Given = strings.ToUpper(n[:1]) + n[1:]
		case TransposedDate:
			row.BirthDate = transposeDate(r, row.BirthDate)
		case DateTypo:
			row.BirthDate = dateTypo(r, row.BirthDate)
		case Missing:
			switch r.IntN(3) {
			case 0:
				row.Phone = ""
			case 1:
				row.Postal = ""
			default:
				row.Sex = ""
			}
		case Moved:
			for row.Postal == src.Postal {
				row.Postal = fmt.Sprintf("%05d", 10000+r.IntN(3000)*29)
			}
		case NameChange:
			for row.Family == src.Family {
				row.Family = skewed(r, family)
			}
		}
		rows = append(rows, row)
	}
	return rows, nil
}

func pickKind(r *rand.Rand) string {
	x := r.IntN(1000)
	for _, k := range memberKinds {
		if x < k.share {
			return k.kind
		}
		x -= k.share
	}
	return Clean
}

// similarGiven keeps lookalikes honest: a twin called by a near-identical
// name (or by the person's middle name) is not a different person to any
// matcher, nor to a human.
func similarGiven(a, b string) bool {
	return match.JaroWinkler(strings.ToLower(a), strings.ToLower(b)) >= 0.88
}

// typo makes one keying error: a letter replaced, dropped, doubled or
// swapped with its neighbour (never the first letter: keyers rarely miss it).
func typo(r *rand.Rand, s string) string {
	rs := []rune(s)
	if len(rs) < 3 {
		return s + "e"
	}
	i := 1 + r.IntN(len(rs)-1)
	switch r.IntN(4) {
	case 0:
		c := rune('a' + r.IntN(26))
		for c == unicode.ToLower(rs[i]) {
			c = rune('a' + r.IntN(26))
		}
		rs[i] = c
	case 1:
		rs = append(rs[:i], rs[i+1:]...)
	case 2:
		rs = append(rs[:i+1], rs[i:]...)
	default:
		if i == len(rs)-1 {
			i--
		}
		if i == 0 || rs[i] == rs[i+1] {
			rs = append(rs[:i], rs[i+1:]...)
			break
		}
		rs[i], rs[i+1] = rs[i+1], rs[i]
	}
	return string(rs)
}

func transposeDate(r *rand.Rand, d string) string {
	t, err := time.Parse(time.DateOnly, d)
	if err != nil {
		return d
	}
	if t.Day() <= 12 && t.Day() != int(t.Month()) && r.IntN(3) > 0 {
		return fmt.Sprintf("%04d-%02d-%02d", t.Year(), t.Day(), t.Month())
	}
	// two adjacent digits of the year or the day, giving a valid date
	b := []byte(d)
	for _, i := range r.Perm(8) {
		pos := []int{0, 1, 2, 3, 5, 6, 8, 9}[i]
		next := pos + 1
		if next == 4 || next == 7 || next > 9 || b[pos] == b[next] {
			continue
		}
		c := append([]byte(nil), b...)
		c[pos], c[next] = c[next], c[pos]
		if _, err := time.Parse(time.DateOnly, string(c)); err == nil && c[0] != '0' {
			return string(c)
		}
	}
	return d
}

func dateTypo(r *rand.Rand, d string) string {
	for range 50 {
		b := []byte(d)
		pos := []int{2, 3, 5, 6, 8, 9}[r.IntN(6)]
		c := byte('0' + r.IntN(10))
		if c == b[pos] {
			continue
		}
		b[pos] = c
		if _, err := time.Parse(time.DateOnly, string(b)); err == nil {
			return string(b)
		}
	}
	return d
}
