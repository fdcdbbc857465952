package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/iisbridge/iisbridge/fhirout"
)

// An interrupted convert leaves no partial NDJSON that could pass for a
// result, and prints no summary.
func TestConvertInterrupted(t *testing.T) {
	for _, mode := range [][]string{{"--no-reduce"}, {}} {
		s := watchSignals()
		s.cancel() // as after Ctrl-C
		dir := t.TempDir()
		code, out, errs := runCmd(t, convCmd, append(mode, "--out", dir, "testdata/archive.hl7")...)
		s.stop()
		if code != 1 || !strings.Contains(errs, "interrupted; removed") || strings.Contains(out, "wrote") || strings.Contains(out, "reduced") {
			t.Errorf("%v: exit %d, stdout %q, stderr %q", mode, code, out, errs)
		}
		if m, _ := filepath.Glob(filepath.Join(dir, "*.ndjson")); len(m) > 0 {
			t.Errorf("%v: partial outputs left: %v", mode, m)
		}
	}
}

func TestDiscardPartialRemovesWrittenFiles(t *testing.T) {
	dir := t.TempDir()
	dw, err := fhirout.NewDirWriter(dir, fhirout.RotateOptions{MaxResources: 1})
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"a", "b", "c"} {
		p := fhirout.NewResource("Patient")
		p.Set("id", id)
		if err := dw.Write(p); err != nil {
			t.Fatal(err)
		}
	}
	var errs bytes.Buffer
	discardPartial(dw, nil, &errs)
	ents, _ := os.ReadDir(dir)
	if len(ents) != 0 || !strings.Contains(errs.String(), "removed 3 partial output file(s)") {
		t.Errorf("left %v; %q", ents, errs.String())
	}
	var out bytes.Buffer
	errs.Reset()
	discardPartial(nil, fhirout.NewStreamWriter(&out), &errs)
	if !strings.Contains(errs.String(), "INCOMPLETE") {
		t.Errorf("stdout stream not marked incomplete: %q", errs.String())
	}
}

// gen writes a new archive folder under a scratch name: complete, it is
// renamed into place with its truth beside it; interrupted, nothing is
// left that could be taken for an archive.
func TestGenStagedAndInterrupted(t *testing.T) {
	out := filepath.Join(t.TempDir(), "g")
	if code, _, errs := runMain(t, "gen", "--people", "20", "--framing", "msh", "--out", out); code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	if _, err := os.Stat(filepath.Join(out, "msh-01.hl7")); err != nil {
		t.Error(err)
	}
	if _, err := os.Stat(out + ".truth.json"); err != nil {
		t.Error(err)
	}
	if _, err := os.Stat(out + ".partial"); !os.IsNotExist(err) {
		t.Errorf("scratch folder left (%v)", err)
	}

	big := filepath.Join(t.TempDir(), "big")
	cmd := iisbridge(t, "gen", "--messages", "2000000", "--framing", "msh", "--out", big)
	var e bytes.Buffer
	cmd.Stderr = &e
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 100; i++ { // until it is writing
		if _, err := os.Stat(big + ".partial"); err == nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	time.Sleep(100 * time.Millisecond)
	cmd.Process.Signal(syscall.SIGINT)
	err := cmd.Wait()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != exitInterrupted || !strings.Contains(e.String(), "nothing written to") {
		t.Errorf("gen after SIGINT: %v %q", err, e.String())
	}
	for _, p := range []string{big, big + ".partial", big + ".truth.json"} {
		if _, err := os.Stat(p); !os.IsNotExist(err) {
			t.Errorf("%s left after the interrupt (%v)", p, err)
		}
	}
}
