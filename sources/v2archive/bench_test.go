package v2archive

import (
	"bytes"
	"io"
	"testing"

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
