package v2archive

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"testing"

	"github.com/iisbridge/iisbridge/mapping"
	"github.com/iisbridge/iisbridge/sources"
)

// TestRereader reads every item of several files, plain and gzip, again
// through one Rereader that may keep only two files open, from several
// goroutines at once: each read must equal the first pass.
func TestRereader(t *testing.T) {
	dir := t.TempDir()
	var paths []string
	for i := range 5 {
		a, b := msg(fmt.Sprintf("F%dA", i), "DOE", "\r"), msg(fmt.Sprintf("F%dB", i), "M\xDCLLER", "\n")
		if i%2 == 0 {
			paths = append(paths, writeFile(t, dir, fmt.Sprintf("f%d.hl7", i), []byte(a+"\r\n"+b+"PID|1||X\r")))
		} else {
			paths = append(paths, writeFile(t, dir, fmt.Sprintf("f%d.gz", i), gz(t, a, b)))
		}
	}
	r, err := Open(paths, Options{})
	if err != nil {
		t.Fatal(err)
	}
	items, _ := collect(t, r)
	if len(items) < 10 {
		t.Fatalf("%d items", len(items))
	}
	rr, err := NewRereader(Options{})
	if err != nil {
		t.Fatal(err)
	}
	rr.maxOpen = 2
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for k := range 3 * len(items) {
				it := items[(k*7+g)%len(items)]
				again, err := rr.ReadAt(it.loc)
				if err != nil {
					t.Errorf("ReadAt(%v): %v", it.loc, err)
					return
				}
				gotErr := ""
				if again.Err != nil {
					gotErr = again.Err.Error()
				}
				if string(again.Data) != it.data || gotErr != it.err || again.Loc != it.loc {
					t.Errorf("ReadAt(%v):\n got %q %q %v\nwant %q %q", it.loc, again.Data, gotErr, again.Loc, it.data, it.err)
				}
			}
		}()
	}
	wg.Wait()
	rr.mu.Lock()
	open := rr.lru.Len()
	rr.mu.Unlock()
	if open > 2 {
		t.Errorf("%d files open, want at most 2", open)
	}
	rr.Close()
	if _, err := rr.ReadAt(items[0].loc); err == nil {
		t.Error("ReadAt after Close succeeded")
	}
	if _, err := rr.ReadAt(items[0].loc); err == nil {
		t.Error("ReadAt after Close succeeded")
	}
	bad := items[0].loc
	bad.Source = "-"
	rr2, _ := NewRereader(Options{})
	defer rr2.Close()
	if _, err := rr2.ReadAt(bad); err == nil {
		t.Error("standard input re-read")
	}
	bad = items[0].loc
	bad.Source = dir + "/missing.hl7"
	if _, err := rr2.ReadAt(bad); err == nil {
		t.Error("missing file read")
	}
}

