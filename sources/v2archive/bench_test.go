package v2archive

import (
	"bytes"
	"fmt"
	"io"
	"strings"
	"testing"

	"github.com/iisbridge/iisbridge/hl7v2"
	"github.com/iisbridge/iisbridge/sources"

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
