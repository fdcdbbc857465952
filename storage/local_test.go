package storage

import (
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
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
