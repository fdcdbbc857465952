package fhirout_test

import (
	"fmt"
	"os"

	"github.com/iisbridge/iisbridge/fhirout"
)

func ExampleObject() {
	imm := fhirout.NewResource("Immunization")
	imm.Set("id", "i1")
	imm.Set("status", "completed")
	c := imm.Child("vaccineCode").Elem("coding", 0)
	c.Set("system", "http://hl7.org/fhir/sid/cvx")
	c.Set("code", "08")
	imm.Set("lotNumber", "") // a v2 field that was empty
	imm.Child("doseQuantity").Set("value", fhirout.Number("0.50"))
	imm.Prune()
	fmt.Println(imm)
	// Output: {"resourceType":"Immunization","id":"i1","status":"completed","vaccineCode":{"coding":[{"system":"http://hl7.org/fhir/sid/cvx","code":"08"}]},"doseQuantity":{"value":0.50}}
}

func ExampleOperationOutcome() {
	oo := fhirout.OperationOutcome(fhirout.Issue{
		Severity:    "error",
		Code:        "invalid",
		Diagnostics: "month 13 is not a date",
		Expression:  []string{"Immunization.occurrenceDateTime"},
		Input:       &fhirout.Input{Source: "vxu.hl7", Line: 12, Offset: 345, ControlID: "MSG0001", Field: "RXA-3"},
		Rule:        "default.yaml:40",
	})
	issue, _ := oo.Get("issue")
	d, _ := issue.([]any)[0].(*fhirout.Object).Get("diagnostics")
	fmt.Println(d)
	// Output: vxu.hl7:12 offset 345 MSH-10 MSG0001 field RXA-3: month 13 is not a date [rule default.yaml:40]
}

func ExampleDirWriter() {
	dir, _ := os.MkdirTemp("", "export")
	defer os.RemoveAll(dir)
	w, _ := fhirout.NewDirWriter(dir, fhirout.RotateOptions{MaxResources: 2})
	for _, id := range []string{"a", "b", "c"} {
		p := fhirout.NewResource("Patient")
		p.Set("id", id)
		w.Write(p)
	}
	files, _ := w.Close()
	for _, f := range files {
		fmt.Println(f.Type, f.Count, f.Bytes)
	}
	// Output:
	// Patient 2 72
	// Patient 1 36
}
