package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// The CLI tests run this test binary as the iisbridge command (TestMain
// calls main when IISBRIDGE_TEST_AS_MAIN is set), so exit statuses,
// standard output and error and signals are the real ones.
func TestMain(m *testing.M) {
	if os.Getenv("IISBRIDGE_TEST_AS_MAIN") == "1" {
		if os.Getenv("IISBRIDGE_TEST_HOLD_INDEX") == "1" {
			beforeIndex = func(ctx context.Context) { <-ctx.Done() }
		}
		main()
		return
	}
	os.Exit(m.Run())
}

// iisbridge is the command about to run with args.
func iisbridge(t *testing.T, args ...string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(os.Args[0], args...)
	cmd.Env = append(os.Environ(), "IISBRIDGE_TEST_AS_MAIN=1")
	return cmd
}

// runMain runs the command to its end.
func runMain(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	cmd := iisbridge(t, args...)
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	err := cmd.Run()
	if ee, ok := err.(*exec.ExitError); ok {
		return ee.ExitCode(), o.String(), e.String()
	} else if err != nil {
		t.Fatal(err)
	}
	return 0, o.String(), e.String()
}

func TestHelpOnStdout(t *testing.T) {
	for _, args := range [][]string{
		{"index", "--help"}, {"index", "-h"}, {"help", "index"}, {"index", "a.hl7", "--help"},
	} {
		code, out, errs := runMain(t, args...)
		if code != 0 || errs != "" {
			t.Errorf("%v: exit %d, stderr %q", args, code, errs)
		}
		for _, want := range []string{"usage: iisbridge index", "-data dir", "DIR/index", "--log-format"} {
			if !strings.Contains(out, want) {
				t.Errorf("%v: help lacks %q:\n%s", args, want, out)
			}
		}
	}
	for _, args := range [][]string{{}, {"help"}, {"--help"}} {
		code, out, _ := runMain(t, args...)
		if code != 0 || !strings.Contains(out, "usage: iisbridge COMMAND") || !strings.Contains(out, "mapping preview") {
			t.Errorf("%v: exit %d:\n%s", args, code, out)
		}
	}
	// A group alone lists its subcommands.
	for _, g := range []string{"mapping", "v2", "bench"} {
		code, out, errs := runMain(t, g)
		if code != 0 || errs != "" || !strings.Contains(out, "usage: iisbridge "+g+" COMMAND") {
			t.Errorf("%s: exit %d, stderr %q:\n%s", g, code, errs, out)
		}
	}
	if _, out, _ := runMain(t, "mapping"); !strings.Contains(out, "check") || !strings.Contains(out, "preview") {
		t.Errorf("mapping lists:\n%s", out)
	}
	if code, out, _ := runMain(t, "help", "serve"); code != 0 || !strings.Contains(out, "/readyz") || !strings.Contains(out, "-config") {
		t.Errorf("help serve: exit %d:\n%s", code, out)
	}
}

func TestVersion(t *testing.T) {
	for _, arg := range []string{"version", "--version"} {
		code, out, _ := runMain(t, arg)
		if code != 0 || !strings.HasPrefix(out, "iisbridge ") || !strings.Contains(out, "revision ") || !strings.Contains(out, "go1.") {
			t.Errorf("%s: exit %d:\n%s", arg, code, out)
		}
	}
}

// TestBuiltWithDefaultPGO: go build, go install and go test of this
// package compile it with default.pgo (README: Figures), and version says
// so. A build with -pgo=off has no profile to name and skips; a missing or
// renamed default.pgo fails, with the README's figures then wrong.
func TestBuiltWithDefaultPGO(t *testing.T) {
	if _, err := os.Stat("default.pgo"); err != nil {
		t.Fatalf("the profile builds are optimised with: %v", err)
	}
	b := readBuildInfo()
	if b.PGO == "" {
		t.Skip("built with -pgo=off: no profile to check")
	}
	if b.PGO != "default.pgo" {
		t.Errorf("built with profile %q, want this package's default.pgo", b.PGO)
	}
	if _, out, _ := runMain(t, "version"); !strings.Contains(out, "profile-guided build: default.pgo\n") {
		t.Errorf("version does not name the profile:\n%s", out)
	}
}

