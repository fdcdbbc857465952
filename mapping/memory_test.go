package mapping

import (
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"unsafe"

	"github.com/iisbridge/iisbridge/fhirout"
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

// A Memory's string arena lives as long as the Memory: a batch's strings
// stay intact until it is handed back, handing it back reuses its
// chunks, and strings an Output's issues or traces may hold are never in
// a chunk that is reused.
func TestMemoryArena(t *testing.T) {
	m := Default()
	dir := t.TempDir()
	sum, err := synth.Generate(dir, synth.Config{Seed: 5, People: 20, Start: differentialWorld.Start, End: differentialWorld.End})
	if err != nil {
		t.Fatal(err)
	}
	// Records without issues first: their chunks are reused.
	var ins, issued []Input
	for _, f := range sum.Files {
		eachMessage(t, filepath.Join(dir, f), func(msg *hl7v2.Message, loc sources.Location) {
			in := Input{Msg: msg, Loc: loc}
			if len(m.Apply(in, false).Issues) > 0 {
				issued = append(issued, in)
			} else {
				ins = append(ins, in)
			}
		})
	}
	if len(ins) < 40 || len(issued) == 0 {
		t.Fatalf("only %d messages, %d with issues", len(ins), len(issued))
	}
	ins = append(ins, issued...)
	a := m.NewApplier()
	var mem, other Memory
	// run maps ins[from:to] in mem as one batch, with traces when trace.
	run := func(mem *Memory, from, to int, trace bool) (got, want []string) {
		a.Batch(mem)
		for _, in := range ins[from:to] {
			got = append(got, outputText(a.Apply(in, trace)))
			want = append(want, outputText(m.Apply(in, trace)))
		}
		a.Batch(nil)
		return got, want
	}
	chunks := func(mem *Memory) (ps []*byte) {
		for _, c := range mem.chunks {
			ps = append(ps, &c[:1][0])
		}
		return ps
	}
	outs := make([]Output, 0, 20)
	a.Batch(&mem)
	for _, in := range ins[:20] {
		outs = append(outs, a.Apply(in, false))
	}
	a.Batch(nil)
	run(&other, 20, 40, false) // another Memory: mem's strings untouched
	for i, out := range outs {
		if got, want := outputText(out), outputText(m.Apply(ins[i], false)); got != want {
			t.Fatalf("record %d before its Memory was handed back:\n%s\nwant\n%s", i, got, want)
		}
	}
	// The same records again in mem: they fill the same chunks.
	before := chunks(&mem)
	if len(before) == 0 {
		t.Fatal("no arena chunk in the Memory")
	}
	got, want := run(&mem, 0, 20, false)
	if after := chunks(&mem); !slices.Equal(after, before) {
		t.Errorf("a recycled Memory used arena chunks %p, not its own %p", after, before)
	}
	for i := range got {
		if got[i] != want[i] {
			t.Fatalf("record %d in a recycled Memory:\n%s\nwant\n%s", i, got[i], want[i])
		}
	}
	// Issues and traces outlive the Memory: their chunks leave it.
	var fresh Memory
	a.Batch(&fresh)
	var kept []Output
	for i, in := range ins[len(ins)-len(issued):] {
		kept = append(kept, a.Apply(in, false), a.Apply(ins[i], true))
	}
	a.Batch(nil)
	if len(fresh.chunks) != 0 {
		t.Errorf("%d arena chunks stay in the Memory after Applies with issues or traces", len(fresh.chunks))
	}
	run(&fresh, 0, len(ins), false)
	for i, out := range kept {
		in := ins[i/2]
		if i%2 == 0 {
			in = issued[i/2]
		}
		out.Resources = nil
		want := m.Apply(in, i%2 == 1)
		want.Resources = nil
		if got, want := outputText(out), outputText(want); got != want {
			t.Fatalf("issues or trace of record %d after its Memory was reused:\n%s\nwant\n%s", i, got, want)
		}
	}
}

// Handing a Memory back to Batch overwrites its arena chunks with
// poisonByte when poisoning (the iisbridge_poison build tag), so that a
// string kept past its Memory shows at once; without the tag it writes
// nothing. Strings that left the Memory (an Apply's with issues) are
// never poisoned.
func TestMemoryPoison(t *testing.T) {
	m := Default()
	dir := t.TempDir()
	sum, err := synth.Generate(dir, synth.Config{Seed: 5, People: 10, Start: differentialWorld.Start, End: differentialWorld.End})
	if err != nil {
		t.Fatal(err)
	}
	a := m.NewApplier()
	var mem Memory
	a.Batch(&mem)
	var strs []string
	issued := 0
	for _, f := range sum.Files {
		eachMessage(t, filepath.Join(dir, f), func(msg *hl7v2.Message, loc sources.Location) {
			out := a.Apply(Input{Msg: msg, Loc: loc}, false)
			if len(out.Issues) > 0 {
				issued++
			}
			for _, r := range out.Resources {
				strs = appendStrings(strs, r)
			}
		})
	}
	a.Batch(nil)
	inChunk := func(s string) bool {
		p := uintptr(unsafe.Pointer(unsafe.StringData(s)))
		for _, c := range mem.chunks {
			b := uintptr(unsafe.Pointer(unsafe.SliceData(c[:1])))
			if p >= b && p < b+uintptr(cap(c)) {
				return true
			}
		}
		return false
	}
	var inMem, was []string
	others := 0
	for _, s := range strs {
		if s == "" {
			continue
		}
		if inChunk(s) {
			inMem = append(inMem, s)
		} else {
			others++
		}
		was = append(was, strings.Clone(s))
	}
	if len(inMem) == 0 || others == 0 || issued == 0 {
		t.Fatalf("%d strings in the Memory's chunks, %d elsewhere, %d records with issues", len(inMem), others, issued)
	}
	a.Batch(&mem) // handed back: recycled
	defer a.Batch(nil)
	i := 0
	for _, s := range strs {
		if s == "" {
			continue
		}
		want := was[i]
		i++
		if poisoning && inChunk(s) {
			want = strings.Repeat(string([]byte{poisonByte}), len(s))
		}
		if s != want {
			t.Fatalf("after the Memory was handed back, %q reads %q (poisoning %v)", want, s, poisoning)
		}
	}
}

// appendStrings appends the strings of o's values, at any depth.
func appendStrings(dst []string, v any) []string {
	switch v := v.(type) {
	case string:
		dst = append(dst, v)
	case *fhirout.Object:
		for _, x := range v.All() {
			dst = appendStrings(dst, x)
		}
	case []any:
		for _, x := range v {
			dst = appendStrings(dst, x)
		}
	}
	return dst
}
