package main

import (
	"fmt"
	"strings"
	"testing"

	"github.com/iisbridge/iisbridge/fhirout"
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

func TestIssueKindsRulesAndTop(t *testing.T) {
	k := newIssueKinds()
	w := func(s, rule string) fhirout.Issue {
		return fhirout.Issue{Severity: "warning", Code: "required", Diagnostics: s, Rule: rule, Input: &fhirout.Input{Source: "a.hl7", Line: 1}}
	}
	k.add(fhirout.OperationOutcome(w("PID-8 is empty", "m.yaml:40")))
	k.add(fhirout.OperationOutcome(w("PID-8 is empty", "m.yaml:40")))
	k.add(fhirout.OperationOutcome(w("PID-8 is empty", "m.yaml:77")))
	for i := range topIssueKinds + 2 {
		k.add(fhirout.OperationOutcome(w(fmt.Sprintf("rare kind %02d", i), "")))
	}
	var b strings.Builder
	k.print(&b)
	got := b.String()
	if !strings.HasPrefix(got, "records per warning kind:\n        3  PID-8 is empty\n           rule m.yaml:40 (and 1 other rule(s))\n        1  rare kind 00\n") {
		t.Errorf("got\n%s", got)
	}
	if !strings.HasSuffix(got, "        1  rare kind 08\n        3  in 3 other kind(s)\n") {
		t.Errorf("the tail should count the kinds left out:\n%s", got)
	}
}
