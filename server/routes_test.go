package server

import (
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"

	"github.com/gorilla/mux"
)

// openRoutes are the only routes served without a token: discovery,
// health and the token endpoint itself.
var openRoutes = map[string]bool{
	"/healthz":                              true,
	"/readyz":                               true,
	"/fhir/metadata":                        true,
	"/fhir/.well-known/smart-configuration": true,
	"/fhir/auth/token":                      true,
}

// TestEveryRouteButDiscoveryNeedsAToken walks the router itself, so a
// route added later is checked too: a refused client gets 401, the
// Bearer challenge and an OperationOutcome on every method of every route
// but the open ones.
func TestEveryRouteButDiscoveryNeedsAToken(t *testing.T) {
	h := newHarness(t, func(o *Options) {
		o.TokenEndpoint = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusBadRequest) })
	})
	handler := h.s.Handler()
	pathVar := regexp.MustCompile(`\{[^}]*\}`)
	checked, open := 0, 0
	err := h.s.router().Walk(func(rt *mux.Route, _ *mux.Router, _ []*mux.Route) error {
		tpl, err := rt.GetPathTemplate()
		if err != nil {
			return nil // a subrouter's root
		}
		methods, err := rt.GetMethods()
		if err != nil {
			t.Errorf("route %s serves every method: list them", tpl)
			return nil
		}
		if openRoutes[tpl] {
			open++
			return nil
		}
		path := pathVar.ReplaceAllString(tpl, "x")
		for _, m := range methods {
			req := httptest.NewRequest(m, "http://127.0.0.1:8080"+path, strings.NewReader("{}"))
			req.Header.Set("X-Client", "nobody")
			rec := httptest.NewRecorder()
			handler.ServeHTTP(rec, req)
			checked++
			if rec.Code != http.StatusUnauthorized {
				t.Errorf("%s %s without a valid token: %d %s", m, tpl, rec.Code, rec.Body)
				continue
			}
			if !strings.HasPrefix(rec.Header().Get("WWW-Authenticate"), "Bearer ") {
				t.Errorf("%s %s: 401 without a Bearer challenge", m, tpl)
			}
			if m != http.MethodHead && !strings.Contains(rec.Body.String(), `"resourceType":"OperationOutcome"`) {
				t.Errorf("%s %s: 401 without an OperationOutcome: %s", m, tpl, rec.Body)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if open != len(openRoutes) || checked < 20 {
		t.Fatalf("walked %d open routes (want %d) and %d guarded route methods: has the router changed shape?", open, len(openRoutes), checked)
	}
}
