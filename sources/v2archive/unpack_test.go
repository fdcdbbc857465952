package v2archive

import (
	"bytes"
	"compress/gzip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/iisbridge/iisbridge/mapping"
	"github.com/iisbridge/iisbridge/sources"
)

// A gzip input is indexed from the source's fresh copy, kept under a name
// of the source's choosing once the index says so, and read again by the
// input's own path.
func TestSpool(t *testing.T) {
	dir := t.TempDir()
	msg := "MSH|^~\\&|EHR|CLINICA|IIS|MYIIS|20240101||VXU^V04^VXU_V04|C1|P|2.5.1\rPID|1||M1^^^CLINICA^MR\r"
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	zw.Write([]byte(msg))
	zw.Close()
	in := filepath.Join(dir, "a.hl7.gz")
	os.WriteFile(in, buf.Bytes(), 0o644)
	plain := filepath.Join(dir, "b.hl7")
	os.WriteFile(plain, []byte(msg), 0o644)

	if s, _ := NewSource(Options{}, sources.DefaultIdentity(), mapping.Default()); s != nil {
		if _, err := s.unpack(in, int64(buf.Len())); err == nil || !strings.Contains(err.Error(), "spool directory") {
			t.Errorf("a gzip input without a spool directory: %v", err)
		}
	}
	spool := filepath.Join(dir, "spool")
	os.MkdirAll(spool, 0o755)
	os.WriteFile(filepath.Join(spool, "17"), []byte("x"), 0o644) // an index's spool before the source kept them
	s, err := NewSource(Options{SpoolDir: spool}, sources.DefaultIdentity(), mapping.Default())
	if err != nil {
		t.Fatal(err)
	}
	if u, err := s.unpack(plain, int64(len(msg))); u != nil || err != nil {
		t.Fatalf("a plain file unpacked: %+v %v", u, err)
	}
	u, err := s.unpack(in, int64(buf.Len()))
	if err != nil || u == nil || u.bytes != int64(len(msg)) || u.broken != "" || !strings.HasPrefix(u.path, spool) {
		t.Fatalf("unpack: %+v %v", u, err)
	}
	if err := s.keep(in, u); err != nil {
		t.Fatal(err)
	}
	if sp, _ := filepath.Glob(filepath.Join(spool, "*")); len(sp) != 1 || sp[0] != u.path || strings.Contains(u.path, "tmp-") {
		t.Fatalf("spool holds %v, kept %s", sp, u.path)
	}
	var rec *sources.Record
	f, _ := os.Open(u.path)
	err = s.records(in, f, false, func(r *sources.Record) error { rec = r; return nil })
	f.Close()
	if err != nil || rec == nil {
		t.Fatal(err)
	}
	loc := sources.Locator{From: s.Name(), Source: in, Offset: rec.Loc.Offset, Length: rec.Loc.Length, ID: rec.Loc.ControlID, Hash: rec.Hash}
	rr, _ := s.Rereader()
	if data, err := rr.Reread(loc); err != nil || string(data) != strings.TrimSuffix(msg, "\r") && string(data) != msg {
		t.Fatalf("re-read through the spool: %q %v", data, err)
	}
	rr.Close()
	s.forget(in)
	if sp, _ := filepath.Glob(filepath.Join(spool, "*")); len(sp) != 0 {
		t.Fatalf("forgotten spool kept: %v", sp)
	}
}
