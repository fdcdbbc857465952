package index

import (
	"bytes"
	"context"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/iisbridge/iisbridge/mapping"
	"github.com/iisbridge/iisbridge/sources/v2archive"
)

// captureLog sends slog's default logger to a buffer for the test.
func captureLog(t *testing.T) *bytes.Buffer {
	var buf bytes.Buffer
	prev := slog.Default()
	slog.SetDefault(slog.New(slog.NewTextHandler(&buf, nil)))
	t.Cleanup(func() { slog.SetDefault(prev) })
	return &buf
}

// Changed identity rules empty the index for a rebuild: a warning says
// why (without the salt), Rebuilt and the next UpdateStats report it.
func TestRebuildIsReported(t *testing.T) {
	dir := t.TempDir()
	a := filepath.Join(dir, "a.hl7")
	write(t, a,
		vxu("1", "CLINICA", "20240101120000", "A1^^^CLINICA^MR", "SMITH^JOHN", "20200101", "M"),
		vxu("2", "CLINICB", "20240101120000", "B1^^^CLINICB^MR", "DOE^JANE", "20200101", "F"))
	c := &clock{t: time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)}
	data := filepath.Join(dir, "data")
	ctx := context.Background()
	logs := captureLog(t)

	x, err := open(data, Options{Now: c.now})
	if err != nil {
		t.Fatal(err)
	}
	if st, err := x.Update(ctx, []string{a}); err != nil || st.Rebuilt != "" || st.Messages != 2 {
		t.Fatalf("first update %+v, %v", st, err)
	}
	x.Close()

	// Same rules: nothing rebuilt.
	x, err = open(data, Options{Now: c.now})
	if err != nil {
		t.Fatal(err)
	}
	st, err := x.Update(ctx, []string{a})
	if err != nil || x.Rebuilt() != "" || st.Rebuilt != "" || st.Unchanged != 1 {
		t.Fatalf("reopen: rebuilt %q, %+v, %v", x.Rebuilt(), st, err)
	}
	x.Close()
	if logs.Len() != 0 {
		t.Fatalf("logged without a rebuild: %s", logs)
	}

	// Salted ids: every person id changes, so the index is rebuilt.
	id := IdentityConfig{IDSalt: "s3cret"}
	x, err = open(data, Options{Now: c.now, Identity: id})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(x.Rebuilt(), "identity rules changed") {
		t.Fatalf("Rebuilt() = %q", x.Rebuilt())
	}
	log := logs.String()
	if !strings.Contains(log, "level=WARN") || !strings.Contains(log, "identity rules changed") ||
		!strings.Contains(log, "dropped_messages=2") || strings.Contains(log, "s3cret") {
		t.Fatalf("warning: %s", log)
	}
	st, err = x.Update(ctx, []string{a})
	if err != nil || st.Rebuilt != x.Rebuilt() || st.New != 1 || st.Messages != 2 {
		t.Fatalf("update after rebuild: %+v, %v", st, err)
	}
	if st, err = x.Update(ctx, []string{a}); err != nil || st.Rebuilt != "" {
		t.Fatalf("second update still reports the rebuild: %+v, %v", st, err)
	}
	// An index from before the parts were stored, with another fingerprint.
	if _, err := x.db.Exec(`DELETE FROM meta WHERE k = 'fingerprint_parts'; UPDATE meta SET v = 'old' WHERE k = 'fingerprint'`); err != nil {
		t.Fatal(err)
	}
	x.Close()
	x, err = open(data, Options{Now: c.now, Identity: id})
	if err != nil {
		t.Fatal(err)
	}
	defer x.Close()
	if !strings.Contains(x.Rebuilt(), "older version") {
		t.Fatalf("Rebuilt() = %q for an index without stored parts", x.Rebuilt())
	}
}

// An index of an older schema version (other columns) is dropped and
// built again, not written with the new columns into the old tables.
func TestOlderSchemaRebuilt(t *testing.T) {
	dir := t.TempDir()
	fourVXU(t, filepath.Join(dir, "a.hl7"))
	data := filepath.Join(dir, "data")
	x, err := open(data, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := x.Update(context.Background(), []string{dir}); err != nil {
		t.Fatal(err)
	}
	if _, err := x.db.Exec(`ALTER TABLE messages RENAME COLUMN at_time TO msh7;
		UPDATE meta SET v = 'old' WHERE k = 'fingerprint';
		UPDATE meta SET v = '{"schema":"4"}' WHERE k = 'fingerprint_parts'`); err != nil {
		t.Fatal(err)
	}
	x.Close()
	x, err = open(data, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer x.Close()
	if !strings.Contains(x.Rebuilt(), "schema version 4") {
		t.Errorf("rebuild reason %q", x.Rebuilt())
	}
	if _, err := x.Update(context.Background(), []string{dir}); err != nil {
		t.Fatal(err)
	}
	if n := len(persons(t, x)); n != 4 {
		t.Errorf("%d persons after the rebuild, want 4", n)
	}
}

// An edited identity: section in the mapping changes the keys: the index
// is rebuilt and says why; the persons follow the new section.
func TestRebuildOnIdentitySection(t *testing.T) {
	dir := t.TempDir()
	a := filepath.Join(dir, "a.hl7")
	write(t, a,
		vxu("1", "CLINICA", "20240101120000", "A1^^^CLINICA^MR", "SMITH^JOHN", "20200101", "M"),
		vxu("2", "CLINICB", "20240101120000", "A1^^^CLINICA^MR", "SMITH^JOHN", "20200101", "M"))
	data := filepath.Join(dir, "data")
	ctx := context.Background()
	captureLog(t)
	x, err := open(data, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := x.Update(ctx, []string{a}); err != nil {
		t.Fatal(err)
	}
	if got := persons(t, x); len(got) != 1 {
		t.Fatalf("two senders' MRNs joined by one name: persons %v", got)
	}
	x.Close()
	// No family name read: no demographics key joins the two senders'
	// MRNs (each scoped to its sender): two persons.
	src := string(mapping.DefaultSource())
	if !strings.Contains(src, "  family: PID-5.1.1\n") {
		t.Fatal("the default mapping reads no family name")
	}
	src = strings.Replace(src, "  family: PID-5.1.1\n", "", 1)
	m, err := mapping.Parse([]byte(src), "edited.yaml", mapping.DefaultFS(), ".")
	if err != nil {
		t.Fatal(err)
	}
	s, err := v2archive.NewSource(v2archive.Options{SpoolDir: filepath.Join(data, "spool")}, DefaultIdentity(), m)
	if err != nil {
		t.Fatal(err)
	}
	x, err = Open(data, Options{Source: s})
	if err != nil {
		t.Fatal(err)
	}
	defer x.Close()
	if !strings.Contains(x.Rebuilt(), "identity: section") {
		t.Errorf("rebuilt %q: does not name the identity section", x.Rebuilt())
	}
	if _, err := x.Update(ctx, []string{a}); err != nil {
		t.Fatal(err)
	}
	if got := persons(t, x); len(got) != 2 {
		t.Errorf("after the edit: persons %v, want 2", got)
	}
}
