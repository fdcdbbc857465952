package fhirout

import (
	"encoding/json"
	"testing"
)

// sampleImmunization is a realistic mapped dose: CVX + NDC coding, lot,
// manufacturer, route/site, performer, VFC eligibility and funding.
func sampleImmunization() *Object {
	r := NewResource("Immunization")
	r.Set("id", "imm-3f9a1c2e7b")
	m := r.Child("meta")
	m.Set("lastUpdated", "2024-03-05T14:22:10Z")
	m.Append("profile", "http://hl7.org/fhir/us/core/StructureDefinition/us-core-immunization")
	id := r.Elem("identifier", 0)
	id.Set("system", "urn:oid:2.16.840.1.113883.3.72.5.30.2")
	id.Set("value", "65930")
	id.Child("type").Elem("coding", 0).Set("system", "http://terminology.hl7.org/CodeSystem/v2-0203")
	id.Child("type").Elem("coding", 0).Set("code", "FILL")
	r.Set("status", "completed")
	vc := r.Child("vaccineCode")
	c := vc.Elem("coding", 0)
	c.Set("system", "http://hl7.org/fhir/sid/cvx")
	c.Set("code", "08")
	c.Set("display", "Hep B, adolescent or pediatric")
	c = vc.Elem("coding", 1)
	c.Set("system", "http://hl7.org/fhir/sid/ndc")
	c.Set("code", "58160-0820-11")
	vc.Set("text", "Hep B, adolescent or pediatric")
	r.Child("patient").Set("reference", "Patient/pat-8d2c41")
	r.Set("occurrenceDateTime", "2024-03-01T10:15:00-05:00")
	r.Set("recorded", "2024-03-01")
	r.Set("primarySource", true)
	r.Child("manufacturer").Child("identifier").Set("system", "http://hl7.org/fhir/sid/mvx")
	r.Child("manufacturer").Child("identifier").Set("value", "SKB")
	r.Set("lotNumber", "AHBVB827CA")
	r.Set("expirationDate", "2025-11-30")
	site := r.Child("site").Elem("coding", 0)
	site.Set("system", "http://terminology.hl7.org/CodeSystem/v2-0163")
	site.Set("code", "LT")
	site.Set("display", "Left Thigh")
	route := r.Child("route").Elem("coding", 0)
	route.Set("system", "http://terminology.hl7.org/CodeSystem/v3-RouteOfAdministration")
	route.Set("code", "IM")
	route.Set("display", "Injection, intramuscular")
	dq := r.Child("doseQuantity")
	dq.Set("value", Number("0.5"))
	dq.Set("unit", "mL")
	dq.Set("system", "http://unitsofmeasure.org")
	dq.Set("code", "mL")
	p := r.Elem("performer", 0)
	p.Child("function").Elem("coding", 0).Set("system", "http://terminology.hl7.org/CodeSystem/v2-0443")
	p.Child("function").Elem("coding", 0).Set("code", "AP")
	p.Child("actor").Set("reference", "Practitioner/npi-1234567893")
	pe := r.Elem("programEligibility", 0).Elem("coding", 0)
	pe.Set("system", "http://terminology.hl7.org/CodeSystem/v2-0064")
	pe.Set("code", "V02")
	pe.Set("display", "VFC eligible - Medicaid/Medicaid Managed Care")
	fs := r.Child("fundingSource").Elem("coding", 0)
	fs.Set("system", "urn:oid:2.16.840.1.114222.4.5.274")
	fs.Set("code", "VXC1")
	fs.Set("display", "Federal funds")
	r.Elem("protocolApplied", 0).Set("doseNumberPositiveInt", Number("2"))
	return r
}

func BenchmarkAppendJSON(b *testing.B) {
	r := sampleImmunization()
	buf := r.AppendJSON(nil)
	b.SetBytes(int64(len(buf)))
	b.ReportAllocs()
	for b.Loop() {
		buf = r.AppendJSON(buf[:0])
	}
}

// BenchmarkEncodingJSONMap is the baseline: the same resource as a map
// through encoding/json (which also sorts keys).
func BenchmarkEncodingJSONMap(b *testing.B) {
	var m map[string]any
	if err := json.Unmarshal(sampleImmunization().AppendJSON(nil), &m); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := json.Marshal(m); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkBuildAndEncode(b *testing.B) {
	var buf []byte
	b.ReportAllocs()
	for b.Loop() {
		buf = sampleImmunization().AppendJSON(buf[:0])
	}
}

func BenchmarkParseObject(b *testing.B) {
	data := sampleImmunization().AppendJSON(nil)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ParseObject(data); err != nil {
			b.Fatal(err)
		}
	}
}
