package main

import (
	"bufio"
	"encoding/json"
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
