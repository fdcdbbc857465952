package mapping

import (
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/iisbridge/iisbridge/fhirout"
	"github.com/iisbridge/iisbridge/fhirout/fhirtest"
	"github.com/iisbridge/iisbridge/hl7v2"
	"github.com/iisbridge/iisbridge/sources"
)

func applyDefault(t *testing.T, name string) Output {
	t.Helper()
	return Default().Apply(Input{Msg: readMsg(t, name), Loc: sources.Location{Source: name, Line: 1, Index: 1}}, false)
}

func issueCount(out Output, severity, code, contains string) int {
	n := 0
	for _, is := range out.Issues {
		if is.Severity == severity && is.Code == code && strings.Contains(is.Diagnostics, contains) {
			n++
		}
	}
	return n
}

const (
	v2203 = "http://terminology.hl7.org/CodeSystem/v2-0203"
	sid   = "http://iisbridge.dev/fhir/sid/"
)

func TestDefaultPatient(t *testing.T) {
	out := applyDefault(t, "vxu_full.hl7")
	ps := byType(t, out, "Patient")
	if len(ps) != 1 {
		t.Fatalf("%d Patients", len(ps))
	}
	p := ps[0]
	want(t, p, "meta.profile[0]", "http://hl7.org/fhir/us/core/StructureDefinition/us-core-patient")
	absent(t, p, "meta.security") // PD1-12 N
	// PID-3: MR of the sender, SR of the IIS authority, SS, ISO OID.
	want(t, p, "identifier[0].value", "MRN4471")
	want(t, p, "identifier[0].system", sid+"sender/northclinic/northclinic")
	want(t, p, "identifier[0].type.coding[0].system", v2203)
	want(t, p, "identifier[0].type.coding[0].code", "MR")
	want(t, p, "identifier[1].system", sid+"authority/stateiis")
	want(t, p, "identifier[1].type.coding[0].code", "SR")
	want(t, p, "identifier[2].system", "http://hl7.org/fhir/sid/us-ssn")
	want(t, p, "identifier[3].system", "urn:oid:2.16.840.1.113883.19.5")
	want(t, p, "identifier[3].value", "55123")
	// PID-5 names with XPN-7 use; PID-6 mother's maiden name.
	want(t, p, "name[0].use", "official")
	want(t, p, "name[0].family", "Quillfeather")
	want(t, p, "name[0].given[1]", "Ann")
	want(t, p, "name[1].use", "nickname")
	want(t, p, "extension[2].url", "http://hl7.org/fhir/StructureDefinition/patient-mothersMaidenName")
	want(t, p, "extension[2].valueString", "Thistlewood")
	want(t, p, "birthDate", "2023-01-15")
	want(t, p, "gender", "female")
	// PID-10 race and PID-22 ethnicity: US Core extensions.
	want(t, p, "extension[0].url", "http://hl7.org/fhir/us/core/StructureDefinition/us-core-race")
	want(t, p, "extension[0].extension[0].url", "ombCategory")
	want(t, p, "extension[0].extension[0].valueCoding.code", "2106-3")
	want(t, p, "extension[0].extension[0].valueCoding.system", "urn:oid:2.16.840.1.113883.6.238")
	want(t, p, "extension[0].extension[1].valueCoding.code", "2028-9")
	want(t, p, "extension[0].extension[2].url", "text")
	want(t, p, "extension[0].extension[2].valueString", "White, Asian")
	want(t, p, "extension[1].url", "http://hl7.org/fhir/us/core/StructureDefinition/us-core-ethnicity")
	want(t, p, "extension[1].extension[0].valueCoding.code", "2186-5")
	// PD1-16/17 registry status.
	want(t, p, "extension[3].url", "http://iisbridge.dev/fhir/StructureDefinition/immunization-registry-status")
	want(t, p, "extension[3].extension[0].valueCoding.code", "A")
	want(t, p, "extension[3].extension[1].valueDate", "2024-03-10")
	// PID-11 addresses: home and postal (M).
	want(t, p, "address[0].use", "home")
	want(t, p, "address[0].line[1]", "Apt 4")
	want(t, p, "address[0].district", "55025")
	want(t, p, "address[1].type", "postal")
	absent(t, p, "address[1].use")
	// PID-13 telecom: phone (XTN-6+7) and email (XTN-4).
	want(t, p, "telecom[0].system", "phone")
	want(t, p, "telecom[0].value", "6085550142")
	want(t, p, "telecom[0].use", "home")
	want(t, p, "telecom[1].system", "email")
	want(t, p, "telecom[1].value", "marigold.family@example.org")
	// PID-24/25, PID-29/30.
	want(t, p, "multipleBirthInteger", 2.0)
	absent(t, p, "multipleBirthBoolean")
	want(t, p, "deceasedBoolean", false)
	// NK1 contacts.
	want(t, p, "contact[0].relationship[0].coding[0].system", "http://terminology.hl7.org/CodeSystem/v2-0063")
	want(t, p, "contact[0].relationship[0].coding[0].code", "MTH")
	want(t, p, "contact[0].relationship[0].coding[1].system", "http://terminology.hl7.org/CodeSystem/v3-RoleCode")
	want(t, p, "contact[0].name.given[0]", "Rosalind")
	want(t, p, "contact[0].address.city", "Fernvale")
	want(t, p, "contact[0].telecom[0].value", "6085550142")
	want(t, p, "contact[1].relationship[0].coding[1].code", "FTH")
	want(t, p, "contact[1].telecom[0].use", "mobile")
}

