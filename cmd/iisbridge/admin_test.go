package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/iisbridge/iisbridge/config"
)

func TestAdminCommand(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	addr := make(chan string, 1)
	done := make(chan int, 1)
	var errb bytes.Buffer
	go func() {
		done <- adminCmd(ctx, []string{"--addr", "127.0.0.1:0", "--sample", "3", "testdata/archive.hl7"}, &errb, func(a string) { addr <- a })
	}()
	var base string
	select {
	case a := <-addr:
		base = "http://" + a
	case code := <-done:
		t.Fatalf("admin ended with %d: %s", code, errb.String())
	case <-time.After(20 * time.Second):
		t.Fatal("admin did not start")
	}
	resp, err := http.Get(base + "/api/samples")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || strings.Count(string(body), `"id"`) != 3 {
		t.Errorf("samples: %d %s", resp.StatusCode, body)
	}
	req, _ := http.NewRequest("GET", base+"/api/info", nil)
	req.Host = "rebound.example"
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != 403 {
		t.Errorf("a foreign Host: %v %v", resp.StatusCode, err)
	}
	cancel()
	select {
	case code := <-done:
		if code != 0 {
			t.Errorf("exit %d after stop", code)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("admin did not stop")
	}
	if !strings.Contains(errb.String(), "the mapping admin page is on http://127.0.0.1:") {
		t.Errorf("stderr: %s", errb.String())
	}
}

func TestAdminCommandRefusals(t *testing.T) {
	t.Setenv(adminTokenEnv, "")
	var errb bytes.Buffer
	if code := adminCmd(context.Background(), []string{"--addr", "0.0.0.0:0"}, &errb, nil); code != 1 || !strings.Contains(errb.String(), "without a token") {
		t.Errorf("non-loopback without token: %d %s", code, errb.String())
	}
	errb.Reset()
	if code := adminCmd(context.Background(), []string{"--mapping", "../../mapping/testdata/broken/funcs.yaml"}, &errb, nil); code != 1 || !strings.Contains(errb.String(), "not usable") {
		t.Errorf("broken mapping: %d %s", code, errb.String())
	}
	errb.Reset()
	if code := adminCmd(context.Background(), []string{"--sample", "0"}, &errb, nil); code != 2 {
		t.Errorf("--sample 0: %d", code)
	}
	// With a token any address is allowed.
	t.Setenv(adminTokenEnv, "tok")
	ctx, cancel := context.WithCancel(context.Background())
	started := make(chan string, 1)
	done := make(chan int, 1)
	go func() {
		done <- adminCmd(ctx, []string{"--addr", "0.0.0.0:0"}, io.Discard, func(a string) { started <- a })
	}()
	select {
	case <-started:
	case code := <-done:
		t.Fatalf("with a token: exit %d", code)
	case <-time.After(20 * time.Second):
		t.Fatal("did not start")
	}
	cancel()
	<-done
}

func TestAdminFromServerConfig(t *testing.T) {
	dir := t.TempDir()
	arch, _ := filepath.Abs("testdata/archive.hl7")
	cfg := filepath.Join(dir, "server.yaml")
	os.WriteFile(cfg, []byte("sources:\n  - name: first\n    paths: ["+arch+"]\n  - name: second\n    paths: ["+arch+"]\n    mapping: m/default.yaml\n"), 0o644)
	if code, _, errs := runCmd(t, initCmd, filepath.Join(dir, "m")); code != 0 {
		t.Fatal(errs)
	}
	src, err := configSource(cfg, "")
	if err != nil || src.Name != "first" || src.Mapping != "" || len(src.Paths) != 1 {
		t.Errorf("first source: %+v %v", src, err)
	}
	src, err = configSource(cfg, "second")
	if err != nil || src.Mapping != filepath.Join(dir, "m/default.yaml") {
		t.Errorf("second source: %+v %v", src, err)
	}
	if _, err := configSource(cfg, "third"); err == nil || !strings.Contains(err.Error(), `no source "third" (sources: first, second)`) {
		t.Errorf("unknown source: %v", err)
	}
	var errb bytes.Buffer
	if code := adminCmd(context.Background(), []string{"--source", "x"}, &errb, nil); code != 2 {
		t.Errorf("--source without --config: %d", code)
	}
	// The page over the second source: its archive sampled, its mapping live.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	addr := make(chan string, 1)
	done := make(chan int, 1)
	go func() {
		done <- adminCmd(ctx, []string{"--addr", "127.0.0.1:0", "--config", cfg, "--source", "second"}, io.Discard, func(a string) { addr <- a })
	}()
	var base string
	select {
	case a := <-addr:
		base = "http://" + a
	case code := <-done:
		t.Fatalf("exit %d", code)
	}
	resp, err := http.Get(base + "/api/info")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	var info struct {
		Live    struct{ Name string }
		Samples int
	}
	json.Unmarshal(body, &info)
	if info.Samples == 0 || info.Live.Name != "default.yaml" || strings.Contains(string(body), dir) {
		t.Errorf("info: %s", body)
	}
	cancel()
	<-done
}

func TestServeAdminBeside(t *testing.T) {
	arch, _ := filepath.Abs("testdata/archive.hl7")
	cfg := config.Default()
	cfg.Sources = []config.Source{{Name: "a", Kind: "v2archive", Paths: []string{arch}}}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	t.Setenv(adminTokenEnv, "")
	if _, err := serveAdmin(ctx, cfg, "0.0.0.0:0", slog.New(slog.DiscardHandler)); err == nil || !strings.Contains(err.Error(), "loopback only") {
		t.Errorf("non-loopback: %v", err)
	}
	addr, err := serveAdmin(ctx, cfg, "127.0.0.1:0", slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	// 503 while sampling, then the page with the archive's messages.
	deadline := time.Now().Add(20 * time.Second)
	for {
		resp, err := http.Get("http://" + addr.String() + "/api/info")
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode == 200 {
			if !strings.Contains(string(body), `"samples":`) || strings.Contains(string(body), `"samples":0`) {
				t.Errorf("info: %s", body)
			}
			break
		}
		if resp.StatusCode != 503 || resp.Header.Get("Retry-After") == "" || time.Now().After(deadline) {
			t.Fatalf("%d %s", resp.StatusCode, body)
		}
		time.Sleep(50 * time.Millisecond)
	}
	cancel()
}

// A relational source is not the admin page's (it shows messages): with a
// sql source first, the page and --config take the first v2 archive; a
// sql source named, or a configuration with no archive, is refused with
// what to use instead.
func TestAdminSkipsRelationalSources(t *testing.T) {
	dir := t.TempDir()
	arch, _ := filepath.Abs("testdata/archive.hl7")
	cfgPath := filepath.Join(dir, "server.yaml")
	db := filepath.Join(dir, "iis.db")
	os.WriteFile(cfgPath, []byte("sources:\n  - name: db\n    kind: sql\n    driver: sqlite\n    dsn: "+db+"\n  - name: log\n    paths: ["+arch+"]\n"), 0o644)
	src, err := configSource(cfgPath, "")
	if err != nil || src.Name != "log" {
		t.Errorf("first archive source: %+v %v", src, err)
	}
	if _, err := configSource(cfgPath, "db"); err == nil || !strings.Contains(err.Error(), `source "db" is relational`) ||
		!strings.Contains(err.Error(), "mapping preview --config FILE --source db --key K") {
		t.Errorf("sql source named: %v", err)
	}
	only := filepath.Join(dir, "only-sql.yaml")
	os.WriteFile(only, []byte("sources:\n  - name: db\n    kind: sql\n    driver: sqlite\n    dsn: "+db+"\n"), 0o644)
	if _, err := configSource(only, ""); err == nil || !strings.Contains(err.Error(), "has no v2archive source") {
		t.Errorf("no archive source: %v", err)
	}

	t.Setenv(adminTokenEnv, "")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	cfg := config.Default()
	cfg.Sources = []config.Source{{Name: "db", Kind: "sql", Driver: "sqlite", DSN: db}}
	if _, err := serveAdmin(ctx, cfg, "127.0.0.1:0", slog.New(slog.DiscardHandler)); err == nil || !strings.Contains(err.Error(), "no v2archive source") {
		t.Errorf("serve --admin over a sql source only: %v", err)
	}
	// The sql source's mapping is not the page's: not even read.
	cfg.Sources[0].Mapping = filepath.Join(dir, "no-such-sql.yaml")
	cfg.Sources = append(cfg.Sources, config.Source{Name: "log", Kind: "v2archive", Paths: []string{arch}})
	addr, err := serveAdmin(ctx, cfg, "127.0.0.1:0", slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		resp, err := http.Get("http://" + addr.String() + "/api/info")
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode == 200 {
			var info struct {
				Live    struct{ Name string }
				Samples int
			}
			json.Unmarshal(body, &info)
			if info.Samples == 0 || info.Live.Name != "default.yaml" {
				t.Errorf("info: %s", body)
			}
			break
		}
		if resp.StatusCode != 503 || time.Now().After(deadline) {
			t.Fatalf("%d %s", resp.StatusCode, body)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
