package storage

import (
	"context"
	"io"
	"path/filepath"
	"testing"
	"time"
)

func TestSweepRemovesOrphansAndIncompleteUploads(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	st, err := Open(ctx, Config{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"live/a.ndjson", "gone/a.ndjson", "gone/b.ndjson"} {
		w, _ := st.Create(ctx, name)
		io.WriteString(w, "{}\n")
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
	}
	crashed, _ := st.Create(ctx, "live/c.ndjson") // never closed: a crash
	io.WriteString(crashed, "{}\n")
	crashed.(*localWriter).bw.Flush()
	n, err := Sweep(ctx, st, time.Now().Add(time.Minute), func(job string) bool { return job == "live" })
	if err != nil || n != 3 {
		t.Fatalf("Sweep = %d, %v; want 3 (two orphans, one part file)", n, err)
	}
	var left []string
	st.List(ctx, "", func(i Info) error { left = append(left, i.Name); return nil })
	if len(left) != 1 || left[0] != "live/a.ndjson" {
		t.Errorf("left %v", left)
	}
	parts, _ := filepath.Glob(filepath.Join(dir, "live", "*"+partSuffix))
	if len(parts) != 0 {
		t.Errorf("part files left: %v", parts)
	}
	// Objects newer than the cut-off are kept even for an unknown job (a
	// job being created while the sweep runs).
	w, _ := st.Create(ctx, "new/a.ndjson")
	w.Close()
	if n, _ := Sweep(ctx, st, time.Now().Add(-time.Minute), func(string) bool { return false }); n != 0 {
		t.Errorf("swept %d recent objects", n)
	}
}
