package mapping

import (
	"fmt"
	"strings"
)

// Choice is one place where the v2-to-FHIR IG (or US Core) leaves room and
// the default mapping decides; Docs lists them so an admin sees each
// decision and where to change it.
type Choice struct {
	Input, IG, Default, Change string
}

// DefaultChoices are the choices of defaults/default.yaml. Values the
// mapping holds as constants are read from it, so the table cannot drift
// from the file.
func DefaultChoices() []Choice {
	refusal, _ := Default().Constant("refusal_default_reason")
	return []Choice{
		{"PID-3 identifier system",
			"CX-4 → system (HD-2 when HD-3 is `ISO`), else an admin table",
			"SS → us-ssn; `urn:oid:`HD-2; the `authority` table; an SR id → `http://iisbridge.dev/fhir/sid/authority/<authority>` (one across senders); else `http://iisbridge.dev/fhir/sid/sender/<facility>/<authority or type>`, the facility being CX-4, else MSH-4 of a VXU, MSH-6 (the asker) of an RSP, so two facilities' MRNs never share a system (warned when CX-4 is empty)",
			"the `authority` table (your partners' URIs), constant `sid_base`"},
		{"Resource ids",
			"none",
			"Patient: the identity index's id, else a hash of MSH-4 and the first PID-3; Immunization: a hash of \"Patient id|vaccine|day\" (the CVX, else NDC or CPT as `system#code`; RXA-3's day), the dose the export reduces to, so an order, its RXA-21 `U` and `D` and other senders' copies share it",
			"the `id:` expressions"},
		{"RSP^K11 profiles",
			"RSP body → Patient + Immunization",
			"only a single-person answer with doses (Z32/Z42); Z31 candidate lists and Z33 give nothing",
			"the top-level `when:`"},
		{"RXA-9 `01`–`08` (historical)",
			"RXA-9 is left to realm guides",
			"primarySource false + reportOrigin (NIP001 coding, plus `immunization-origin` provider/record/recall/school where one fits); `00` → true",
			"the `primarySource` / `reportOrigin` rules, `immunization_origin` table"},
		{"NIP001, NIP002 code systems",
			"no agreed FHIR URI",
			"`http://iisbridge.dev/fhir/CodeSystem/nip001`, `.../nip002`",
			"constants `nip001_system`, `nip002_system`"},
		{"PD1-16/17 registry status, PD1-12 protection",
			"no IG or US Core element",
			"extension `http://iisbridge.dev/fhir/StructureDefinition/immunization-registry-status` (`status` v2-0441, `date`); PD1-12 `Y` → meta.security `R`",
			"the PD1 rules"},
		{"RXA-11 administered-at location",
			"the R4 map leaves RXA-11 out (v2.6+ RXA-27/28)",
			"`location.display` from LA2-4",
			"the `location.display` rule"},
		{"RXA-20 `RE` (refusal) with RXA-18 empty",
			"RXA-18 → statusReason; no default; US Core: statusReason must-support when not-done",
			fmt.Sprintf("statusReason v3-ActReason `%s`, with a warning", refusal),
			"constant `refusal_default_reason` (any v3-ActReason code)"},
		{"RXA-20 `NA` with RXA-18 empty",
			"no default",
			"`MEDPREC` when the ORDER has a contraindication OBX (30945-0), `IMMUNE` with an immunity OBX (59784-9, 75505-8), else statusReason with the data-absent-reason extension, with a warning",
			"the `statusReason` rules of the Immunization"},
		{"RXA-9 empty or not an NIP001 code",
			"RXA-9 is left to realm guides; US Core requires primarySource",
			"`_primarySource` with data-absent-reason `unknown`, with a warning",
			"a `default:` on the `primarySource` rule (e.g. `false`) and remove the `_primarySource` rule"},
		{"PID-3 without any identifier",
			"US Core: identifier 1..*",
			"one identifier whose `_system` and `_value` carry data-absent-reason; the warning says how the record is keyed (identity index demographics, else sender + MSH-10)",
			"the identifier rules of the Patient"},
		{"PID-5 without family or given name",
			"US Core: name 1..*, family or given (us-core-6)",
			"a repetition without family or given is no name; none left: a `name` holding only data-absent-reason, with a warning",
			"the name rules of the Patient"},
		{"PID-8 empty or not an HL7 0001 code",
			"0001 → administrative-gender; US Core: gender 1..1",
			"`unknown`, with a warning",
			"the `gender` rule's cases"},
		{"PID-13 / PID-14 without XTN-2",
			"PID-13 → use `home`, PID-14 → `work`",
			"as the IG; XTN-3 `CP` → `mobile`",
			"`default:` of the telecom `use` rules"},
		{"XTN without number or address",
			"US Core: ContactPoint value 1..1",
			"dropped, with a warning",
			"the `where:` of the telecom foreach"},
		{"XAD-7 `L`, `P`, `M` and other codes with no FHIR use",
			"AddressUse map leaves them unmapped (`M` → type `postal`)",
			"no `use` (M: type `postal`)",
			"the `address_use` table (e.g. `L: home` for a jurisdiction default)"},
		{"XAD-1.2 street name, XAD-1.3 dwelling number",
			"XAD-1.2 → iso21090-ADXP-streetName on the line",
			"beside XAD-1.1: the streetName extension; without XAD-1.1: the line is dwelling number + street name",
			"the address `line` rules"},
		{"XTN-3 `TDD`, `TTY`, `MD`, `SAT`",
			"TelecomEquipmentType map: `other`",
			"`other`",
			"the `telecom_system` table"},
		{"PID-10 holding an ethnicity code (CDCREC 2133-7 to 2186-5)",
			"not a race",
			"left out of the race codings (kept in the race text), with a warning",
			"the race rules of the Patient"},
		{"RXA-5 CVX not in the CVX table, NDC or CPT beside it",
			"every coding of RXA-5 → vaccineCode",
			"the dose is kept with the NDC/CPT codings (and the CVX from the NDC or CPT crosswalk), with a warning; a bad CVX alone rejects the Immunization",
			"the `reject` rules of vaccineCode"},
		{"RXA-5 NDC only",
			"NDC → vaccineCode; US Core asks for a CVX",
			"CVX from `tables/ndc-cvx.csv` (a verified subset of CDC's crosswalk); an NDC it does not list: NDC coding only, with a warning",
			"replace `tables/ndc-cvx.csv` with CDC's NDC crosswalk"},
		{"RXA-7 empty",
			"no default unit",
			"doseQuantity with the value only",
			"the `doseQuantity` rules"},
		{"RXA-21 not `A`, `U`, `D`, `X`",
			"HL7 0323 / 0206",
			"read as an add or update, with a warning",
			"the RXA-21 `warn` rule"},
		{"RXR-1 / RXR-2 code not in HL7 0162 / 0163",
			"route / site codings",
			"no coding; `text` from the label (or the code), with a warning",
			"the `route` / `site` rules"},
		{"VIS named by vaccine type (OBX 30956-7)",
			"education deferred to the CDC IG; FHIR imm-1 needs documentType or reference",
			"documentType = the vaccine type's CVX description (a GS1 VIS document 69764-9 in the same OBX-4 group wins); VIS dates with neither: no education entry, with a warning",
			"the `education` rules"},
	}
}

// choicesDocs is the Markdown table of DefaultChoices.
func choicesDocs() string {
	var b strings.Builder
	b.WriteString("\n### Choices of the default mapping\n\nWhere the v2-to-FHIR IG or US Core leaves room, what `defaults/default.yaml` does (a warning goes to OperationOutcome for the record wherever the table says so).\n\n| Input | The IG / US Core | The default mapping | To change it |\n|---|---|---|---|\n")
	for _, c := range DefaultChoices() {
		fmt.Fprintf(&b, "| %s | %s | %s | %s |\n", escapePipe(c.Input), escapePipe(c.IG), escapePipe(c.Default), escapePipe(c.Change))
	}
	return b.String()
}
