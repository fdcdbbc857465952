package fhirout

import (
	"bytes"
	"io"
	"strings"
	"testing"
)

type memFile struct {
	bytes.Buffer
	closed, aborted bool
}

func (m *memFile) Close() error { m.closed = true; return nil }
func (m *memFile) Abort() error { m.aborted = true; return nil }

// TestSinkWriterRotatesAndAborts: files go to the sink by bare name with
// the same rotation as a directory; Abort aborts what is still open.
func TestSinkWriterRotatesAndAborts(t *testing.T) {
	files := map[string]*memFile{}
	open := func(name string) (io.WriteCloser, error) {
		f := &memFile{}
		files[name] = f
		return f, nil
	}
	w, err := NewSinkWriter(open, RotateOptions{MaxResources: 2})
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"a", "b", "c"} {
		if err := w.WriteLine("Patient", []byte(`{"resourceType":"Patient","id":"`+id+`"}`)); err != nil {
			t.Fatal(err)
		}
	}
	infos, err := w.Close()
	if err != nil {
		t.Fatal(err)
	}
	if len(infos) != 2 || infos[0].Path != "Patient.ndjson" || infos[1].Path != "Patient.2.ndjson" || infos[0].Count != 2 {
		t.Fatalf("infos %+v", infos)
	}
	if n := strings.Count(files["Patient.ndjson"].String(), "\n"); n != 2 || !files["Patient.2.ndjson"].closed {
		t.Fatalf("lines %d, files %+v", n, files)
	}

	files = map[string]*memFile{}
	w, _ = NewSinkWriter(open, RotateOptions{})
	w.WriteLine("Immunization", []byte(`{"resourceType":"Immunization","id":"x"}`))
	w.Abort()
	if f := files["Immunization.ndjson"]; !f.aborted || f.closed {
		t.Fatalf("open file not aborted: %+v", f)
	}
	if err := w.WriteLine("Immunization", []byte(`{}`)); err == nil {
		t.Fatal("write after Abort succeeded")
	}
}
