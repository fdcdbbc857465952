package synth

import (
	"bytes"
	"errors"
	"io"
	"path/filepath"
	"strings"
	"testing"

	"github.com/iisbridge/iisbridge/hl7v2"
	"github.com/iisbridge/iisbridge/sources/v2archive"
)

// TestArchiveReaderAgrees reads every file with the project's archive
// reader and parser: each record the truth lists must come out at its
// index, broken ones as error items, the rest parsing cleanly as the
// message the truth says, with one ORDER per RXA.
func TestArchiveReaderAgrees(t *testing.T) {
	dir, _, tr := demo(t)
	byFile := map[string][]Message{}
	for _, m := range tr.Messages {
		byFile[m.File] = append(byFile[m.File], m)
	}
	persons := map[string]*Person{}
	for i := range tr.Persons {
		persons[tr.Persons[i].Key] = &tr.Persons[i]
	}
	for _, f := range tr.Files {
		rd, err := v2archive.Open([]string{filepath.Join(dir, f.Name)}, v2archive.Options{})
		if err != nil {
			t.Fatal(err)
		}
		want := byFile[f.Name]
		n := 0
		for {
			it, err := rd.Next()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			if it.Err == nil && it.Data == nil {
				t.Errorf("%s: unexpected warning-only item: %v", f.Name, it.Warnings)
				continue
			}
			if n >= len(want) {
				t.Errorf("%s: reader yields more items than the truth lists (%v)", f.Name, it.Loc)
				break
			}
			m := want[n]
			n++
			if it.Loc.Index != m.Index {
				t.Errorf("%s: item %d has index %d, truth %d", f.Name, n, it.Loc.Index, m.Index)
			}
			if m.Kind == "broken" {
				if it.Err == nil {
					t.Errorf("%s #%d: broken record (%s) read as a message", f.Name, m.Index, m.Profile)
				}
				continue
			}
			if it.Err != nil {
				t.Errorf("%s #%d: %v", f.Name, m.Index, it.Err)
				continue
			}
			if len(it.Warnings) > 0 {
				t.Errorf("%s #%d: reader warnings %v", f.Name, m.Index, it.Warnings)
			}
			msg, err := hl7v2.Parse(bytes.Clone(it.Data))
			if err != nil {
				t.Errorf("%s #%d: %v", f.Name, m.Index, err)
				continue
			}
			if w := msg.Warnings(); len(w) > 0 {
				t.Errorf("%s #%d: parser warnings %v", f.Name, m.Index, w)
			}
			code, _, _ := msg.Type()
			if code != m.Kind || msg.ControlID() != m.ControlID {
				t.Errorf("%s #%d: %s %s, truth %s %s", f.Name, m.Index, code, msg.ControlID(), m.Kind, m.ControlID)
			}
			rxa := 0
			for _, s := range msg.Segments() {
				if s.Name() == "RXA" {
					rxa++
				}
			}
			if (code == "VXU" || code == "RSP") && len(msg.Orders()) != rxa {
				t.Errorf("%s #%d: %d orders for %d RXA", f.Name, m.Index, len(msg.Orders()), rxa)
			}
			// Names decode to the truth's spelling whatever the file's
			// charset: check the family name of the person's PID.
			if p := persons[m.Person]; p != nil && (code == "VXU" || code == "RSP") {
				fam := msg.Segments().Value(mustPath(t, "PID-5.1")).String()
				ok := fam == p.Name.Family
				for _, n := range p.FormerNames {
					ok = ok || fam == n.Family
				}
				if !ok {
					t.Errorf("%s #%d: PID-5.1 %q is none of %s's names", f.Name, m.Index, fam, p.Key)
				}
			}
		}
		if n != len(want) {
			t.Errorf("%s: reader yields %d items, truth lists %d", f.Name, n, len(want))
		}
	}
}

func mustPath(t *testing.T, s string) hl7v2.Path {
	p, err := hl7v2.ParsePath(s)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// TestFacilityNameEscape: the "&" in a facility name travels as \T\ and
// decodes back.
func TestFacilityNameEscape(t *testing.T) {
	w := newWorld(mustNormalized(t, Config{}))
	for _, f := range w.facs {
		if !strings.Contains(f.Name, "&") || f.OrgID == "" {
			continue
		}
		e := &enc{term: "\r"}
		e.msh(f.App, f.msh4, iisApp, iisMSH4, w.startTS, "VXU^V04^VXU_V04", "X1", "ER", "AL", "", "Z22^CDCPHINVS", f.msh22(), iisNS)
		m, err := hl7v2.Parse(e.b)
		if err != nil {
			t.Fatal(err)
		}
		if got := m.Segments().Value(mustPath(t, "MSH-22.1")).String(); got != f.Name {
			t.Errorf("MSH-22.1 decodes to %q, want %q", got, f.Name)
		}
		return
	}
	t.Fatal("no facility with & in its name sends MSH-22")
}

func mustNormalized(t *testing.T, c Config) Config {
	c, err := c.normalized()
	if err != nil {
		t.Fatal(err)
	}
	return c
}
