package storage

import (
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestLocalStore(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	signer := testSigner(t)
	st, err := Open(ctx, Config{Dir: dir, Prefix: "exports", Signer: signer})
	if err != nil {
		t.Fatal(err)
	}
	testStoreBasics(t, st)

	// The signed URL verifies with the same signer, for the same client.
	w, _ := st.Create(ctx, "job1/Patient.000.ndjson")
	io.WriteString(w, "{}\n")
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	raw, err := st.SignedURL(ctx, "job1/Patient.000.ndjson", URLParams{TTL: time.Minute, Client: "c1", Base: "https://h/files"})
	if err != nil {
		t.Fatal(err)
	}
	job, file, q := splitSigned(t, raw)
	if c, err := signer.Verify(job, file, q, time.Now()); err != nil || c != "c1" {
		t.Fatalf("Verify = %q, %v", c, err)
	}
	r, info, err := st.(Opener).Open(ctx, "job1/Patient.000.ndjson")
	if err != nil || info.Size != 3 {
		t.Fatalf("Open: %v %+v", err, info)
	}
	r.Close()

	// A .part file older than the cut-off is what a crash leaves: cleaned.
	stale := filepath.Join(dir, "exports", "job1", ".x.ndjson.1234"+partSuffix)
	os.WriteFile(stale, []byte("x"), 0o600)
	old := time.Now().Add(-time.Hour)
	os.Chtimes(stale, old, old)
	n, err := st.(Cleaner).CleanIncomplete(ctx, "", time.Now().Add(-time.Minute))
	if err != nil || n != 1 {
		t.Fatalf("CleanIncomplete = %d, %v", n, err)
	}
	if _, err := os.Stat(stale); !errors.Is(err, os.ErrNotExist) {
		t.Error("stale part file survived")
	}
}

// testStoreBasics runs the contract every backend shares on an empty store.
func testStoreBasics(t *testing.T, st Store) {
	t.Helper()
	ctx := context.Background()
	write := func(name, body string) {
		t.Helper()
		w, err := st.Create(ctx, name)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := io.WriteString(w, body); err != nil {
			t.Fatal(err)
		}
		if err := w.Close(); err != nil {
			t.Fatalf("Close %s: %v", name, err)
		}
	}
	write("jobA/Patient.000.ndjson", "{\"a\":1}\n")
	write("jobA/Immunization.000.ndjson", "")
	write("jobB/Patient.000.ndjson", "{}\n")

	if i, err := st.Stat(ctx, "jobA/Patient.000.ndjson"); err != nil || i.Size != 8 {
		t.Fatalf("Stat = %+v, %v", i, err)
	}
	if _, err := st.Stat(ctx, "jobA/missing.ndjson"); !errors.Is(err, ErrNotExist) {
		t.Errorf("Stat of a missing object: %v", err)
	}
	list := func(prefix string) string {
		t.Helper()
		var names []string
		if err := st.List(ctx, prefix, func(i Info) error { names = append(names, i.Name); return nil }); err != nil {
			t.Fatal(err)
		}
		slices.Sort(names)
		return strings.Join(names, ",")
	}
	if got := list("jobA/"); got != "jobA/Immunization.000.ndjson,jobA/Patient.000.ndjson" {
		t.Errorf("List(jobA/) = %s", got)
	}

	// An aborted upload leaves nothing visible.
	w, _ := st.Create(ctx, "jobA/Aborted.ndjson")
	io.WriteString(w, "partial")
	if err := w.Abort(); err != nil {
		t.Fatal(err)
	}
	if got := list("jobA/"); strings.Contains(got, "Aborted") {
		t.Errorf("aborted upload is listed: %s", got)
	}

	if err := st.Delete(ctx, "jobB/Patient.000.ndjson"); err != nil {
		t.Fatal(err)
	}
	if err := st.Delete(ctx, "jobB/Patient.000.ndjson"); err != nil {
		t.Errorf("second Delete: %v", err)
	}
	if err := st.DeletePrefix(ctx, "jobA/"); err != nil {
		t.Fatal(err)
	}
	if got := list(""); got != "" {
		t.Errorf("left after deletes: %s", got)
	}
	for _, bad := range []string{"", "/abs", "a/../b", "a//b", "a/"} {
		if _, err := st.Create(ctx, bad); err == nil {
			t.Errorf("Create(%q) accepted", bad)
		}
	}
	if err := st.DeletePrefix(ctx, ""); err == nil {
		t.Error("DeletePrefix(\"\") accepted")
	}
}
