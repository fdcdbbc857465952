package server

import (
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"

	"github.com/iisbridge/iisbridge/internal/doctest"
)

// readmeURL finds the README's examples of this server's URLs: the demo's
// base (http://127.0.0.1:8080/fhir) and the shorthand ".../fhir".
var readmeURL = regexp.MustCompile("(?:http://127\\.0\\.0\\.1:8080|\\.\\.\\.)(/fhir/[^\\s'\"`)|?]+)")

// readmePlaceholder is a value the reader fills in: <job>, [id].
var readmePlaceholder = regexp.MustCompile(`<[^>]*>|\[[^\]]*\]`)

// TestREADMEPathsAreRoutes keeps the README's example URLs on routes the
// server serves: a reader who pastes one must not get "no such endpoint".
func TestREADMEPathsAreRoutes(t *testing.T) {
	doc := doctest.Read(t, "../README.md")
	h := newHarness(t, nil)
	handler := h.s.Handler()
	seen := map[string]bool{}
	for _, m := range readmeURL.FindAllStringSubmatch(doc, -1) {
		path := readmePlaceholder.ReplaceAllString(m[1], "x")
		if seen[path] {
			continue
		}
		seen[path] = true
		req, err := http.NewRequest(http.MethodGet, "http://127.0.0.1:8080"+path, nil)
		if err != nil {
			t.Fatalf("README URL %s: %v", m[0], err)
		}
		rec := httptest.NewRecorder()
		handler.ServeHTTP(rec, req)
		if rec.Code == http.StatusNotFound && strings.Contains(rec.Body.String(), "no such endpoint") {
			t.Errorf("README.md shows %s, which no route serves", m[0])
		}
	}
	if len(seen) < 5 {
		t.Fatalf("found only %d example URLs in README.md: is readmeURL still right?", len(seen))
	}
}
