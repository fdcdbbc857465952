package server

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/iisbridge/iisbridge/fhirout"
	"github.com/iisbridge/iisbridge/pipeline"
)

// What a job does when its exporter could not read part of the source
// (Options.OnUnreadable).
const (
	// UnreadableFail fails the job: an incomplete export never passes as
	// complete (the default).
	UnreadableFail = "fail"
	// UnreadableWarn completes the job with the loss stated in the
	// manifest (an extension) and in the error file (an OperationOutcome
	// counting the records left out).
	UnreadableWarn = "warn"
)

// lossExtension names the manifest extension of an incomplete export.
const lossExtension = "http://iisbridge.dev/fhir/StructureDefinition/unreadable-records"

// IngestCounter is implemented by exporters that count what indexing met
// (files dropped, moved, unreadable, broken): /metrics shows the totals.
type IngestCounter interface {
	IngestCounts() map[string]int64
}

// Lost records what the exporter could not read (pipeline.LossSink). In
// warn mode the error file says it at once; in fail mode the job fails
// when the exporter returns.
func (k *jobSink) Lost(l pipeline.Loss) error {
	k.loss.Records += l.Records
	for r, n := range l.ByReason {
		if k.loss.ByReason == nil {
			k.loss.ByReason = map[string]int64{}
		}
		k.loss.ByReason[r] += n
	}
	if k.onUnreadable != UnreadableWarn {
		return nil
	}
	oo := fhirout.OperationOutcome(fhirout.Issue{Severity: "error", Code: "incomplete",
		Diagnostics: "this export is incomplete: " + lossText(l) + "; each is listed in this file with its location"})
	if err := k.errs.Write(oo); err != nil {
		return &writeError{err}
	}
	return nil
}

var _ pipeline.LossSink = (*jobSink)(nil)

// lossText words a loss for clients and logs: counts and reasons, no
// paths.
func lossText(l pipeline.Loss) string {
	reasons := make([]string, 0, len(l.ByReason))
	for r := range l.ByReason {
		reasons = append(reasons, r)
	}
	sort.Strings(reasons)
	var parts []string
	for _, r := range reasons {
		parts = append(parts, fmt.Sprintf("%d %s", l.ByReason[r], r))
	}
	s := fmt.Sprintf("%d indexed source record(s) could not be read and are left out", l.Records)
	if len(parts) > 0 {
		s += " (" + strings.Join(parts, ", ") + ")"
	}
	return s
}

// errIncomplete fails a job whose source could not be read in full.
type errIncomplete struct{ loss pipeline.Loss }

func (e *errIncomplete) Error() string { return e.ClientMessage() }

// ClientMessage: the count and reasons are what the client needs, and
// lossText names no path.
func (e *errIncomplete) ClientMessage() string {
	return lossText(e.loss) + "; the export would be incomplete, so it was not completed"
}

// saveLoss records a completed job's loss for its manifest.
func (st *store) saveLoss(ctx context.Context, id string, l pipeline.Loss) error {
	_, err := st.db.ExecContext(ctx, `INSERT OR REPLACE INTO job_losses(job_id, records, text) VALUES(?, ?, ?)`,
		id, l.Records, lossText(l))
	return err
}

// loss returns a job's recorded loss (0 records when none).
func (st *store) loss(ctx context.Context, id string) (records int64, text string, err error) {
	err = st.db.QueryRowContext(ctx, `SELECT records, text FROM job_losses WHERE job_id = ?`, id).Scan(&records, &text)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, "", nil
	}
	return records, text, err
}

// addLoss puts a completed job's loss in its manifest: an extension
// object (STU2 manifests: a pre-coordinated JSON object; STU4: a FHIR
// Extension array).
func (s *Server) addLoss(ctx context.Context, m *fhirout.Object, rec *jobRecord) error {
	n, text, err := s.store.loss(ctx, rec.ID)
	if err != nil || n == 0 {
		return err
	}
	if rec.Style == "stu4" {
		e := fhirout.NewObject()
		e.Set("url", lossExtension)
		count := fhirout.NewObject()
		count.Set("url", "count")
		count.Set("valueInteger", fhirout.Number(strconv.FormatInt(n, 10)))
		msg := fhirout.NewObject()
		msg.Set("url", "message")
		msg.Set("valueString", text)
		e.Set("extension", []any{count, msg})
		m.Set("extension", []any{e})
		return nil
	}
	v := fhirout.NewObject()
	v.Set("count", fhirout.Number(strconv.FormatInt(n, 10)))
	v.Set("message", text)
	ext := fhirout.NewObject()
	ext.Set(lossExtension, v)
	m.Set("extension", ext)
	return nil
}
