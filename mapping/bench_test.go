package mapping

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/iisbridge/iisbridge/hl7v2"
	"github.com/iisbridge/iisbridge/internal/cputime"
	"github.com/iisbridge/iisbridge/sources"
	"github.com/iisbridge/iisbridge/sources/synth"
)

// benchVXU is a typical ~1 KB VXU: one patient, two doses.
var benchVXU = strings.Join([]string{
	"MSH|^~\\&|MYEHR|NORTHCLINIC|IIS|STATEIIS|20240310142530-0500||VXU^V04^VXU_V04|MSG-0001|P|2.5.1|||ER|AL|||||Z22^CDCPHINVS",
	"PID|1||MRN4471^^^NORTHCLINIC^MR||Quillfeather^Marigold^Ann^^^^L|Thistlewood^^^^^^M|20230115|F||2106-3^White^CDCREC|12 Larkspur Lane^^Fernvale^WI^53703^USA^H||^PRN^PH^^^608^5550142|||||||||2186-5^Not Hispanic or Latino^CDCREC",
	"NK1|1|Quillfeather^Rosalind^^^^^L|MTH^Mother^HL70063",
	"ORC|RE||NC-DOSE-1001^MYEHR||||||||||1234567890^Pendergast^Orrin^^^Dr^^^NPPES^^^^NPI",
	"RXA|0|1|20240310101500|20240310101500|08^Hep B, adolescent or pediatric^CVX|0.5|mL^milliliters^UCUM||00^New immunization record^NIP001|1234567890^Pendergast^Orrin^^^^^^NPPES^^^^NPI|^^^NORTHCLINIC||||LOT778A|20251231|MSD^Merck and Co^MVX|||CP|A",
	"RXR|IM^Intramuscular^HL70162|LT^Left Thigh^HL70163",
	"OBX|1|CE|64994-7^Vaccine funding program eligibility category^LN|1|V02^VFC eligible - Medicaid^HL70064||||||F",
	"OBX|2|CE|30963-3^Vaccine funding source^LN|2|VXC1^Federal funds^CDCPHINVS||||||F",
	"ORC|RE||NC-DOSE-0007^MYEHR",
	"RXA|0|1|20230601|20230601|03^MMR^CVX|999|||01^Historical information - source unspecified^NIP001",
}, "\r") + "\r"

// BenchmarkConvertVXU is the end-to-end cost of one message: parse,
// Apply, JSON encoding of every resource.
func BenchmarkConvertVXU(b *testing.B) {
	m := Default()
	benchConvert(b, hl7v2.Parse, m.Apply)
}

// BenchmarkConvertVXUApplier is BenchmarkConvertVXU through an Applier,
// as a worker that owns one maps its records.
func BenchmarkConvertVXUApplier(b *testing.B) {
	a := Default().NewApplier()
	benchConvert(b, hl7v2.Parse, a.Apply)
}

// BenchmarkConvertVXUWorker is BenchmarkConvertVXUApplier as convert's
// workers run it: each record's resources are encoded before the next
// record is parsed and mapped, so the parser and the Applier recycle
// their memory (hl7v2.Parser, Applier.ReuseOutput).
func BenchmarkConvertVXUWorker(b *testing.B) {
	a := Default().NewApplier()
	a.ReuseOutput()
	var p hl7v2.Parser
	benchConvert(b, p.Parse, a.Apply)
}

// benchConvert parses, maps and encodes benchVXU once per iteration.
func benchConvert(b *testing.B, parse func([]byte) (*hl7v2.Message, error), apply func(Input, bool) Output) {
	data := []byte(benchVXU)
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	var buf []byte
	defer reportCPU(b)()
	for b.Loop() {
		msg, err := parse(data)
		if err != nil {
			b.Fatal(err)
		}
		out := apply(Input{Msg: msg}, false)
		if len(out.Resources) != 3 {
			b.Fatalf("%d resources, %d issues", len(out.Resources), len(out.Issues))
		}
		for _, r := range out.Resources {
			buf = r.AppendJSON(buf[:0])
		}
	}
}

// reportCPU adds cpu-ns/op: the process's user+system CPU time per
// iteration. On a shared machine ns/op (wall time) also counts the time
// other processes held the CPU; CPU time does not. Call as
// defer reportCPU(b)().
func reportCPU(b *testing.B) func() {
	start := cputime.Process()
	return func() {
		if b.N > 0 {
			b.ReportMetric(float64(cputime.Process()-start)/float64(b.N), "cpu-ns/op")
		}
	}
}

// BenchmarkApplyWorld maps the messages of a generated world (the first
// 2000 of a 20,000-message one, as BenchmarkIndex makes it) in turn
// through an Applier with ReuseOutput, as the export workers do: the
// variety of real records (RSP^K11 responses with many RXAs, VXUs with
// several) that benchVXU lacks. Messages are parsed before timing and
// resources are not encoded, so an iteration is one record's mapping.
func BenchmarkApplyWorld(b *testing.B) {
	dir := b.TempDir()
	sum, err := synth.Generate(dir, synth.Config{Seed: 1, Messages: 20000, Framings: []string{"msh"}})
	if err != nil {
		b.Fatal(err)
	}
	const n = 2000
	var msgs []*hl7v2.Message
	var locs []sources.Location
	eachMessage(b, filepath.Join(dir, sum.Files[0]), func(msg *hl7v2.Message, loc sources.Location) {
		if len(msgs) < n {
			msgs, locs = append(msgs, msg), append(locs, loc)
		}
	})
	a := Default().NewApplier()
	a.ReuseOutput()
	i := 0
	b.ReportAllocs()
	defer reportCPU(b)()
	for b.Loop() {
		a.Apply(Input{Msg: msgs[i], Loc: locs[i]}, false)
		if i++; i == len(msgs) {
			i = 0
		}
	}
}
