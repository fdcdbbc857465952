package v2archive

import (
	"bytes"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/iisbridge/iisbridge/hl7v2"
	"github.com/iisbridge/iisbridge/internal/cputime"
	"github.com/iisbridge/iisbridge/mapping"
	"github.com/iisbridge/iisbridge/sources"
	"github.com/iisbridge/iisbridge/sources/synth"

	"github.com/iisbridge/iisbridge/sources/v2archive/internal/archivegen"
)

// BenchmarkReader reads an 8 MB archive of ~1 KB VXU messages in mixed
// framings (next MSH, blank lines, MLLP, batches; CR, LF, CRLF; some
// Latin-1) from memory: the reader's own cost, parse of MSH included.
func BenchmarkReader(b *testing.B) {
	var buf bytes.Buffer
	msgs, err := archivegen.Write(&buf, 8<<20, 0)
	if err != nil {
		b.Fatal(err)
	}
	data := buf.Bytes()
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		r, err := OpenReader("bench", bytes.NewReader(data), Options{})
		if err != nil {
			b.Fatal(err)
		}
		n := 0
		for {
			it, err := r.Next()
			if err == io.EOF {
				break
			}
			if it.Err != nil {
				b.Fatalf("%v: %v", it.Loc, it.Err)
			}
			n++
		}
		if n != msgs {
			b.Fatalf("read %d messages, wrote %d", n, msgs)
		}
	}
}

// BenchmarkDataHash is the check every re-read pays (DataHash of a 2 KB
// message): compare with the export's cost per message (pipeline
// BenchmarkExport, cpu-ns/msg).
//
//	go test -run '^$' -bench DataHash ./sources/v2archive
func BenchmarkDataHash(b *testing.B) {
	msg := bytes.Repeat([]byte("RXA|0|1|20240101||08^HepB^CVX|0.5|mL^mL^UCUM||00^x^NIP001\r"), 2048/60)
	b.SetBytes(int64(len(msg)))
	for b.Loop() {
		DataHash(msg)
	}
}

// BenchmarkReadSpan is the check of a re-read span after the pread: a
// plain ~1 KB message, ASCII and with UTF-8 names (a patient's name or
// address often has them).
//
//	go test -run '^$' -bench ReadSpan ./sources/v2archive
func BenchmarkReadSpan(b *testing.B) {
	o, _ := Options{}.normalized()
	var p hl7v2.Parser
	for _, family := range []string{"WRIGHT", "JOS\u00c9"} {
		span := []byte(msg("M1", family, "\r") + strings.Repeat("OBX|1|CE|64994-7^Vaccine funding program eligibility category^LN|1|V02^VFC eligible - Medicaid/Medicaid Managed Care^HL70064||||||F\r", 6))
		loc := sources.Location{Source: "bench", Length: int64(len(span))}
		b.Run(fmt.Sprintf("%s/%dB", map[bool]string{true: "ascii", false: "utf8"}[isASCII(span)], len(span)), func(b *testing.B) {
			b.SetBytes(int64(len(span)))
			b.ReportAllocs()
			for b.Loop() {
				if it := readSpanWith(loc, span, &o, &p); it.Err != nil || it.Loc.ControlID != "M1" {
					b.Fatal(it.Err, it.Loc.ControlID)
				}
			}
		})
	}
}

// BenchmarkRereader re-reads every message of a 64 MB archive file in
// random order through a new Rereader per pass, as an export does (a
// person's messages lie anywhere in the archive): the pread, the check of
// the span and its header. cpu-ns/msg is the figure to compare on a
// shared machine.
//
//	go test -run '^$' -bench Rereader -cpu 1 ./sources/v2archive
func BenchmarkRereader(b *testing.B) {
	msgs := shuffledArchive(b)
	locs := make([]sources.Location, len(msgs))
	for i, m := range msgs {
		locs[i] = m.loc
	}
	var p hl7v2.Parser
	var buf []byte // one per worker, as an export keeps
	cpu0 := cputime.Process()
	for b.Loop() {
		rr, err := NewRereader(Options{})
		if err != nil {
			b.Fatal(err)
		}
		for _, loc := range locs {
			if it, err := rr.readAt(loc, &p, &buf); err != nil || it.Err != nil {
				b.Fatal(err, it.Err)
			}
		}
		rr.Close()
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(locs)), "ns/msg")
	b.ReportMetric(float64(cputime.Process()-cpu0)/float64(b.N*len(locs)), "cpu-ns/msg")
}

