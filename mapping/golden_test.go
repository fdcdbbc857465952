package mapping

import (
	"encoding/csv"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/iisbridge/iisbridge/hl7v2"
	"github.com/iisbridge/iisbridge/sources"
)

// Field-level golden tests of the default mapping: one v2 input, the FHIR
// values the v2-to-FHIR IG (and, where it leaves room, the documented
// choice of README.md's Choices table) says it becomes. Each row starts
// from goldenBase, a clean VXU that raises no issue, and changes a few
// fields.

// goldenBase holds the segments of the base message as field lists.
var goldenBase = []string{
	`MSH|^~\&|EHR|CLINIC|IIS|STATE|20240310101500-0500||VXU^V04^VXU_V04|G1|P|2.5.1`,
	`PID|1||MRN1^^^CLINIC^MR||Doe^Jane^Q||20230115|F||2106-3^White^CDCREC|1 Main St^^Town^MN^55001^USA^H||^PRN^PH^^^608^5550142||||||||||2186-5^Not Hispanic^CDCREC`,
	`ORC|RE||D1^CLINIC`,
	`RXA|0|1|20240310||08^Hep B^CVX|0.5|mL^mL^UCUM||00^New^NIP001||||||||||CP|A`,
	`RXR|IM^^HL70162|LT^^HL70163`,
	`OBX|1|CE|64994-7^Eligibility^LN|1|V02^^HL70064||||||F`,
}

type goldenRow struct {
	rule string            // the IG rule or ConceptMap entry
	set  map[string]string // "PID-8" → the field as sent (ER7); first segment of that name
	add  []string          // segments appended to the message
	res  string            // "Patient" or "Immunization" (the first of its type)
	want map[string]any    // element path → value; nil = absent
	warn string            // a warning whose text holds this; "" = no issue at all
}

// goldenMessage builds the base message with row's changes.
func goldenMessage(t testing.TB, r goldenRow) *hl7v2.Message {
	t.Helper()
	segs := make([][]string, len(goldenBase))
	for i, s := range goldenBase {
		segs[i] = strings.Split(s, "|")
	}
	for path, v := range r.set {
		name, num, ok := strings.Cut(path, "-")
		n, err := strconv.Atoi(num)
		if !ok || err != nil {
			t.Fatalf("bad field %q", path)
		}
		if name == "MSH" {
			n-- // MSH-1 is the separator itself
		}
		found := false
		for i, s := range segs {
			if s[0] != name {
				continue
			}
			for len(s) <= n {
				s = append(s, "")
			}
			s[n] = v
			segs[i], found = s, true
			break
		}
		if !found {
			t.Fatalf("no %s segment in the base message", name)
		}
	}
	var lines []string
	for _, s := range segs {
		lines = append(lines, strings.Join(s, "|"))
	}
	lines = append(lines, r.add...)
	m, err := hl7v2.Parse([]byte(strings.Join(lines, "\r")))
	if err != nil {
		t.Fatalf("%s: parse: %v", r.rule, err)
	}
	return m
}

func runGolden(t *testing.T, rows []goldenRow) {
	t.Helper()
	for _, r := range rows {
		out := Default().Apply(Input{Msg: goldenMessage(t, r), Loc: sources.Location{Source: "golden", Index: 1}}, false)
		res := byType(t, out, r.res)
		if len(res) == 0 {
			t.Errorf("%s: no %s (issues %v)", r.rule, r.res, out.Issues)
			continue
		}
		for path, v := range r.want {
			got := jget(res[0], path)
			if f, ok := v.(int); ok {
				v = float64(f)
			}
			if got != v {
				t.Errorf("%s: %s = %#v, want %#v", r.rule, path, got, v)
			}
		}
		switch {
		case r.warn == "" && len(out.Issues) > 0:
			t.Errorf("%s: unexpected issues %v", r.rule, diagnostics(out))
		case r.warn != "":
			found := false
			for _, is := range out.Issues {
				found = found || is.Severity == "warning" && strings.Contains(is.Diagnostics, r.warn)
			}
			if !found {
				t.Errorf("%s: no warning %q among %v", r.rule, r.warn, diagnostics(out))
			}
		}
	}
}

