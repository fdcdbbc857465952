package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/iisbridge/iisbridge/config"
)

type lockedBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuf) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuf) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// copyDefaults writes the shipped mapping and its tables into dir.
func copyDefaults(t *testing.T, dir string) string {
	t.Helper()
	src := filepath.Join("..", "..", "mapping", "defaults")
	err := filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		if d.IsDir() {
			return os.MkdirAll(filepath.Join(dir, rel), 0o755)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dir, rel), b, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
	return filepath.Join(dir, "default.yaml")
}

func hashOf(t *testing.T, path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// SIGHUP's reload: a valid new mapping goes live (named by its new hash
// in the CapabilityStatement); an invalid one, or an invalid config, is
// refused and the running mapping kept.
func TestReloadMapping(t *testing.T) {
	dir := t.TempDir()
	mapFile := copyDefaults(t, filepath.Join(dir, "m"))
	archive, _ := filepath.Abs("testdata/archive.hl7")
	cfgFile := filepath.Join(dir, "c.yaml")
	os.WriteFile(cfgFile, []byte("data_dir: data\nsources:\n  - name: a\n    paths: ["+archive+"]\n    mapping: m/default.yaml\n"), 0o644)
	cfg, err := config.Load(cfgFile)
	if err != nil {
		t.Fatal(err)
	}
	b, c, _ := startBridge(t, cfg, false)
	var logs lockedBuf
	log := slog.New(slog.NewTextHandler(&logs, nil))
	o := serveOptions{cfgPath: cfgFile}
	first := b.mapping
	if first.SHA256 != hashOf(t, mapFile) {
		t.Fatalf("live mapping %+v, file hash %s", first, hashOf(t, mapFile))
	}
	live := b.p.Mapping()

	// A valid change goes live.
	data, _ := os.ReadFile(mapFile)
	os.WriteFile(mapFile, append([]byte("# edited\n"), data...), 0o644)
	b.reload(context.Background(), o, log)
	if b.mapping.SHA256 != hashOf(t, mapFile) || b.p.Mapping() == live {
		t.Fatalf("valid mapping not reloaded: %+v\n%s", b.mapping, logs.String())
	}
	_, cs := c.do("GET", c.base+"/metadata")
	if !strings.Contains(string(cs), "mapping default.yaml sha256:"+b.mapping.SHA256) || strings.Contains(string(cs), dir) {
		t.Errorf("CapabilityStatement does not name the reloaded mapping (or shows a server path): %s", cs)
	}
	// An identity: edit goes live for mapping, and says the index keeps
	// its keys until the next start.
	data, _ = os.ReadFile(mapFile)
	os.WriteFile(mapFile, []byte(strings.Replace(string(data), "  sex: PID-8.1\n", "  sex: PID-8.2\n", 1)), 0o644)
	b.log = log // the hooks log through the bridge's logger
	b.reload(context.Background(), o, log)
	if !strings.Contains(logs.String(), "identity: section changed") || b.mapping.SHA256 != hashOf(t, mapFile) {
		t.Errorf("identity edit not reloaded with its warning:\n%s", logs.String())
	}
	good, goodMapping := b.mapping, b.p.Mapping()

	// An invalid mapping is refused; the running one stays.
	os.WriteFile(mapFile, []byte("this: [is not a mapping\n"), 0o644)
	b.reload(context.Background(), o, log)
	if b.mapping != good || b.p.Mapping() != goodMapping {
		t.Errorf("invalid mapping replaced the live one: %+v", b.mapping)
	}
	if !strings.Contains(logs.String(), "reload refused for mapping") {
		t.Errorf("refusal not logged:\n%s", logs.String())
	}

	// An invalid config is refused as a whole.
	os.WriteFile(cfgFile, []byte("data_dir: data\nmtach: x\n"), 0o644)
	b.reload(context.Background(), o, log)
	if !strings.Contains(logs.String(), "reload refused: invalid configuration") || !strings.Contains(logs.String(), `unknown key \"mtach\"`) {
		t.Errorf("invalid config not refused:\n%s", logs.String())
	}
	if b.mapping != good {
		t.Error("invalid config changed the mapping")
	}
}

// A real server reloads on SIGHUP.
func TestServeReloadsOnSIGHUP(t *testing.T) {
	dir := t.TempDir()
	mapFile := copyDefaults(t, filepath.Join(dir, "m"))
	archive, _ := filepath.Abs("testdata/archive.hl7")
	cfgFile := filepath.Join(dir, "c.yaml")
	os.WriteFile(cfgFile, []byte("listen: "+freeAddr(t)+"\ndata_dir: data\nsources:\n  - name: a\n    paths: ["+archive+"]\n    mapping: m/default.yaml\n"), 0o644)
	cmd, sc, _ := startMain(t, nil, "serve", "--config", cfgFile)
	waitLine(t, sc, "ready: serving")
	data, _ := os.ReadFile(mapFile)
	os.WriteFile(mapFile, append([]byte("# edited\n"), data...), 0o644)
	cmd.Process.Signal(syscall.SIGHUP)
	if l := waitLine(t, sc, "mapping reloaded"); !strings.Contains(l, hashOf(t, mapFile)) {
		t.Errorf("reload line lacks the new hash:\n%s", l)
	}
	cmd.Process.Signal(syscall.SIGTERM)
	go func() {
		for sc.Scan() {
		}
	}()
	if err := cmd.Wait(); err != nil {
		t.Errorf("exit after SIGTERM: %v", err)
	}
}

// An edited mapping file is picked up without a signal.
func TestServeReloadsOnFileChange(t *testing.T) {
	dir := t.TempDir()
	mapFile := copyDefaults(t, filepath.Join(dir, "m"))
	archive, _ := filepath.Abs("testdata/archive.hl7")
	cfgFile := filepath.Join(dir, "c.yaml")
	os.WriteFile(cfgFile, []byte("listen: "+freeAddr(t)+"\ndata_dir: data\nsources:\n  - name: a\n    paths: ["+archive+"]\n    mapping: m/default.yaml\n"), 0o644)
	defer func(d time.Duration) { watchEvery = d }(watchEvery)
	watchEvery = 50 * time.Millisecond
	ctx, cancel := context.WithCancel(context.Background())
	var logs lockedBuf
	done := make(chan error, 1)
	cfg, err := config.Load(cfgFile)
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		done <- serve(ctx, cfg, false, slog.New(slog.NewTextHandler(&logs, nil)), serveOptions{cfgPath: cfgFile})
	}()
	waitFor := func(what string) {
		t.Helper()
		// Generous: under CI's parallel packages a start-up or reload on
		// two loaded cores has taken more than 5 s; a pass returns early.
		for deadline := time.Now().Add(60 * time.Second); time.Now().Before(deadline); {
			if strings.Contains(logs.String(), what) {
				return
			}
			time.Sleep(25 * time.Millisecond)
		}
		t.Fatalf("no %q in the log:\n%s", what, logs.String())
	}
	waitFor("ready: serving")
	data, _ := os.ReadFile(mapFile)
	os.WriteFile(mapFile, append([]byte("# edited again\n"), data...), 0o644)
	waitFor("mapping reloaded")
	if !strings.Contains(logs.String(), hashOf(t, mapFile)) {
		t.Errorf("reload does not name the new hash:\n%s", logs.String())
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("serve: %v", err)
	}
}