// TestRereaderFileChanges re-reads a file edited in place, grown and
// truncated while the Rereader holds it open: every read sees the file
// as it is now, and a truncated file gives io.EOF (the export reports
// the message as truncated, not changed). A faster re-read (a mapping of
// the file, say) must keep this.
func TestRereaderFileChanges(t *testing.T) {
	var all strings.Builder
	for i := range 300 {
		all.WriteString(msg(fmt.Sprintf("M%03d", i), "DOE", "\r"))
	}
	path := writeFile(t, t.TempDir(), "a.hl7", []byte(all.String()))
	r, err := Open([]string{path}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	items, _ := collect(t, r)
	if len(items) != 300 || items[299].loc.Offset < 3*4096 {
		t.Fatalf("%d items, last at %d", len(items), items[len(items)-1].loc.Offset)
	}
	rr, err := NewRereader(Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer rr.Close()
	read := func(i int) (string, error) {
		t.Helper()
		it, err := rr.ReadAt(items[i].loc)
		if err != nil {
			return "", err
		}
		if it.Err != nil {
			return "", it.Err
		}
		return string(it.Data), nil
	}
	same := func(i int) {
		t.Helper()
		if got, err := read(i); err != nil || got != items[i].data {
			t.Errorf("item %d: %q %v, want it unchanged", i, got, err)
		}
	}
	same(0)
	// Edited in place: the new bytes.
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt([]byte("SMI"), items[5].loc.Offset+int64(strings.Index(items[5].data, "DOE"))); err != nil {
		t.Fatal(err)
	}
	if got, err := read(5); err != nil || got != strings.Replace(items[5].data, "DOE", "SMI", 1) {
		t.Errorf("edited item: %q %v", got, err)
	}
	// Grown: the new message past the mapping is read.
	extra := msg("X001", "ROE", "\r")
	if _, err := f.WriteAt([]byte(extra), int64(all.Len())); err != nil {
		t.Fatal(err)
	}
	f.Close()
	loc := items[299].loc
	loc.Offset, loc.Length, loc.Index, loc.Line = int64(all.Len()), int64(len(extra)), 301, 0
	if it, err := rr.ReadAt(loc); err != nil || string(it.Data) != extra {
		t.Errorf("appended message: %v", err)
	}
	// Truncated within the message of item 250: it and the ones
	// after (in the same page or past it) are cut short.
	cut := items[250].loc.Offset + 10
	if err := os.Truncate(path, cut); err != nil {
		t.Fatal(err)
	}
	for _, i := range []int{250, 251, 299} {
		if _, err := read(i); !errors.Is(err, io.EOF) {
			t.Errorf("item %d of the truncated file: %v, want io.EOF", i, err)
		}
	}
	same(249)
	same(0)
	if err := os.Truncate(path, 0); err != nil {
		t.Fatal(err)
	}
	for _, i := range []int{0, 100} {
		if _, err := read(i); !errors.Is(err, io.EOF) {
			t.Errorf("item %d of the emptied file: %v, want io.EOF", i, err)
		}
	}
}

// TestRereadIntoReusedBuffer re-reads messages of different lengths and
// forms (plain, decoded from Latin-1, the last one without its final CR)
// through one buffer, longest first: each read gives exactly the
// message's bytes, none left over from the one before.
func TestRereadIntoReusedBuffer(t *testing.T) {
	long := msg("LONG", "DOE"+strings.Repeat("X", 500), "\r")
	short := msg("S", "DOE", "\r")
	latin := msg("L1", "M\xDCLLER", "\r")
	last := strings.TrimSuffix(msg("END", "ROE", "\r"), "\r")
	path := writeFile(t, t.TempDir(), "a.hl7", []byte(long+short+latin+last))
	r, err := Open([]string{path}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	items, _ := collect(t, r)
	if len(items) != 4 {
		t.Fatalf("%d items", len(items))
	}
	into := intoRereader(t)
	var buf []byte
	for _, k := range []int{0, 1, 3, 0, 2, 1, 3} {
		it := items[k]
		loc := sources.Locator{Source: path, Offset: it.loc.Offset, Length: it.loc.Length, ID: it.loc.ControlID, Hash: DataHash([]byte(it.data))}
		data, err := into.RereadInto(loc, &buf)
		if err != nil || string(data) != it.data {
			t.Fatalf("item %d: %q %v\nwant %q", k, data, err, it.data)
		}
	}
	if cap(buf) < len(long) {
		t.Errorf("buffer of %d bytes, want the longest message's %d kept", cap(buf), len(long))
	}
}

// TestRereadIntoRefusesChanges re-reads by locator: the message indexed
// comes back; one edited in place (same length, same MSH-10) or with
// another checksum is sources.ErrChanged.
func TestRereadIntoRefusesChanges(t *testing.T) {
	a, b := msg("A1", "DOE", "\r"), msg("B1", "ROE", "\r")
	path := writeFile(t, t.TempDir(), "a.hl7", []byte(a+b))
	into := intoRereader(t)
	locA := sources.Locator{Source: path, Offset: 0, Length: int64(len(a)), ID: "A1", Hash: DataHash([]byte(a))}
	locB := sources.Locator{Source: path, Offset: int64(len(a)), Length: int64(len(b)), ID: "B1", Hash: DataHash([]byte(b))}
	var buf []byte
	if data, err := into.RereadInto(locA, &buf); err != nil || string(data) != a {
		t.Fatalf("unchanged message: %q %v", data, err)
	}
	other := locA
	other.Hash++
	if _, err := into.RereadInto(other, &buf); !errors.Is(err, sources.ErrChanged) {
		t.Errorf("another checksum: %v, want ErrChanged", err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt([]byte("SMI"), locB.Offset+int64(strings.Index(b, "ROE"))); err != nil {
		t.Fatal(err)
	}
	f.Close()
	if _, err := into.RereadInto(locB, &buf); !errors.Is(err, sources.ErrChanged) {
		t.Errorf("edited message: %v, want ErrChanged", err)
	}
	if data, err := into.RereadInto(locA, &buf); err != nil || string(data) != a {
		t.Errorf("message next to the edit: %q %v", data, err)
	}
}

// intoRereader is a v2 source's verified re-reader as an export worker
// calls it: by locator, into a buffer of its own.
func intoRereader(t *testing.T) interface {
	RereadInto(sources.Locator, *[]byte) ([]byte, error)
} {
	t.Helper()
	s, err := NewSource(Options{}, sources.DefaultIdentity(), mapping.Default())
	if err != nil {
		t.Fatal(err)
	}
	rr, err := s.Rereader()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rr.Close() })
	return rr.(interface {
		RereadInto(sources.Locator, *[]byte) ([]byte, error)
	})
}
