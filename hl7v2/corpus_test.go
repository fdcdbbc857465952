package hl7v2

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// corpusDir finds the shared real-world corpus: $IISBRIDGE_CORPUS, else
// ../shared/corpus relative to the module root (this package's parent).
func corpusDir(t *testing.T) string {
	t.Helper()
	dir := os.Getenv("IISBRIDGE_CORPUS")
	if dir == "" {
		dir = filepath.Join("..", "..", "shared", "corpus")
	}
	v2 := filepath.Join(dir, "v2")
	if fi, err := os.Stat(v2); err != nil || !fi.IsDir() {
		t.Skipf("corpus not found at %s (set IISBRIDGE_CORPUS): skipping", v2)
	}
	return v2
}

// splitMessages cuts a file at every line starting with MSH. Text before
// the first MSH is returned as its own chunk so that it is checked too.
func splitMessages(b []byte) [][]byte {
	var out [][]byte
	start := 0
	for i := 0; i+3 <= len(b); i++ {
		if (i == 0 || b[i-1] == '\r' || b[i-1] == '\n') && string(b[i:i+3]) == "MSH" && i > start {
			out = append(out, b[start:i])
			start = i
		}
	}
	return append(out, b[start:])
}

func TestCorpus(t *testing.T) {
	dir := corpusDir(t)
	files, err := filepath.Glob(filepath.Join(dir, "*", "*.hl7"))
	if err != nil || len(files) == 0 {
		t.Skipf("no *.hl7 files under %s", dir)
	}
	msgs, orders, warned := 0, 0, 0
	var lazy Parser
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, raw := range splitMessages(b) {
			checkLazy(t, &lazy, raw)
			m, err := Parse(raw)
			startsMSH := bytes.HasPrefix(raw[skipLeader(raw):], []byte("MSH"))
			if err != nil {
				if startsMSH {
					t.Errorf("%s: %v", f, err)
				}
				continue
			}
			msgs++
			if len(m.Warnings()) > 0 {
				warned++
				t.Logf("%s: %q", f, m.Warnings())
			}
			walk(m)
			checkSplit(t, m)
			o := m.Orders()
			orders += len(o)
			if rxa := countSegments(m, "RXA"); rxa != len(o) {
				t.Errorf("%s: %d RXA but %d ORDER groups", f, rxa, len(o))
			}
		}
	}
	t.Logf("%d files, %d messages, %d ORDER groups, %d messages with warnings", len(files), msgs, orders, warned)
}

// walk touches every value of m, as the fuzz target does.
func walk(m *Message) int {
	n := 0
	m.Type()
	m.ControlID()
	for _, s := range m.Segments() {
		for i := 1; i <= s.NumFields()+1; i++ {
			f := s.Field(i)
			for r := 1; r <= f.NumReps()+1; r++ {
				v := f.Rep(r)
				n += len(v.String())
				for c := 1; c <= v.NumComponents()+1; c++ {
					cv := v.Component(c)
					n += len(cv.String())
					for k := 1; k <= cv.NumSubs()+1; k++ {
						n += len(cv.Sub(k).String())
					}
				}
			}
		}
	}
	return n
}

func countSegments(m *Message, name string) int {
	n := 0
	for _, s := range m.Segments() {
		if s.Name() == name {
			n++
		}
	}
	return n
}

// The NYC CIR answer escapes the & of "PCV & PPSV" in ORC-3 and OBX-5.
func TestCorpusEscapes(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(corpusDir(t), "aira-iis-sandbox-fits", "030.hl7"))
	if err != nil {
		t.Skipf("corpus file missing: %v", err)
	}
	m, err := Parse(b)
	if err != nil {
		t.Fatal(err)
	}
	p, _ := ParsePath("OBX[*]-5.1")
	found := 0
	for _, v := range m.Segments().Values(p) {
		if bytes.Contains(v.Raw(), []byte(`PCV \T\ PPSV`)) {
			found++
			if s := v.String(); !strings.Contains(s, "(PCV & PPSV)") {
				t.Errorf("decoded %q", s)
			}
		}
	}
	if found == 0 {
		t.Error(`no OBX-5 with "PCV \T\ PPSV"`)
	}
}
