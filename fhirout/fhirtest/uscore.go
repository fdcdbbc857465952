package fhirtest

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
)

// DataAbsentReasonURL is the extension US Core accepts in place of a
// required value it cannot have.
const DataAbsentReasonURL = "http://hl7.org/fhir/StructureDefinition/data-absent-reason"

// Finding is one US Core 6.1 rule a resource does not meet with a value.
type Finding struct {
	Element string // FHIR element, e.g. "Patient.gender"
	// Absent: the element carries the data-absent-reason extension instead
	// of its value, which US Core allows when the source has no value (the
	// converter must then say so in its OperationOutcome).
	Absent bool
	Detail string
}

func (f Finding) String() string {
	if f.Absent {
		return f.Element + ": data-absent-reason (" + f.Detail + ")"
	}
	return f.Element + ": " + f.Detail
}

// USCore checks the US Core 6.1 required and must-support elements this
// project emits: Patient identifier (system and value), name (family or
// given), gender, telecom (system and value); Immunization status,
// statusReason when not-done, vaccineCode (a coding with system and code),
// patient, occurrence[x], primarySource. Other resource types give no
// findings. It returns an error only when the JSON is not an object.
func USCore(resourceJSON []byte) ([]Finding, error) {
	var r map[string]any
	if err := json.Unmarshal(resourceJSON, &r); err != nil {
		return nil, fmt.Errorf("not a JSON object: %w", err)
	}
	var fs []Finding
	add := func(el string, absent bool, detail string) {
		fs = append(fs, Finding{Element: el, Absent: absent, Detail: detail})
	}
	switch r["resourceType"] {
	case "Patient":
		ids := objects(r["identifier"])
		if len(ids) == 0 {
			add("Patient.identifier", false, "missing (1..*)")
		}
		for i, id := range ids {
			sys, val := str(id, "system") != "", str(id, "value") != ""
			switch {
			case sys && val:
			case (sys || absent(id["_system"])) && (val || absent(id["_value"])):
				add("Patient.identifier", true, fmt.Sprintf("identifier[%d]", i))
			default:
				add("Patient.identifier", false, fmt.Sprintf("identifier[%d] lacks system or value", i))
			}
		}
		names := objects(r["name"])
		if len(names) == 0 {
			add("Patient.name", false, "missing (1..*)")
		}
		for i, n := range names {
			switch {
			case str(n, "family") != "" || len(stringList(n["given"])) > 0:
			case absent(n):
				add("Patient.name", true, fmt.Sprintf("name[%d]", i))
			default:
				add("Patient.name", false, fmt.Sprintf("name[%d] has neither family nor given (us-core-6)", i))
			}
		}
		switch g := str(r, "gender"); {
		case slices.Contains([]string{"male", "female", "other", "unknown"}, g):
		case g == "" && absent(r["_gender"]):
			add("Patient.gender", true, "gender")
		default:
			add("Patient.gender", false, fmt.Sprintf("missing or not an administrative-gender code: %q", g))
		}
		for i, t := range objects(r["telecom"]) {
			if str(t, "system") == "" || str(t, "value") == "" {
				add("Patient.telecom", false, fmt.Sprintf("telecom[%d] lacks system or value", i))
			}
		}
	case "Immunization":
		status := str(r, "status")
		if !slices.Contains([]string{"completed", "entered-in-error", "not-done"}, status) {
			add("Immunization.status", false, fmt.Sprintf("missing or not an immunization-status code: %q", status))
		}
		if status == "not-done" {
			sr, _ := r["statusReason"].(map[string]any)
			switch {
			case hasCoding(sr) || str(sr, "text") != "":
			case absent(sr):
				add("Immunization.statusReason", true, "statusReason")
			default:
				add("Immunization.statusReason", false, "a not-done Immunization has no statusReason")
			}
		}
		vc, _ := r["vaccineCode"].(map[string]any)
		switch {
		case hasCoding(vc):
		case absent(vc):
			add("Immunization.vaccineCode", true, "vaccineCode")
		default:
			add("Immunization.vaccineCode", false, "no coding with system and code")
		}
		if p, _ := r["patient"].(map[string]any); str(p, "reference") == "" {
			add("Immunization.patient", false, "no patient.reference")
		}
		if str(r, "occurrenceDateTime") == "" && str(r, "occurrenceString") == "" {
			add("Immunization.occurrence[x]", false, "no occurrenceDateTime or occurrenceString")
		}
		switch r["primarySource"].(type) {
		case bool:
		default:
			if absent(r["_primarySource"]) {
				add("Immunization.primarySource", true, "primarySource")
			} else {
				add("Immunization.primarySource", false, "missing (1..1)")
			}
		}
	}
	return fs, nil
}

// Conformant checks one emitted resource: the FHIR R4 schema (when
// IISBRIDGE_FHIR_SCHEMA is set; ErrNoSchema is not an error here) and
// USCore. A finding with data-absent-reason is conformant only when
// warned, the expressions (FHIR elements) of the warnings raised for the
// same record, names the element or one of its children; any other
// finding is an error.
func Conformant(resourceJSON []byte, warned []string) error {
	var errs []error
	if err := Check(resourceJSON); err != nil && !errors.Is(err, ErrNoSchema) {
		errs = append(errs, err)
	}
	fs, err := USCore(resourceJSON)
	if err != nil {
		return err
	}
	if len(fs) == 0 {
		return errors.Join(errs...)
	}
	var head struct{ ResourceType, ID string }
	json.Unmarshal(resourceJSON, &head)
	for _, f := range fs {
		if f.Absent && names(warned, f.Element) {
			continue
		}
		if f.Absent {
			errs = append(errs, fmt.Errorf("%s/%s: %s without a warning naming %s", head.ResourceType, head.ID, f, f.Element))
			continue
		}
		errs = append(errs, fmt.Errorf("%s/%s breaks US Core: %s", head.ResourceType, head.ID, f))
	}
	return errors.Join(errs...)
}

// names says one of exprs is element or one of its children.
func names(exprs []string, element string) bool {
	for _, e := range exprs {
		if e == element || strings.HasPrefix(e, element+".") {
			return true
		}
	}
	return false
}

// absent says a JSON element (an object, or the _x sibling of a primitive)
// carries the data-absent-reason extension.
func absent(v any) bool {
	o, _ := v.(map[string]any)
	for _, e := range objects(o["extension"]) {
		if str(e, "url") == DataAbsentReasonURL && str(e, "valueCode") != "" {
			return true
		}
	}
	return false
}

func hasCoding(cc map[string]any) bool {
	for _, c := range objects(cc["coding"]) {
		if str(c, "system") != "" && str(c, "code") != "" {
			return true
		}
	}
	return false
}

func objects(v any) []map[string]any {
	a, _ := v.([]any)
	var out []map[string]any
	for _, x := range a {
		if o, ok := x.(map[string]any); ok {
			out = append(out, o)
		}
	}
	return out
}

func stringList(v any) []string {
	a, _ := v.([]any)
	var out []string
	for _, x := range a {
		if s, ok := x.(string); ok && s != "" {
			out = append(out, s)
		}
	}
	return out
}

func str(o map[string]any, k string) string {
	s, _ := o[k].(string)
	return s
}
