package v2archive

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/iisbridge/iisbridge/mapping"
	"github.com/iisbridge/iisbridge/sources"
	"github.com/iisbridge/iisbridge/sources/index"
)

// settled makes every file count as settled for the test: only stat and
// content decide whether it changed (see racyWindow).
func settled(t *testing.T) {
	w := racyWindow
	racyWindow = -time.Hour
	t.Cleanup(func() { racyWindow = w })
}

// tracker plays the index's part of the contract for one source: it
// keeps the cursors, applies what Changes says and records what Scan
// read, as "name: control ids".
type tracker struct {
	t       *testing.T
	s       *Source
	cursors map[string][]byte
	read    []string
}

func newTracker(t *testing.T, dir string) *tracker {
	s, err := NewSource(Options{SpoolDir: filepath.Join(dir, "spool")}, sources.DefaultIdentity(), mapping.Default())
	if err != nil {
		t.Fatal(err)
	}
	return &tracker{t: t, s: s, cursors: map[string][]byte{}}
}

// update applies one Changes and returns each input's op ("new a.hl7",
// "unchanged b.hl7<a.hl7" for a move).
func (tr *tracker) update(args ...string) []string {
	tr.t.Helper()
	ctx := context.Background()
	ch, err := tr.s.Changes(ctx, sources.Scope{Args: args, Known: tr.cursors})
	if err != nil {
		tr.t.Fatal(err)
	}
	defer ch.Release()
	tr.read = nil
	var ops []string
	for i := range ch.Inputs {
		c := &ch.Inputs[i]
		op := [...]string{"unchanged", "new", "appended", "rewritten", "dropped", "unreadable"}[c.Op] + " " + filepath.Base(c.Name)
		if c.From != "" {
			op += "<" + filepath.Base(c.From)
			tr.cursors[c.Name] = tr.cursors[c.From]
			delete(tr.cursors, c.From)
		}
		ops = append(ops, op)
		switch c.Op {
		case sources.Dropped:
			delete(tr.cursors, c.Name)
		case sources.New, sources.Appended, sources.Rewritten:
			tr.cursors[c.Name] = c.Cursor
		}
		var ids []string
		sc, err := tr.s.Scan(ctx, c, func(r *sources.Record) error {
			if r.Loc.Source != c.Name {
				tr.t.Errorf("record of %s located in %s", c.Name, r.Loc.Source)
			}
			ids = append(ids, r.Loc.ControlID)
			return nil
		})
		if err != nil {
			tr.t.Fatal(err)
		}
		if sc.Cursor != nil {
			tr.cursors[c.Name] = sc.Cursor
		}
		if len(ids) > 0 {
			tr.read = append(tr.read, filepath.Base(c.Name)+": "+strings.Join(ids, " "))
		}
	}
	return ops
}

func (tr *tracker) cursor(name string) cursor {
	var c cursor
	if err := json.Unmarshal(tr.cursors[name], &c); err != nil {
		tr.t.Fatalf("cursor of %s: %v", name, err)
	}
	return c
}

func join(s []string) string { return strings.Join(s, ", ") }

