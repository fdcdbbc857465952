package server

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/iisbridge/iisbridge/fhirout"
	"github.com/iisbridge/iisbridge/storage"
)

// File URL modes of a job whose files live in an object store.
const (
	// FileURLsPresigned: the manifest's urls are the store's pre-signed
	// GET URLs, signed when the manifest is served (requiresAccessToken
	// false).
	FileURLsPresigned = "presigned"
	// FileURLsRedirect: the manifest's urls are the server's file route,
	// which checks the token and ownership and answers 307 to a fresh
	// pre-signed URL (requiresAccessToken true).
	FileURLsRedirect = "redirect"
)

// DefaultURLTTL is how long a pre-signed URL lives when ObjectStore.URLTTL
// is zero.
const DefaultURLTTL = 15 * time.Minute

// ObjectStore is where a job's files go when not in the data directory.
type ObjectStore struct {
	Store    storage.Store // nil = the data directory, as without ObjectStore
	FileURLs string        // FileURLsPresigned (default) or FileURLsRedirect
	URLTTL   time.Duration // lifetime of each pre-signed URL; default DefaultURLTTL
}

// URLMode is how the manifest points at o's files: FileURLs, or
// FileURLsPresigned when it is not set.
func (o *ObjectStore) URLMode() string {
	if o.FileURLs == "" {
		return FileURLsPresigned
	}
	return o.FileURLs
}

// storeDefault names Options.Storage in the job table; a client's own
// store is named by its client id after storeClient.
const (
	storeDefault = "default"
	storeClient  = "client:"
)

// objectStore returns the store a job's files are in, nil for the data
// directory.
func (s *Server) objectStore(name string) *ObjectStore {
	var o *ObjectStore
	switch {
	case name == storeDefault:
		o = s.opts.Storage
	case len(name) > len(storeClient) && name[:len(storeClient)] == storeClient:
		o = s.opts.ClientStorage[name[len(storeClient):]]
	}
	if o == nil || o.Store == nil {
		return nil
	}
	return o
}

// storeFor picks the store of a new job of client: its own, else the
// server's; "" is the data directory.
func (s *Server) storeFor(client string) string {
	if o, ok := s.opts.ClientStorage[client]; ok {
		if o == nil || o.Store == nil {
			return ""
		}
		return storeClient + client
	}
	if s.opts.Storage != nil && s.opts.Storage.Store != nil {
		return storeDefault
	}
	return ""
}

func checkObjectStore(o *ObjectStore, what string) error {
	if o == nil {
		return nil
	}
	if _, local := o.Store.(storage.Opener); local {
		return fmt.Errorf("server: %s: a local store is the data directory: leave Store nil", what)
	}
	switch o.FileURLs = o.URLMode(); o.FileURLs {
	case FileURLsPresigned, FileURLsRedirect:
	default:
		return fmt.Errorf("server: %s.FileURLs %q: want %s or %s", what, o.FileURLs, FileURLsPresigned, FileURLsRedirect)
	}
	if o.URLTTL <= 0 {
		o.URLTTL = DefaultURLTTL
	}
	return nil
}

// objectName is a job file's name in its store.
func objectName(job, kind, name string) string { return job + "/" + kind + "/" + name }

// objectWriter streams one kind of a job's files into st: each NDJSON file
// is an upload of bounded memory (storage's part buffer), never a local
// file.
func objectWriter(ctx context.Context, st storage.Store, job, kind string, rot fhirout.RotateOptions) (resourceWriter, error) {
	return fhirout.NewSinkWriter(func(name string) (io.WriteCloser, error) {
		return st.Create(ctx, objectName(job, kind, name))
	}, rot)
}

// storeError is an object store that failed a job (unreachable, refusing,
// out of retries): its status says so in the client's terms.
func storeError(err error) bool {
	var se *storage.Error
	return errors.As(err, &se)
}

// removeObjects deletes a job's objects from its store, if it has one. A
// failure is kept for the janitor to retry.
func (s *Server) removeObjects(id string) bool {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	name, _, err := s.store.jobStorage(ctx, id)
	if err != nil {
		s.log.Error("reading the job store", "job", id, "err", err)
		return false
	}
	o := s.objectStore(name)
	if o == nil {
		return true
	}
	if err := o.Store.DeletePrefix(ctx, id+"/"); err != nil {
		s.log.Error("removing export objects; retried by the janitor", "job", id, "err", err)
		s.mu.Lock()
		s.objRetry[id] = true
		s.mu.Unlock()
		return false
	}
	s.mu.Lock()
	delete(s.objRetry, id)
	s.mu.Unlock()
	return true
}

// retryObjectRemovals retries the object deletions that failed before.
func (s *Server) retryObjectRemovals() {
	s.mu.Lock()
	ids := make([]string, 0, len(s.objRetry))
	for id := range s.objRetry {
		ids = append(ids, id)
	}
	s.mu.Unlock()
	for _, id := range ids {
		if s.removeObjects(id) {
			s.log.Info("removed export objects left by a failed removal", "job", id)
		}
	}
}

// sweepObjects removes from each object store what an interrupted process
// left: the objects of the jobs it interrupted, then incomplete uploads and
// objects of unknown, failed or deleted jobs older than a minute before
// start-up (store clocks differ from ours, and Azure's are in whole
// seconds: a margin keeps the files of jobs started since). It runs at
// start-up in the background: an unreachable store delays nothing.
func (s *Server) sweepObjects(ctx context.Context, started time.Time, interrupted []string) {
	for _, id := range interrupted {
		s.removeObjects(id)
	}
	stores := map[storage.Store]bool{}
	if o := s.opts.Storage; o != nil && o.Store != nil {
		stores[o.Store] = true
	}
	for _, o := range s.opts.ClientStorage {
		if o != nil && o.Store != nil {
			stores[o.Store] = true
		}
	}
	before := started.Add(-time.Minute)
	for st := range stores {
		n, err := storage.Sweep(ctx, st, before, func(job string) bool {
			rec, err := s.store.job(ctx, job)
			// on a store error keep it
			return err != nil || (rec != nil && rec.State != stateFailed && rec.State != stateDeleted)
		})
		if err != nil {
			s.log.Error("sweeping the export store at start-up", "err", err)
		}
		if n > 0 {
			s.log.Info("removed leftover export objects and uploads", "count", n)
		}
	}
}

// objectURL is a job file's manifest url when it lives in an object store:
// a fresh pre-signed URL, or the server's route for redirect.
func (s *Server) objectURL(ctx context.Context, o *ObjectStore, rec *jobRecord, f jobFile) (string, error) {
	if rec.FileURLs == FileURLsRedirect {
		return s.baseURL + "/bulkfiles/" + rec.ID + "/" + f.Kind + "/" + f.Name, nil
	}
	return o.Store.SignedURL(ctx, objectName(rec.ID, f.Kind, f.Name), storage.URLParams{TTL: o.URLTTL, Client: rec.Owner})
}

// redirect answers a download of an object-store file with 307 to a fresh
// pre-signed URL: the token and ownership were checked on the way here.
func (s *Server) redirect(w http.ResponseWriter, r *http.Request, o *ObjectStore, rec *jobRecord, f jobFile) {
	u, err := o.Store.SignedURL(r.Context(), objectName(rec.ID, f.Kind, f.Name), storage.URLParams{TTL: o.URLTTL, Client: rec.Owner})
	if err != nil {
		s.internalError(w, r, "signing the file's URL", err)
		return
	}
	w.Header().Set("Location", u)
	w.WriteHeader(http.StatusTemporaryRedirect)
}