func TestDidYouMean(t *testing.T) {
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"mappin"}, `did you mean mapping?`},
		{[]string{"serv"}, `did you mean serve?`},
		{[]string{"v2", "stat", "x"}, `did you mean v2 stats?`},
		{[]string{"index", "--dat", "d", "x.hl7"}, `unknown flag --dat; did you mean --data?`},
		{[]string{"convert", "x.hl7", "--no-reduc"}, `did you mean --no-reduce?`},
	}
	for _, c := range cases {
		code, out, errs := runMain(t, c.args...)
		if code != 2 || out != "" || !strings.Contains(errs, c.want) {
			t.Errorf("%v: exit %d, stdout %q, stderr %q; want 2 and %q", c.args, code, out, errs, c.want)
		}
	}
	if code, _, errs := runMain(t, "frobnicate"); code != 2 || strings.Contains(errs, "did you mean") {
		t.Errorf("nothing near: exit %d %q", code, errs)
	}
}

func TestFlagsAfterArguments(t *testing.T) {
	data := filepath.Join(t.TempDir(), "d")
	code, out, errs := runMain(t, "index", "testdata/archive.hl7", "--data", data)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	// The summary is the result (stdout); the index is in DATA/index.
	if !strings.Contains(out, "indexed 6 records") || !strings.Contains(out, filepath.Join(data, "index")) {
		t.Errorf("stdout:\n%s\nstderr:\n%s", out, errs)
	}
	if _, err := os.Stat(filepath.Join(data, "index", "index.db")); err != nil {
		t.Error(err)
	}
	// The same with the log flags anywhere, json format.
	if code, _, errs := runMain(t, "--log-format", "json", "index", "testdata/archive.hl7", "--data", data, "--log-level=debug"); code != 0 {
		t.Errorf("exit %d: %s", code, errs)
	}
	if code, _, errs := runMain(t, "index", "--log-format", "xml", "testdata/archive.hl7"); code != 2 || !strings.Contains(errs, "want text or json") {
		t.Errorf("bad log format: exit %d %q", code, errs)
	}
}

// --data names the data directory in every command; an index directory
// given where the data directory is expected is refused, and so is a
// data directory without an index where one is needed.
func TestDataDirMeansOneThing(t *testing.T) {
	data := filepath.Join(t.TempDir(), "d")
	if code, _, errs := runMain(t, "index", "--data", data, "testdata/archive.hl7"); code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	code, _, errs := runMain(t, "index", "--data", filepath.Join(data, "index"), "testdata/archive.hl7")
	if code != 1 || !strings.Contains(errs, "is an index directory") || !strings.Contains(errs, "--data "+data) {
		t.Errorf("index dir as --data: exit %d %q", code, errs)
	}
	empty := t.TempDir()
	code, out, errs := runMain(t, "bench", "export", "--data", empty)
	if code != 1 || !strings.Contains(errs, "no index in data directory") || strings.Contains(out, "counts exact") {
		t.Errorf("bench export without an index: exit %d, stdout %q, stderr %q", code, out, errs)
	}
}

func TestDataDirLock(t *testing.T) {
	data := t.TempDir()
	l, err := lockDataDir(data, "serve")
	if err != nil {
		t.Fatal(err)
	}
	code, _, errs := runMain(t, "index", "--data", data, "testdata/archive.hl7")
	if code != 1 || !strings.Contains(errs, "is in use by iisbridge serve (pid ") {
		t.Errorf("second process on a locked data dir: exit %d %q", code, errs)
	}
	if _, err := lockDataDir(data, "serve"); err == nil {
		t.Error("locked twice in one process")
	}
	l.release()
	if code, _, errs := runMain(t, "index", "--data", data, "testdata/archive.hl7"); code != 0 {
		t.Errorf("after release: exit %d %q", code, errs)
	}
}

func TestServePortInUseBeforeIndexing(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	data := filepath.Join(t.TempDir(), "d")
	code, _, errs := runMain(t, "serve", "--addr", ln.Addr().String(), "--data", data, "testdata/archive.hl7")
	if code != 1 || !strings.Contains(errs, "cannot listen on "+ln.Addr().String()) || !strings.Contains(errs, "address already in use") {
		t.Errorf("exit %d: %s", code, errs)
	}
	if _, err := os.Stat(indexDir(data)); !os.IsNotExist(err) {
		t.Errorf("indexed before binding the port (%v)", err)
	}
}

