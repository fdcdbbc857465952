package sources

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"slices"
	"strings"
	"sync"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/runes"
	"golang.org/x/text/transform"
	"golang.org/x/text/unicode/norm"
)

// IdentityConfig says how messages are tied to persons. It is a section of
// the server configuration (yaml) and of `iisbridge index --identity F`.
//
// Rules are tried in order for a message's own identity, and every key a
// message yields is linked to the others (union-find), so a message that
// carries both an MRN and the IIS id joins everything either key reaches.
// Key kinds: "iis" (PID-3 type SR), "mrn" (sending facility + PID-3 of a
// facility type: MR, PI, PT), "demographics" (normalized family, given,
// birth date and sex, all four present and the given name not a
// placeholder).
type IdentityConfig struct {
	Rules []string `yaml:"rules"`
	// IISAuthorities restricts SR ids to these assigning authorities
	// (CX-4 namespace or universal id); empty = any authority.
	IISAuthorities []string `yaml:"iis_authorities"`
	// MRNTypes are the PID-3 identifier types scoped to the sender.
	MRNTypes []string `yaml:"mrn_types"`
	// PlaceholderNames are given-name words that are not names (BABY,
	// BOY, TWIN...); a given name made only of them and single letters or
	// digits disables the demographics key.
	PlaceholderNames []string `yaml:"placeholder_names"`
	// IDSalt, when set, is mixed into the hash behind Patient ids so ids
	// cannot be recomputed from a guessed MRN or name. Changing it changes
	// every id.
	IDSalt string `yaml:"id_salt"`
}

// DefaultIdentity is right for CDC-style IIS traffic.
func DefaultIdentity() IdentityConfig {
	return IdentityConfig{
		Rules:    []string{"iis", "mrn", "demographics"},
		MRNTypes: []string{"MR", "PI", "PT"},
		PlaceholderNames: []string{"BABY", "BOY", "GIRL", "TWIN", "TRIPLET", "INFANT",
			"NEWBORN", "NB", "BB", "BG", "MALE", "FEMALE", "UNKNOWN", "UNK", "NONE", "NONAME",
			"FNU", "CHILD", "SON", "DAUGHTER", "TEST", "BABYBOY", "BABYGIRL"},
	}
}

// WithDefaults fills what c leaves empty from DefaultIdentity.
func (c IdentityConfig) WithDefaults() IdentityConfig {
	d := DefaultIdentity()
	if len(c.Rules) == 0 {
		c.Rules = d.Rules
	}
	if len(c.MRNTypes) == 0 {
		c.MRNTypes = d.MRNTypes
	}
	if c.PlaceholderNames == nil {
		c.PlaceholderNames = d.PlaceholderNames
	}
	return c
}

// Validate reports rules the index does not know.
func (c IdentityConfig) Validate() error {
	for _, r := range c.Rules {
		switch strings.ToLower(r) {
		case "iis", "mrn", "demographics":
		default:
			return fmt.Errorf("identity: unknown rule %q (want iis, mrn or demographics)", r)
		}
	}
	return nil
}

// Has says whether rule is one of c.Rules.
func (c IdentityConfig) Has(rule string) bool {
	for _, r := range c.Rules {
		if strings.EqualFold(r, rule) {
			return true
		}
	}
	return false
}

// Key prefixes (every adapter builds keys with them) order the kinds: the smallest key of a person names it, so
// an IIS id wins over an MRN, and an MRN over demographics.
const (
	PrefixIIS  = "A:"
	PrefixMRN  = "B:"
	PrefixDemo = "C:"
	PrefixLone = "Z:" // a record with no usable key: its own person
)

// PatientID is the stable FHIR id of the person whose smallest key is key.
func (c IdentityConfig) PatientID(key string) string {
	return hashID(c.IDSalt + "\x00patient\x00" + key)
}

func hashID(s string) string {
	h := sha256.Sum256([]byte(s))
	return hex.EncodeToString(h[:16])
}

// ContainsFold says whether a (or b, when set) is in list, ignoring case.
func ContainsFold(list []string, a, b string) bool {
	for _, s := range list {
		if strings.EqualFold(s, a) || (b != "" && strings.EqualFold(s, b)) {
			return true
		}
	}
	return false
}

// Placeholder says whether a normalized given name is no name (BABY BOY,
// TWIN A).
func (c IdentityConfig) Placeholder(given string) bool {
	for given != "" {
		i := strings.IndexAny(given, " -")
		w := given
		if i >= 0 {
			w, given = given[:i], given[i+1:]
		} else {
			given = ""
		}
		if w == "" || len(w) == 1 || AllDigits(w) || ContainsFold(c.PlaceholderNames, w, "") {
			continue
		}
		return false
	}
	return true
}

// AllDigits says whether s is a non-empty run of ASCII digits.
func AllDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}

// foldPool holds the diacritics folders of NormName: a chain allocates
// kilobytes of buffers, and names with diacritics are common enough
// (transform.String resets it).
var foldPool = sync.Pool{New: func() any {
	return transform.Chain(norm.NFD, runes.Remove(runes.In(unicode.Mn)), norm.NFC)
}}

// NormName upper-cases, folds diacritics (MÜLLER → MULLER), drops
// punctuation and collapses spaces.
func NormName(s string) string {
	var a [64]byte
	b := appendNormName(a[:0], s)
	if string(b) == s {
		return s // already normal (most names): no copy
	}
	return string(b)
}

