package server

import (
	"fmt"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/iisbridge/iisbridge/fhirout"
)

// typeFilters holds the parsed _typeFilter queries: several for one type
// are OR-ed, the parameters inside one query AND-ed, and a type without a
// filter passes untouched. One filter path serves all three export levels.
type typeFilters map[string][]*filterQuery

type filterQuery struct {
	src     string
	clauses []func(*fhirout.Object) bool
}

func (tf typeFilters) match(r *fhirout.Object) bool {
	qs, ok := tf[r.ResourceType()]
	if !ok {
		return true
	}
	for _, q := range qs {
		if q.match(r) {
			return true
		}
	}
	return false
}

func (q *filterQuery) match(r *fhirout.Object) bool {
	for _, c := range q.clauses {
		if !c(r) {
			return false
		}
	}
	return true
}

// searchKind is the FHIR search parameter type.
type searchKind int

const (
	kindDate searchKind = iota
	kindToken
	kindString
	kindReference
)

// searchKinds name each kind (its FHIR code) and the modifiers served.
var searchKinds = [...]struct {
	code      string
	modifiers []string
}{
	kindDate:      {"date", nil},
	kindToken:     {"token", []string{"not"}},
	kindString:    {"string", []string{"exact", "contains"}},
	kindReference: {"reference", nil},
}

// searchParam is one _typeFilter search parameter: what parsing and
// evaluation need, and what the CapabilityStatement and the docs say.
type searchParam struct {
	typ, name string
	kind      searchKind
	def       string // the SearchParameter's canonical URL
	path      string // the element searched, for the docs
	// The element values the parameter searches, by kind.
	dates   func(r *fhirout.Object) []string // date params
	tokens  func(r *fhirout.Object) []coded  // token params
	strings func(r *fhirout.Object) []string // string and reference params
}

// coded is one system|code (or system|value) pair on a resource.
type coded struct{ system, code string }

// searchParamTable is every search parameter served, the one place they
// are defined: it drives parsing and evaluation (parseTypeFilter), the
// CapabilityStatement (metadata.go), Bulk Cohort member-filters
// (cohort.go) and the README's table (searchParamDocs, kept equal by a
// test).
var searchParamTable = []*searchParam{
	{typ: "Immunization", name: "date", kind: kindDate, def: "http://hl7.org/fhir/SearchParameter/clinical-date",
		path: "Immunization.occurrenceDateTime", dates: func(r *fhirout.Object) []string { return strs(r, "occurrenceDateTime") }},
	{typ: "Immunization", name: "status", kind: kindToken, def: "http://hl7.org/fhir/SearchParameter/Immunization-status",
		path: "Immunization.status", tokens: func(r *fhirout.Object) []coded { return codes(r, "status", "http://hl7.org/fhir/event-status") }},
	{typ: "Immunization", name: "vaccine-code", kind: kindToken, def: "http://hl7.org/fhir/SearchParameter/Immunization-vaccine-code",
		path: "Immunization.vaccineCode", tokens: func(r *fhirout.Object) []coded { return codings(r, "vaccineCode") }},
	{typ: "Immunization", name: "location", kind: kindReference, def: "http://hl7.org/fhir/SearchParameter/Immunization-location",
		path: "Immunization.location", strings: func(r *fhirout.Object) []string { return refs(r, "location") }},
	{typ: "Immunization", name: "lot-number", kind: kindString, def: "http://hl7.org/fhir/SearchParameter/Immunization-lot-number",
		path: "Immunization.lotNumber", strings: func(r *fhirout.Object) []string { return strs(r, "lotNumber") }},
	{typ: "Patient", name: "birthdate", kind: kindDate, def: "http://hl7.org/fhir/SearchParameter/individual-birthdate",
		path: "Patient.birthDate", dates: func(r *fhirout.Object) []string { return strs(r, "birthDate") }},
	{typ: "Patient", name: "gender", kind: kindToken, def: "http://hl7.org/fhir/SearchParameter/individual-gender",
		path: "Patient.gender", tokens: func(r *fhirout.Object) []coded {
			return codes(r, "gender", "http://hl7.org/fhir/administrative-gender")
		}},
	{typ: "Patient", name: "address-postalcode", kind: kindString, def: "http://hl7.org/fhir/SearchParameter/individual-address-postalcode",
		path: "Patient.address.postalCode", strings: func(r *fhirout.Object) []string { return sub(r, "address", "postalCode") }},
	{typ: "Patient", name: "identifier", kind: kindToken, def: "http://hl7.org/fhir/SearchParameter/Patient-identifier",
		path: "Patient.identifier", tokens: identifiers},
}

