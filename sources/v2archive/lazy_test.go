package v2archive

import (
	"bytes"
	"io"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/iisbridge/iisbridge/hl7v2"
	"github.com/iisbridge/iisbridge/mapping"
	"github.com/iisbridge/iisbridge/sources"
	"github.com/iisbridge/iisbridge/sources/v2archive/internal/archivegen"
)

// fullRecord is Source.record as it was with the message parsed whole:
// what every record must still be.
func fullRecord(s *Source, it *Item) *sources.Record {
	r := &sources.Record{Loc: it.Loc, Kind: sources.Broken}
	var who sources.Identity
	switch {
	case it.Err != nil:
		r.Err = it.Err.Error()
	case len(it.Data) == 0:
		r.Kind, r.Err = sources.Warning, strings.Join(it.Warnings, "; ")
	default:
		m, err := hl7v2.Parse(it.Data)
		if err != nil {
			r.Err = err.Error()
			break
		}
		if err := classify(s.identity, s.who, m, it.Data, r, &who, false); err != nil {
			*r = sources.Record{Loc: it.Loc, Kind: sources.Broken, Err: err.Error()}
			break
		}
		r.Hash = DataHash(it.Data)
		if len(it.Warnings) > 0 {
			r.Err = strings.Join(it.Warnings, "; ")
			r.Warn = 1
		}
		r.Warn += len(m.Warnings())
	}
	return r
}

// checkLazyRecords reads the items of r and checks that each record the
// scan makes of it (a lazily parsed message, one Parser for all) is the
// record of the message parsed whole, and so is a groupless reader's but
// for what only Groups read.
func checkLazyRecords(t *testing.T, s *Source, r *Reader) int {
	t.Helper()
	var (
		p   hl7v2.Parser
		who sources.Identity
		n   int
	)
	for {
		it, err := r.Next()
		if err == io.EOF {
			return n
		}
		if err != nil {
			t.Fatal(err)
		}
		got, want := s.record(it, &p, &who, false), fullRecord(s, it)
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("%v: scanned\n%+v\nparsed whole\n%+v", it.Loc, got, want)
		}
		// A groupless reader (sources.Change.Groupless) gets the same
		// record without what only Groups read.
		lean := s.record(it, &p, &who, true)
		want.Facility, want.Holds, want.Evidence, want.Answers, want.Asked = "", false, 0, "", nil
		if !reflect.DeepEqual(lean, want) {
			t.Fatalf("%v: scanned for a groupless reader\n%+v\nwant\n%+v", it.Loc, lean, want)
		}
		n++
	}
}

func lazySource(t *testing.T) *Source {
	s, err := NewSource(Options{}, sources.DefaultIdentity(), mapping.Default())
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// The records of the shared corpus, a generated world and a generated
// archive of mixed framings are those of messages parsed whole.
func TestLazyRecordsCorpus(t *testing.T) {
	r, err := Open([]string{filepath.Join(corpusDir(t), "v2", "*", "*.hl7")}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%d records", checkLazyRecords(t, lazySource(t), r))
}

func TestLazyRecordsGenerated(t *testing.T) {
	var buf bytes.Buffer
	if _, err := archivegen.Write(&buf, 2<<20, 3); err != nil {
		t.Fatal(err)
	}
	worlds := [][]byte{buf.Bytes()}
	if !testing.Short() {
		worlds = append(worlds, scanWorld(t))
	}
	for _, data := range worlds {
		r, err := OpenReader("gen", bytes.NewReader(data), Options{})
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("%d records", checkLazyRecords(t, lazySource(t), r))
	}
}
