package fhirout

import (
	"strconv"
	"strings"
	"time"
)

// Input says which input record an issue is about. It is filled from the
// source's location; fhirout does not depend on sources. Zero values mean
// "not known" and are left out, except Offset, which is kept whenever Line
// is known (offset 0 is the first record of a file).
type Input struct {
	Source    string // file or table
	Offset    int64
	Line      int
	Index     int
	ControlID string // MSH-10 / row key
	Field     string // v2 path or column, e.g. "PID-7"
}

// Issue is one problem with one input record (or one export request).
// Diagnostics must not carry PHI: name the field and the rule, not values
// that identify a person (codes and dates of non-patient data are fine).
type Issue struct {
	Severity    string   // fatal | error | warning | information
	Code        string   // FHIR issue-type: invalid, structure, required, value, code-invalid, not-found, not-supported, processing, exception, ...
	Diagnostics string   // plain reason
	Expression  []string // FHIR element(s) concerned, e.g. "Immunization.occurrenceDateTime"
	Input       *Input   // nil for request-level issues
	Rule        string   // mapping file:line that raised it, when a rule did
}

// InputLocationURL is the extension on OperationOutcome.issue that carries
// the structured Input (sub-extensions source, offset, line, index,
// controlId, field, rule).
const InputLocationURL = "http://iisbridge.dev/fhir/StructureDefinition/input-location"

// DeletedAtURL is the extension on a DeletedBundle entry holding the time
// the resource was deleted (valueInstant).
const DeletedAtURL = "http://iisbridge.dev/fhir/StructureDefinition/deleted-at"

// OperationOutcome builds one OperationOutcome resource holding issues.
// Each issue gets details.text (the plain reason), diagnostics (a one-line
// summary with the input location and rule) and, with an Input, the
// input-location extension. An unknown severity becomes "error" and a code
// outside the FHIR IssueType set "processing", so the result is always
// valid FHIR. With no
// issues it holds one "information" issue, since FHIR requires at least one.
func OperationOutcome(issues ...Issue) *Object {
	oo := NewResource("OperationOutcome")
	if len(issues) == 0 {
		issues = []Issue{{Severity: "information", Code: "informational", Diagnostics: "no issues"}}
	}
	arr := make([]any, 0, len(issues))
	for _, is := range issues {
		arr = append(arr, issueObject(is))
	}
	oo.Set("issue", arr)
	return oo
}

// issueTypes is the FHIR R4 IssueType value set (required binding).
var issueTypes = map[string]bool{
	"invalid": true, "structure": true, "required": true, "value": true, "invariant": true,
	"security": true, "login": true, "unknown": true, "expired": true, "forbidden": true,
	"suppressed": true, "processing": true, "not-supported": true, "duplicate": true,
	"multiple-matches": true, "not-found": true, "deleted": true, "too-long": true,
	"code-invalid": true, "extension": true, "too-costly": true, "business-rule": true,
	"conflict": true, "transient": true, "lock-error": true, "no-store": true,
	"exception": true, "timeout": true, "incomplete": true, "throttled": true,
	"informational": true,
}

func issueObject(is Issue) *Object {
	o := &Object{}
	if ext := inputExtension(is.Input, is.Rule); ext != nil {
		o.Set("extension", []any{ext})
	}
	switch is.Severity {
	case "fatal", "error", "warning", "information":
		o.Set("severity", is.Severity)
	default:
		o.Set("severity", "error")
	}
	code := strings.TrimSpace(is.Code)
	if !issueTypes[code] {
		code = "processing"
	}
	o.Set("code", code)
	if d := oneLine(is.Diagnostics); d != "" {
		o.Child("details").Set("text", d)
	}
	if s := Summary(is); s != "" {
		o.Set("diagnostics", s)
	}
	if len(is.Expression) > 0 {
		exp := make([]any, 0, len(is.Expression))
		for _, e := range is.Expression {
			if e != "" {
				exp = append(exp, e)
			}
		}
		if len(exp) > 0 {
			o.Set("expression", exp)
		}
	}
	return o
}

