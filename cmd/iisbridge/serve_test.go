package main

import (
	"os"
	"path/filepath"
	"testing"
)

func TestServeRefusesUnauthenticatedNonLoopback(t *testing.T) {
	if code := runServe([]string{"--addr", "0.0.0.0:0", "--data", t.TempDir()}); code != 1 {
		t.Errorf("exit %d, want 1", code)
	}
}

func TestServeRefusesBadConfigAndMapping(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "c.yaml")
	os.WriteFile(cfg, []byte("listen: 127.0.0.1:0\nlisten_port: 9\n"), 0o644)
	if code := runServe([]string{"--config", cfg}); code != 1 {
		t.Errorf("unknown key: exit %d, want 1", code)
	}
	os.WriteFile(filepath.Join(dir, "a.hl7"), []byte("MSH|^~\\&|X\r"), 0o644)
	os.WriteFile(filepath.Join(dir, "bad-mapping.yaml"), []byte("this: [is not a mapping\n"), 0o644)
	os.WriteFile(cfg, []byte("listen: 127.0.0.1:0\ndata_dir: data\nsources:\n  - name: a\n    paths: [a.hl7]\n    mapping: bad-mapping.yaml\n"), 0o644)
	if code := runServe([]string{"--config", cfg}); code != 1 {
		t.Errorf("bad mapping: exit %d, want 1", code)
	}
	if _, err := os.Stat(filepath.Join(dir, "data", "index")); err == nil {
		t.Error("index opened although the mapping is invalid")
	}
}

func TestIsLoopback(t *testing.T) {
	for addr, want := range map[string]bool{"127.0.0.1:8080": true, "[::1]:80": true, "localhost:1": true, "0.0.0.0:8080": false, ":8080": false, "10.0.0.5:80": false} {
		if got := isLoopback(addr); got != want {
			t.Errorf("isLoopback(%q) = %v", addr, got)
		}
	}
}