func diagnostics(out Output) []string {
	var d []string
	for _, is := range out.Issues {
		d = append(d, is.Severity+": "+is.Diagnostics)
	}
	return d
}

func TestGoldenBaseIsClean(t *testing.T) {
	runGolden(t, []goldenRow{{rule: "base", res: "Immunization", want: map[string]any{"status": "completed"}}})
}

func TestGoldenPatient(t *testing.T) {
	const dar = "http://hl7.org/fhir/StructureDefinition/data-absent-reason"
	var rows []goldenRow
	// PID-8 administrative sex (HL7 0001 → administrative-gender).
	for code, g := range map[string]string{"F": "female", "M": "male", "U": "unknown", "O": "other", "A": "other", "N": "other"} {
		rows = append(rows, goldenRow{rule: "PID-8 " + code, set: map[string]string{"PID-8": code}, res: "Patient", want: map[string]any{"gender": g}})
	}
	rows = append(rows,
		goldenRow{rule: "PID-8 empty → unknown, warned", set: map[string]string{"PID-8": ""}, res: "Patient",
			want: map[string]any{"gender": "unknown"}, warn: "PID-8 (administrative sex) is empty"},
		goldenRow{rule: "PID-8 not in 0001 → unknown, warned", set: map[string]string{"PID-8": "X"}, res: "Patient",
			want: map[string]any{"gender": "unknown"}, warn: "PID-8 is not an HL7 0001 sex code"},
		// PID-3 / PID-5 absent: US Core data-absent-reason, warned.
		goldenRow{rule: "PID-3 empty → identifier data-absent", set: map[string]string{"PID-3": ""}, res: "Patient",
			want: map[string]any{"identifier[0]._value.extension[0].url": dar, "identifier[0]._system.extension[0].valueCode": "unknown", "identifier[0].value": nil},
			warn: "PID-3 holds no identifier"},
		goldenRow{rule: "PID-5 empty → name data-absent", set: map[string]string{"PID-5": "^^^^^^L"}, res: "Patient",
			want: map[string]any{"name[0].extension[0].url": dar, "name[0].use": nil, "name[1]": nil},
			warn: "PID-5 holds no family or given name"},
		// & is the subcomponent separator everywhere.
		goldenRow{rule: "& in family and given name", set: map[string]string{"PID-5": "Doe&Vander^Jane&Ann^Q"}, res: "Patient",
			want: map[string]any{"name[0].family": "Doe", "name[0].given[0]": "Jane", "name[0].given[1]": "Q"}},
		// XAD-7 address use / type (IG AddressUse, AddressType).
		goldenRow{rule: "XAD-1.2 street name kept", set: map[string]string{"PID-11": "12&Oak Ave^Apt 3^Town^MN^55001^USA^H"}, res: "Patient",
			want: map[string]any{"address[0].line[0]": "12", "address[0]._line[0].extension[0].valueString": "Oak Ave", "address[0].line[1]": "Apt 3"}},
		goldenRow{rule: "XAD-1 from street name and dwelling number", set: map[string]string{"PID-11": "&Oak Ave&12^^Town^MN^55001^USA^H"}, res: "Patient",
			want: map[string]any{"address[0].line[0]": "12 Oak Ave", "address[0]._line": nil}},
	)
	for code, use := range map[string]any{"H": "home", "C": "temp", "B": "work", "O": "work", "BA": "old", "BI": "billing", "L": nil, "P": nil, "M": nil} {
		w := map[string]any{"address[0].use": use}
		if code == "M" {
			w["address[0].type"] = "postal"
		}
		rows = append(rows, goldenRow{rule: "XAD-7 " + code, set: map[string]string{"PID-11": "1 Main St^^Town^MN^55001^USA^" + code}, res: "Patient", want: w})
	}
	// XTN-2 use and XTN-3 equipment (IG TelecomUseCode, TelecomEquipmentType).
	for code, use := range map[string]string{"PRN": "home", "ORN": "home", "VHN": "temp", "WPN": "work", "PRS": "mobile", "": "home"} {
		rows = append(rows, goldenRow{rule: "PID-13 XTN-2 " + code, set: map[string]string{"PID-13": "^" + code + "^PH^^^608^5550142"}, res: "Patient",
			want: map[string]any{"telecom[0].use": use, "telecom[0].system": "phone", "telecom[0].value": "6085550142"}})
	}
	rows = append(rows,
		goldenRow{rule: "PID-14 without XTN-2 → work", set: map[string]string{"PID-13": "", "PID-14": "^^PH^^^608^5550100"}, res: "Patient",
			want: map[string]any{"telecom[0].use": "work", "telecom[1]": nil}},
		goldenRow{rule: "PID-14 without a number → dropped", set: map[string]string{"PID-14": "^WPN^PH^^^^"}, res: "Patient",
			want: map[string]any{"telecom[1]": nil}, warn: "PID-14 repetition has no number or address"},
		goldenRow{rule: "XTN-3 CP → phone, mobile", set: map[string]string{"PID-13": "^PRN^CP^^^608^5550142"}, res: "Patient",
			want: map[string]any{"telecom[0].system": "phone", "telecom[0].use": "mobile"}},
		goldenRow{rule: "XTN-3 Internet → email (XTN-4)", set: map[string]string{"PID-13": "^NET^Internet^jane@example.org"}, res: "Patient",
			want: map[string]any{"telecom[0].system": "email", "telecom[0].value": "jane@example.org"}},
	)
	for code, sys := range map[string]string{"PH": "phone", "FX": "fax", "BP": "pager", "X.400": "email", "MD": "other", "SAT": "other", "TDD": "other", "TTY": "other"} {
		rows = append(rows, goldenRow{rule: "XTN-3 " + code, set: map[string]string{"PID-13": "^PRN^" + code + "^^^608^5550142"}, res: "Patient",
			want: map[string]any{"telecom[0].system": sys}})
	}
	// PID-10 race, PID-22 ethnicity (US Core, CDCREC).
	rows = append(rows,
		goldenRow{rule: "PID-10 OMB race", res: "Patient", want: map[string]any{"extension[0].extension[0].url": "ombCategory", "extension[0].extension[0].valueCoding.code": "2106-3"}},
		goldenRow{rule: "PID-10 detailed race", set: map[string]string{"PID-10": "2131-1^Other Race^CDCREC"}, res: "Patient",
			want: map[string]any{"extension[0].extension[0].url": "detailed", "extension[0].extension[0].valueCoding.code": "2131-1"}},
		goldenRow{rule: "PID-10 ethnicity code → dropped from race", set: map[string]string{"PID-10": "2135-2^Hispanic^CDCREC"}, res: "Patient",
			want: map[string]any{"extension[0].extension[0].url": "text", "extension[0].extension[1]": nil}, warn: "holds an ethnicity code"},
	)
	for code, eth := range map[string]string{"2135-2": "2135-2", "2186-5": "2186-5", "H": "2135-2", "N": "2186-5", "U": "UNK"} {
		rows = append(rows, goldenRow{rule: "PID-22 " + code, set: map[string]string{"PID-22": code}, res: "Patient",
			want: map[string]any{"extension[1].url": "http://hl7.org/fhir/us/core/StructureDefinition/us-core-ethnicity", "extension[1].extension[0].valueCoding.code": eth}})
	}
	runGolden(t, rows)
}

