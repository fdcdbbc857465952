package mapping

import (
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/iisbridge/iisbridge/hl7v2"
	"github.com/iisbridge/iisbridge/sources/synth"
	"github.com/iisbridge/iisbridge/sources/v2archive"
)

// The differential test compares what the default mapping makes of the
// generated world and of the shared corpus with what the interpreter made
// before the mapping was compiled to closures: per message a digest of
// the resources' JSON, the issues and the trace, with and without trace,
// and with Input.Want asking for one ORDER group's Immunization at a time
// (the reduction's path). The digests are in testdata/differential/;
// `go test ./mapping -run Differential -record` rewrites them (only from
// an interpreter whose output is trusted).
var record = flag.Bool("record", false, "rewrite testdata/differential from the current mapping code")

// The world: every framing (latin1, gzip and crlf included), all seeded.
var differentialWorld = synth.Config{Seed: 21, People: 150, Start: time.Date(2023, 1, 1, 0, 0, 0, 0, time.UTC), End: time.Date(2025, 6, 30, 0, 0, 0, 0, time.UTC)}

func TestDifferentialSynth(t *testing.T) {
	dir := t.TempDir()
	sum, err := synth.Generate(dir, differentialWorld)
	if err != nil {
		t.Fatal(err)
	}
	var paths []string
	for _, f := range sum.Files {
		paths = append(paths, filepath.Join(dir, f))
	}
	differential(t, "synth", dir, paths)
}

func TestDifferentialCorpus(t *testing.T) {
	dir := os.Getenv("IISBRIDGE_CORPUS")
	if dir == "" {
		dir = filepath.Join("..", "..", "shared", "corpus")
	}
	v2 := filepath.Join(dir, "v2")
	if _, err := os.Stat(v2); err != nil {
		t.Skipf("corpus not found at %s (set IISBRIDGE_CORPUS): skipping", v2)
	}
	var paths []string
	err := filepath.WalkDir(v2, func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() && !strings.HasPrefix(d.Name(), ".") && !strings.HasSuffix(d.Name(), ".md") {
			paths = append(paths, p)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(paths)
	differential(t, "corpus", v2, paths)
}

// differential digests every message of paths (named relative to base)
// and compares the digests with testdata/differential/<name>.txt.
func differential(t *testing.T, name, base string, paths []string) {
	m := Default()
	a := m.NewApplier() // one for the whole world: buffers reused record after record
	var lines []string
	for _, p := range paths {
		rel, err := filepath.Rel(base, p)
		if err != nil {
			t.Fatal(err)
		}
		r, err := v2archive.Open([]string{p}, v2archive.Options{})
		if err != nil {
			t.Fatal(err)
		}
		for {
			it, err := r.Next()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			if it.Err != nil {
				continue
			}
			msg, err := hl7v2.Parse(it.Data)
			if err != nil {
				continue
			}
			loc := it.Loc
			loc.Source = filepath.ToSlash(rel) // not the temporary directory
			in := Input{Msg: msg, Loc: loc, PatientID: "", LastUpdated: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
			lines = append(lines, fmt.Sprintf("%s:%d %s", loc.Source, loc.Index, digestApply(m, a, in, msg)))
		}
		r.Close()
	}
	if len(lines) == 0 {
		t.Fatalf("%s: no message read", name)
	}
	file := filepath.Join("testdata", "differential", name+".txt")
	if *record {
		if err := os.MkdirAll(filepath.Dir(file), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(file, []byte(strings.Join(lines, "\n")+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("recorded %d messages in %s", len(lines), file)
		return
	}
	f, err := os.Open(file)
	if err != nil {
		t.Fatalf("%v (record with -record)", err)
	}
	defer f.Close()
	var want []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		want = append(want, sc.Text())
	}
	if len(want) != len(lines) {
		t.Errorf("%s: %d messages, %d recorded", name, len(lines), len(want))
	}
	bad := 0
	for i := range min(len(want), len(lines)) {
		if want[i] != lines[i] {
			if bad++; bad <= 10 {
				t.Errorf("%s: got %s, recorded %s", name, lines[i], want[i])
			}
		}
	}
	if bad > 0 {
		t.Errorf("%s: %d of %d messages differ from the recorded output", name, bad, len(lines))
	}
	t.Logf("%s: %d messages compared", name, len(lines))
}

// digestApply hashes what m makes of in: the plain Apply, the traced one,
// and each ORDER group's Immunization alone (the last two through a).
func digestApply(m *Mapping, a *Applier, in Input, msg *hl7v2.Message) string {
	h := sha256.New()
	put := func(out Output) {
		for _, r := range out.Resources {
			h.Write(r.AppendJSON(nil))
			h.Write([]byte{'\n'})
		}
		b, _ := json.Marshal(out.Issues)
		h.Write(b)
		b, _ = json.Marshal(out.Trace)
		h.Write(b)
		h.Write([]byte{0})
	}
	put(m.Apply(in, false))
	put(a.Apply(in, true))
	for k := range msg.Orders() {
		in := in
		in.Want = func(t string, o int) bool { return t == "Immunization" && o == k }
		put(a.Apply(in, false))
	}
	in.Want = func(t string, _ int) bool { return t == "Patient" }
	in.PatientID = "given-id"
	put(m.Apply(in, false))
	return hex.EncodeToString(h.Sum(nil)[:12])
}