// BenchmarkVerifiedReread is BenchmarkRereader through the source's
// verified re-reader, by locator (checksum and MSH-10 checked), into one
// buffer: an export worker's re-read.
//
//	go test -run '^$' -bench VerifiedReread -cpu 1 ./sources/v2archive
func BenchmarkVerifiedReread(b *testing.B) {
	msgs := shuffledArchive(b)
	locs := make([]sources.Locator, len(msgs))
	for i, m := range msgs {
		locs[i] = sources.Locator{Source: m.loc.Source, Offset: m.loc.Offset, Length: m.loc.Length, ID: m.loc.ControlID, Hash: m.hash}
	}
	s, err := NewSource(Options{}, sources.DefaultIdentity(), mapping.Default())
	if err != nil {
		b.Fatal(err)
	}
	var buf []byte
	cpu0 := cputime.Process()
	for b.Loop() {
		rr, err := s.Rereader()
		if err != nil {
			b.Fatal(err)
		}
		into := rr.(interface {
			RereadInto(sources.Locator, *[]byte) ([]byte, error)
		})
		for _, loc := range locs {
			if _, err := into.RereadInto(loc, &buf); err != nil {
				b.Fatal(err)
			}
		}
		rr.Close()
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(locs)), "ns/msg")
	b.ReportMetric(float64(cputime.Process()-cpu0)/float64(b.N*len(locs)), "cpu-ns/msg")
}

// archived is a message of shuffledArchive's: where it is, its checksum.
type archived struct {
	loc  sources.Location
	hash uint64
}

// shuffledArchive writes a 64 MB generated archive file and returns its
// messages in random order (an export's re-reads: a person's messages lie
// anywhere in the archive).
func shuffledArchive(b *testing.B) []archived {
	path := filepath.Join(b.TempDir(), "a.hl7")
	f, err := os.Create(path)
	if err != nil {
		b.Fatal(err)
	}
	if _, err := archivegen.Write(f, 64<<20, 0); err != nil {
		b.Fatal(err)
	}
	f.Close()
	r, err := Open([]string{path}, Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer r.Close()
	var msgs []archived
	for {
		it, err := r.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			b.Fatal(err)
		}
		if it.Err == nil {
			msgs = append(msgs, archived{it.Loc, DataHash(it.Data)})
		}
	}
	rand.New(rand.NewPCG(1, 2)).Shuffle(len(msgs), func(i, j int) { msgs[i], msgs[j] = msgs[j], msgs[i] })
	return msgs
}

// BenchmarkScan classifies the records of a generated world's archive
// (10,000 messages, one after the other, as `iisbridge index` of a world
// reads them) as Scan reads a file: counted and checksummed, framed,
// parsed, classified and hashed; an iteration is one record. The world
// is made once per process, so a count of instructions of the whole
// test binary at two -benchtime values gives the cost of a record.
//
//	go test -run '^$' -bench 'Scan$' ./sources/v2archive
func BenchmarkScan(b *testing.B) {
	data := scanWorld(b)
	s, err := NewSource(Options{}, sources.DefaultIdentity(), mapping.Default())
	if err != nil {
		b.Fatal(err)
	}
	var recs []*sources.Record
	read := func() {
		recs = recs[:0]
		err := s.records("bench", &countReader{r: bytes.NewReader(data)}, false, func(r *sources.Record) error {
			recs = append(recs, r)
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
	}
	read()
	n := len(recs)
	b.SetBytes(int64(len(data)) / int64(n))
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i += n {
		read()
	}
}

var scanArchive struct {
	once sync.Once
	data []byte
	err  error
}

// scanWorld is the archive of a generated world, made on first use.
func scanWorld(b testing.TB) []byte {
	a := &scanArchive
	a.once.Do(func() {
		dir, err := os.MkdirTemp("", "scanworld")
		if err != nil {
			a.err = err
			return
		}
		defer os.RemoveAll(dir)
		sum, err := synth.Generate(dir, synth.Config{Seed: 1, Messages: 10000, Framings: []string{"msh"}})
		if err != nil {
			a.err = err
			return
		}
		a.data, a.err = os.ReadFile(filepath.Join(dir, sum.Files[0]))
	})
	if a.err != nil {
		b.Fatal(a.err)
	}
	return a.data
}
