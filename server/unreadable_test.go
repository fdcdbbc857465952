package server

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/iisbridge/iisbridge/pipeline"
)

// lossyExporter exports like the fake one, then reports records it could
// not read.
type lossyExporter struct {
	*fakeExporter
	loss pipeline.Loss
}

func (e *lossyExporter) Export(ctx context.Context, q pipeline.Query, sink pipeline.Sink) error {
	if err := e.fakeExporter.Export(ctx, q, sink); err != nil {
		return err
	}
	return sink.(pipeline.LossSink).Lost(e.loss)
}

// The manifest of an export completed with a loss (on_unreadable: warn)
// carries it in both manifest styles; with the default policy the job
// fails saying what was lost.
func TestUnreadablePolicies(t *testing.T) {
	loss := pipeline.Loss{Records: 3, ByReason: map[string]int64{pipeline.UnreadableGone: 2, pipeline.UnreadableChanged: 1}}
	for _, tc := range []struct{ policy, style, want string }{
		{"warn", "stu2", `"extension":{"http://iisbridge.dev/fhir/StructureDefinition/unreadable-records":{"count":3,"message":"3 indexed source record(s) could not be read and are left out (1 changed, 2 gone)"}}`},
		{"warn", "stu4", `"extension":[{"url":"http://iisbridge.dev/fhir/StructureDefinition/unreadable-records","extension":[{"url":"count","valueInteger":3},`},
		{"", "stu2", `3 indexed source record(s) could not be read and are left out (1 changed, 2 gone); the export would be incomplete`},
	} {
		t.Run(tc.policy+tc.style, func(t *testing.T) {
			h := newHarness(t, func(o *Options) {
				o.Exporter = &lossyExporter{fakeExporter: o.Exporter.(*fakeExporter), loss: loss}
				o.OnUnreadable, o.ManifestStyle = tc.policy, tc.style
			})
			r := h.wait(h.accepted(h.kick("/$export", "")))
			b := body(t, r)
			if !strings.Contains(b, tc.want) {
				t.Fatalf("status %d %s\nwant %s", r.StatusCode, b, tc.want)
			}
			if tc.policy == "" && r.StatusCode != http.StatusInternalServerError {
				t.Errorf("default policy: status %d, want the job failed", r.StatusCode)
			}
			m := h.do("GET", h.url("/metrics"), "", "Authorization", "Bearer client-a")
			if mb := body(t, m); !strings.Contains(mb, `iisbridge_export_records_unreadable_total{reason="gone"} 2`) {
				t.Errorf("metrics:\n%s", mb)
			}
			if !strings.Contains(h.log.String(), "level=WARN") {
				t.Errorf("no WARN logged:\n%s", h.log)
			}
		})
	}
}

// Only a system export asks for the source-wide issues: a Patient or
// Group export's error file holds issues about its own records.
func TestSourceIssuesOnlyForSystemExports(t *testing.T) {
	h := newHarness(t, nil)
	for path, want := range map[string]bool{"/$export": true, "/Patient/$export": false, "/Group/riverside/$export": false} {
		h.done(h.accepted(h.kick(path, "")))
		if got := h.exp.lastQuery().SourceIssues; got != want {
			t.Errorf("%s: SourceIssues %v, want %v", path, got, want)
		}
	}
}
