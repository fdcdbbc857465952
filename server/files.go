package server

import (
	"compress/gzip"
	"fmt"
	"hash/fnv"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/gorilla/mux"
)

func removeAll(dir string) error { return os.RemoveAll(dir) }

// download serves one export file. Only names listed in the job's own
// manifest are served, so no path from the URL reaches the file system.
// http.ServeContent gives Range (206/416), If-Range and a strong ETag, so a
// broken download resumes. With Accept-Encoding: gzip the file is
// compressed once to a sibling .gz and served the same way: ranges then
// count bytes of the gzip stream, and the ETag differs per encoding.
func (s *Server) download(w http.ResponseWriter, r *http.Request) {
	rec := s.lookupJob(w, r)
	if rec == nil {
		return
	}
	v := mux.Vars(r)
	kind, name := v["kind"], v["file"]
	var found *jobFile
	for i, f := range rec.Files {
		if f.Kind == kind && f.Name == name {
			found = &rec.Files[i]
			break
		}
	}
	if rec.State != stateDone || found == nil {
		s.outcome(w, r, http.StatusNotFound, "not-found", "no such file in this export")
		return
	}
	if kind == "output" && !principal(r).MayRead(found.Type) {
		s.outcome(w, r, http.StatusForbidden, "forbidden", "this token's scopes do not cover "+found.Type+" resources")
		return
	}
	s.mu.Lock()
	s.dl[rec.ID]++
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		if s.dl[rec.ID]--; s.dl[rec.ID] <= 0 {
			delete(s.dl, rec.ID)
		}
		s.mu.Unlock()
	}()
	path := filepath.Join(s.jobDir(rec.ID), kind, name)
	h := fnv.New64a()
	fmt.Fprintf(h, "%s/%s/%s", rec.ID, kind, name)
	etag := strconv.FormatUint(h.Sum64(), 36)
	w.Header().Set("Vary", "Accept-Encoding")
	if acceptsGzip(r) {
		gz, err := s.gzipped(path)
		if err != nil {
			s.internalError(w, r, "compressing the file", err)
			return
		}
		path, etag = gz, etag+"-gzip"
		w.Header().Set("Content-Encoding", "gzip")
	}
	f, err := os.Open(path)
	if err != nil {
		s.outcome(w, r, http.StatusNotFound, "not-found", "no such file in this export")
		return
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		s.internalError(w, r, "reading the file", err)
		return
	}
	w.Header().Set("Content-Type", "application/fhir+ndjson")
	w.Header().Set("ETag", `"`+etag+`"`)
	cw := &countWriter{ResponseWriter: w}
	http.ServeContent(cw, r, "", fi.ModTime(), f)
	s.metrics.served(cw.n)
}

type countWriter struct {
	http.ResponseWriter
	n int64
}

func (w *countWriter) Write(b []byte) (int, error) {
	n, err := w.ResponseWriter.Write(b)
	w.n += int64(n)
	return n, err
}

func (w *countWriter) ReadFrom(src io.Reader) (int64, error) {
	n, err := readFrom(w.ResponseWriter, src)
	w.n += n
	return n, err
}

// acceptsGzip says whether Accept-Encoding lists gzip with a non-zero q.
func acceptsGzip(r *http.Request) bool {
	for _, h := range r.Header.Values("Accept-Encoding") {
		for _, part := range strings.Split(h, ",") {
			enc, params, _ := strings.Cut(strings.TrimSpace(part), ";")
			if !strings.EqualFold(strings.TrimSpace(enc), "gzip") {
				continue
			}
			if q, ok := strings.CutPrefix(strings.ReplaceAll(params, " ", ""), "q="); ok {
				if f, err := strconv.ParseFloat(q, 64); err == nil && f == 0 {
					return false
				}
			}
			return true
		}
	}
	return false
}

// gzipped returns path+".gz", creating it once (atomically) if absent.
func (s *Server) gzipped(path string) (string, error) {
	gz := path + ".gz"
	if _, err := os.Stat(gz); err == nil {
		return gz, nil
	}
	s.gzMu.Lock()
	defer s.gzMu.Unlock()
	if _, err := os.Stat(gz); err == nil {
		return gz, nil
	}
	in, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer in.Close()
	tmp, err := os.CreateTemp(filepath.Dir(path), ".gz-*")
	if err != nil {
		return "", err
	}
	defer os.Remove(tmp.Name())
	zw, _ := gzip.NewWriterLevel(tmp, gzip.BestSpeed)
	if _, err := io.Copy(zw, in); err != nil {
		tmp.Close()
		return "", err
	}
	if err := zw.Close(); err != nil {
		tmp.Close()
		return "", err
	}
	if err := tmp.Close(); err != nil {
		return "", err
	}
	return gz, os.Rename(tmp.Name(), gz)
}
