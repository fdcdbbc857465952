package main

import (
	"bufio"
	"encoding/json"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// The convert and index summaries count the warnings the
// OperationOutcome file holds (input with a Latin-1 name, an unknown
// segment and a batch without its trailer printed "0 warning(s)").
func TestSummariesCountWhatTheFilesHold(t *testing.T) {
	dir := t.TempDir()
	in := filepath.Join(dir, "in.hl7")
	msg := func(ctrl, mrn, name string) string {
		return "MSH|^~\\&|EHR|CLINICA|IIS|MYIIS|20240101120000||VXU^V04^VXU_V04|" + ctrl + "|P|2.5.1\r" +
			"PID|1||" + mrn + "^^^CLINICA^MR||" + name + "||20200101|F\r" +
			"ZZQ|odd\rQQQQ|x\r" +
			"ORC|RE||" + ctrl + "-1^CLINICA\rRXA|0|1|20240101||08^HepB^CVX|0.5|mL^mL^UCUM||00^x^NIP001||||||L1||MSD^Merck^MVX|||CP|A\r"
	}
	data := "BHS|^~\\&|EHR|CLINICA\r" + msg("C1", "M1", "PE\xd1A^ANA") + "\r" + msg("C2", "M2", "SMITH^JO") + "\r"
	os.WriteFile(in, []byte(data), 0o644)
	out := filepath.Join(dir, "out")
	code, outs, errs := runCmd(t, convCmd, "--out", out, "--data", filepath.Join(dir, "idx"), in)
	if code != 0 {
		t.Fatalf("convert: %d %s", code, errs)
	}
	f, err := os.Open(filepath.Join(out, "OperationOutcome.ndjson"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	warnings, errors := 0, 0
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var oo struct{ Issue []struct{ Severity string } }
		json.Unmarshal(sc.Bytes(), &oo)
		for _, is := range oo.Issue {
			if is.Severity == "warning" || is.Severity == "information" {
				warnings++
			} else {
				errors++
			}
		}
	}
	g := regexp.MustCompile(`issues: (\d+) warning\(s\), (\d+) error\(s\)`).FindStringSubmatch(outs) // results on stdout
	if g == nil || g[1] != strconv.Itoa(warnings) || g[2] != strconv.Itoa(errors) || warnings == 0 {
		t.Errorf("convert summary %q; the file holds %d warning(s), %d error(s)\n%s", g, warnings, errors, outs+errs)
	}
	var b, be strings.Builder
	if rc := runIndexTo([]string{"--data", filepath.Join(dir, "idx2"), in}, &b, &be); rc != 0 {
		t.Fatal(be.String())
	}
	gi := regexp.MustCompile(`(\d+) warnings;`).FindStringSubmatch(b.String())
	if gi == nil || gi[1] == "0" {
		t.Errorf("index summary counts no warnings:\n%s", b.String())
	}
}

// A reduced convert's summary counts every type it wrote, one the
// reduction has no figure of too: a Z42 answer's forecast is an
// ImmunizationRecommendation, and on standard output no file line names
// it.
func TestReducedSummaryCountsEveryType(t *testing.T) {
	in := forecastArchive(t)
	code, out, errs := runCmd(t, convCmd, "--out", "-", in)
	if code != 0 {
		t.Fatalf("convert: %d %s", code, errs)
	}
	written := map[string]int{}
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		var r struct{ ResourceType string }
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			t.Fatalf("%v: %s", err, line)
		}
		written[r.ResourceType]++
	}
	if written["ImmunizationRecommendation"] != 1 {
		t.Fatalf("want one ImmunizationRecommendation on standard output, got %v", written)
	}
	g := regexp.MustCompile(`(?m)^resources:((?: \w+ \d+)+)$`).FindStringSubmatch(errs)
	if g == nil {
		t.Fatalf("no resources line in the summary:\n%s", errs)
	}
	said := map[string]int{}
	f := strings.Fields(g[1])
	for i := 0; i+1 < len(f); i += 2 {
		said[f[i]], _ = strconv.Atoi(f[i+1])
	}
	if !maps.Equal(said, written) {
		t.Errorf("summary says %v, standard output holds %v", said, written)
	}
}

// forecastArchive writes an archive of a VXU and a Z42 answer with one
// forecast for the same person: a Patient, an Immunization and an
// ImmunizationRecommendation under the default mapping.
func forecastArchive(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	in := filepath.Join(dir, "in.hl7")
	vxu := "MSH|^~\\&|EHR|CLINIC|IIS|MYIIS|20200102120000-0500||VXU^V04^VXU_V04|V1|P|2.5.1\r" +
		"PID|1||M1^^^CLINIC^MR||ROE^ANN||20200101|F\r" +
		"ORC|RE||C-1^CLINIC\rRXA|0|1|20200102||08^HepB^CVX|0.5|mL^mL^UCUM||00^new^NIP001||||||L1||MSD^Merck^MVX|||CP|A\r"
	z42 := "MSH|^~\\&|MYIIS|MYIIS|EHR|CLINIC|20200301120000-0500||RSP^K11^RSP_K11|R1|P|2.5.1|||||||||Z42^CDCPHINVS\r" +
		"MSA|AA|QR1\rQAK|QR1|OK|Z44^Request Evaluated History and Forecast^CDCPHINVS\r" +
		"PID|1||M1^^^CLINIC^MR~S77^^^MYIIS^SR||ROE^ANN||20200101|F\r" +
		"ORC|RE||C-1^CLINIC\rRXA|0|1|20200102||08^HepB^CVX|0.5|mL^mL^UCUM||00^new^NIP001\r" +
		"ORC|RE||9999^MYIIS\rRXA|0|1|20200301|20200301|998^No Vaccine Administered^CVX|999\r" +
		"OBX|1|CE|30979-9^Vaccines Due Next^LN|1|20^vaccine^CVX||||||F\r" +
		"OBX|2|TS|30980-7^Date Vaccine Due^LN|1|20200401||||||F\r" +
		"OBX|3|CE|59783-1^Status in immunization series^LN|1|P^status^STC0002||||||F\r"
	if err := os.WriteFile(in, []byte(vxu+"\r\n"+z42+"\r\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return in
}

// bench export reports every type of the manifest, as the mapping names
// them.
func TestBenchExportCountsEveryType(t *testing.T) {
	in := forecastArchive(t)
	code, out, errs := runMain(t, "bench", "export", "--data", filepath.Join(t.TempDir(), "d"), in)
	if code != 0 {
		t.Fatalf("exit %d: %s%s", code, out, errs)
	}
	if !strings.Contains(out, "3 resources (Immunization=1 ImmunizationRecommendation=1 Patient=1), counts exact") {
		t.Errorf("bench export's report:\n%s", out)
	}
}
