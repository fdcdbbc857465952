package main

import (
	"strings"
	"testing"

	"iisbridge/fhirout"
)

func TestIssueKinds(t *testing.T) {
	k := newIssueKinds()
	w := func(s string) fhirout.Issue {
		return fhirout.Issue{Severity: "warning", Code: "required", Diagnostics: s}
	}
	// Two records lack PID-8; one of them says so twice (counted once).
	k.add(fhirout.OperationOutcome(w("PID-8 is empty"), w("PID-8 is empty"), w(`code "X" is not in table mvx`)))
	k.add(fhirout.OperationOutcome(w("PID-8 is empty"), w(`code "Y" is not in table mvx`), w("line 12: bad segment")))
	k.add(fhirout.OperationOutcome(fhirout.Issue{Severity: "error", Diagnostics: "resource rejected"}, fhirout.Issue{Severity: "information", Diagnostics: "fine"}))
	var b strings.Builder
	k.print(&b)
	want := "records per warning kind:\n" +
		"        2  PID-8 is empty\n" +
		"        2  code \"…\" is not in table mvx\n" +
		"        1  line N: bad segment\n" +
		"records per error kind:\n" +
		"        1  resource rejected\n"
	if b.String() != want {
		t.Errorf("got\n%s\nwant\n%s", b.String(), want)
	}
}
