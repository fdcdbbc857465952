package mapping

import (
	"bytes"
	"testing"
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
