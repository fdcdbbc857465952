package server

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"mime"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/iisbridge/iisbridge/fhirout"
	"github.com/iisbridge/iisbridge/pipeline"
)

// Export levels.
const (
	levelSystem  = "system"
	levelPatient = "patient"
	levelGroup   = "group"
)

// exportSpec is a validated kick-off request: what the job will export.
type exportSpec struct {
	level       string
	groupID     string
	query       pipeline.Query
	hasSince    bool
	filters     typeFilters
	elements    elementSpec
	withGroups  bool         // system level: write the Group resources too
	patientRefs []string     // `patient` parameter (ids)
	group       *groupExport // Group level: what the kick-off fixed (groupexport.go)
	warnings    []fhirout.Issue
	// run replaces the export for jobs of other operations ($bulk-match)
	run func(*liveJob, *exportSpec) ([]jobFile, error)
}

// kv is one kick-off parameter, from the query string or a Parameters body.
type kv struct {
	name, value string
	ref         bool // came as valueReference
}

var outputFormats = []string{"application/fhir+ndjson", "application/ndjson", "ndjson"}

// requestError is a kick-off refusal: HTTP status plus issues.
type requestError struct {
	status int
	issues []fhirout.Issue
}

func (e *requestError) Error() string {
	var b []string
	for _, is := range e.issues {
		b = append(b, is.Diagnostics)
	}
	return strings.Join(b, "; ")
}

func badRequest(code, format string, args ...any) *requestError {
	return &requestError{400, []fhirout.Issue{{Severity: "error", Code: code, Diagnostics: fmt.Sprintf(format, args...)}}}
}

// preferences parses Prefer as a comma list of tokens.
func preferences(r *http.Request) (async, lenient bool) {
	for _, h := range r.Header.Values("Prefer") {
		for _, p := range strings.Split(h, ",") {
			p, _, _ = strings.Cut(p, ";") // preference parameters do not matter here
			p = strings.ToLower(strings.ReplaceAll(p, " ", ""))
			switch p {
			case "respond-async":
				async = true
			case "handling=lenient":
				lenient = true
			}
		}
	}
	return
}

// acceptsFHIRJSON says whether Accept names application/fhir+json.
func acceptsFHIRJSON(r *http.Request) bool {
	for _, h := range r.Header.Values("Accept") {
		for _, part := range strings.Split(h, ",") {
			mt, _, err := mime.ParseMediaType(strings.TrimSpace(part))
			if err == nil && mt == "application/fhir+json" {
				return true
			}
		}
	}
	return false
}

// kickoffParams gathers parameters from the query string and, for POST,
// the FHIR Parameters body.
func kickoffParams(r *http.Request) ([]kv, *requestError) {
	pairs, err := parseQueryKeepPlus(r.URL.RawQuery)
	if err != nil {
		return nil, badRequest("invalid", "query string: %v", err)
	}
	var out []kv
	for _, p := range pairs {
		out = append(out, kv{name: p.name, value: p.value})
	}
	if r.Method != http.MethodPost {
		return out, nil
	}
	body, rerr := readFHIRBody(r, maxParametersBody, "POST kick-off wants a FHIR Parameters body as application/fhir+json", "Parameters body", "")
	if rerr != nil {
		return nil, rerr
	}
	if len(strings.TrimSpace(string(body))) == 0 {
		return out, nil
	}
	var ps struct {
		ResourceType string            `json:"resourceType"`
		Parameter    []json.RawMessage `json:"parameter"`
	}
	if err := json.Unmarshal(body, &ps); err != nil {
		return nil, badRequest("structure", "Parameters body: %s", jsonProblem(err))
	}
	if ps.ResourceType != "Parameters" {
		return nil, badRequest("structure", "POST body must be a FHIR Parameters resource, not %q", ps.ResourceType)
	}
	for i, raw := range ps.Parameter {
		var p map[string]json.RawMessage
		if err := json.Unmarshal(raw, &p); err != nil {
			return nil, badRequest("structure", "Parameters.parameter[%d]: not an object", i)
		}
		var name string
		_ = json.Unmarshal(p["name"], &name)
		if name == "" {
			return nil, badRequest("required", "Parameters.parameter[%d]: name is required", i)
		}
		v, isRef, err := parameterValue(p)
		if err != nil {
			return nil, badRequest("structure", "Parameters.parameter[%d] (%s): %v", i, name, err)
		}
		out = append(out, kv{name: name, value: v, ref: isRef})
	}
	return out, nil
}

