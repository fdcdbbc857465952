package server

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"slices"
	"strings"
	"time"

	"iisbridge/fhirout"
	"iisbridge/pipeline"
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
	withGroups  bool     // system level: write the Group resources too
	patientRefs []string // `patient` parameter (ids)
	warnings    []fhirout.Issue
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
	if ct := r.Header.Get("Content-Type"); ct != "" {
		mt, _, _ := mime.ParseMediaType(ct)
		if mt != "application/fhir+json" && mt != "application/json" {
			return nil, &requestError{415, []fhirout.Issue{{Severity: "error", Code: "not-supported",
				Diagnostics: "POST kick-off wants a FHIR Parameters body as application/fhir+json"}}}
		}
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, maxParametersBody+1))
	if err != nil {
		return nil, badRequest("invalid", "reading the Parameters body: %v", err)
	}
	if len(body) > maxParametersBody {
		return nil, &requestError{413, []fhirout.Issue{{Severity: "error", Code: "too-costly",
			Diagnostics: fmt.Sprintf("Parameters body larger than %d bytes", maxParametersBody)}}}
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
	for k, raw := range p {
		if !strings.HasPrefix(k, "value") {
			continue
		}
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

// parseInstant reads a FHIR instant (seconds and zone required).
func parseInstant(v string) (time.Time, error) {
	t, err := time.Parse(time.RFC3339Nano, v)
	if err != nil || !strings.Contains(v, "T") {
		return time.Time{}, fmt.Errorf("%q is not a FHIR instant (e.g. 2024-01-31T00:00:00Z or ...T00:00:00+05:00)", v)
	}
	return t, nil
}

// buildSpec validates the parameters of a kick-off at a level. served
// lists the types the level can export; p is the requesting client.
func (s *Server) buildSpec(params []kv, level string, lenient bool, isPost bool, p *Principal) (*exportSpec, *requestError) {
	spec := &exportSpec{level: level}
	served := s.servedTypes(level)
	isServed := func(t string) bool { return slices.Contains(served, t) }
	var errs []fhirout.Issue
	// fail records a problem with one parameter: an error in strict mode, a
	// warning in the job's error file in lenient mode (the value ignored).
	fail := func(param, code, format string, args ...any) {
		msg := fmt.Sprintf(format, args...)
		if lenient {
			spec.warnings = append(spec.warnings, fhirout.Issue{Severity: "warning", Code: code,
				Diagnostics: fmt.Sprintf("parameter %s ignored (Prefer: handling=lenient): %s", param, msg)})
			return
		}
		errs = append(errs, fhirout.Issue{Severity: "error", Code: code, Diagnostics: fmt.Sprintf("parameter %s: %s", param, msg)})
	}
	seen := map[string]bool{}
	var types []string
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
				case !slices.Contains(types, t):
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
				t, fq, err := parseTypeFilter(f, isServed)
				if err != nil {
					fail(q.name, "not-supported", "%v", err)
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
				if !slices.Contains(spec.patientRefs, id) {
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
	if len(errs) > 0 {
		return nil, &requestError{400, errs}
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