// appendNormName appends NormName(s) to dst.
func appendNormName(dst []byte, s string) []byte {
	s = strings.TrimSpace(s)
	if s == "" || s == `""` {
		return dst
	}
	start, space := len(dst), false
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 0x80:
			return appendNormUnicode(dst[:start], s)
		case 'a' <= c && c <= 'z':
			c -= 'a' - 'A'
			fallthrough
		case 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
			if space && len(dst) > start {
				dst = append(dst, ' ')
			}
			space = false
			dst = append(dst, c)
		case c == ' ' || c == '-' || c == '\t':
			space = true
		}
	}
	return dst
}

// appendNormUnicode is appendNormName of a trimmed s that is not ASCII.
func appendNormUnicode(dst []byte, s string) []byte {
	t := foldPool.Get().(transform.Transformer)
	if r, _, err := transform.String(t, s); err == nil {
		s = r
	}
	foldPool.Put(t)
	start, space := len(dst), false
	for _, r := range strings.ToUpper(s) {
		switch {
		case unicode.IsLetter(r) || unicode.IsDigit(r):
			if space && len(dst) > start {
				dst = append(dst, ' ')
			}
			space = false
			dst = utf8.AppendRune(dst, r)
		case r == ' ' || r == '-' || r == '\t':
			space = true
		}
	}
	return dst
}

// Identity is what one record says of whom it is about and who made it,
// as the mapping's identity: section reads it (mapping.Mapping.Identify);
// IdentityConfig.Keys turns it into identity keys. The mapping says where
// the values are (v2 fields, columns); the configuration says which kinds
// of key are used and how values are normalized, the same for every
// source. It holds PHI: never logged.
type Identity struct {
	IDs []PersonID
	// Demographics of the person (the demographics key).
	Family, Given, BirthDate, Sex string
	// The organization behind the record (sources.Record.OrgKey, OrgName).
	OrgKey, OrgName string
}

// PersonID is one identifier of the person.
type PersonID struct {
	ID, Type string
	// Authority is the assigning authority (namespace, else universal
	// id); AuthorityID its universal id. Either may match IISAuthorities.
	Authority, AuthorityID string
	// Facility is the organization whose MRNs this identifier is scoped
	// to; an MRN without one yields no key.
	Facility string
}

// Reset empties id for reuse, keeping its capacity.
func (id *Identity) Reset() { *id = Identity{IDs: id.IDs[:0]} }

// Identifier reads the Identity of a record: the mapping's identity:
// section (mapping.Mapping implements it), injected into adapters so no
// adapter restates in code what the mapping declares.
type Identifier interface {
	// Identify fills dst (reset first) from rec, the record as its
	// adapter parsed it: *hl7v2.Message for v2 archives, a mapping.Row
	// for tables.
	Identify(rec any, dst *Identity) error
	// IdentityFingerprint changes when what Identify reads changes: an
	// index built under another is rebuilt.
	IdentityFingerprint() string
}

// Keys appends the identity keys of id under c's rules, the record's own
// first as they come: IIS ids (type SR, from an IIS authority), MRNs
// (types c.MRNTypes, scoped to their facility), then demographics
// (normalized family, given, birth date and sex, all present and the
// given name not a placeholder).
func (c IdentityConfig) Keys(id *Identity, dst []string) []string {
	var iis, mrn, demo bool
	for _, r := range c.Rules {
		iis = iis || strings.EqualFold(r, "iis")
		mrn = mrn || strings.EqualFold(r, "mrn")
		demo = demo || strings.EqualFold(r, "demographics")
	}
	in := dst
	dst = slices.Grow(dst, len(id.IDs)+1) // one allocation for most records
	for _, p := range id.IDs {
		v := strings.TrimSpace(p.ID)
		if v == "" || v == `""` {
			continue
		}
		typ := strings.ToUpper(strings.TrimSpace(p.Type))
		auth := strings.ToUpper(strings.TrimSpace(p.Authority))
		switch {
		case typ == "SR" && iis:
			if len(c.IISAuthorities) > 0 {
				if !ContainsFold(c.IISAuthorities, auth, p.AuthorityID) {
					continue
				}
				auth = "" // every configured authority is the same registry
			}
			dst = append(dst, PrefixIIS+auth+"|"+v)
		case mrn && ContainsFold(c.MRNTypes, typ, ""):
			fac := strings.ToUpper(strings.TrimSpace(p.Facility))
			if fac == "" {
				continue
			}
			dst = append(dst, PrefixMRN+fac+"|"+typ+"|"+v)
		}
	}
	if demo {
		if k := c.demoKey(id); k != "" {
			dst = append(dst, k)
		}
	}
	if len(dst) == len(in) {
		return in // no key: dst as it came (nil stays nil)
	}
	return dst
}

// demoKey is "C:" family|given|birth date|sex, normalized, built in one
// buffer: one allocation, the key's.
func (c IdentityConfig) demoKey(id *Identity) string {
	dob := strings.TrimSpace(id.BirthDate)
	if len(dob) < 8 || !AllDigits(dob[:8]) {
		return ""
	}
	sex := strings.ToUpper(strings.TrimSpace(id.Sex))
	if sex == "" || sex == `""` {
		return ""
	}
	var a [128]byte
	b := append(a[:0], PrefixDemo...)
	n := len(b)
	if b = appendNormName(b, id.Family); len(b) == n {
		return ""
	}
	b = append(b, '|')
	n = len(b)
	if b = appendNormName(b, id.Given); len(b) == n || c.Placeholder(string(b[n:])) {
		return ""
	}
	b = append(append(b, '|'), dob[:8]...)
	return string(append(append(b, '|'), sex...))
}