// searchParams indexes searchParamTable by type and name.
var searchParams = func() map[string]map[string]*searchParam {
	out := map[string]map[string]*searchParam{}
	for _, p := range searchParamTable {
		if out[p.typ] == nil {
			out[p.typ] = map[string]*searchParam{}
		}
		out[p.typ][p.name] = p
	}
	return out
}()

// searchParamsOf lists the parameters of type t, by name.
func searchParamsOf(t string) []*searchParam {
	var out []*searchParam
	for _, p := range searchParamTable {
		if p.typ == t {
			out = append(out, p)
		}
	}
	slices.SortFunc(out, func(a, b *searchParam) int { return strings.Compare(a.name, b.name) })
	return out
}

// Markers around the README's generated table of search parameters.
const (
	searchDocsBegin = "<!-- BEGIN generated: search parameters (server/typefilter.go) -->"
	searchDocsEnd   = "<!-- END generated: search parameters -->"
)

// searchParamDocs is the Markdown table of the search parameters served
// (README.md holds it between the markers).
func searchParamDocs() string {
	var b strings.Builder
	b.WriteString("| Parameter | Type | Searches | Modifiers | Definition |\n|---|---|---|---|---|\n")
	for _, p := range searchParamTable {
		mods := "none"
		if m := searchKinds[p.kind].modifiers; len(m) > 0 {
			mods = ":" + strings.Join(m, ", :")
		}
		fmt.Fprintf(&b, "| `%s?%s` | %s | `%s` | %s | %s |\n", p.typ, p.name, searchKinds[p.kind].code, p.path, mods, p.def)
	}
	return b.String()
}

func strs(r *fhirout.Object, key string) []string {
	if v, ok := r.Get(key); ok {
		if s, ok := v.(string); ok {
			return []string{s}
		}
	}
	return nil
}

func objects(r *fhirout.Object, key string) []*fhirout.Object {
	v, ok := r.Get(key)
	if !ok {
		return nil
	}
	switch x := v.(type) {
	case *fhirout.Object:
		return []*fhirout.Object{x}
	case []any:
		out := make([]*fhirout.Object, 0, len(x))
		for _, e := range x {
			if o, ok := e.(*fhirout.Object); ok {
				out = append(out, o)
			}
		}
		return out
	}
	return nil
}

func sub(r *fhirout.Object, key, field string) []string {
	var out []string
	for _, o := range objects(r, key) {
		out = append(out, strs(o, field)...)
	}
	return out
}

func codes(r *fhirout.Object, key, system string) []coded {
	var out []coded
	for _, s := range strs(r, key) {
		out = append(out, coded{system, s})
	}
	return out
}

func codings(r *fhirout.Object, key string) []coded {
	var out []coded
	for _, cc := range objects(r, key) {
		for _, c := range objects(cc, "coding") {
			sys, _ := c.Get("system")
			code, _ := c.Get("code")
			s, _ := sys.(string)
			cd, _ := code.(string)
			out = append(out, coded{s, cd})
		}
	}
	return out
}

func identifiers(r *fhirout.Object) []coded {
	var out []coded
	for _, id := range objects(r, "identifier") {
		sys, _ := id.Get("system")
		val, _ := id.Get("value")
		s, _ := sys.(string)
		v, _ := val.(string)
		out = append(out, coded{s, v})
	}
	return out
}

func refs(r *fhirout.Object, key string) []string { return sub(r, key, "reference") }

var filterStart = regexp.MustCompile(`,([A-Z][A-Za-z]+\?)`)

// splitTypeFilters splits one _typeFilter value that may hold a comma list
// of queries; commas inside a query (OR-ed values) stay, since only a comma
// followed by "Type?" starts a new query.
func splitTypeFilters(v string) []string {
	idx := filterStart.FindAllStringSubmatchIndex(v, -1)
	var out []string
	last := 0
	for _, m := range idx {
		out = append(out, v[last:m[0]])
		last = m[2]
	}
	return append(out, v[last:])
}