const maxParametersBody = 8 << 20

// jsonProblem describes a JSON decode error in client terms: where, and
// which element, never the Go types encoding/json names.
func jsonProblem(err error) string {
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	switch {
	case errors.As(err, &se):
		return fmt.Sprintf("not valid JSON (at byte %d)", se.Offset)
	case errors.As(err, &te) && te.Field != "":
		return fmt.Sprintf("element %s has the wrong JSON type (%s)", te.Field, te.Value)
	case errors.As(err, &te):
		return fmt.Sprintf("want a JSON object, not %s", te.Value)
	}
	return "not valid JSON"
}

// parameterValue reads value[x] of one Parameters.parameter as text:
// primitives as is, valueReference.reference, valueCoding.code.
func parameterValue(p map[string]json.RawMessage) (string, bool, error) {
	var keys []string
	for k := range p {
		if strings.HasPrefix(k, "value") {
			keys = append(keys, k)
		}
	}
	if len(keys) > 1 {
		slices.Sort(keys)
		return "", false, fmt.Errorf("more than one value[x] (%s): give exactly one", strings.Join(keys, ", "))
	}
	for _, k := range keys {
		raw := p[k]
		switch k {
		case "valueReference":
			var ref struct{ Reference string }
			if err := json.Unmarshal(raw, &ref); err != nil || ref.Reference == "" {
				return "", false, fmt.Errorf("valueReference needs a reference")
			}
			return ref.Reference, true, nil
		case "valueCoding":
			var c struct{ System, Code string }
			if err := json.Unmarshal(raw, &c); err != nil || c.Code == "" {
				return "", false, fmt.Errorf("valueCoding needs a code")
			}
			return c.Code, false, nil
		case "valueBoolean":
			var b bool
			if err := json.Unmarshal(raw, &b); err != nil {
				return "", false, fmt.Errorf("bad valueBoolean")
			}
			return fmt.Sprint(b), false, nil
		default:
			var s string
			if err := json.Unmarshal(raw, &s); err != nil {
				return "", false, fmt.Errorf("%s: want a string value", k)
			}
			return s, false, nil
		}
	}
	return "", false, fmt.Errorf("no value[x]")
}

// instantRE is the FHIR R4 instant syntax (datatypes: instant): year
// 0001-9999, seconds and zone required, offsets up to ±14:00.
var instantRE = regexp.MustCompile(`^([0-9]([0-9]([0-9][1-9]|[1-9]0)|[1-9]00)|[1-9]000)-(0[1-9]|1[0-2])-(0[1-9]|[1-2][0-9]|3[0-1])T([01][0-9]|2[0-3]):[0-5][0-9]:([0-5][0-9]|60)(\.[0-9]{1,9})?(Z|(\+|-)((0[0-9]|1[0-3]):[0-5][0-9]|14:00))$`)

// Instants the job store and the index can compare: what int64
// nanoseconds since 1970 hold (about 1677-09-21 to 2262-04-11).
var (
	minInstant = time.Unix(0, math.MinInt64).UTC()
	maxInstant = time.Unix(0, math.MaxInt64).UTC()
)

// parseInstant reads a FHIR instant exactly: the spec's syntax, a real
// calendar date (no 2024-02-30, no leap second) and a time this server
// can compare.
func parseInstant(v string) (time.Time, error) {
	bad := fmt.Errorf("%q is not a FHIR instant (e.g. 2024-01-31T00:00:00Z or ...T00:00:00+05:00)", v)
	if !instantRE.MatchString(v) {
		return time.Time{}, bad
	}
	t, err := time.Parse(time.RFC3339Nano, v)
	if err != nil {
		return time.Time{}, bad
	}
	if t.Before(minInstant) || t.After(maxInstant) {
		return time.Time{}, fmt.Errorf("%q is outside the range this server can compare (%d to %d)", v, minInstant.Year()+1, maxInstant.Year()-1)
	}
	return t, nil
}

