package main

import (
	"bufio"
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/iisbridge/iisbridge/config"
	"github.com/iisbridge/iisbridge/storage"
	"github.com/iisbridge/iisbridge/storage/storagetest"
)

// `iisbridge client export` and a plain HTTP GET with no token fetch every
// file of an export kept in each object store (versitygw, Azurite,
// fake-gcs-server), counts equal to the manifest; presigned manifests and
// the redirect route alike; the client's DELETE leaves nothing under the
// job's prefix.
func TestClientExportFromObjectStore(t *testing.T) {
	for _, kind := range storagetest.Kinds {
		for _, mode := range []string{"presigned", "redirect"} {
			t.Run(kind+"/"+mode, func(t *testing.T) {
				sc := storagetest.Config(t, kind)
				_, _, cfg := genWorld(t, t.TempDir())
				cfg.Storage = config.Storage{Config: sc, FileURLs: mode}
				_, c, _ := startBridge(t, cfg, false)
				out := filepath.Join(t.TempDir(), "out")
				code, sum, stderr := runExport(t, "--server", c.base, "--out", out, "--system")
				if code != 0 {
					t.Fatalf("exit %d: %s", code, stderr)
				}
				// The plain download, of a second export: no token, redirects
				// followed, every file counted against the manifest.
				status, m := c.export("/$export", nil)
				for _, f := range m.Output {
					resp, err := http.Get(f.URL)
					if err != nil {
						t.Fatal(err)
					}
					n := 0
					s := bufio.NewScanner(resp.Body)
					s.Buffer(nil, 1<<20)
					for s.Scan() {
						n++
					}
					resp.Body.Close()
					if resp.StatusCode != http.StatusOK || n != f.Count || n == 0 {
						t.Errorf("GET %s: %d, %d lines, manifest %d", f.URL, resp.StatusCode, n, f.Count)
					}
				}
				if resp, _ := c.do(http.MethodDelete, status); resp.StatusCode != http.StatusAccepted {
					t.Errorf("DELETE: %d", resp.StatusCode)
				}
				// The client's export: counts equal to its manifest.
				var cm struct {
					Output []struct {
						Type  string `json:"type"`
						Count int64  `json:"count"`
					} `json:"output"`
				}
				raw, err := os.ReadFile(filepath.Join(out, "manifest.json"))
				if err != nil || json.Unmarshal(raw, &cm) != nil || len(cm.Output) == 0 {
					t.Fatalf("manifest.json: %v %s", err, raw)
				}
				want := map[string]int64{}
				for _, f := range cm.Output {
					want[f.Type] += f.Count
				}
				got := sum.Resources()
				for typ, n := range want {
					if got[typ] != n {
						t.Errorf("client export %s: %d lines, manifest %d", typ, got[typ], n)
					}
				}
				if got["Patient"] == 0 || got["Immunization"] == 0 || !sum.JobDeleted {
					t.Errorf("resources %v, job deleted %v", got, sum.JobDeleted)
				}
				st, err := storage.Open(context.Background(), sc)
				if err != nil {
					t.Fatal(err)
				}
				var left []string
				st.List(context.Background(), "", func(i storage.Info) error { left = append(left, i.Name); return nil })
				if len(left) != 0 {
					t.Errorf("objects left after the client's DELETE: %v", left)
				}
			})
		}
	}
}

// The start-up line names the file URL mode in force, the default too.
func TestObjectStoreLogNamesURLMode(t *testing.T) {
	var log lockedBuf
	sc := storagetest.Config(t, storagetest.Kinds[0])
	o, err := openObjectStore(context.Background(), &config.Storage{Config: sc}, "storage", slog.New(slog.NewTextHandler(&log, nil)))
	if err != nil {
		t.Fatal(err)
	}
	if o.URLMode() != "presigned" || !strings.Contains(log.String(), "file_urls=presigned") {
		t.Errorf("mode %q, log %q", o.URLMode(), log.String())
	}
}