// Identity rules are checked with the config, with their position.
func TestServeRefusesBadIdentity(t *testing.T) {
	dir := t.TempDir()
	cfgFile := filepath.Join(dir, "c.yaml")
	archive, _ := filepath.Abs("testdata/archive.hl7")
	for body, want := range map[string]string{
		"identity:\n  rules: [iis, soundex]\n": "c.yaml:6:3: identity:",
		"identity:\n  mtach: [iis]\n":          `c.yaml:6:3: unknown key "mtach" in identity`,
	} {
		os.WriteFile(cfgFile, []byte("data_dir: data\nsources:\n  - name: a\n    paths: ["+archive+"]\n"+body), 0o644)
		code, _, errs := runMain(t, "serve", "--config", cfgFile)
		if code != 1 || !strings.Contains(errs, want) {
			t.Errorf("%q: exit %d, %s", body, code, errs)
		}
	}
}

// An edit made after serve began but before the watcher's first look (while
// the index was brought up) reloads; files older than that do not.
func TestWatchFilesSeesEditsMadeDuringStartup(t *testing.T) {
	dir := t.TempDir()
	old, edited := filepath.Join(dir, "old.yaml"), filepath.Join(dir, "edited.yaml")
	os.WriteFile(old, []byte("a: 1\n"), 0o644)
	os.WriteFile(edited, []byte("a: 1\n"), 0o644)
	past := time.Now().Add(-time.Hour)
	os.Chtimes(old, past, past)
	os.Chtimes(edited, past, past)
	since := time.Now().Add(-time.Minute)
	watch := func(paths ...string) chan struct{} {
		ctx, cancel := context.WithCancel(context.Background())
		t.Cleanup(cancel)
		changed := make(chan struct{}, 1)
		go watchFiles(ctx, func() []string { return paths }, 10*time.Millisecond, since, changed)
		return changed
	}
	quiet := watch(old)
	select {
	case <-quiet:
		t.Fatal("an unchanged file older than the start signalled a change")
	case <-time.After(100 * time.Millisecond):
	}
	os.Chtimes(edited, time.Now(), time.Now()) // edited after since, before the watch
	select {
	case <-watch(edited):
	case <-time.After(10 * time.Second):
		t.Fatal("an edit made during start-up was missed")
	}
	os.WriteFile(old, []byte("a: 2\n"), 0o644)
	select {
	case <-quiet:
	case <-time.After(10 * time.Second):
		t.Fatal("an edit while watching was missed")
	}
}