// buildSpec validates the parameters of a kick-off at a level. served
// lists the types the level can export; p is the requesting client.
func (s *Server) buildSpec(params []kv, level string, lenient bool, isPost bool, p *Principal) (*exportSpec, *requestError) {
	if rerr := checkCosts(params); rerr != nil {
		return nil, rerr
	}
	spec := &exportSpec{level: level}
	// Source-wide broken-input issues concern no exported record: only a
	// system export (an operator's: a client bound to Groups cannot start
	// one) carries them.
	spec.query.SourceIssues = level == levelSystem && p.Groups == nil
	served := s.servedTypes(level)
	isServed := func(t string) bool { return slices.Contains(served, t) }
	var errs issueList
	warnings := issueList{}
	// fail records a problem with one parameter: an error in strict mode, a
	// warning in the job's error file in lenient mode (the value ignored).
	fail := func(param, code, format string, args ...any) {
		msg := fmt.Sprintf(format, args...)
		if lenient {
			warnings.add(fhirout.Issue{Severity: "warning", Code: code,
				Diagnostics: fmt.Sprintf("parameter %s ignored (Prefer: handling=lenient): %s", param, msg)})
			return
		}
		errs.add(fhirout.Issue{Severity: "error", Code: code, Diagnostics: fmt.Sprintf("parameter %s: %s", param, msg)})
	}
	seen := map[string]bool{}
	var types []string
	typeSeen := map[string]bool{}
	patientSeen := map[string]bool{}
	var provenance bool
	for _, q := range params {
		single := func() bool {
			if seen[q.name] {
				fail(q.name, "invalid", "given more than once")
				return false
			}
			seen[q.name] = true
			return true
		}
		switch q.name {
		case "_outputFormat":
			if single() && !slices.Contains(outputFormats, q.value) {
				fail(q.name, "not-supported", "%q is not supported; use application/fhir+ndjson, application/ndjson or ndjson", q.value)
			}
		case "_since", "_until":
			if !single() {
				continue
			}
			t, err := parseInstant(q.value)
			if err != nil {
				fail(q.name, "invalid", "%v", err)
				continue
			}
			if q.name == "_since" {
				spec.query.Since, spec.hasSince = t, true
			} else {
				spec.query.Until = t
			}
		case "_type":
			for _, t := range strings.Split(q.value, ",") {
				t = strings.TrimSpace(t)
				switch {
				case t == "":
				case !isServed(t):
					fail(q.name, "not-supported", "resource type %q is not exported at the %s level (served: %s)", t, level, strings.Join(served, ", "))
				case !typeSeen[t]:
					typeSeen[t] = true
					types = append(types, t)
				}
			}
		case "_elements":
			for _, e := range strings.Split(q.value, ",") {
				if e = strings.TrimSpace(e); e == "" {
					continue
				}
				if err := spec.elements.add(e, isServed); err != nil {
					fail(q.name, "not-supported", "%v", err)
				}
			}
		case "_typeFilter":
			for _, f := range splitTypeFilters(q.value) {
				t, fq, bad, err := parseTypeFilter(f, isServed)
				if err != nil {
					fail(q.name, "not-supported", "%v", err)
					continue
				}
				// A bad clause is refused (strict) or ignored alone, so the
				// rest of its query still narrows the export (lenient).
				for _, e := range bad {
					if lenient {
						warnings.add(fhirout.Issue{Severity: "warning", Code: "not-supported", Diagnostics: fmt.Sprintf(
							"parameter _typeFilter: clause %v; ignored in %q, the rest of that query applies (Prefer: handling=lenient)", e, f)})
					} else {
						fail(q.name, "not-supported", "%v", e)
					}
				}
				if !lenient && len(bad) > 0 {
					continue
				}
				if spec.filters == nil {
					spec.filters = typeFilters{}
				}
				spec.filters[t] = append(spec.filters[t], fq)
			}
		case "patient":
			switch {
			case level == levelSystem:
				fail(q.name, "not-supported", "not supported at the system level; use Patient/$export or Group/[id]/$export")
			case !isPost || !q.ref:
				fail(q.name, "not-supported", "give patients as valueReference in a POST Parameters body")
			default:
				id, ok := strings.CutPrefix(q.value, "Patient/")
				if !ok || !groupIDRE.MatchString(id) {
					fail(q.name, "invalid", "reference %q is not of the form Patient/[id]", q.value)
					continue
				}
				if !patientSeen[id] {
					patientSeen[id] = true
					spec.patientRefs = append(spec.patientRefs, id)
				}
			}
		case "includeAssociatedData":
			for _, v := range strings.Split(q.value, ",") {
				switch v = strings.TrimSpace(v); {
				// Every Exporter honours Query.Provenance (the pipeline
				// contract), whether or not it lists Provenance among the
				// types it exports unasked.
				case v == "LatestProvenanceResources":
					provenance = true
				default:
					fail(q.name, "not-supported", "value %q is not supported by this server", v)
				}
			}
		default:
			fail(q.name, "not-supported", "this server does not support it")
		}
	}
	if !spec.query.Since.IsZero() && !spec.query.Until.IsZero() && !spec.query.Until.After(spec.query.Since) {
		fail("_until", "invalid", "must be after _since")
		spec.query.Until = time.Time{}
	}
	spec.warnings = warnings.issues()
	if len(errs.list) > 0 {
		return nil, &requestError{400, errs.issues()}
	}
	// The client must be allowed every type it names; without _type it
	// gets every served type it may read.
	if len(types) > 0 {
		for _, t := range types {
			if !p.MayRead(t) {
				return nil, &requestError{403, []fhirout.Issue{{Severity: "error", Code: "forbidden",
					Diagnostics: fmt.Sprintf("parameter _type: this client may not read %s resources", t)}}}
			}
		}
	} else {
		for _, t := range served {
			if p.MayRead(t) {
				types = append(types, t)
			}
		}
		if len(types) == 0 {
			return nil, &requestError{403, []fhirout.Issue{{Severity: "error", Code: "forbidden",
				Diagnostics: "this client may read none of the exported resource types"}}}
		}
	}
	for t := range spec.filters {
		if !p.MayRead(t) {
			return nil, &requestError{403, []fhirout.Issue{{Severity: "error", Code: "forbidden",
				Diagnostics: fmt.Sprintf("parameter _typeFilter: this client may not read %s resources", t)}}}
		}
	}
	if provenance && !slices.Contains(types, "Provenance") {
		types = append(types, "Provenance")
	}
	for _, t := range types {
		if t == "Group" {
			spec.withGroups = true
		} else {
			spec.query.Types = append(spec.query.Types, t)
		}
	}
	spec.query.Provenance = provenance
	return spec, nil
}