func TestGoldenImmunization(t *testing.T) {
	const dar = "http://hl7.org/fhir/StructureDefinition/data-absent-reason"
	rows := []goldenRow{
		// RXA-9 NIP001 → primarySource / reportOrigin.
		{rule: "RXA-9 00", res: "Immunization", want: map[string]any{"primarySource": true, "reportOrigin": nil}},
		{rule: "RXA-9 empty → data-absent", set: map[string]string{"RXA-9": ""}, res: "Immunization",
			want: map[string]any{"primarySource": nil, "_primarySource.extension[0].url": dar}, warn: "RXA-9 (information source) is empty"},
		{rule: "RXA-9 not NIP001 → data-absent", set: map[string]string{"RXA-9": "N"}, res: "Immunization",
			want: map[string]any{"primarySource": nil, "_primarySource.extension[0].valueCode": "unknown"}, warn: "RXA-9 is not an NIP001 code"},
		{rule: "RE with empty RXA-9 (refusal)", set: map[string]string{"RXA-9": "", "RXA-20": "RE", "RXA-18": "00^Parental decision^NIP002"}, res: "Immunization",
			want: map[string]any{"status": "not-done", "_primarySource.extension[0].url": dar, "statusReason.coding[1].code": "PATOBJ"}, warn: "RXA-9 (information source) is empty"},
		// RXA-20 / RXA-18 statusReason.
		{rule: "RE without RXA-18 → PATOBJ", set: map[string]string{"RXA-20": "RE"}, res: "Immunization",
			want: map[string]any{"status": "not-done", "statusReason.coding[0].code": "PATOBJ"}, warn: "statusReason is the mapping's default refusal reason"},
		{rule: "RE, RXA-18 01 → RELIG", set: map[string]string{"RXA-20": "RE", "RXA-18": "01^Religious exemption^NIP002"}, res: "Immunization",
			want: map[string]any{"statusReason.coding[0].code": "01", "statusReason.coding[1].code": "RELIG"}},
		{rule: "NA without reason → data-absent", set: map[string]string{"RXA-20": "NA"}, res: "Immunization",
			want: map[string]any{"status": "not-done", "statusReason.extension[0].url": dar, "statusReason.coding": nil}, warn: "not administered (RXA-20 NA) without a reason"},
		{rule: "NA with contraindication OBX → MEDPREC", set: map[string]string{"RXA-20": "NA"}, add: []string{"OBX|2|CE|30945-0^Contraindication^LN|2|91930004^allergy^SCT||||||F"}, res: "Immunization",
			want: map[string]any{"statusReason.coding[0].code": "MEDPREC"}},
		{rule: "NA with immunity OBX → IMMUNE", set: map[string]string{"RXA-20": "NA"}, add: []string{"OBX|2|CE|59784-9^Disease with presumed immunity^LN|2|38907003^Varicella^SCT||||||F"}, res: "Immunization",
			want: map[string]any{"statusReason.coding[0].code": "IMMUNE"}},
		{rule: "PA → completed, subpotent", set: map[string]string{"RXA-20": "PA"}, res: "Immunization", want: map[string]any{"status": "completed", "isSubpotent": true}},
		{rule: "RXA-20 empty → completed", set: map[string]string{"RXA-20": ""}, res: "Immunization", want: map[string]any{"status": "completed"}},
		// RXA-21 action code.
		{rule: "RXA-21 D → entered-in-error", set: map[string]string{"RXA-21": "D"}, res: "Immunization", want: map[string]any{"status": "entered-in-error"}},
		{rule: "RXA-21 U", set: map[string]string{"RXA-21": "U"}, res: "Immunization", want: map[string]any{"status": "completed"}},
		{rule: "RXA-21 invalid → warned", set: map[string]string{"RXA-21": "Q"}, res: "Immunization", want: map[string]any{"status": "completed"}, warn: "RXA-21 is not an action code"},
		// RXA-5 vaccine codes.
		{rule: "NDC beside a bad CVX: kept, CVX from the crosswalk", set: map[string]string{"RXA-5": "900^^CVX^49281-0215-88^TENIVAC^NDC"}, res: "Immunization",
			want: map[string]any{"vaccineCode.coding[0].system": "http://hl7.org/fhir/sid/cvx", "vaccineCode.coding[0].code": "113",
				"vaccineCode.coding[1].system": "http://hl7.org/fhir/sid/ndc", "vaccineCode.coding[1].code": "49281021588"},
			warn: "RXA-5's CVX code is not in the CVX table; the dose is kept"},
		{rule: "NDC not in the crosswalk beside a bad CVX: kept with the NDC", set: map[string]string{"RXA-5": "900^^CVX^80777-9999-00^^NDC"}, res: "Immunization",
			want: map[string]any{"vaccineCode.coding[0].system": "http://hl7.org/fhir/sid/ndc", "vaccineCode.coding[0].code": "80777999900", "vaccineCode.coding[1]": nil},
			warn: "NDC-to-CVX table does not list"},
		{rule: "CPT only → CVX via cpt_cvx", set: map[string]string{"RXA-5": "90707^MMR^CPT"}, res: "Immunization",
			want: map[string]any{"vaccineCode.coding[0].code": "03", "vaccineCode.coding[1].code": "90707"}},
		// RXA-6/7 dose quantity.
		{rule: "RXA-7 empty → no unit", set: map[string]string{"RXA-7": ""}, res: "Immunization",
			want: map[string]any{"doseQuantity.value": 0.5, "doseQuantity.unit": nil, "doseQuantity.system": nil, "doseQuantity.code": nil}},
		{rule: "RXA-7 ML → UCUM mL", set: map[string]string{"RXA-7": "ML^^ISO+"}, res: "Immunization",
			want: map[string]any{"doseQuantity.unit": "mL", "doseQuantity.system": "http://unitsofmeasure.org", "doseQuantity.code": "mL"}},
		// RXR-1 route, RXR-2 site.
		{rule: "RXR-1 NCIt C28161", set: map[string]string{"RXR-1": "C28161^Intramuscular^NCIT"}, res: "Immunization",
			want: map[string]any{"route.coding[0].code": "IM", "route.coding[1].code": "IM", "route.coding[2].code": "C28161"}},
		{rule: "RXR-1 unknown → text only", set: map[string]string{"RXR-1": "QQ^Squirt^HL70162"}, res: "Immunization",
			want: map[string]any{"route.coding": nil, "route.text": "Squirt"}, warn: "RXR-1 is not an HL7 0162"},
		{rule: "RXR-2 unknown → text only", set: map[string]string{"RXR-2": "ZZ^Elbow^HL70163"}, res: "Immunization",
			want: map[string]any{"site.coding": nil, "site.text": "Elbow"}, warn: "RXR-2 is not an HL7 0163"},
		// VIS education.
		{rule: "VIS by vaccine type → CVX description", add: []string{
			"OBX|2|CE|30956-7^vaccine type^LN|2|45^HepB^CVX||||||F",
			"OBX|3|TS|29768-9^VIS publication^LN|2|20120202||||||F",
			"OBX|4|TS|29769-7^VIS presented^LN|2|20240310||||||F"}, res: "Immunization",
			want: map[string]any{"education[0].documentType": "Hep B, unspecified formulation", "education[0].publicationDate": "2012-02-02"}},
		{rule: "VIS dates without document → warned", add: []string{
			"OBX|2|TS|29768-9^VIS publication^LN|2|20120202||||||F",
			"OBX|3|TS|29769-7^VIS presented^LN|2|20240310||||||F"}, res: "Immunization",
			want: map[string]any{"education": nil}, warn: "VIS date OBX (29768-9/29769-7) without a VIS document"},
		{rule: "VIS GS1 document", add: []string{
			"OBX|2|CE|69764-9^VIS^LN|2|253088698300028811150420^HepB VIS^cdcgs1vis||||||F",
			"OBX|3|TS|29769-7^VIS presented^LN|2|20240310||||||F"}, res: "Immunization",
			want: map[string]any{"education[0].documentType": "253088698300028811150420", "education[0].presentationDate": "2024-03-10"}},
	}
	// VFC eligibility (HL7 0064).
	for i := 0; i <= 7; i++ {
		code := fmt.Sprintf("V%02d", i)
		rows = append(rows, goldenRow{rule: "OBX 64994-7 " + code, set: map[string]string{"OBX-5": code + "^^HL70064"}, res: "Immunization",
			want: map[string]any{"programEligibility[0].coding[0].system": "http://terminology.hl7.org/CodeSystem/v2-0064", "programEligibility[0].coding[0].code": code}})
	}
	// NIP001 historical codes.
	for i := 1; i <= 8; i++ {
		code := fmt.Sprintf("%02d", i)
		rows = append(rows, goldenRow{rule: "RXA-9 " + code, set: map[string]string{"RXA-9": code + "^^NIP001"}, res: "Immunization",
			want: map[string]any{"primarySource": false, "reportOrigin.coding[0].code": code}})
	}
	runGolden(t, rows)

	// A v2.8 PRT between ORC and RXA stays in the ORDER: ORC-3 (the dose
	// id) and ORC-12 are kept.
	lines := append([]string{}, goldenBase[:2]...)
	lines = append(lines, "ORC|RE||D1^CLINIC|||||||||654^Thomas^Wilma")
	lines = append(lines, "PRT||AD||OP^Ordering Provider^HL70912|654^Thomas")
	lines = append(lines, goldenBase[3:]...)
	lines[0] = strings.Replace(lines[0], "|2.5.1", "|2.8", 1)
	m2, err := hl7v2.Parse([]byte(strings.Join(lines, "\r")))
	if err != nil {
		t.Fatal(err)
	}
	out := Default().Apply(Input{Msg: m2}, false)
	imms := byType(t, out, "Immunization")
	if len(imms) != 1 {
		t.Fatalf("PRT: %d Immunizations", len(imms))
	}
	want(t, imms[0], "identifier[0].value", "D1")
	want(t, imms[0], "identifier[0].type.coding[0].code", "FILL")
	want(t, imms[0], "performer[0].function.coding[0].code", "OP")
}

