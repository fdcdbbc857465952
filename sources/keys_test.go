package sources

import (
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"
	"unicode"

	"golang.org/x/text/transform"
)

// Keys are persisted in the index (its identity fingerprint does not
// cover how they are built): the buffer-building Keys, NormName and
// Placeholder must give exactly what the string-concatenating versions
// they replaced gave (kept below as the reference) on every identity.
func TestKeysAsBefore(t *testing.T) {
	r := rand.New(rand.NewPCG(21, 7))
	words := []string{"", " ", `""`, "Ann", "ANN", "baby", "BOY", "twin a", "Müller", "peña", "O'Brien-Smith",
		"  Ng\t", "JOSÉ MARÍA", "ß", "ı", "ſ", "Ⅻ", "a-b--c", "x\u00a0y", "\u00a0", "NB 2", "Baby  Girl 2", "3",
		"Ünal", "\xff\xfe", "D'Angelo", "Jean-Luc", "van der Berg", "ÅSA", "li", "TEST-1", "ǅ", "Œuvre",
		"Maximilian-Alexander Wolfgang Theodor von und zu Guttenberg-Hohenzollern Sachsen-Coburg", "Ñandú Ñandú Ñandú Ñandú Ñandú Ñandú Ñandú Ñandú Ñandú Ñandú Ñandú Ñandú Ñandú"}
	pick := func() string {
		s := words[r.IntN(len(words))]
		if r.IntN(4) == 0 {
			s += words[r.IntN(len(words))]
		}
		return s
	}
	ids := []string{"", " ", `""`, "M1", " 42 ", "s9"}
	types := []string{"", "MR", "mr", " PI", "SR", "sr ", "PT", "XX"}
	auths := []string{"", "MYIIS", "myiis", "OTHER", " MyIIS "}
	dobs := []string{"", "2020", "20200102", " 20200102 ", "2020010", "20200102123000", "2020-01-02", "abcdefgh"}
	sexes := []string{"", " ", "F", "m", `""`, "U", "x "}
	configs := []IdentityConfig{DefaultIdentity(), {Rules: []string{"IIS", "Demographics"}, IISAuthorities: []string{"MYIIS"}, MRNTypes: []string{"MR"}},
		{Rules: []string{"mrn"}, MRNTypes: []string{"mr", "PI"}}, {Rules: []string{"demographics"}, PlaceholderNames: []string{"BABY"}}}
	one := func(l []string) string { return l[r.IntN(len(l))] }
	for i := 0; i < 60000; i++ {
		id := &Identity{Family: pick(), Given: pick(), BirthDate: one(dobs), Sex: one(sexes)}
		for range r.IntN(4) {
			id.IDs = append(id.IDs, PersonID{ID: one(ids), Type: one(types), Authority: one(auths), AuthorityID: one(auths), Facility: one(auths)})
		}
		c := configs[i%len(configs)]
		var dst []string
		if r.IntN(2) == 0 {
			dst = []string{"X:kept"}
		}
		got, want := c.Keys(id, append([]string(nil), dst...)), oldKeys(c, id, append([]string(nil), dst...))
		if !reflect.DeepEqual(got, want) || (got == nil) != (want == nil) {
			t.Fatalf("Keys(%+v) under %+v\n= %q\nwant %q", id, c, got, want)
		}
		if got, want := NormName(id.Given), oldNormName(id.Given); got != want {
			t.Fatalf("NormName(%q) = %q, want %q", id.Given, got, want)
		}
		for _, g := range []string{id.Given, NormName(id.Given)} {
			if got, want := c.Placeholder(g), oldPlaceholder(c, g); got != want {
				t.Fatalf("Placeholder(%q) = %v, want %v", g, got, want)
			}
		}
	}
}

func oldKeys(c IdentityConfig, id *Identity, dst []string) []string {
	iis, mrn := c.Has("iis"), c.Has("mrn")
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
				auth = ""
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
	if c.Has("demographics") {
		family, given := oldNormName(id.Family), oldNormName(id.Given)
		if family == "" || given == "" || oldPlaceholder(c, given) {
			return dst
		}
		dob := strings.TrimSpace(id.BirthDate)
		if len(dob) < 8 || !AllDigits(dob[:8]) {
			return dst
		}
		sex := strings.ToUpper(strings.TrimSpace(id.Sex))
		if sex == "" || sex == `""` {
			return dst
		}
		dst = append(dst, PrefixDemo+family+"|"+given+"|"+dob[:8]+"|"+sex)
	}
	return dst
}

func oldPlaceholder(c IdentityConfig, given string) bool {
	for _, w := range strings.FieldsFunc(given, func(r rune) bool { return r == ' ' || r == '-' }) {
		if len(w) == 1 || AllDigits(w) || ContainsFold(c.PlaceholderNames, w, "") {
			continue
		}
		return false
	}
	return true
}

func oldNormName(s string) string {
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
		t := foldPool.Get().(transform.Transformer)
		if r, _, err := transform.String(t, s); err == nil {
			s = r
		}
		foldPool.Put(t)
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