// Limits on list parameters: each bounds the CPU one kick-off may cost
// (the README and the package comment list them). Beyond a limit the
// kick-off is refused with 400 too-costly, lenient or not.
const (
	maxParameters   = maxPatientRefs + 100 // parameters per kick-off
	maxPatientRefs  = 10000                // `patient` references
	maxTypes        = 50                   // _type values, over all _type parameters
	maxElements     = 100                  // _elements entries
	maxTypeFilters  = 50                   // _typeFilter queries
	maxFilterValues = 100                  // search values over all _typeFilter queries (each tested per resource)
	maxIssues       = 20                   // issues listed per response or per warning list
	maxDiagnostics  = 300                  // bytes of one issue's text (values quoted are cut)
)

// checkCosts refuses a kick-off whose lists exceed the limits, before any
// of it is parsed further.
func checkCosts(params []kv) *requestError {
	if len(params) > maxParameters {
		return tooCostly("more than %d parameters", maxParameters)
	}
	var refs, types, elems, filters, values int
	for _, q := range params {
		switch q.name {
		case "patient":
			refs++
		case "_type":
			types += strings.Count(q.value, ",") + 1
		case "_elements":
			elems += strings.Count(q.value, ",") + 1
		case "_typeFilter":
			qs := splitTypeFilters(q.value)
			filters += len(qs)
			for _, f := range qs {
				_, search, _ := strings.Cut(f, "?")
				for _, c := range strings.Split(search, "&") {
					// values are comma-separated after unescaping: count both forms
					values += strings.Count(c, ",") + strings.Count(strings.ToUpper(c), "%2C") + 1
				}
			}
		}
	}
	switch {
	case refs > maxPatientRefs:
		return tooCostly("patient: more than %d references; export a Group instead", maxPatientRefs)
	case types > maxTypes:
		return tooCostly("_type: more than %d values", maxTypes)
	case elems > maxElements:
		return tooCostly("_elements: more than %d entries", maxElements)
	case filters > maxTypeFilters:
		return tooCostly("_typeFilter: more than %d queries", maxTypeFilters)
	case values > maxFilterValues:
		return tooCostly("_typeFilter: more than %d search values in all (each value is tested on every resource)", maxFilterValues)
	}
	return nil
}

