package pipeline

import (
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// z42 is an RSP^K11 Z42 answer from the registry for the person with
// the given MRN: one administered dose and a forecast ORDER (RXA 998)
// whose OBX-4 groups each name a vaccine due (30979-9) with its dates and
// series status.
func z42(ctrl, ts, mrn string, forecasts ...[3]string) string {
	var b strings.Builder
	b.WriteString("MSH|^~\\&|MYIIS|MYIIS|EHR|CLINIC|" + ts + "-0500||RSP^K11^RSP_K11|" + ctrl + "|P|2.5.1|||||||||Z42^CDCPHINVS\r")
	b.WriteString("MSA|AA|Q" + ctrl + "\rQAK|Q" + ctrl + "|OK|Z44^Request Evaluated History and Forecast^CDCPHINVS\r")
	b.WriteString("PID|1||" + mrn + "^^^CLINIC^MR~S77^^^MYIIS^SR||ROE^ANN||20200101|F\r")
	b.WriteString("ORC|RE||C-1^CLINIC\rRXA|0|1|20200102||08^HepB^CVX|0.5|mL^mL^UCUM||00^new^NIP001\r")
	b.WriteString("ORC|RE||9999^MYIIS\rRXA|0|1|" + ts[:8] + "|" + ts[:8] + "|998^No Vaccine Administered^CVX|999\r")
	for i, f := range forecasts {
		sub := string(rune('1' + i))
		b.WriteString("OBX|1|CE|30979-9^Vaccines Due Next^LN|" + sub + "|" + f[0] + "^vaccine^CVX||||||F\r")
		b.WriteString("OBX|2|TS|30980-7^Date Vaccine Due^LN|" + sub + "|" + f[1] + "||||||F\r")
		b.WriteString("OBX|3|CE|59783-1^Status in immunization series^LN|" + sub + "|" + f[2] + "^status^STC0002||||||F\r")
		b.WriteString("OBX|4|CE|59779-9^Immunization Schedule used^LN|" + sub + "|VXC16^ACIP^CDCPHINVS||||||F\r")
	}
	return b.String()
}

// Z42 forecasts are exported as ImmunizationRecommendation by the default
// mapping alone: one per person and forecasting registry, the newest
// answer's forecast replacing the older one.
func TestForecastExported(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "a.hl7")
	write(t, path, false,
		vxu("V1", "CLINIC", "20200102120000", "M1^^^CLINIC^MR", "ROE^ANN", "20200101", "F", "", order{"C-1", "20200102", "08", "00", "L1", "A"}),
		z42("R1", "20200301120000", "M1", [3]string{"20", "20200401", "P"}, [3]string{"10", "20200501", "U"}),
		z42("R2", "20200601120000", "M1", [3]string{"20", "20200701", "LA13422-3"}),
	)
	p, _ := openTest(t, dir, time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), path)
	s := exportOnce(t, p, Query{})
	if n := len(s.of("Patient")); n != 1 {
		t.Fatalf("%d Patients", n)
	}
	recs := s.of("ImmunizationRecommendation")
	if len(recs) != 1 {
		t.Fatalf("%d ImmunizationRecommendations, want the newest forecast only", len(recs))
	}
	got := recs[0].String()
	pid := s.of("Patient")[0].ID()
	for _, want := range []string{`"reference":"Patient/` + pid + `"`, `"date":"2020-06-01T12:00:00-05:00"`,
		`"code":"20"`, `"value":"2020-07-01"`, `"code":"due"`, `"series":"ACIP"`} {
		if !strings.Contains(got, want) {
			t.Errorf("ImmunizationRecommendation lacks %s: %s", want, got)
		}
	}
	if strings.Contains(got, `"code":"10"`) || strings.Contains(got, "2020-04-01") {
		t.Errorf("the older forecast survived: %s", got)
	}
	// The forecast ORDER is no dose.
	if n := len(s.of("Immunization")); n != 1 {
		t.Errorf("%d Immunizations, want the one HepB dose", n)
	}
	// _type selects it.
	only := exportOnce(t, p, Query{Types: []string{"ImmunizationRecommendation"}})
	if len(only.res) != 1 || only.res[0].ResourceType() != "ImmunizationRecommendation" {
		t.Fatalf("_type=ImmunizationRecommendation sent %d resources", len(only.res))
	}

	// Series status P (past due) is FHIR's overdue; one recommendation
	// per OBX-4 group.
	dir2 := t.TempDir()
	path2 := filepath.Join(dir2, "b.hl7")
	write(t, path2, false, z42("R1", "20200301120000", "M1", [3]string{"20", "20200401", "P"}, [3]string{"10", "20200501", "U"}))
	p2, _ := openTest(t, dir2, time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), path2)
	rs := exportOnce(t, p2, Query{}).of("ImmunizationRecommendation")
	if len(rs) != 1 || len(list(rs[0], "recommendation")) != 2 {
		t.Fatalf("want one ImmunizationRecommendation with 2 recommendations: %v", rs)
	}
	if got := rs[0].String(); !strings.Contains(got, `"code":"overdue"`) || strings.Count(got, `"code":"due"`) != 1 {
		t.Errorf("forecast status P → overdue, U → due: %s", got)
	}
}