func TestDefaultImmunization(t *testing.T) {
	out := applyDefault(t, "vxu_full.hl7")
	pid := byType(t, out, "Patient")[0]["id"]
	imms := byType(t, out, "Immunization")
	if len(imms) != 2 {
		t.Fatalf("%d Immunizations", len(imms))
	}
	im := imms[0]
	want(t, im, "meta.profile[0]", "http://hl7.org/fhir/us/core/StructureDefinition/us-core-immunization")
	want(t, im, "patient.reference", "Patient/"+pid.(string))
	want(t, im, "identifier[0].type.coding[0].code", "FILL")
	want(t, im, "identifier[0].value", "NC-DOSE-1001")
	want(t, im, "status", "completed")
	want(t, im, "vaccineCode.coding[0].system", "http://hl7.org/fhir/sid/cvx")
	want(t, im, "vaccineCode.coding[0].code", "08")
	want(t, im, "vaccineCode.coding[1].system", "http://www.ama-assn.org/go/cpt")
	want(t, im, "vaccineCode.coding[1].code", "90744")
	want(t, im, "occurrenceDateTime", "2024-03-10T10:15:00-05:00")
	want(t, im, "doseQuantity.value", 0.5)
	want(t, im, "doseQuantity.unit", "mL")
	want(t, im, "doseQuantity.system", "http://unitsofmeasure.org")
	want(t, im, "primarySource", true)
	absent(t, im, "reportOrigin")
	want(t, im, "performer[0].function.coding[0].code", "AP")
	want(t, im, "performer[0].actor.identifier.system", "http://hl7.org/fhir/sid/us-npi")
	want(t, im, "performer[0].actor.identifier.value", "1234567890")
	want(t, im, "performer[0].actor.display", "Orrin Pendergast")
	want(t, im, "performer[1].function.coding[0].code", "OP")
	want(t, im, "location.display", "NORTHCLINIC-MAIN")
	want(t, im, "lotNumber", "LOT778A")
	want(t, im, "expirationDate", "2025-12-31")
	want(t, im, "manufacturer.identifier.system", "http://hl7.org/fhir/sid/mvx")
	want(t, im, "manufacturer.identifier.value", "MSD")
	want(t, im, "route.coding[0].system", "http://terminology.hl7.org/CodeSystem/v2-0162")
	want(t, im, "route.coding[0].code", "IM")
	want(t, im, "route.coding[1].system", "http://terminology.hl7.org/CodeSystem/v3-RouteOfAdministration")
	want(t, im, "site.coding[0].system", "http://terminology.hl7.org/CodeSystem/v2-0163")
	want(t, im, "site.coding[0].code", "LT")
	want(t, im, "programEligibility[0].coding[0].system", "http://terminology.hl7.org/CodeSystem/v2-0064")
	want(t, im, "programEligibility[0].coding[0].code", "V02")
	want(t, im, "fundingSource.coding[0].code", "VXC1")
	want(t, im, "fundingSource.coding[0].system", "urn:oid:2.16.840.1.114222.4.5.274")
	want(t, im, "education[0].documentType", "253088698300028811150420")
	want(t, im, "education[0].publicationDate", "2023-10-15")
	want(t, im, "education[0].presentationDate", "2024-03-10")
	absent(t, im, "education[1]")

	// The historical dose: 01 → primarySource false + reportOrigin; ORC-3
	// 9999 gives no identifier; 999 gives no doseQuantity.
	h := imms[1]
	want(t, h, "primarySource", false)
	want(t, h, "reportOrigin.coding[0].code", "01")
	absent(t, h, "identifier")
	absent(t, h, "doseQuantity")
	want(t, h, "occurrenceDateTime", "2023-06-01")
	if issueCount(out, "warning", "incomplete", "ORC-3 has no usable dose id") != 1 {
		t.Errorf("want one ORC-3 warning: %+v", out.Issues)
	}
}

