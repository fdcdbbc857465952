package v2archive

import (
	"fmt"
	"sync"
	"testing"
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
