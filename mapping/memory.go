package mapping

import "github.com/iisbridge/iisbridge/fhirout"

// Memory is memory the resources of a batch of records are made in (a
// person's, for an exporter), their strings included: owned by the
// caller, who hands it back to an Applier (Batch) once it is done with
// everything made in it, so the chunks are made again instead of
// allocated. A string of those resources kept longer must be copied
// (strings.Clone): its bytes are overwritten. The zero value is ready.
// A Memory serves one Applier at a time.
type Memory struct {
	slab fhirout.Slab
	// The string arena's chunks (env.text): the resources' strings point
	// into them, so they are recycled with the slab. chunks[:next] hold
	// strings of the current batch; all have cap memoryChunk.
	chunks [][]byte
	next   int
}

// memoryChunk is the size of a Memory's arena chunks: a record's
// strings or a few (an Apply's own arena is at most 4 KiB).
const memoryChunk = 4 << 10

// Batch makes the following Applies make their resources in m, not
// reset between records: what they return stays valid until m is passed
// to Batch again, which recycles it (the resources made in it before are
// overwritten). Batch also hands the Memory of the batch before back to
// its owner; Batch(nil) ends batching (each Apply's output is then its
// own, as without Batch). Issues and traces never live in m. No effect
// with ReuseOutput.
func (a *Applier) Batch(m *Memory) {
	e := &a.e
	if e.batch != nil {
		e.batch.slab, e.slab = e.slab, fhirout.Slab{}
	}
	e.arena, e.arenaKept = nil, false // the last batch's, or the last record's
	e.batch = m
	if m != nil {
		e.slab, m.slab = m.slab, fhirout.Slab{}
		e.slab.Recycle()
		if poisoning {
			m.poison()
		}
		m.next = 0
	}
}

// poisonByte fills recycled arena chunks when poisoning: never in the
// UTF-8 text the arena holds.
const poisonByte = 0xff

// poison overwrites all of m's arena chunks with poisonByte.
func (m *Memory) poison() {
	for _, c := range m.chunks {
		c = c[:cap(c)]
		for i := range c {
			c[i] = poisonByte
		}
	}
}

// chunk gives an empty arena chunk of m with room for n bytes: a
// recycled one, or a new one, kept (chunks[next-1]) unless outsized.
func (m *Memory) chunk(n int) (c []byte, kept bool) {
	if n > memoryChunk {
		return make([]byte, 0, n), false
	}
	if m.next == len(m.chunks) {
		m.chunks = append(m.chunks, make([]byte, 0, memoryChunk))
	}
	m.next++
	return m.chunks[m.next-1][:0], true
}

// retain gives up chunks[from:next], which hold an Apply's strings: its
// issues or traces, which outlive m, may point into them.
func (m *Memory) retain(from int) {
	n := from + copy(m.chunks[from:], m.chunks[m.next:])
	clear(m.chunks[n:])
	m.chunks, m.next = m.chunks[:n], from
}
