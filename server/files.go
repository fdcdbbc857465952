package server

import (
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"math"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/gorilla/mux"
	"modernc.org/sqlite"

	"github.com/iisbridge/iisbridge/fhirout"
)

func removeAll(dir string) error { return os.RemoveAll(dir) }

// diskFull says whether err comes from a full file system or quota, or
// from SQLite finding its database full (SQLITE_FULL).
func diskFull(err error) bool {
	var se *sqlite.Error
	return errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT) ||
		(errors.As(err, &se) && se.Code()&0xff == sqliteFull)
}

const sqliteFull = 13 // SQLITE_FULL, the primary result code

// download serves one export file. Only names listed in the job's own
// manifest are served, so no path from the URL reaches the file system.
// http.ServeContent gives Range (206/416), If-Range and a strong ETag, so a
// broken download resumes. With Accept-Encoding: gzip the file is
// compressed once to a sibling .gz and served the same way: ranges then
// count bytes of the gzip stream, and the ETag differs per encoding.
func (s *Server) download(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store") // PHI: no shared or private cache keeps it
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
	if rec.Store != "" {
		obj := s.objectStore(rec.Store)
		if obj == nil {
			s.internalError(w, r, "finding the file's store", fmt.Errorf("job %s: store %q is no longer configured", rec.ID, rec.Store))
			return
		}
		s.redirect(w, r, obj, rec, *found)
		return
	}
	path := filepath.Join(s.jobDir(rec.ID), kind, name)
	h := fnv.New64a()
	fmt.Fprintf(h, "%s/%s/%s", rec.ID, kind, name)
	etag := strconv.FormatUint(h.Sum64(), 36)
	w.Header().Set("Vary", "Accept-Encoding")
	gzipped := false
	if acceptsGzip(r) {
		// gzip is an optimisation: when the copy cannot be made (disk
		// full) the client still gets the identical plain file.
		gz, err := s.gzipped(path)
		if s.gone(context.WithoutCancel(r.Context()), rec.ID) {
			// Deleted or expired while compressing: its removal may have
			// missed the copy being written, so remove again.
			s.removeFiles(rec.ID)
			s.outcome(w, r, http.StatusNotFound, "not-found", "no such file in this export")
			return
		}
		if err != nil {
			s.log.Warn("compressing an export file failed; serving the plain file", "request_id", info(r).id, "job", rec.ID, "err", err)
		} else {
			path, etag, gzipped = gz, etag+"-gzip", true
		}
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
	if ir := r.Header.Get("If-Range"); ir == "" || ir == `"`+etag+`"` {
		if rg, ok := dropEmptySuffixRanges(r.Header.Get("Range")); !ok {
			w.Header().Set("Content-Range", "bytes */"+strconv.FormatInt(fi.Size(), 10))
			s.outcome(w, r, http.StatusRequestedRangeNotSatisfiable, "not-supported", "no requested range is satisfiable (bytes=-0 asks for nothing)")
			return
		} else if rg != "" {
			r.Header.Set("Range", rg)
		}
	}
	if gzipped { // only now: error answers above are plain OperationOutcomes
		w.Header().Set("Content-Encoding", "gzip")
	}
	rc := http.NewResponseController(w)
	// No read deadline while the file goes out: the request is read, and
	// an expiring one would cancel the request's context mid-download.
	rc.SetReadDeadline(time.Time{})
	cw := &countWriter{ResponseWriter: w, rc: rc, stall: s.opts.HTTP.WriteTimeout}
	http.ServeContent(cw, r, "", fi.ModTime(), f)
	s.metrics.served(cw.n)
}

// gone says whether the store knows job id as no longer served (deleted,
// expired, forgotten); a store error says nothing, so nothing is removed
// on it.
func (s *Server) gone(ctx context.Context, id string) bool {
	rec, err := s.store.job(ctx, id)
	if err != nil {
		s.log.Error("reading the job store", "job", id, "err", err)
		return false
	}
	return rec == nil || rec.State != stateDone || !s.now().Before(rec.Expires)
}

// dropEmptySuffixRanges removes "-0" specs from a bytes Range header: a
// suffix of zero bytes is unsatisfiable (RFC 9110 14.1.1), which
// http.ServeContent would answer with a 206 and an invalid Content-Range.
// ok is false when nothing satisfiable is left (416); rg is the header to
// use ("" = unchanged).
func dropEmptySuffixRanges(h string) (rg string, ok bool) {
	unit, set, found := strings.Cut(h, "=")
	if !found || strings.TrimSpace(unit) != "bytes" {
		return "", true
	}
	var kept []string
	dropped := false
	for _, spec := range strings.Split(set, ",") {
		spec = strings.TrimSpace(spec)
		if len(spec) > 1 && spec[0] == '-' && strings.Trim(spec[1:], "0") == "" {
			dropped = true
			continue
		}
		kept = append(kept, spec)
	}
	if !dropped {
		return "", true
	}
	if len(kept) == 0 {
		return "", false
	}
	return "bytes=" + strings.Join(kept, ","), true
}

// countWriter counts the bytes of a download and turns the plain-text 416
// http.ServeContent writes into an OperationOutcome.
// It also moves the write deadline forward before every chunk, so the
// download is cut only when the client stops reading for stall.
type countWriter struct {
	http.ResponseWriter
	rc      *http.ResponseController
	stall   time.Duration
	n       int64
	swallow bool // the body ServeContent writes after a replaced 416
}

func (w *countWriter) extend() {
	if w.rc != nil {
		w.rc.SetWriteDeadline(time.Now().Add(w.stall))
	}
}

func (w *countWriter) WriteHeader(code int) {
	if code != http.StatusRequestedRangeNotSatisfiable {
		w.ResponseWriter.WriteHeader(code)
		return
	}
	w.Header().Del("Content-Length")
	w.Header().Del("Content-Encoding") // the OperationOutcome is not the gzip stream
	writeResource(w.ResponseWriter, code, fhirout.OperationOutcome(fhirout.Issue{Severity: "error", Code: "not-supported",
		Diagnostics: "the requested range is not satisfiable (Content-Range gives the size)"}))
	w.swallow = true
}

func (w *countWriter) Write(b []byte) (int, error) {
	if w.swallow {
		return len(b), nil
	}
	var total int
	for len(b) > 0 {
		w.extend()
		n, err := w.ResponseWriter.Write(b[:min(len(b), downloadChunk)])
		total += n
		w.n += int64(n)
		b = b[n:]
		if err != nil {
			return total, err
		}
	}
	return total, nil
}

// ReadFrom copies in chunks of downloadChunk, each under a fresh write
// deadline. A *io.LimitedReader over the file (what ServeContent passes)
// is re-sliced rather than wrapped, so the connection still recognises
// the file and uses sendfile.
func (w *countWriter) ReadFrom(src io.Reader) (int64, error) {
	lr, ok := src.(*io.LimitedReader)
	if !ok {
		lr = &io.LimitedReader{R: src, N: math.MaxInt64}
	}
	var total int64
	for lr.N > 0 {
		w.extend()
		chunk := &io.LimitedReader{R: lr.R, N: min(lr.N, downloadChunk)}
		n, err := readFrom(w.ResponseWriter, chunk)
		total += n
		w.n += n
		lr.N -= n
		if err != nil || chunk.N > 0 { // an error, or the source ended
			return total, err
		}
	}
	return total, nil
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
	defer os.Remove(tmp.Name()) // after a failure; a no-op once renamed
	var out io.Writer = tmp
	if s.opts.gzipOut != nil {
		out = s.opts.gzipOut(tmp)
	}
	zw, _ := gzip.NewWriterLevel(out, gzip.BestSpeed)
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