// ---- ConceptMaps of the v2-to-FHIR IG (../shared/corpus/codes) ----

func conceptMap(t *testing.T, name string) [][2]string {
	t.Helper()
	dir := os.Getenv("IISBRIDGE_CORPUS")
	if dir == "" {
		dir = filepath.Join("..", "..", "shared", "corpus")
	}
	f, err := os.Open(filepath.Join(dir, "codes", "conceptmap-"+name+".csv"))
	if err != nil {
		t.Skipf("ConceptMap %s not found (set IISBRIDGE_CORPUS): %v", name, err)
	}
	defer f.Close()
	r := csv.NewReader(f)
	r.FieldsPerRecord, r.LazyQuotes = -1, true
	recs, err := r.ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	var out [][2]string
	for _, rec := range recs[2:] { // two header rows
		if len(rec) > 9 && rec[0] != "" {
			out = append(out, [2]string{strings.TrimSpace(rec[0]), strings.TrimSpace(rec[6]) + "|" + strings.TrimSpace(rec[9])})
		}
	}
	return out
}

// TestGoldenConceptMapRoute: every RXR-1 (HL7 0162) entry of the IG's
// RouteOfAdministration map gives a route coding with the IG's system and
// code.
func TestGoldenConceptMapRoute(t *testing.T) {
	entries := conceptMap(t, "RouteOfAdministration")
	if len(entries) < 40 {
		t.Fatalf("%d entries", len(entries))
	}
	for _, e := range entries {
		code, sys, _ := strings.Cut(e[1], "|")
		out := Default().Apply(Input{Msg: goldenMessage(t, goldenRow{set: map[string]string{"RXR-1": e[0] + "^^HL70162"}})}, false)
		im := byType(t, out, "Immunization")[0]
		found := false
		for i := 0; i < 3; i++ {
			found = found || jget(im, fmt.Sprintf("route.coding[%d].code", i)) == code && jget(im, fmt.Sprintf("route.coding[%d].system", i)) == sys
		}
		if !found {
			t.Errorf("RXR-1 %s: route %v, want %s|%s", e[0], jget(im, "route"), sys, code)
		}
	}
}