// freeAddr returns a loopback address nobody listens on (a small race
// with other processes is accepted).
func freeAddr(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// startMain starts the command and returns a reader of its stderr lines.
func startMain(t *testing.T, env []string, args ...string) (*exec.Cmd, *bufio.Scanner, *bytes.Buffer) {
	t.Helper()
	cmd := iisbridge(t, args...)
	cmd.Env = append(cmd.Env, env...)
	var out bytes.Buffer
	cmd.Stdout = &out
	pr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	return cmd, bufio.NewScanner(pr), &out
}

// waitLine reads stderr until a line contains want, returning what it read.
func waitLine(t *testing.T, sc *bufio.Scanner, want string) string {
	t.Helper()
	var seen strings.Builder
	for sc.Scan() {
		seen.WriteString(sc.Text() + "\n")
		if strings.Contains(sc.Text(), want) {
			return seen.String()
		}
	}
	t.Fatalf("stderr ended without %q:\n%s", want, seen.String())
	return ""
}

func get(t *testing.T, url string) (*http.Response, string) {
	t.Helper()
	r, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(r.Body)
	r.Body.Close()
	return r, string(b)
}

// serve answers at once; while it indexes it is live but not ready and
// refuses exports with 503 + Retry-After; Ctrl-C then ends it with 130.
func TestServeNotReadyWhileIndexingThenInterrupted(t *testing.T) {
	addr := freeAddr(t)
	data := filepath.Join(t.TempDir(), "d")
	cmd, sc, _ := startMain(t, []string{"IISBRIDGE_TEST_HOLD_INDEX=1"}, "serve", "--addr", addr, "--data", data, "testdata/archive.hl7")
	waitLine(t, sc, "listening; indexing")
	base := "http://" + addr
	if r, b := get(t, base+"/healthz"); r.StatusCode != 200 {
		t.Errorf("/healthz while indexing: %d %s", r.StatusCode, b)
	}
	// The listening line comes just before the indexing phase begins:
	// /readyz says "starting" for that moment.
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		r, b := get(t, base+"/readyz")
		if r.StatusCode != 503 {
			t.Fatalf("/readyz while indexing: %d %q", r.StatusCode, b)
		}
		if strings.Contains(b, "indexing") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("/readyz never said indexing: %q", b)
		}
	}
	if r, b := get(t, base+"/fhir/Patient/$export"); r.StatusCode != 503 || r.Header.Get("Retry-After") == "" || !strings.Contains(b, `"OperationOutcome"`) {
		t.Errorf("export while indexing: %d Retry-After %q %s", r.StatusCode, r.Header.Get("Retry-After"), b)
	}
	cmd.Process.Signal(syscall.SIGINT)
	rest := &strings.Builder{}
	for sc.Scan() {
		rest.WriteString(sc.Text() + "\n")
	}
	err := cmd.Wait()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != exitInterrupted || !strings.Contains(rest.String(), "interrupted; rerun to resume") {
		t.Errorf("after SIGINT: %v, stderr:\n%s", err, rest)
	}
}

// Once ready, /readyz answers 200 and SIGTERM is a normal stop (exit 0).
func TestServeReadyThenStops(t *testing.T) {
	addr := freeAddr(t)
	data := filepath.Join(t.TempDir(), "d")
	cmd, sc, _ := startMain(t, nil, "serve", "--addr", addr, "--data", data, "testdata/archive.hl7")
	waitLine(t, sc, "ready: serving")
	if r, b := get(t, "http://"+addr+"/readyz"); r.StatusCode != 200 {
		t.Errorf("/readyz when ready: %d %q", r.StatusCode, b)
	}
	// The start-up indexing, the build and the live mapping are in /metrics.
	_, mb := get(t, "http://"+addr+"/metrics")
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(strings.NewReader(mb))
	if err != nil {
		t.Fatalf("metrics: %v\n%s", err, mb)
	}
	value := func(name string) float64 {
		f := fams[name]
		if f == nil || len(f.Metric) != 1 {
			t.Errorf("metric %s: %v", name, f)
			return -1
		}
		return f.Metric[0].GetCounter().GetValue() + f.Metric[0].GetGauge().GetValue()
	}
	if v := value("iisbridge_ingest_messages_total"); v != 6 {
		t.Errorf("ingest messages %v, want the archive's 6 records", v)
	}
	if v := value("iisbridge_ingest_broken_total"); v != 1 {
		t.Errorf("broken input %v, want 1", v)
	}
	if value("iisbridge_ready") != 1 || value("iisbridge_build_info") != 1 || value("iisbridge_mapping_info") != 1 {
		t.Errorf("ready/build/mapping info missing:\n%s", mb)
	}
	for _, l := range fams["iisbridge_build_info"].GetMetric()[0].GetLabel() {
		if l.GetName() == "goversion" && !strings.HasPrefix(l.GetValue(), "go1.") {
			t.Errorf("build info goversion %q", l.GetValue())
		}
	}
	// A second server on the same data directory fails at once.
	code, _, errs := runMain(t, "serve", "--addr", freeAddr(t), "--data", data, "testdata/archive.hl7")
	if code != 1 || !strings.Contains(errs, "in use by iisbridge serve") {
		t.Errorf("second server on the data dir: exit %d %s", code, errs)
	}
	cmd.Process.Signal(syscall.SIGTERM)
	go func() {
		for sc.Scan() {
		}
	}()
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("SIGTERM when ready: %v, want exit 0", err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("serve did not stop on SIGTERM")
	}
}