// The source's side of the cursor contract, without an index: it tells
// new, unchanged, appended, rewritten, moved and dropped files from the
// cursors it left, reads only what each calls for, and a cursor left by
// a read that did not end makes it read the file again whole.
func TestChangesFromCursors(t *testing.T) {
	settled(t)
	dir := t.TempDir()
	a := writeFile(t, dir, "in/a.hl7", []byte(msg("0001", "ADAMS", "\r")+msg("0002", "BROWN", "\r")))
	tr := newTracker(t, dir)
	in := filepath.Join(dir, "in")

	if ops := tr.update(in); join(ops) != "new a.hl7" || join(tr.read) != "a.hl7: 0001 0002" {
		t.Fatalf("first: %v, read %v", ops, tr.read)
	}
	if c := tr.cursor(a); c.Indexed == 0 || c.CRC == nil || c.Head == nil || c.Index != 2 {
		t.Fatalf("cursor after a full read: %+v", c)
	}
	if ops := tr.update(in); join(ops) != "unchanged a.hl7" || len(tr.read) != 0 {
		t.Fatalf("again: %v, read %v", ops, tr.read)
	}

	f, _ := os.OpenFile(a, os.O_APPEND|os.O_WRONLY, 0)
	f.WriteString(msg("0003", "CLARK", "\r"))
	f.Close()
	if ops := tr.update(in); join(ops) != "appended a.hl7" || join(tr.read) != "a.hl7: 0003" {
		t.Fatalf("append: %v, read %v", ops, tr.read)
	}
	if c := tr.cursor(a); c.Index != 3 {
		t.Fatalf("cursor after the append: %+v", c)
	}

	// Renamed and gzipped: the same content, nothing read.
	data, _ := os.ReadFile(a)
	os.Remove(a)
	b := writeFile(t, dir, "in/b.hl7.gz", gz(t, string(data)))
	if ops := tr.update(in); join(ops) != "unchanged b.hl7.gz<a.hl7" || len(tr.read) != 0 {
		t.Fatalf("move: %v, read %v", ops, tr.read)
	}

	// A read that did not end: its partial cursor reads the file again.
	tr.cursors[b] = []byte(`{"stat":{"size":-1},"line":1}`)
	if ops := tr.update(in); join(ops) != "rewritten b.hl7.gz" || join(tr.read) != "b.hl7.gz: 0001 0002 0003" {
		t.Fatalf("after a partial read: %v, read %v", ops, tr.read)
	}

	// Out of the named paths: dropped (and its spool forgotten).
	writeFile(t, dir, "other/c.hl7", []byte(msg("0004", "DAVIS", "\r")))
	if ops := tr.update(filepath.Join(dir, "other")); join(ops) != "new c.hl7, dropped b.hl7.gz" {
		t.Fatalf("other paths: %v", ops)
	}
	if sp, _ := filepath.Glob(filepath.Join(dir, "spool", "*")); len(sp) != 0 {
		t.Fatalf("spool of the dropped file kept: %v", sp)
	}
	if _, err := tr.s.Changes(context.Background(), sources.Scope{Args: []string{"-"}}); err == nil {
		t.Fatal("standard input listed as an input")
	}
}

// Rotation: a.hl7 becomes a.hl7.1 and a new a.hl7 starts; the old
// content keeps its records under the new name, the new file is read.
func TestChangesRotation(t *testing.T) {
	settled(t)
	dir := t.TempDir()
	a := writeFile(t, dir, "a.hl7", []byte(msg("0001", "ADAMS", "\r")))
	tr := newTracker(t, dir)
	tr.update(filepath.Join(dir, "a.hl7*"))
	os.Rename(a, a+".1")
	writeFile(t, dir, "a.hl7", []byte(msg("0002", "BROWN", "\r")))
	ops := tr.update(filepath.Join(dir, "a.hl7*"))
	if join(ops) != "new a.hl7, unchanged a.hl7.1<a.hl7" || join(tr.read) != "a.hl7: 0002" {
		t.Fatalf("rotation: %v, read %v", ops, tr.read)
	}
}

