package fhirout

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"
)

// TestDropBehind: a DirWriter's file holds every line written, and the
// chunks written before the last two have left the page cache.
func TestDropBehind(t *testing.T) {
	old := dropChunk
	dropChunk = 256 << 10
	defer func() { dropChunk = old }()
	dir := t.TempDir()
	w, err := NewDirWriter(dir, RotateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	line := []byte(`{"resourceType":"Patient","id":"` + strings.Repeat("x", 4000) + `"}`)
	const n = 1000 // about 4 MB: 16 chunks
	for range n {
		if err := w.WriteLine("Patient", line); err != nil {
			t.Fatal(err)
		}
	}
	files, err := w.Close()
	if err != nil || len(files) != 1 || files[0].Count != n {
		t.Fatalf("files %+v, %v", files, err)
	}
	// Residency of the first chunks, seen without touching the pages
	// (before the content is read back).
	f, err := os.Open(filepath.Join(dir, "Patient.ndjson"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	m, err := unix.Mmap(int(f.Fd()), 0, int(4*dropChunk), unix.PROT_READ, unix.MAP_SHARED)
	if err != nil {
		t.Skipf("mmap: %v", err)
	}
	defer unix.Munmap(m)
	vec := make([]byte, (len(m)+os.Getpagesize()-1)/os.Getpagesize())
	if _, _, errno := unix.Syscall(unix.SYS_MINCORE, uintptr(unsafe.Pointer(&m[0])), uintptr(len(m)), uintptr(unsafe.Pointer(&vec[0]))); errno != 0 {
		t.Skipf("mincore: %v", errno)
	}
	resident := 0
	for _, v := range vec {
		resident += int(v & 1)
	}
	if resident > len(vec)/4 {
		t.Errorf("%d of the first %d pages still cached; written chunks should have been dropped", resident, len(vec))
	}

	data, err := os.ReadFile(filepath.Join(dir, "Patient.ndjson"))
	if err != nil {
		t.Fatal(err)
	}
	want := bytes.Repeat(append(line, '\n'), n)
	if !bytes.Equal(data, want) {
		t.Fatalf("file holds %d bytes, want %d identical lines (%d bytes)", len(data), n, len(want))
	}
}