func TestDefaultStatus(t *testing.T) {
	out := applyDefault(t, "vxu_status.hl7")
	imms := byType(t, out, "Immunization")
	// Six ORDERs: one rejected (no vaccine), one 998 (never a dose).
	if len(imms) != 4 {
		t.Fatalf("%d Immunizations, want 4", len(imms))
	}
	refused := imms[0]
	want(t, refused, "status", "not-done")
	want(t, refused, "statusReason.coding[0].code", "00")
	want(t, refused, "statusReason.coding[1].system", "http://terminology.hl7.org/CodeSystem/v3-ActReason")
	want(t, refused, "statusReason.coding[1].code", "PATOBJ")
	thin := imms[1]
	want(t, thin, "status", "not-done")
	want(t, thin, "statusReason.coding[0].code", "PATOBJ")
	if issueCount(out, "warning", "incomplete", "refusal (RXA-20 RE) without a reason") != 2 {
		t.Errorf("thin refusal warnings: %+v", out.Issues)
	}
	if issueCount(out, "error", "code-invalid", "RXA-5 holds no CVX, NDC or CPT code; resource rejected") != 1 {
		t.Errorf("no-vaccine refusal must be rejected: %+v", out.Issues)
	}
	partial := imms[2]
	want(t, partial, "status", "completed")
	want(t, partial, "isSubpotent", true)
	want(t, partial, "doseQuantity.unit", "mL") // ML^^ISO+
	want(t, partial, "occurrenceDateTime", "2024-04-02T08:30:00Z")
	deleted := imms[3]
	want(t, deleted, "status", "entered-in-error")
	absent(t, deleted, "isSubpotent")

	// A delete matches the dose it deletes: same sender + ORC-3, same id.
	add := Default().Apply(Input{Msg: msg(t, strings.Replace(strings.Replace(string(mustRead(t, "vxu_status.hl7")), "|CP|D", "|CP|A", 1), "\n", "\r", -1))}, false)
	addIDs := map[string]bool{}
	for _, r := range add.Resources {
		addIDs[r.ID()] = true
	}
	if !addIDs[deleted["id"].(string)] {
		t.Error("the deleted dose's id differs from the added dose's")
	}
}

