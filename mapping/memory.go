package mapping

import "github.com/iisbridge/iisbridge/fhirout"

// Memory is memory the resources of a batch of records are made in (a
// person's, for an exporter): owned by the caller, who hands it back to
// an Applier (Batch) once it is done with everything made in it, so the
// chunks are made again instead of allocated. The zero value is ready.
// A Memory serves one Applier at a time.
type Memory struct {
	slab fhirout.Slab
}

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
	e.batch = m
	if m != nil {
		e.slab, m.slab = m.slab, fhirout.Slab{}
		e.slab.Recycle()
	}
}
