package server

import (
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/gorilla/mux"
)

// Starting is the handler a process serves while its index is brought up
// to date, before the Server exists: the port answers at once, so a
// supervisor sees the process alive and not yet ready.
//
//   - /healthz answers 200 "ok" (live);
//   - /readyz answers 503 with state() ("indexing 37 %");
//   - /metrics serves m when metricsOpen (no authorization configured, or
//     the operators opened it): it holds no patient data; otherwise it
//     answers 503 like the rest until the Server's Authorizer guards it;
//   - everything else, $export included, answers 503 with Retry-After and
//     an OperationOutcome saying why.
func Starting(m *Metrics, log *slog.Logger, state func() string, retryAfter time.Duration, metricsOpen bool) http.Handler {
	if retryAfter < time.Second {
		retryAfter = 2 * time.Second
	}
	secs := strconv.Itoa(int(retryAfter / time.Second))
	r := mux.NewRouter()
	if log == nil {
		log = slog.Default()
	}
	s := &Server{metrics: m, log: log, opts: Options{HTTP: HTTPLimits{}.withDefaults()}}
	r.Use(s.routeName)
	r.HandleFunc("/healthz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		fmt.Fprintln(w, "ok")
	}).Methods(http.MethodGet, http.MethodHead)
	r.HandleFunc("/readyz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Header().Set("Retry-After", secs)
		w.WriteHeader(http.StatusServiceUnavailable)
		fmt.Fprintln(w, state())
	}).Methods(http.MethodGet, http.MethodHead)
	if metricsOpen {
		r.Handle("/metrics", m).Methods(http.MethodGet)
	}
	r.PathPrefix("/").HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		info(r).route = "starting" // one label for every refused route
		w.Header().Set("Retry-After", secs)
		s.outcome(w, r, http.StatusServiceUnavailable, "transient", "the server is starting ("+strings.TrimSpace(state())+"); retry after "+secs+" s")
	})
	return s.observe(r)
}