// TestGoldenConceptMapCompletionStatus: RXA-20 (HL7 0322) → status.
func TestGoldenConceptMapCompletionStatus(t *testing.T) {
	for _, e := range conceptMap(t, "CompletionStatus") {
		code, _, _ := strings.Cut(e[1], "|")
		set := map[string]string{"RXA-20": e[0]}
		out := Default().Apply(Input{Msg: goldenMessage(t, goldenRow{set: set})}, false)
		if got := jget(byType(t, out, "Immunization")[0], "status"); got != code {
			t.Errorf("RXA-20 %s: status %v, want %s", e[0], got, code)
		}
	}
}

// TestGoldenConceptMapSegmentAction: RXA-21 (HL7 0206/0323): D deletes
// (entered-in-error), A, U and X keep RXA-20's status; none is warned.
func TestGoldenConceptMapSegmentAction(t *testing.T) {
	entries := conceptMap(t, "SegmentActionCode")
	if len(entries) < 4 {
		t.Fatalf("%d entries", len(entries))
	}
	for _, e := range entries {
		out := Default().Apply(Input{Msg: goldenMessage(t, goldenRow{set: map[string]string{"RXA-21": e[0]}})}, false)
		wantStatus := "completed"
		if strings.HasPrefix(e[1], "DELETE|") {
			wantStatus = "entered-in-error"
		}
		if got := jget(byType(t, out, "Immunization")[0], "status"); got != wantStatus || len(out.Issues) > 0 {
			t.Errorf("RXA-21 %s (%s): status %v, issues %v; want %s, none", e[0], e[1], got, diagnostics(out), wantStatus)
		}
	}
}