// parseTypeFilter parses one "Type?param=value&..." query. err refuses
// the whole query (its form, its type); bad lists the clauses that cannot
// be applied, each named, which the query is returned without.
func parseTypeFilter(q string, served func(string) bool) (typ string, fq *filterQuery, bad []error, err error) {
	typ, rawQuery, ok := strings.Cut(q, "?")
	if !ok || typ == "" {
		return "", nil, nil, fmt.Errorf("%q is not of the form Type?search", q)
	}
	if !served(typ) {
		return "", nil, nil, fmt.Errorf("resource type %q is not exported by this server", typ)
	}
	params := searchParams[typ]
	fq = &filterQuery{src: q}
	pairs, err := parseQueryKeepPlus(rawQuery)
	if err != nil {
		return "", nil, nil, fmt.Errorf("%s: %v", typ, err)
	}
	if len(pairs) == 0 {
		return "", nil, nil, fmt.Errorf("%s: empty search", typ)
	}
	for _, p := range pairs {
		name, mod, _ := strings.Cut(p.name, ":")
		sp, ok := params[name]
		if !ok {
			bad = append(bad, fmt.Errorf("%s?%s=%s: search parameter %q is not supported in _typeFilter", typ, p.name, p.value, name))
			continue
		}
		c, err := sp.clause(mod, p.value)
		if err != nil {
			bad = append(bad, fmt.Errorf("%s?%s=%s: %v", typ, p.name, p.value, err))
			continue
		}
		fq.clauses = append(fq.clauses, c)
	}
	return typ, fq, bad, nil
}

// clause compiles one parameter; comma-separated values are OR-ed. The
// resource's values are read once per clause, not once per OR-ed value.
func (sp *searchParam) clause(mod, value string) (func(*fhirout.Object) bool, error) {
	if value == "" {
		return nil, fmt.Errorf("empty value")
	}
	if mod != "" && !slices.Contains(searchKinds[sp.kind].modifiers, mod) {
		return nil, fmt.Errorf("modifier :%s is not supported on a %s parameter", mod, searchKinds[sp.kind].code)
	}
	vals := strings.Split(value, ",")
	var test func(*fhirout.Object) bool
	switch sp.kind {
	case kindDate:
		var tests []func(s, e time.Time) bool
		for _, v := range vals {
			t, err := dateTest(v)
			if err != nil {
				return nil, err
			}
			tests = append(tests, t)
		}
		get := sp.dates
		test = func(r *fhirout.Object) bool {
			for _, d := range get(r) {
				s, e, ok := dateRange(d)
				if !ok {
					continue
				}
				for _, t := range tests {
					if t(s, e) {
						return true
					}
				}
			}
			return false
		}
	case kindToken:
		type want struct {
			sys, code string
			hasSys    bool
		}
		var wants []want
		for _, v := range vals {
			sys, code, hasSys := strings.Cut(v, "|")
			if !hasSys {
				code, sys = sys, ""
			}
			wants = append(wants, want{sys, code, hasSys})
		}
		get := sp.tokens
		test = func(r *fhirout.Object) bool {
			for _, c := range get(r) {
				for _, w := range wants {
					if (w.code == "" || c.code == w.code) && (!w.hasSys || c.system == w.sys) {
						return true
					}
				}
			}
			return false
		}
	case kindString:
		get := sp.strings
		test = func(r *fhirout.Object) bool {
			for _, s := range get(r) {
				for _, want := range vals {
					switch mod {
					case "exact":
						if s == want {
							return true
						}
					case "contains":
						if strings.Contains(strings.ToLower(s), strings.ToLower(want)) {
							return true
						}
					default:
						if len(s) >= len(want) && strings.EqualFold(s[:len(want)], want) {
							return true
						}
					}
				}
			}
			return false
		}
	case kindReference:
		get := sp.strings
		test = func(r *fhirout.Object) bool {
			for _, s := range get(r) {
				for _, want := range vals {
					if s == want || strings.HasSuffix(s, "/"+want) {
						return true
					}
				}
			}
			return false
		}
	}
	not := mod == "not"
	return func(r *fhirout.Object) bool { return test(r) != not }, nil
}

var datePrefixes = []string{"eq", "ne", "lt", "gt", "le", "ge", "sa", "eb"}

