package v2archive

import (
	"reflect"
	"testing"

	"github.com/iisbridge/iisbridge/hl7v2"
	"github.com/iisbridge/iisbridge/sources"
)

func pidSeg(t *testing.T, pid string) hl7v2.Segment {
	t.Helper()
	m, err := hl7v2.Parse([]byte("MSH|^~\\&|EHR|CLINICA|IIS|MYIIS|20240101||VXU^V04^VXU_V04|1|P|2.5.1\r" + pid + "\r"))
	if err != nil {
		t.Fatal(err)
	}
	s, ok := m.Segments().Find("PID", 1)
	if !ok {
		t.Fatal("no PID")
	}
	return s
}

func TestPatientKeys(t *testing.T) {
	def := sources.DefaultIdentity()
	only := sources.DefaultIdentity()
	only.IISAuthorities = []string{"MYIIS"}
	noDemo := sources.DefaultIdentity()
	noDemo.Rules = []string{"iis", "mrn"}
	for _, c := range []struct {
		name string
		cfg  sources.IdentityConfig
		pid  string
		want []string
	}{
		{"all kinds", def, "PID|1||M1^^^CLINICA^MR~S9^^^MYIIS^SR~123-45-6789^^^SSA^SS||Müller^Anna||20200101|F",
			[]string{"B:CLINICA|MR|M1", "A:MYIIS|S9", "C:MULLER|ANNA|20200101|F"}},
		{"SR from another authority ignored", only, "PID|1||S9^^^OTHER^SR~S8^^^MYIIS^SR||DOE^JOHN||2020|M",
			[]string{"A:|S8"}},
		{"placeholder name: no demographics", def, "PID|1||M2^^^X^PI||DOE^BABY BOY||20200101|M",
			[]string{"B:CLINICA|PI|M2"}},
		{"missing sex: no demographics", def, "PID|1||||ROE^ANN||20200101", nil},
		{"demographics off", noDemo, "PID|1||M3^^^CLINICA^MR||ROE^ANN||20200101|F", []string{"B:CLINICA|MR|M3"}},
	} {
		got := patientKeys(c.cfg.WithDefaults(), pidSeg(t, c.pid), "CLINICA", nil)
		if !reflect.DeepEqual(got, c.want) {
			t.Errorf("%s: keys %q, want %q", c.name, got, c.want)
		}
	}
	// Ids: stable, IIS ids sort first, a salt changes every id.
	salted := def
	salted.IDSalt = "s3cret"
	if def.PatientID("A:X|1") != def.PatientID("A:X|1") || def.PatientID("A:X|1") == salted.PatientID("A:X|1") {
		t.Error("patient ids not stable or not salted")
	}
}
