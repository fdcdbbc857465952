package mapping

import (
	"strings"
	"testing"
	"time"

	"github.com/iisbridge/iisbridge/hl7v2"
	"github.com/iisbridge/iisbridge/sources"
)

// benchVXU8 is a VXU resending a person's history: 8 ORDER groups, six
// historical rows (RXA-9 01) and two administered doses with RXR and OBX,
// the shape bulk export maps most.
var benchVXU8 = strings.Join([]string{
	"MSH|^~\\&|ATHENA|SJPEDS^2.16.840.1.113883.19.5.5^ISO|IISAPP|STATEIIS^2.16.840.1.113883.19.3.1^ISO|20240425102854-0600||VXU^V04^VXU_V04|SJPEDS.844.6|P|2.5.1|||ER|AL||UNICODE UTF-8|||Z22^CDCPHINVS",
	"PID|1||5014335^^^SJPEDS^MR||JORDAN^ZOE^MIA^^^^L|FISHER^VICTORIA^^^^^M|20221012|F||2076-8^Native Hawaiian or Other Pacific Islander^CDCREC|6343 MAIN ST^^ROCKFORD^IL^61101^USA^L^^17201||^PRN^PH^^^815^5550182|||||||||2186-5^Not Hispanic or Latino^CDCREC",
	"PD1|||||||||||02^Reminder/Recall - any method^HL70215|N|20221012|||A|20221012",
	"NK1|1|JORDAN^VICTORIA^^^^^L|MTH^Mother^HL70063|6343 MAIN ST^^ROCKFORD^IL^61101^USA^L^^17201|^PRN^PH^^^815^5550182",
	"ORC|RE||H10084300^SJPEDS",
	"RXA|0|1|20221016||08^Hep B, adolescent or pediatric^CVX|999|||01^Historical information - source unspecified^NIP001|||||||||||CP|A",
	"ORC|RE||H10084301^SJPEDS",
	"RXA|0|1|20221218||20^DTaP^CVX|999|||01^Historical information - source unspecified^NIP001|||||||||||CP|A",
	"ORC|RE||H10084302^SJPEDS",
	"RXA|0|1|20221218||10^IPV^CVX|999|||01^Historical information - source unspecified^NIP001|||||||||||CP|A",
	"ORC|RE||H10084303^SJPEDS",
	"RXA|0|1|20221218||49^Hib (PRP-OMP)^CVX|999|||01^Historical information - source unspecified^NIP001|||||||||||CP|A",
	"ORC|RE||H10084304^SJPEDS",
	"RXA|0|1|20221218||133^Pneumococcal conjugate PCV 13^CVX|999|||01^Historical information - source unspecified^NIP001|||||||||||CP|A",
	"ORC|RE||H10084305^SJPEDS",
	"RXA|0|1|20221218||116^rotavirus, pentavalent^CVX|999|||01^Historical information - source unspecified^NIP001|||||||||||CP|A",
	"ORC|RE||10084320^SJPEDS|||||||||1982745637^FITZGERALD^SEAN^^^^^^CMS&2.16.840.1.113883.3.249&ISO^L^^^NPI",
	"RXA|0|1|20240211||08^Hep B, adolescent or pediatric^CVX|0.5|mL^mL^UCUM||00^New immunization record^NIP001|1982745637^FITZGERALD^SEAN^^^^^^CMS&2.16.840.1.113883.3.249&ISO^L^^^NPI|^^^SJPEDS||||HB1234|20251109|MSD^Merck and Co., Inc.^MVX|||CP|A",
	"RXR|C28161^Intramuscular^NCIT^IM^Intramuscular^HL70162|LT^Left Thigh^HL70163",
	"OBX|1|CE|64994-7^Vaccine funding program eligibility category^LN|1|V02^VFC eligible - Medicaid^HL70064||||||F|||20240211|||VXC40^Eligibility captured at the immunization level^CDCPHINVS",
	"OBX|2|CE|30963-3^Vaccine funding source^LN|2|VXC1^Federal funds^CDCPHINVS||||||F",
	"ORC|RE||10084321^SJPEDS|||||||||1982745637^FITZGERALD^SEAN^^^^^^CMS&2.16.840.1.113883.3.249&ISO^L^^^NPI",
	"RXA|0|1|20240425||83^Hep A, ped/adol, 2 dose^CVX|0.5|mL^mL^UCUM||00^New immunization record^NIP001|1982745637^FITZGERALD^SEAN^^^^^^CMS&2.16.840.1.113883.3.249&ISO^L^^^NPI|^^^SJPEDS||||MKJ1729|20251109|MSD^Merck and Co., Inc.^MVX|||CP|A",
	"RXR|C28161^Intramuscular^NCIT^IM^Intramuscular^HL70162|RT^Right Thigh^HL70163",
	"OBX|1|CE|64994-7^Vaccine funding program eligibility category^LN|1|V05^VFC eligible - Federally Qualified Health Center Patient (under-insured)^HL70064||||||F|||20240425|||VXC40^Eligibility captured at the immunization level^CDCPHINVS",
	"OBX|2|CE|30963-3^Vaccine funding source^LN|2|VXC1^Federal funds^CDCPHINVS||||||F",
	"OBX|3|CE|30956-7^vaccine type^LN|3|85^Hep A, unspecified formulation^CVX||||||F",
	"OBX|4|TS|29768-9^Date vaccine information statement published^LN|3|20211015||||||F",
	"OBX|5|TS|29769-7^Date vaccine information statement presented^LN|3|20240425||||||F",
}, "\r") + "\r"

// benchApply applies the default mapping to benchVXU8 (parsed once) as
// the export does: with the person's id and a last-updated time, and the
// given Want. want nil maps everything.
func benchApply(b *testing.B, want func(string, int) bool, resources int) {
	m := Default()
	msg, err := hl7v2.Parse([]byte(benchVXU8))
	if err != nil {
		b.Fatal(err)
	}
	if n := len(msg.Orders()); n != 8 {
		b.Fatalf("%d ORDER groups, want 8", n)
	}
	in := Input{Msg: msg, Loc: sources.Location{Source: "bench.hl7", Line: 1}, PatientID: "p-1234",
		LastUpdated: time.Date(2024, 4, 25, 10, 0, 0, 0, time.UTC), Want: want}
	b.ReportAllocs()
	defer reportCPU(b)()
	for b.Loop() {
		out := m.Apply(in, false)
		if len(out.Resources) != resources {
			b.Fatalf("%d resources, want %d (%d issues)", len(out.Resources), resources, len(out.Issues))
		}
	}
}

// BenchmarkApplyVXU8 maps every resource of the 8-ORDER VXU.
func BenchmarkApplyVXU8(b *testing.B) { benchApply(b, nil, 9) }

// BenchmarkApplyWantOneImmunization is the export's most frequent call:
// a message resending 8 doses of which only one is new.
func BenchmarkApplyWantOneImmunization(b *testing.B) {
	benchApply(b, func(t string, ord int) bool { return t == "Immunization" && ord == 6 }, 1)
}

// BenchmarkApplyWantPatient is the export's call for a message whose
// doses were all seen: its Patient only.
func BenchmarkApplyWantPatient(b *testing.B) {
	benchApply(b, func(t string, _ int) bool { return t == "Patient" }, 1)
}