func mustRead(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestDefaultBadCodes(t *testing.T) {
	out := applyDefault(t, "vxu_badcodes.hl7")
	p := byType(t, out, "Patient")[0]
	// No authority: warned, system of the sender.
	want(t, p, "identifier[0].system", sid+"sender/westclinic/pi")
	if issueCount(out, "warning", "incomplete", "no assigning authority") != 1 {
		t.Error("missing authority warning")
	}
	want(t, p, "birthDate", "2015-08")
	// Race/ethnicity as text only: kept as text, warned, no ombCategory.
	want(t, p, "extension[0].extension[0].url", "text")
	want(t, p, "extension[0].extension[0].valueString", "ASIAN")
	absent(t, p, "extension[0].extension[1]")
	want(t, p, "extension[1].extension[0].valueString", "not HISPANIC")
	if issueCount(out, "warning", "code-invalid", "no CDCREC race code") != 1 || issueCount(out, "warning", "code-invalid", "no ethnicity code") != 1 {
		t.Errorf("race/ethnicity warnings: %+v", out.Issues)
	}
	// The template phone is dropped with a warning; the real one stays.
	want(t, p, "telecom[0].value", "4145550177")
	absent(t, p, "telecom[1]")
	if issueCount(out, "warning", "processing", "unfilled template") != 1 {
		t.Error("template warning")
	}

	imms := byType(t, out, "Immunization")
	if len(imms) != 4 {
		t.Fatalf("%d Immunizations, want 4 (405 and the impossible date rejected)", len(imms))
	}
	if issueCount(out, "error", "code-invalid", "RXA-5's CVX code is not in the CVX table and no NDC or CPT code is beside it") != 1 {
		t.Error("405 not rejected")
	}
	if issueCount(out, "error", "required", "occurrenceDateTime is required") != 1 {
		t.Error("impossible date not rejected")
	}
	// CPT first: CVX still first; RXA-9 "N" is no NIP001 code.
	want(t, imms[0], "vaccineCode.coding[0].code", "03")
	want(t, imms[0], "vaccineCode.coding[1].code", "90707")
	absent(t, imms[0], "primarySource")
	want(t, imms[0], "_primarySource.extension[0].valueCode", "unknown")
	if issueCount(out, "warning", "code-invalid", "RXA-9 is not an NIP001 code") != 1 {
		t.Error("RXA-9 warning")
	}
	// 045 compares numerically with 45.
	want(t, imms[1], "vaccineCode.coding[0].code", "45")
	// NDC only: kept, normalized, CVX from the NDC crosswalk (TENIVAC → 113).
	want(t, imms[2], "vaccineCode.coding[0].system", "http://hl7.org/fhir/sid/cvx")
	want(t, imms[2], "vaccineCode.coding[0].code", "113")
	want(t, imms[2], "vaccineCode.coding[1].system", "http://hl7.org/fhir/sid/ndc")
	want(t, imms[2], "vaccineCode.coding[1].code", "49281021588")
	if issueCount(out, "warning", "incomplete", "NDC-to-CVX table does not list") != 0 {
		t.Error("NDC warning for a listed NDC")
	}
	// CPT only: CVX through the CPT table; NCIt route kept with v2/v3.
	last := imms[3]
	want(t, last, "vaccineCode.coding[0].code", "03")
	want(t, last, "vaccineCode.coding[1].code", "90707")
	want(t, last, "occurrenceDateTime", "2024-05-05T10:30:00+01:00") // MSH-7's offset
	want(t, last, "route.coding[0].code", "IM")
	want(t, last, "route.coding[1].code", "IM")
	want(t, last, "route.coding[2].code", "C28161")
	want(t, last, "site.coding[0].display", "Left Deltoid") // trust the code, not "Left Arm"
	for _, is := range out.Issues {
		if is.Input == nil || is.Input.Source != "vxu_badcodes.hl7" || is.Rule == "" || !strings.HasPrefix(is.Rule, "defaults/default.yaml:") {
			t.Errorf("issue without location or rule: %+v", is)
		}
	}
}

func TestDefaultMisc(t *testing.T) {
	out := applyDefault(t, "vxu_misc.hl7")
	p := byType(t, out, "Patient")[0]
	// An identifier type outside v2-0203 is kept as text.
	want(t, p, "identifier[0].type.text", "XYZ")
	absent(t, p, "identifier[0].type.coding")
	// PID-14 work phone; PID-24 alone → boolean; PID-29 → deceasedDateTime.
	want(t, p, "telecom[0].use", "work")
	want(t, p, "telecom[0].value", "3125550100")
	want(t, p, "multipleBirthBoolean", true)
	want(t, p, "deceasedDateTime", "2023-11-11")
	absent(t, p, "deceasedBoolean")
	want(t, p, "contact[0].relationship[0].coding[1].code", "GUARD")
	want(t, p, "contact[0].telecom[0].system", "email")
	// A VIS named by vaccine type (30956-7) with its dates.
	im := byType(t, out, "Immunization")[0]
	want(t, im, "education[0].documentType", "Hep B, unspecified formulation") // CVX 45's description, not a made-up string
	want(t, im, "education[0].publicationDate", "2012-02-02")
	want(t, im, "education[0].presentationDate", "2023-01-05")
	// ORC-2 placer id (vxu_full).
	full := byType(t, applyDefault(t, "vxu_full.hl7"), "Immunization")[0]
	want(t, full, "identifier[1].type.coding[0].code", "PLAC")
	want(t, full, "identifier[1].value", "PL-55")
}

func TestDefaultORC3IsPatientID(t *testing.T) {
	out := Default().Apply(Input{Msg: msg(t, `
MSH|^~\&|A|NDCLINIC|C|D|20240301||VXU^V04|1|P|2.5.1
PID|1||P-77^^^NDCLINIC^MR||Doe^J||20150102|F
ORC|RE||P-77
RXA|0|1|20240301|20240301|08^HepB^CVX
ORC|RE||P-77
RXA|0|1|20240401|20240401|08^HepB^CVX`)}, false)
	imms := byType(t, out, "Immunization")
	if len(imms) != 2 || imms[0]["id"] == imms[1]["id"] {
		t.Fatalf("two doses under a reused ORC-3 must keep distinct ids: %v", imms)
	}
	absent(t, imms[0], "identifier")
	if issueCount(out, "warning", "incomplete", "or the patient id") != 2 {
		t.Errorf("warnings: %+v", out.Issues)
	}
}

func TestDefaultBirthTimeAndOddOffset(t *testing.T) {
	out := Default().Apply(Input{Msg: msg(t, `
MSH|^~\&|A|CLINIC|C|D|20240301||VXU^V04|1|P|2.5.1
PID|1||X^^^Y^MR||Doe^J||201501020304|F
PD1|||||||||||01|Y
RXA|0|1|20240301101500-0007|20240301|08^HepB^CVX`)}, false)
	p := byType(t, out, "Patient")[0]
	want(t, p, "birthDate", "2015-01-02")
	want(t, p, "meta.security[0].code", "R") // PD1-12 Y
	want(t, p, "_birthDate.extension[0].url", "http://hl7.org/fhir/StructureDefinition/patient-birthTime")
	want(t, p, "_birthDate.extension[0].valueDateTime", "2015-01-02T03:04:00Z")
	want(t, byType(t, out, "Immunization")[0], "occurrenceDateTime", "2024-03-01T10:15:00Z")
	if is := findIssue(out, "timestamp offset is not ±HHMM; dropped"); is == nil || is.Input.Field != "ORDER[1] RXA-3" {
		t.Errorf("odd offset warning: %+v", is)
	}
}

func TestDefaultRSP(t *testing.T) {
	out := applyDefault(t, "rsp_z42.hl7")
	ps, imms := byType(t, out, "Patient"), byType(t, out, "Immunization")
	if len(ps) != 1 || len(imms) != 2 || len(out.Issues) != 0 {
		t.Fatalf("Z42: %d Patients, %d Immunizations, issues %+v", len(ps), len(imms), out.Issues)
	}
	// The SR id keeps one system across senders (the VXU's and the IIS's).
	vxu := byType(t, applyDefault(t, "vxu_full.hl7"), "Patient")[0]
	want(t, ps[0], "identifier[0].system", jget(vxu, "identifier[1].system"))
	// Evaluation OBX (30956-7, 30973-2) make no education element.
	absent(t, imms[0], "education")
	want(t, imms[0], "primarySource", false)

	for _, name := range []string{"rsp_z31.hl7", "qbp.hl7"} {
		if out := applyDefault(t, name); len(out.Resources) != 0 || len(out.Issues) != 0 {
			t.Errorf("%s: want nothing, got %d resources, issues %+v", name, len(out.Resources), out.Issues)
		}
	}
}

var idRE = regexp.MustCompile(`^[A-Za-z0-9\-.]{1,64}$`)

func TestDefaultIDs(t *testing.T) {
	ms := readMsg(t, "vxu_full.hl7")
	a := Default().Apply(Input{Msg: ms}, false)
	b := Default().Apply(Input{Msg: readMsg(t, "vxu_full.hl7")}, false)
	for i := range a.Resources {
		if id := a.Resources[i].ID(); !idRE.MatchString(id) || id != b.Resources[i].ID() {
			t.Errorf("resource %d: id %q vs %q", i, id, b.Resources[i].ID())
		}
	}
	when := time.Date(2024, 3, 11, 9, 0, 0, 0, time.UTC)
	c := Default().Apply(Input{Msg: ms, PatientID: "p-42", LastUpdated: when}, false)
	for _, r := range c.Resources {
		res := tree(t, r)
		want(t, res, "meta.lastUpdated", "2024-03-11T09:00:00Z")
		if r.ResourceType() == "Immunization" {
			want(t, res, "patient.reference", "Patient/p-42")
		}
	}
	if c.Resources[0].ID() != "p-42" || c.Resources[1].ID() == a.Resources[1].ID() {
		t.Error("the identity layer's patient id must drive the ids")
	}
}

// TestDefaultSchema validates every resource and OperationOutcome made
// from the testdata messages against the FHIR R4 JSON schema.
func TestDefaultSchema(t *testing.T) {
	files, _ := filepath.Glob(filepath.Join("testdata", "*.hl7"))
	n := 0
	for _, f := range files {
		out := applyDefault(t, filepath.Base(f))
		rs := out.Resources
		if len(out.Issues) > 0 {
			rs = append(rs, fhirout.OperationOutcome(out.Issues...))
		}
		for _, r := range rs {
			err := fhirtest.Check(r.AppendJSON(nil))
			if errors.Is(err, fhirtest.ErrNoSchema) {
				t.Skip(err)
			}
			if err != nil {
				t.Errorf("%s: %v", f, err)
			}
			n++
		}
	}
	if n < 15 {
		t.Errorf("only %d resources checked", n)
	}
}

// TestCorpus converts every message of the shared corpus: no panic (Apply
// would report one as an exception issue) and, with the schema, valid FHIR.
func TestCorpus(t *testing.T) {
	dir := os.Getenv("IISBRIDGE_CORPUS")
	if dir == "" {
		dir = filepath.Join("..", "..", "shared", "corpus")
	}
	files, _ := filepath.Glob(filepath.Join(dir, "v2", "*", "*.hl7"))
	if len(files) == 0 {
		t.Skip("corpus not found at " + dir + " (set IISBRIDGE_CORPUS)")
	}
	_, schemaErr := os.Stat(os.Getenv(fhirtest.SchemaEnv))
	msgs, res := 0, 0
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, raw := range splitMessages(data) {
			m, err := hl7v2.Parse(raw)
			if err != nil {
				continue
			}
			msgs++
			out := Default().Apply(Input{Msg: m}, false)
			for _, is := range out.Issues {
				if is.Code == "exception" {
					t.Errorf("%s: %s", f, is.Diagnostics)
				}
			}
			if schemaErr != nil {
				continue
			}
			for _, r := range out.Resources {
				res++
				if err := fhirtest.Check(r.AppendJSON(nil)); err != nil {
					t.Errorf("%s: %v", f, err)
				}
			}
		}
	}
	t.Logf("%d corpus messages, %d resources validated", msgs, res)
}