// TestGoldenSiteTable: every HL7 0163 site of the table gives a v2-0163
// coding with its code.
func TestGoldenSiteTable(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("defaults", "tables", "site-0163.csv"))
	if err != nil {
		t.Fatal(err)
	}
	recs, err := csv.NewReader(strings.NewReader(string(b))).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	for _, rec := range recs[1:] {
		out := Default().Apply(Input{Msg: goldenMessage(t, goldenRow{set: map[string]string{"RXR-2": rec[0] + "^^HL70163"}})}, false)
		im := byType(t, out, "Immunization")[0]
		if jget(im, "site.coding[0].code") != rec[1] || jget(im, "site.coding[0].system") != "http://terminology.hl7.org/CodeSystem/v2-0163" || len(out.Issues) > 0 {
			t.Errorf("RXR-2 %s: site %v, issues %v", rec[0], jget(im, "site"), diagnostics(out))
		}
	}
}

// TestNDCTableCodesAreCVX: every CVX the NDC crosswalk gives is in the
// CVX table (else the dose would lose it).
func TestNDCTableCodesAreCVX(t *testing.T) {
	read := func(name string) [][]string {
		b, err := os.ReadFile(filepath.Join("defaults", "tables", name))
		if err != nil {
			t.Fatal(err)
		}
		recs, err := csv.NewReader(strings.NewReader(string(b))).ReadAll()
		if err != nil {
			t.Fatal(err)
		}
		return recs[1:]
	}
	cvx := map[string]bool{}
	for _, r := range read("cvx.csv") {
		cvx[r[1]] = true
	}
	ndcs := read("ndc-cvx.csv")
	if len(ndcs) == 0 {
		t.Fatal("empty NDC table")
	}
	for _, r := range ndcs {
		if len(r[0]) != 11 || !cvx[r[1]] {
			t.Errorf("ndc-cvx.csv %s → %s: not an 11-digit NDC or not a CVX of cvx.csv", r[0], r[1])
		}
	}
}