// A command that never looks at its context (v2 stats reading standard
// input) is ended at once by Ctrl-C, with 130.
func TestInterruptUnwatchedCommand(t *testing.T) {
	// Nothing tells when the child has set its signal handler up: a
	// signal that came too early killed it (exit -1), so wait longer.
	for wait := 300 * time.Millisecond; ; wait *= 2 {
		cmd := iisbridge(t, "v2", "stats", "-")
		stdin, _ := cmd.StdinPipe()
		var e bytes.Buffer
		cmd.Stderr = &e
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		time.Sleep(wait)
		cmd.Process.Signal(syscall.SIGINT)
		err := cmd.Wait()
		stdin.Close()
		ee, ok := err.(*exec.ExitError)
		if ok && ee.ExitCode() == -1 && wait < 5*time.Second {
			continue
		}
		if !ok || ee.ExitCode() != exitInterrupted || !strings.Contains(e.String(), "interrupted; rerun to resume") {
			t.Errorf("v2 stats - after SIGINT: %v %q", err, e.String())
		}
		return
	}
}

// Every log line has the chosen format, the index package's warnings
// included (they used the log package's own format before).
func TestJSONLogsOneFormat(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "d")
	ident := filepath.Join(dir, "identity.yaml")
	os.WriteFile(ident, []byte("rules: [iis, mrn]\n"), 0o644)
	if code, _, errs := runMain(t, "index", "--data", data, "testdata/archive.hl7"); code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	// Other identity rules: the index says it is emptied and rebuilt.
	code, _, errs := runMain(t, "--log-format=json", "index", "--data", data, "--identity", ident, "testdata/archive.hl7")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	if !strings.Contains(errs, "emptied") {
		t.Fatalf("no rebuild warning: %q", errs)
	}
	for _, l := range strings.Split(strings.TrimSpace(errs), "\n") {
		var rec map[string]any
		if err := json.Unmarshal([]byte(l), &rec); err != nil || rec["level"] == nil || rec["msg"] == nil {
			t.Errorf("not a JSON log line: %q", l)
		}
	}
}

// The dispatcher learns a command's flags from command.Flags, never by
// running it: help and flag reordering leave Run untouched.
func TestFlagsWithoutRunning(t *testing.T) {
	ran := 0
	c := &command{Name: "test-flags", Run: func([]string) int { ran++; return 0 },
		Flags: func(fs *flag.FlagSet) {
			fs.String("data", "", "data `dir`ectory")
			fs.Bool("json", false, "print JSON")
		}}
	fl := flagsOf(c)
	if fl == nil || !fl.takesValue["data"] || fl.takesValue["json"] || !strings.Contains(fl.text, "-data dir") {
		t.Fatalf("flags %+v", fl)
	}
	var help strings.Builder
	printHelp(&help, c)
	got, err := reorderFlags([]string{"a.hl7", "--data", "D", "--json"}, fl)
	if err != nil || strings.Join(got, " ") != "--data D --json a.hl7" || !strings.Contains(help.String(), "print JSON") {
		t.Fatalf("reorder %q %v; help %s", got, err, help.String())
	}
	if ran != 0 {
		t.Errorf("Run called %d times to learn flags", ran)
	}
	if flagsOf(&command{Name: "none", Run: c.Run}) != nil {
		t.Error("a command without Flags has flags")
	}
	// Every registered command's flags come from its definition.
	for name, c := range commands {
		if c.Flags != nil && flagsOf(c) == nil {
			t.Errorf("%s: Flags defines no flag", name)
		}
	}
}