// splitMessages cuts a file at each MSH that starts a segment.
func splitMessages(b []byte) [][]byte {
	s := strings.ReplaceAll(strings.ReplaceAll(string(b), "\r\n", "\r"), "\n", "\r")
	var out [][]byte
	for _, part := range strings.Split(s, "\rMSH") {
		if !strings.HasPrefix(part, "MSH") {
			part = "MSH" + part
		}
		if i := strings.Index(part, "MSH"); i >= 0 {
			out = append(out, []byte(part[i:]))
		}
	}
	return out
}

// An MRN belongs to the facility that assigned it: a VXU's sender, or the
// asker (MSH-6) of the RSP that answers it, unless CX-4 names another. The
// IIS that sends the RSP must not leak into the system, or a merged Patient
// carries the same MRN twice.
func TestDefaultMRNSystemIsTheFacilitys(t *testing.T) {
	system := func(t *testing.T, text, value string) string {
		t.Helper()
		out := Default().Apply(Input{Msg: msg(t, text)}, false)
		for _, p := range byType(t, out, "Patient") {
			ids, _ := p["identifier"].([]any)
			for _, id := range ids {
				id := id.(map[string]any)
				if id["value"] == value {
					s, _ := id["system"].(string)
					return s
				}
			}
		}
		t.Fatalf("no identifier %s; issues %+v", value, out.Issues)
		return ""
	}
	for _, tc := range []struct {
		name, pid3, sys string
	}{
		{"no CX-4", "MRN-9^^^^MR", sid + "sender/northclinic/mr"},
		{"CX-4 of the asker", "MRN-9^^^NORTHCLINIC^MR", sid + "sender/northclinic/northclinic"},
		{"CX-4 of another facility", "MRN-9^^^SOUTHHOSP^MR", sid + "sender/southhosp/southhosp"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			vxu := system(t, `
MSH|^~\&|EHR|NORTHCLINIC|IIS|STATEIIS|20240301||VXU^V04|V1|P|2.5.1
PID|1||`+tc.pid3+`||Doe^Jo||20150102|F
ORC|RE||D-1
RXA|0|1|20240301|20240301|08^HepB^CVX`, "MRN-9")
			rsp := system(t, `
MSH|^~\&|STATEIIS|STATEIIS|EHR|NORTHCLINIC|20240302||RSP^K11^RSP_K11|R1|P|2.5.1|||||||||Z42^CDCPHINVS
MSA|AA|Q1
QAK|Q1|OK|Z44^Request Evaluated History and Forecast^CDCPHINVS
PID|1||IIS-5^^^STATEIIS^SR~`+tc.pid3+`||Doe^Jo||20150102|F
ORC|RE||9999
RXA|0|1|20240301|20240301|08^HepB^CVX`, "MRN-9")
			if vxu != tc.sys || rsp != tc.sys {
				t.Errorf("VXU system %q, RSP system %q, want both %q", vxu, rsp, tc.sys)
			}
		})
	}
}