// Two same-length messages of different persons swapped in the middle of
// an indexed file: a re-read never takes one for the other, and the next
// update reads the file again (it is not "unchanged"), even with its
// modification time set back and outside the racy window.
func TestSwappedMessagesNeverMisread(t *testing.T) {
	settled(t)
	dir := t.TempDir()
	msgs := []string{msg("0001", "ADAMS", "\r"), msg("0002", "XAVIER", "\r"), msg("0003", "YOUNGS", "\r"), msg("0004", "DOEDOE", "\r")}
	if len(msgs[1]) != len(msgs[2]) {
		t.Fatal("test premise: messages 2 and 3 differ in length")
	}
	data := []byte(strings.Join(msgs, ""))
	a := writeFile(t, dir, "a.hl7", data)
	x := openIndex(t, dir)
	ctx := context.Background()
	if _, err := x.Update(ctx, []string{a}); err != nil {
		t.Fatal(err)
	}
	keyX := sources.PrefixMRN + "CLINIC|MR|PAT0002"
	if got := familiesOf(t, x, keyX); got != "XAVIER" {
		t.Fatalf("before the swap: %v", got)
	}
	if st, _ := x.Update(ctx, []string{a}); st.Unchanged != 1 {
		t.Fatalf("untouched file: %+v", st)
	}
	// Swapped in place (same inode, same size), mtime set back as a
	// careless edit with `touch -r` would leave it.
	fi, _ := os.Stat(a)
	x0, x1 := len(msgs[0]), len(msgs[0])+len(msgs[1])
	out := bytes.Clone(data)
	copy(out[x0:x1], msgs[2])
	copy(out[x1:x1+len(msgs[2])], msgs[1])
	f, _ := os.OpenFile(a, os.O_WRONLY, 0)
	f.WriteAt(out, 0)
	f.Close()
	os.Chtimes(a, fi.ModTime(), fi.ModTime())
	// Served before any update: the bytes at X's place are Y's message.
	if got := familiesOf(t, x, keyX); !strings.Contains(got, "changed since indexing") {
		t.Fatalf("after the swap, X's message re-read as %v; want a changed-since-indexing error", got)
	}
	st, err := x.Update(ctx, []string{a})
	if err != nil || st.Unchanged != 0 || st.Rewritten != 1 {
		t.Fatalf("update after the swap: %+v %v; want the file read again", st, err)
	}
	if got := familiesOf(t, x, keyX); got != "XAVIER" {
		t.Fatalf("after re-indexing, X's message re-read as %v", got)
	}
	if got := familiesOf(t, x, sources.PrefixMRN+"CLINIC|MR|PAT0003"); got != "YOUNGS" {
		t.Fatalf("after re-indexing, Y's message re-read as %v", got)
	}
}

// A broken gzip (a bomb, a corrupt stream) is read once: while it is
// unchanged it is not read again, nor reported again.
func TestBrokenGzipNotReadAgain(t *testing.T) {
	dir := t.TempDir()
	all := gz(t, msg("0001", "ADAMS", "\r")+msg("0002", "BROWN", "\r")+msg("0003", "CLARK", "\r"))
	writeFile(t, dir, "in/c.gz", all[:len(all)*2/3])
	writeFile(t, dir, "in/d.hl7", []byte(msg("0004", "DAVIS", "\r")))
	x := openIndex(t, dir)
	ctx := context.Background()
	in := filepath.Join(dir, "in")
	st, err := x.Update(ctx, []string{in})
	if err != nil || st.Broken != 1 || st.New != 2 || st.Errors != 1 {
		t.Fatalf("update: %+v %v", st, err)
	}
	settled(t)
	if st, err := x.Update(ctx, []string{in}); err != nil || st.Unchanged != 2 || st.Broken != 0 || st.Messages != 0 {
		t.Fatalf("again: %+v %v", st, err)
	}
}

func openIndex(t *testing.T, dir string) *index.Index {
	t.Helper()
	s, err := NewSource(Options{SpoolDir: filepath.Join(dir, "data", "spool")}, sources.DefaultIdentity(), mapping.Default())
	if err != nil {
		t.Fatal(err)
	}
	x, err := index.Open(filepath.Join(dir, "data"), index.Options{Source: s, BatchSize: 2})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { x.Close() })
	return x
}

// familiesOf re-reads every message of the person holding key and says
// what each gave: the PID-5 family name, or the error.
func familiesOf(t *testing.T, x *index.Index, key string) string {
	t.Helper()
	ctx := context.Background()
	s, err := x.Snapshot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	p, ok, err := s.Person(ctx, x.Identity().PatientID(key))
	if err != nil || !ok {
		t.Fatalf("person %s: %v %v", key, ok, err)
	}
	ms, err := s.Messages(ctx, p, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	rr, err := x.Source().Rereader()
	if err != nil {
		t.Fatal(err)
	}
	defer rr.Close()
	var out []string
	for i := range ms {
		data, err := rr.Reread(ms[i].Locator())
		if err != nil {
			out = append(out, "error: "+err.Error())
			continue
		}
		_, rest, _ := strings.Cut(string(data), "\rPID|1||")
		f := strings.Split(rest, "|")
		out = append(out, strings.Split(f[2], "^")[0])
	}
	return join(out)
}
