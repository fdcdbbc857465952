package bulkclient_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/iisbridge/iisbridge/bulkclient"
)

// BenchmarkExportDownload measures the client's download path (receive,
// decode, count, save) on loopback: 4 files of about 16 MB of NDJSON, each
// in its own parallel download, served identity or gzip.
//
//	go test ./bulkclient -run '^$' -bench ExportDownload -benchtime 5x
func BenchmarkExportDownload(b *testing.B) {
	var plain bytes.Buffer
	for i := 0; plain.Len() < 16<<20; i++ {
		fmt.Fprintf(&plain, `{"resourceType":"Immunization","id":"i%d","status":"completed","vaccineCode":{"coding":[{"system":"http://hl7.org/fhir/sid/cvx","code":"%03d"}]},"patient":{"reference":"Patient/p%d"},"occurrenceDateTime":"2024-01-%02dT10:00:00Z"}`+"\n", i, i%200, i/3, i%28+1)
	}
	lines := bytes.Count(plain.Bytes(), []byte("\n"))
	var gz bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&gz, gzip.BestSpeed)
	zw.Write(plain.Bytes())
	zw.Close()
	const files = 4
	for _, enc := range []string{"identity", "gzip"} {
		b.Run(enc, func(b *testing.B) {
			var base string
			mux := http.NewServeMux()
			mux.HandleFunc("GET /fhir/Patient/$export", func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Location", base+"/status")
				w.WriteHeader(http.StatusAccepted)
			})
			mux.HandleFunc("GET /fhir/status", func(w http.ResponseWriter, r *http.Request) {
				var out []map[string]any
				for i := range files {
					out = append(out, map[string]any{"type": "Immunization", "url": base + "/f/" + strconv.Itoa(i), "count": lines})
				}
				w.Header().Set("Content-Type", "application/json")
				json.NewEncoder(w).Encode(map[string]any{"transactionTime": "2026-01-01T00:00:00Z", "request": base, "requiresAccessToken": false, "output": out, "error": []any{}})
			})
			mux.HandleFunc("DELETE /fhir/status", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusAccepted) })
			mux.HandleFunc("GET /fhir/f/{n}", func(w http.ResponseWriter, r *http.Request) {
				data := plain.Bytes()
				if enc == "gzip" && strings.Contains(r.Header.Get("Accept-Encoding"), "gzip") {
					data = gz.Bytes()
					w.Header().Set("Content-Encoding", "gzip")
				}
				w.Header().Set("ETag", `"`+enc+`"`)
				http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(data))
			})
			ts := httptest.NewServer(mux)
			defer ts.Close()
			base = ts.URL + "/fhir"
			b.SetBytes(int64(files * plain.Len()))
			b.ResetTimer()
			for range b.N {
				sum, err := bulkclient.Export(context.Background(), bulkclient.Config{
					Server: base, OutDir: filepath.Join(b.TempDir(), "out"), Parallel: files,
				})
				if err != nil || len(sum.Files) != files {
					b.Fatalf("export: %v (%d files)", err, len(sum.Files))
				}
			}
		})
	}
}
