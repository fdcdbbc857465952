package server

import (
	"fmt"
	"hash/fnv"
	"io"
	"math/rand/v2"
	"strings"
	"testing"
	"time"
	"unsafe"

	"github.com/iisbridge/iisbridge/fhirout"
)

// The window must behave exactly like "the last n distinct ids": checked
// against a plain map + ring model on a stream with many near repeats and
// deliberately colliding home slots (small id space, small window).
func TestRecentIDsMatchesModel(t *testing.T) {
	for _, n := range []int{1, 3, 8, 100} {
		r := newRecentIDs(n)
		var ring []uint64
		set := map[uint64]bool{}
		rng := rand.New(rand.NewPCG(1, uint64(n)))
		for step := range 20000 {
			h := rng.Uint64N(uint64(3*n + 2)) // includes 0
			want := set[h]
			if !want {
				if len(ring) == n {
					delete(set, ring[0])
					ring = ring[1:]
				}
				ring = append(ring, h)
				set[h] = true
			}
			if got := r.add(h); got != want {
				t.Fatalf("n=%d step %d: add(%d) = %v, want %v", n, step, h, got, want)
			}
			if r.len() != len(set) {
				t.Fatalf("n=%d step %d: window holds %d ids, want %d", n, step, r.len(), len(set))
			}
		}
	}
}

func TestIDHashIsFNV1a(t *testing.T) {
	for _, c := range [][2]string{{"Patient", "p1"}, {"Immunization", "7f3a-xx"}, {"", ""}, {"Group", "é"}} {
		h := fnv.New64a()
		h.Write([]byte(c[0] + "/" + c[1]))
		if got, want := idHash(c[0], c[1]), h.Sum64(); got != want {
			t.Errorf("idHash(%q, %q) = %x, want %x", c[0], c[1], got, want)
		}
	}
	if idHash("Patient", "a") == idHash("Immunization", "a") {
		t.Error("the type is not part of the hash")
	}
}

// Downloads are copied by the connection's ReadFrom (sendfile) through the
// logging and counting wrappers: the bytes must still be counted in the
// metrics, whole files and ranges alike.
func TestDownloadBytesCounted(t *testing.T) {
	h := newHarness(t, nil)
	m := h.done(h.accepted(h.kick("/Patient/$export", "")))
	if len(m.Output) == 0 {
		t.Fatal("no output files")
	}
	var total int64
	for _, it := range m.Output {
		r := h.do("GET", it.URL, "")
		b, err := io.ReadAll(r.Body)
		if err != nil || r.StatusCode != 200 || len(b) == 0 {
			t.Fatalf("download %s: %d, %d bytes, %v", it.URL, r.StatusCode, len(b), err)
		}
		total += int64(len(b))
	}
	r := h.do("GET", m.Output[0].URL, "", "Range", "bytes=2-6")
	if b := body(t, r); r.StatusCode != 206 || len(b) != 5 {
		t.Fatalf("range: %d, %q", r.StatusCode, b)
	}
	total += 5
	// The handler counts after the last byte left, so the client may ask
	// a moment before it does.
	want := fmt.Sprintf("iisbridge_file_bytes_served_total %d\n", total)
	var mb string
	for range 100 {
		if mb = body(t, h.do("GET", h.url("/metrics"), "")); strings.Contains(mb, want) {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Errorf("metrics lack %q:\n%s", want, mb)
}

// BenchmarkDedup is the sink's "each id once" check on a stream of
// distinct ids (the common case: every add inserts and evicts).
func BenchmarkDedup(b *testing.B) {
	ids := make([]string, 1<<12)
	for i := range ids {
		ids[i] = fmt.Sprintf("imm-%08x-%d", i*2654435761, i)
	}
	r := newRecentIDs(recentWindow)
	b.ReportAllocs()
	for i := range b.N {
		if r.add(idHash("Immunization", ids[i&(len(ids)-1)]) ^ uint64(i>>12)) {
			b.Fatal("repeat reported")
		}
	}
}

// encodedWriter keeps what is written to it, encoded at once.
type encodedWriter struct{ lines []string }

func (w *encodedWriter) Write(r *fhirout.Object) error {
	w.lines = append(w.lines, string(r.AppendJSON(nil)))
	return nil
}
func (w *encodedWriter) Close() ([]fhirout.FileInfo, error) { return nil, nil }

// The job sink keeps deleted ids for their Bundle past the call, and so
// past the person's memory they may point into (a releasing sink's
// strings live only as long as the call): it must copy them.
func TestJobSinkDeletedIDsOutliveTheCall(t *testing.T) {
	del := &encodedWriter{}
	k := &jobSink{ctx: t.Context(), del: del, types: []string{"Immunization"}, seen: newRecentIDs(16)}
	mem := []byte("imm-1")
	if err := k.Deleted("Immunization", unsafe.String(&mem[0], len(mem)), time.Time{}); err != nil {
		t.Fatal(err)
	}
	copy(mem, "XXXXX") // the person's memory, reused for another
	if err := k.flushDeleted(); err != nil {
		t.Fatal(err)
	}
	if len(del.lines) != 1 || !strings.Contains(del.lines[0], `"url":"Immunization/imm-1"`) {
		t.Fatalf("deleted Bundle %q, want Immunization/imm-1", del.lines)
	}
}