// dateTest compiles "[prefix]date" into a test on a target range [s, e),
// following FHIR search's range semantics for partial dates.
func dateTest(v string) (func(s, e time.Time) bool, error) {
	prefix := "eq"
	for _, p := range datePrefixes {
		if strings.HasPrefix(v, p) {
			prefix, v = p, v[2:]
			break
		}
	}
	qs, qe, ok := dateRange(v)
	if !ok {
		return nil, fmt.Errorf("%q is not a FHIR date (YYYY, YYYY-MM, YYYY-MM-DD or a dateTime with zone)", v)
	}
	within := func(s, e time.Time) bool { return !s.Before(qs) && !e.After(qe) }
	switch prefix {
	case "eq":
		return within, nil
	case "ne":
		return func(s, e time.Time) bool { return !within(s, e) }, nil
	case "lt":
		return func(s, e time.Time) bool { return s.Before(qs) }, nil
	case "gt":
		return func(s, e time.Time) bool { return e.After(qe) }, nil
	case "le":
		return func(s, e time.Time) bool { return s.Before(qs) || within(s, e) }, nil
	case "ge":
		return func(s, e time.Time) bool { return e.After(qe) || within(s, e) }, nil
	case "sa":
		return func(s, e time.Time) bool { return !s.Before(qe) }, nil
	default: // eb
		return func(s, e time.Time) bool { return !e.After(qs) }, nil
	}
}

var dateRE = regexp.MustCompile(`^(\d{4})(?:-(\d{2})(?:-(\d{2})(?:T(\d{2}):(\d{2})(?::(\d{2})(\.\d+)?)?(Z|[+-]\d{2}:\d{2})?)?)?)?$`)

// dateRange turns a FHIR date, dateTime or instant, possibly partial, into
// the interval [start, end) it denotes. A time without zone is taken as UTC.
func dateRange(v string) (time.Time, time.Time, bool) {
	m := dateRE.FindStringSubmatch(v)
	if m == nil {
		return time.Time{}, time.Time{}, false
	}
	num := func(s string, def int) int {
		if s == "" {
			return def
		}
		n := 0
		for _, c := range s {
			n = n*10 + int(c-'0')
		}
		return n
	}
	loc := time.UTC
	if z := m[8]; z != "" && z != "Z" {
		h, mi := num(z[1:3], 0), num(z[4:6], 0)
		off := (h*60 + mi) * 60
		if z[0] == '-' {
			off = -off
		}
		loc = time.FixedZone("", off)
	}
	y, mo, d := num(m[1], 0), num(m[2], 1), num(m[3], 1)
	if mo < 1 || mo > 12 || d < 1 || d > 31 {
		return time.Time{}, time.Time{}, false
	}
	h, mi, s := num(m[4], 0), num(m[5], 0), num(m[6], 0)
	if h > 23 || mi > 59 || s > 60 {
		return time.Time{}, time.Time{}, false
	}
	var ns int
	if f := m[7]; f != "" {
		frac := (f[1:] + "000000000")[:9]
		ns = num(frac, 0)
	}
	start := time.Date(y, time.Month(mo), d, h, mi, s, ns, loc)
	if start.Day() != d { // 2021-02-30
		return time.Time{}, time.Time{}, false
	}
	var end time.Time
	switch {
	case m[2] == "":
		end = start.AddDate(1, 0, 0)
	case m[3] == "":
		end = start.AddDate(0, 1, 0)
	case m[4] == "":
		end = start.AddDate(0, 0, 1)
	case m[6] == "":
		end = start.Add(time.Minute)
	case m[7] == "":
		end = start.Add(time.Second)
	default:
		end = start.Add(time.Millisecond)
	}
	return start.UTC(), end.UTC(), true
}

// queryPair is one name=value of a query string.
type queryPair struct{ name, value string }

// parseQueryKeepPlus parses a query string keeping a raw '+' as a plus:
// clients send application/fhir+ndjson and +05:00 offsets unencoded, and
// url.ParseQuery would turn them into spaces.
func parseQueryKeepPlus(raw string) ([]queryPair, error) {
	var out []queryPair
	for _, part := range strings.Split(raw, "&") {
		if part == "" {
			continue
		}
		k, v, _ := strings.Cut(part, "=")
		k, err := url.PathUnescape(k)
		if err != nil {
			return nil, fmt.Errorf("bad escape in parameter name")
		}
		if v, err = url.PathUnescape(v); err != nil {
			return nil, fmt.Errorf("bad escape in parameter %s", k)
		}
		out = append(out, queryPair{k, v})
	}
	return out, nil
}
