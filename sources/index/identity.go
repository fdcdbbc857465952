package index

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"
	"unicode"

	"golang.org/x/text/runes"
	"golang.org/x/text/transform"
	"golang.org/x/text/unicode/norm"

	"iisbridge/hl7v2"
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

func (c IdentityConfig) withDefaults() IdentityConfig {
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

func (c IdentityConfig) has(rule string) bool {
	for _, r := range c.Rules {
		if strings.EqualFold(r, rule) {
			return true
		}
	}
	return false
}

// Key prefixes order the kinds: the smallest key of a person names it, so
// an IIS id wins over an MRN, and an MRN over demographics.
const (
	prefixIIS  = "A:"
	prefixMRN  = "B:"
	prefixDemo = "C:"
	prefixLone = "Z:" // a message with no usable key: its own person
)

// PatientID is the stable FHIR id of the person whose smallest key is key.
func (c IdentityConfig) PatientID(key string) string {
	return hashID(c.IDSalt + "\x00patient\x00" + key)
}

func hashID(s string) string {
	h := sha256.Sum256([]byte(s))
	return hex.EncodeToString(h[:16])
}

// hdKey renders an HD as one upper-cased token: namespace, else universal id.
func hdKey(v hl7v2.Value) string {
	hd := hl7v2.ParseHD(v)
	s := hd.Namespace
	if s == "" {
		s = hd.UniversalID
	}
	return strings.ToUpper(strings.TrimSpace(s))
}

// patientKeys lists the identity keys of one PID segment. facility is the
// organization whose MRNs the PID carries (MSH-4 of a VXU, the asker for an
// RSP). Keys never leave the index: they hold PHI.
func (c IdentityConfig) patientKeys(pid hl7v2.Segment, facility string, dst []string) []string {
	f := pid.Field(3)
	for i := 1; i <= f.NumReps(); i++ {
		cx := hl7v2.ParseCX(f.Rep(i))
		id := strings.TrimSpace(cx.ID)
		if id == "" || id == `""` {
			continue
		}
		typ := strings.ToUpper(strings.TrimSpace(cx.IDType))
		auth := strings.ToUpper(strings.TrimSpace(cx.AssigningAuthority.Namespace))
		if auth == "" {
			auth = strings.ToUpper(strings.TrimSpace(cx.AssigningAuthority.UniversalID))
		}
		switch {
		case typ == "SR" && c.has("iis"):
			if len(c.IISAuthorities) > 0 && !containsFold(c.IISAuthorities, auth, cx.AssigningAuthority.UniversalID) {
				continue
			}
			if len(c.IISAuthorities) > 0 {
				auth = "" // every configured authority is the same registry
			}
			dst = append(dst, prefixIIS+auth+"|"+id)
		case c.has("mrn") && containsFold(c.MRNTypes, typ, ""):
			if facility == "" {
				facility = auth
			}
			if facility == "" {
				continue
			}
			dst = append(dst, prefixMRN+facility+"|"+typ+"|"+id)
		}
	}
	if c.has("demographics") {
		if k := c.demoKey(pid); k != "" {
			dst = append(dst, k)
		}
	}
	return dst
}

func containsFold(list []string, a, b string) bool {
	for _, s := range list {
		if strings.EqualFold(s, a) || (b != "" && strings.EqualFold(s, b)) {
			return true
		}
	}
	return false
}

func (c IdentityConfig) demoKey(pid hl7v2.Segment) string {
	name := hl7v2.ParseXPN(pid.Field(5).Rep(1))
	family, given := normName(name.Family), normName(name.Given)
	if family == "" || given == "" || c.placeholder(given) {
		return ""
	}
	dob := strings.TrimSpace(pid.Field(7).Rep(1).Component(1).String())
	if len(dob) < 8 || !allDigits(dob[:8]) {
		return ""
	}
	sex := strings.ToUpper(strings.TrimSpace(pid.Field(8).Rep(1).Component(1).String()))
	if sex == "" || sex == `""` {
		return ""
	}
	return prefixDemo + family + "|" + given + "|" + dob[:8] + "|" + sex
}

func (c IdentityConfig) placeholder(given string) bool {
	for _, w := range strings.FieldsFunc(given, func(r rune) bool { return r == ' ' || r == '-' }) {
		if len(w) == 1 || allDigits(w) || containsFold(c.PlaceholderNames, w, "") {
			continue
		}
		return false
	}
	return true
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}

// normName upper-cases, folds diacritics (MÜLLER → MULLER), drops
// punctuation and collapses spaces.
func normName(s string) string {
	s = strings.TrimSpace(s)
	if s == "" || s == `""` {
		return ""
	}
	ascii := true
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			ascii = false
			break
		}
	}
	if !ascii {
		t := transform.Chain(norm.NFD, runes.Remove(runes.In(unicode.Mn)), norm.NFC)
		if r, _, err := transform.String(t, s); err == nil {
			s = r
		}
	}
	var b strings.Builder
	space := false
	for _, r := range strings.ToUpper(s) {
		switch {
		case unicode.IsLetter(r) || unicode.IsDigit(r):
			if space && b.Len() > 0 {
				b.WriteByte(' ')
			}
			space = false
			b.WriteRune(r)
		case r == ' ' || r == '-' || r == '\t':
			space = true
		}
	}
	return b.String()
}