func tooCostly(format string, args ...any) *requestError {
	return &requestError{400, []fhirout.Issue{{Severity: "error", Code: "too-costly",
		Diagnostics: "kick-off exceeds a limit of this server: " + fmt.Sprintf(format, args...)}}}
}

// issueList keeps the first maxIssues issues and counts the rest, so one
// response (or one job's warnings) stays small whatever the request.
type issueList struct {
	list []fhirout.Issue
	more int
}

func (l *issueList) add(is fhirout.Issue) {
	if len(is.Diagnostics) > maxDiagnostics { // a message quotes the client's value
		cut := maxDiagnostics
		for cut > 0 && !utf8.RuneStart(is.Diagnostics[cut]) {
			cut--
		}
		is.Diagnostics = is.Diagnostics[:cut] + "…"
	}
	if len(l.list) < maxIssues {
		l.list = append(l.list, is)
		return
	}
	l.more++
}

func (l *issueList) issues() []fhirout.Issue {
	if l.more == 0 || len(l.list) == 0 {
		return l.list
	}
	return append(l.list, fhirout.Issue{Severity: l.list[0].Severity, Code: l.list[0].Code,
		Diagnostics: fmt.Sprintf("%d more problems of this request are not listed", l.more)})
}

// servedTypes lists the types exported at a level: the exporter's, plus
// Group at the system level (Group is not in the Patient compartment).
func (s *Server) servedTypes(level string) []string {
	types := slices.Clone(s.exporter.ResourceTypes())
	if level == levelSystem && !slices.Contains(types, "Group") {
		types = append(types, "Group")
	}
	if level != levelSystem {
		types = slices.DeleteFunc(types, func(t string) bool { return t == "Group" })
	}
	return types
}

// readFHIRBody reads a request's FHIR JSON body: 415 with wrongType for
// another media type, 413 past limit bytes (noun names the body, hint
// says what to do instead).
func readFHIRBody(r *http.Request, limit int, wrongType, noun, hint string) ([]byte, *requestError) {
	if ct := r.Header.Get("Content-Type"); ct != "" {
		if mt, _, _ := mime.ParseMediaType(ct); mt != "application/fhir+json" && mt != "application/json" {
			return nil, &requestError{415, []fhirout.Issue{{Severity: "error", Code: "not-supported", Diagnostics: wrongType}}}
		}
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, int64(limit)+1))
	if err != nil {
		return nil, badRequest("invalid", "reading the %s: %v", noun, err)
	}
	if len(body) > limit {
		return nil, &requestError{413, []fhirout.Issue{{Severity: "error", Code: "too-costly",
			Diagnostics: fmt.Sprintf("%s larger than %d bytes%s", noun, limit, hint)}}}
	}
	return body, nil
}
