package v2archive

import (
	"os"
	"path/filepath"
	"runtime"
	"testing"
)

// corpusDir finds the shared real-world corpus: $IISBRIDGE_CORPUS, else
// ../shared/corpus next to the module root.
func corpusDir(t *testing.T) string {
	t.Helper()
	dir := os.Getenv("IISBRIDGE_CORPUS")
	if dir == "" {
		_, file, _, _ := runtime.Caller(0)
		dir = filepath.Join(filepath.Dir(file), "..", "..", "..", "shared", "corpus")
	}
	if _, err := os.Stat(filepath.Join(dir, "v2")); err != nil {
		t.Skipf("corpus not found at %s (set IISBRIDGE_CORPUS)", dir)
	}
	return dir
}

// Every corpus file holds one message (one is FHS/BHS-wrapped, several
// start with a BOM or mix CR and CRLF): each must come out whole.
func TestCorpusOneMessagePerFile(t *testing.T) {
	r, err := Open([]string{filepath.Join(corpusDir(t), "v2", "*", "*.hl7")}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	items, c := collect(t, r)
	seen := map[string]int{}
	for _, it := range items {
		if it.err != "" {
			t.Errorf("%v: %s", it.loc, it.err)
		}
		seen[it.loc.Source]++
	}
	for src, n := range seen {
		if n != 1 {
			t.Errorf("%s: %d items, want 1", src, n)
		}
	}
	if c.Files < 300 || c.Messages != c.Files || c.Warnings != 0 {
		t.Errorf("counts %+v", c)
	}
}