func inputExtension(in *Input, rule string) *Object {
	var sub []any
	add := func(url, typ string, v any) {
		e := &Object{}
		e.Set("url", url)
		e.Set(typ, v)
		sub = append(sub, e)
	}
	if in != nil {
		if in.Source != "" {
			add("source", "valueString", in.Source)
		}
		if in.Offset > 0 || in.Line > 0 {
			// valueDecimal: offsets can exceed FHIR integer's 32 bits.
			add("offset", "valueDecimal", Number(strconv.FormatInt(in.Offset, 10)))
		}
		if in.Line > 0 {
			add("line", "valueInteger", Number(strconv.Itoa(in.Line)))
		}
		if in.Index > 0 {
			add("index", "valueInteger", Number(strconv.Itoa(in.Index)))
		}
		if in.ControlID != "" {
			add("controlId", "valueString", in.ControlID)
		}
		if in.Field != "" {
			add("field", "valueString", in.Field)
		}
	}
	if rule != "" {
		add("rule", "valueString", rule)
	}
	if len(sub) == 0 {
		return nil
	}
	ext := &Object{}
	ext.Set("extension", sub)
	ext.Set("url", InputLocationURL)
	return ext
}

// Summary renders an issue as one line, e.g.
// "file.hl7:12 offset 345 record 3 MSH-10 ABC field PID-7: reason [rule default.yaml:40]".
func Summary(is Issue) string {
	var b strings.Builder
	if in := is.Input; in != nil {
		sp := func() {
			if b.Len() > 0 {
				b.WriteByte(' ')
			}
		}
		b.WriteString(in.Source)
		if in.Line > 0 {
			if in.Source == "" {
				b.WriteString("line ")
			} else {
				b.WriteByte(':')
			}
			b.WriteString(strconv.Itoa(in.Line))
		}
		if in.Offset > 0 || in.Line > 0 {
			sp()
			b.WriteString("offset ")
			b.WriteString(strconv.FormatInt(in.Offset, 10))
		}
		if in.Index > 0 {
			sp()
			b.WriteString("record ")
			b.WriteString(strconv.Itoa(in.Index))
		}
		if in.ControlID != "" {
			sp()
			// Files carry v2 messages (MSH-10); tables have row keys.
			if in.Line > 0 || in.Offset > 0 {
				b.WriteString("MSH-10 ")
			} else {
				b.WriteString("key ")
			}
			b.WriteString(in.ControlID)
		}
		if in.Field != "" {
			sp()
			b.WriteString("field ")
			b.WriteString(in.Field)
		}
	}
	if d := oneLine(is.Diagnostics); d != "" {
		if b.Len() > 0 {
			b.WriteString(": ")
		}
		b.WriteString(d)
	}
	if is.Rule != "" {
		if b.Len() > 0 {
			b.WriteByte(' ')
		}
		b.WriteString("[rule ")
		b.WriteString(is.Rule)
		b.WriteByte(']')
	}
	return b.String()
}

// oneLine folds line breaks and trims, so a diagnostic stays one line.
func oneLine(s string) string {
	if strings.ContainsAny(s, "\r\n") {
		s = strings.Join(strings.Fields(s), " ")
	}
	return strings.TrimSpace(s)
}

// Deleted names one resource that left the export (Bulk Data manifest
// "deleted"), and when.
type Deleted struct {
	Type, ID string
	At       time.Time // zero: unknown
}

// DeletedBundle builds the Bundle (type transaction) that Bulk Data lists
// in a manifest's "deleted" array: one entry per resource with
// request DELETE Type/id. A known deletion time rides in the deleted-at
// extension of the entry.
func DeletedBundle(entries ...Deleted) *Object {
	b := NewResource("Bundle")
	b.Set("type", "transaction")
	if len(entries) == 0 {
		return b
	}
	arr := make([]any, 0, len(entries))
	for _, d := range entries {
		e := &Object{}
		if !d.At.IsZero() {
			ext := &Object{}
			ext.Set("url", DeletedAtURL)
			ext.Set("valueInstant", FormatInstant(d.At))
			e.Set("extension", []any{ext})
		}
		req := e.Child("request")
		req.Set("method", "DELETE")
		req.Set("url", d.Type+"/"+d.ID)
		arr = append(arr, e)
	}
	b.Set("entry", arr)
	return b
}

// FormatInstant renders t as a FHIR instant in UTC with the precision the
// time carries (milliseconds at most).
func FormatInstant(t time.Time) string {
	t = t.UTC()
	if t.Nanosecond()/1e6 == 0 {
		return t.Format("2006-01-02T15:04:05Z")
	}
	return t.Format("2006-01-02T15:04:05.000Z")
}
