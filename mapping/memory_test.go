package mapping

import (
	"path/filepath"
	"testing"

	"github.com/iisbridge/iisbridge/hl7v2"
	"github.com/iisbridge/iisbridge/sources"
	"github.com/iisbridge/iisbridge/sources/synth"
)

// An Applier batching into Memories gives what Mapping.Apply gives: a
// batch's outputs stay intact through the batch and the next one (in
// another Memory), read only after both, and a Memory recycled for a
// later batch leaks none of its earlier values.
func TestApplierBatch(t *testing.T) {
	m := Default()
	a := m.NewApplier()
	dir := t.TempDir()
	sum, err := synth.Generate(dir, differentialWorld)
	if err != nil {
		t.Fatal(err)
	}
	var mems [2]Memory
	type batch struct {
		outs []Output
		want []string
	}
	var last, cur batch
	check := func(b batch) {
		t.Helper()
		for i, out := range b.outs {
			if got := outputText(out); got != b.want[i] {
				t.Fatalf("batched Applier gave\n%s\nMapping.Apply gave\n%s", got, b.want[i])
			}
		}
	}
	n := 0
	for _, f := range sum.Files {
		eachMessage(t, filepath.Join(dir, f), func(msg *hl7v2.Message, loc sources.Location) {
			if n%5 == 0 { // a new batch, in the Memory of the one before last
				check(last)
				last, cur = cur, batch{}
				a.Batch(&mems[n/5%2])
			}
			in := Input{Msg: msg, Loc: loc}
			cur.outs = append(cur.outs, a.Apply(in, n%3 == 0))
			cur.want = append(cur.want, outputText(m.Apply(in, n%3 == 0)))
			n++
		})
	}
	a.Batch(nil)
	check(last)
	check(cur)
	if n < 100 {
		t.Fatalf("only %d messages compared", n)
	}
}
