package mapping

import (
	"bytes"
	"encoding/json"
	"path/filepath"
	"testing"

	"github.com/iisbridge/iisbridge/hl7v2"
	"github.com/iisbridge/iisbridge/sources"
	"github.com/iisbridge/iisbridge/sources/synth"
)

// What an Applier gave stays intact while it maps more records: its
// buffers are reused, the output's memory never is.
func TestApplierOutputOutlivesReuse(t *testing.T) {
	m := Default()
	a := m.NewApplier()
	first := a.Apply(Input{Msg: msg(t, benchVXU)}, true)
	if len(first.Resources) != 3 || len(first.Trace) == 0 {
		t.Fatalf("%d resources, %d trace lines", len(first.Resources), len(first.Trace))
	}
	var want [][]byte
	for _, r := range first.Resources {
		want = append(want, r.AppendJSON(nil))
	}
	wantTrace := append([]Trace(nil), first.Trace...)
	for _, name := range []string{"vxu_full.hl7", "rsp_z42.hl7", "vxu_badcodes.hl7", "vxu_status.hl7"} {
		for range 20 {
			a.Apply(Input{Msg: readMsg(t, name)}, true)
		}
	}
	for i, r := range first.Resources {
		if got := r.AppendJSON(nil); !bytes.Equal(got, want[i]) {
			t.Errorf("resource %d changed after later Applies:\n%s\nwas\n%s", i, got, want[i])
		}
	}
	for i := range wantTrace {
		if first.Trace[i] != wantTrace[i] {
			t.Errorf("trace %d changed: %+v, was %+v", i, first.Trace[i], wantTrace[i])
		}
	}
	// The same record through Mapping.Apply gives the same.
	again := m.Apply(Input{Msg: msg(t, benchVXU)}, true)
	for i, r := range again.Resources {
		if got := r.AppendJSON(nil); !bytes.Equal(got, want[i]) {
			t.Errorf("Mapping.Apply resource %d differs from the Applier's", i)
		}
	}
}

// An Applier that reuses its output gives, record after record, what
// Mapping.Apply gives (each output read before the next Apply), traced
// or not, on the generated world: recycled memory never leaks a value of
// one record into the next.
func TestApplierReuseOutput(t *testing.T) {
	m := Default()
	a := m.NewApplier()
	a.ReuseOutput()
	dir := t.TempDir()
	sum, err := synth.Generate(dir, differentialWorld)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, f := range sum.Files {
		eachMessage(t, filepath.Join(dir, f), func(msg *hl7v2.Message, loc sources.Location) {
			for _, trace := range []bool{false, true, false} {
				in := Input{Msg: msg, Loc: loc}
				want, got := outputText(m.Apply(in, trace)), outputText(a.Apply(in, trace))
				if got != want {
					t.Fatalf("%s: reusing Applier gave\n%s\nMapping.Apply gave\n%s", loc.Source, got, want)
				}
			}
			n++
		})
	}
	if n < 100 {
		t.Fatalf("only %d messages compared", n)
	}
}

func outputText(out Output) string {
	var b bytes.Buffer
	for _, r := range out.Resources {
		b.Write(r.AppendJSON(nil))
		b.WriteByte('\n')
	}
	j, _ := json.Marshal(out.Issues)
	b.Write(j)
	j, _ = json.Marshal(out.Trace)
	b.Write(j)
	return b.String()
}

// Room learnt from small records (room.go) only sizes slices: a larger
// record after many small ones, and a small one after it, map as a fresh
// Apply maps them, and the objects' capacity follows what they held.
func TestLearntRoomKeepsOutput(t *testing.T) {
	m := Default()
	small, large := msg(t, benchVXU), msg(t, benchVXU8)
	fresh := func(in *hl7v2.Message) [][]byte {
		var out [][]byte
		for _, r := range m.NewApplier().Apply(Input{Msg: in}, false).Resources {
			out = append(out, r.AppendJSON(nil))
		}
		return out
	}
	wantSmall, wantLarge := fresh(small), fresh(large)
	for _, reuse := range []bool{false, true} {
		a := m.NewApplier()
		if reuse {
			a.ReuseOutput()
		}
		for i := range 3 * roomsSample {
			in, want := small, wantSmall
			if i == 2*roomsLearnt || i == roomsSample+1 {
				in, want = large, wantLarge // unsampled: past the learnt room
			}
			out := a.Apply(Input{Msg: in}, false)
			if len(out.Resources) != len(want) {
				t.Fatalf("record %d: %d resources, want %d", i, len(out.Resources), len(want))
			}
			for j, r := range out.Resources {
				if got := r.AppendJSON(nil); !bytes.Equal(got, want[j]) {
					t.Fatalf("reuse %v, record %d, resource %d:\n%s\nwant\n%s", reuse, i, j, got, want[j])
				}
			}
		}
		if a.e.rooms[m.impl.resources[0].site].keys == 0 {
			t.Errorf("reuse %v: no room learnt for the Patient", reuse)
		}
	}
}