// An implausible offset (+0, -0007) is dropped by hl7v2.ParseTS; the date
// functions say so, naming the field, never the value.
func TestDefaultDroppedOffsetWarns(t *testing.T) {
	out := Default().Apply(Input{Msg: msg(t, `
MSH|^~\&|A|CLINIC|C|D|20240301||VXU^V04|1|P|2.5.1
PID|1||X^^^Y^MR||Doe^J||20150102+0|F
ORC|RE||D-1
RXA|0|1|20240301+0|20240301|08^HepB^CVX|||||||||||20251231-0007`)}, false)
	want(t, byType(t, out, "Patient")[0], "birthDate", "2015-01-02")
	im := byType(t, out, "Immunization")[0]
	want(t, im, "occurrenceDateTime", "2024-03-01")
	want(t, im, "expirationDate", "2025-12-31")
	fields := map[string]int{}
	for _, is := range out.Issues {
		if !strings.Contains(is.Diagnostics, "timestamp offset is not ±HHMM; dropped") {
			continue
		}
		if is.Severity != "warning" || is.Input == nil {
			t.Errorf("offset issue: %+v", is)
			continue
		}
		for _, phi := range []string{"20150102", "2015-01-02", "+0"} {
			if strings.Contains(is.Diagnostics, phi) {
				t.Errorf("offset warning repeats the value: %q", is.Diagnostics)
			}
		}
		fields[is.Input.Field]++
	}
	// One per rule that read the field; the Immunization id, which reads
	// RXA-3 as well, stays quiet.
	wantFields := map[string]int{"PID-7": 1, "ORDER[1] RXA-3": 1, "ORDER[1] RXA-16": 1}
	if len(fields) != len(wantFields) {
		t.Errorf("offset warnings by field %v, want %v", fields, wantFields)
	}
	for f, n := range wantFields {
		if fields[f] != n {
			t.Errorf("offset warnings by field %v, want %v", fields, wantFields)
			break
		}
	}
}
