package v2archive

import (
	"reflect"
	"strings"
	"testing"

	"github.com/iisbridge/iisbridge/hl7v2"
	"github.com/iisbridge/iisbridge/mapping"
	"github.com/iisbridge/iisbridge/sources"
)

// classifyText classifies one message under cfg with the default
// mapping's identity: section.
func classifyText(t *testing.T, cfg sources.IdentityConfig, text string) *sources.Record {
	t.Helper()
	m, err := hl7v2.Parse([]byte(text))
	if err != nil {
		t.Fatal(err)
	}
	var r sources.Record
	var who sources.Identity
	if err := classify(cfg.WithDefaults(), mapping.Default(), m, []byte(text), &r, &who, false); err != nil {
		t.Fatal(err)
	}
	return &r
}

const vxuMSH = "MSH|^~\\&|EHR|CLINICA|IIS|MYIIS|20240101||VXU^V04^VXU_V04|1|P|2.5.1\r"

func TestPatientKeys(t *testing.T) {
	def := sources.DefaultIdentity()
	only := sources.DefaultIdentity()
	only.IISAuthorities = []string{"MYIIS"}
	noDemo := sources.DefaultIdentity()
	noDemo.Rules = []string{"iis", "mrn"}
	for _, c := range []struct {
		name string
		cfg  sources.IdentityConfig
		msg  string
		want []string
	}{
		{"all kinds", def, vxuMSH + "PID|1||M1^^^CLINICA^MR~S9^^^MYIIS^SR~123-45-6789^^^SSA^SS||Müller^Anna||20200101|F",
			[]string{"B:CLINICA|MR|M1", "A:MYIIS|S9", "C:MULLER|ANNA|20200101|F"}},
		{"SR from another authority ignored", only, vxuMSH + "PID|1||S9^^^OTHER^SR~S8^^^MYIIS^SR||DOE^JOHN||2020|M",
			[]string{"A:|S8"}},
		{"placeholder name: no demographics", def, vxuMSH + "PID|1||M2^^^X^PI||DOE^BABY BOY||20200101|M",
			[]string{"B:CLINICA|PI|M2"}},
		{"missing sex: no demographics", def, vxuMSH + "PID|1||||ROE^ANN||20200101", nil},
		{"demographics off", noDemo, vxuMSH + "PID|1||M3^^^CLINICA^MR||ROE^ANN||20200101|F", []string{"B:CLINICA|MR|M3"}},
		{"family name's first subcomponent", def, vxuMSH + "PID|1||||Van&Dyke^Ann||20200101|F", []string{"C:VAN|ANN|20200101|F"}},
		{"MRN of a VXU without MSH-4: its authority", def, "MSH|^~\\&|EHR||IIS|MYIIS|20240101||VXU^V04|1|P|2.5.1\rPID|1||M4^^^hosp^MR",
			[]string{"B:HOSP|MR|M4"}},
		// An answer's MRNs are the asker's (MSH-6, receiving facility).
		{"RSP: the asker's MRN", def, "MSH|^~\\&|IIS|MYIIS|EHR|clinicb|20240101||RSP^K11^RSP_K11|2|P|2.5.1|||||||||Z32^CDCPHINVS\rMSA|AA|Q1\rQAK|Q1|OK\rPID|1||M5^^^^MR",
			[]string{"B:CLINICB|MR|M5"}},
	} {
		r := classifyText(t, c.cfg, c.msg)
		if r.Kind != sources.Person {
			t.Errorf("%s: kind %s", c.name, r.Kind)
		}
		got := r.Keys
		if len(c.want) == 0 && len(got) == 1 && got[0][:2] == sources.PrefixLone {
			got = nil // no usable key: a person of its own
		}
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

func TestOrganization(t *testing.T) {
	for _, c := range []struct{ msh, key, name string }{
		{"MSH|^~\\&|EHR|Clinic A^1.2.3^ISO|IIS|MYIIS|20240101||VXU^V04|1|P|2.5.1", "Clinic A|1.2.3", "Clinic A"},
		{"MSH|^~\\&|EHR|CLINICA|IIS|MYIIS|20240101||VXU^V04|1|P|2.5.1", "CLINICA", "CLINICA"},
		{"MSH|^~\\&|EHR|CLINICA|IIS|MYIIS|20240101||VXU^V04|1|P|2.5.1|||||||||Z22^CDCPHINVS|Big Health^^^^^^^^^BH-77", "BH-77", "Big Health"},
	} {
		r := classifyText(t, sources.DefaultIdentity(), c.msh+"\rPID|1||M1^^^X^MR")
		if r.OrgKey != c.key || r.OrgName != c.name {
			t.Errorf("%s: organization %q %q, want %q %q", c.msh, r.OrgKey, r.OrgName, c.key, c.name)
		}
	}
}

// The index is rebuilt when the identity section changes: the source's
// fingerprint carries the mapping's identity fingerprint.
func TestFingerprintFollowsIdentity(t *testing.T) {
	s, err := NewSource(Options{}, sources.DefaultIdentity(), mapping.Default())
	if err != nil {
		t.Fatal(err)
	}
	if fp := mapping.Default().IdentityFingerprint(); fp == "" || !strings.Contains(s.Fingerprint(), fp) {
		t.Errorf("source fingerprint %q does not carry the identity fingerprint %q", s.Fingerprint(), fp)
	}
	if _, err := NewSource(Options{}, sources.DefaultIdentity(), nil); err == nil {
		t.Error("a source without an identifier")
	}
}
