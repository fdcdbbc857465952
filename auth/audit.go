package auth

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/iisbridge/iisbridge/server"
)

// The audit log rotates at defaultAuditMax bytes and keeps defaultAuditKeep
// older files (audit.log.1 newest ... audit.log.N oldest).
const (
	defaultAuditMax  = 64 << 20
	defaultAuditKeep = 5
)

// auditLog writes one JSON object per line. Events carry fixed codes and
// ids only (see server.AuditEvent): no token, key, query value or PHI.
type auditLog struct {
	path      string
	max       int64
	keep      int
	mu        sync.Mutex
	f         *os.File
	size      int64
	lastError time.Time
}

type auditLine struct {
	Time     string `json:"time"`
	Event    string `json:"event"`
	ClientID string `json:"client_id,omitempty"`
	Route    string `json:"route,omitempty"`
	Job      string `json:"job,omitempty"`
	Group    string `json:"group,omitempty"`
	File     string `json:"file,omitempty"`
	Status   int    `json:"status,omitempty"`
	Outcome  string `json:"outcome"`
	Reason   string `json:"reason,omitempty"`
}

func openAuditLog(path string, max int64, keep int) (*auditLog, error) {
	a := &auditLog{path: path, max: max, keep: keep}
	if err := a.open(); err != nil {
		return nil, err
	}
	return a, nil
}

func (a *auditLog) open() error {
	if err := os.MkdirAll(filepath.Dir(a.path), 0o700); err != nil {
		return fmt.Errorf("auth: audit log: %w", err)
	}
	f, err := os.OpenFile(a.path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return fmt.Errorf("auth: audit log: %w", err)
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return fmt.Errorf("auth: audit log: %w", err)
	}
	a.f, a.size = f, fi.Size()
	return nil
}

func (a *auditLog) write(e server.AuditEvent) {
	if e.Time.IsZero() {
		e.Time = time.Now()
	}
	b, _ := json.Marshal(auditLine{
		Time: e.Time.UTC().Format(time.RFC3339Nano), Event: e.Event, ClientID: e.ClientID, Route: e.Route,
		Job: e.Job, Group: e.Group, File: e.File, Status: e.Status, Outcome: e.Outcome, Reason: e.Reason,
	})
	b = append(b, '\n')
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.f == nil {
		return
	}
	if a.size+int64(len(b)) > a.max && a.size > 0 {
		a.rotate()
	}
	n, err := a.f.Write(b)
	a.size += int64(n)
	if err != nil && time.Since(a.lastError) > time.Minute {
		a.lastError = time.Now()
		fmt.Fprintf(os.Stderr, "iisbridge: writing the audit log failed: %v\n", err)
	}
}

// rotate shifts audit.log → .1 → .2 …, dropping the oldest.
func (a *auditLog) rotate() {
	a.f.Close()
	a.f = nil
	os.Remove(fmt.Sprintf("%s.%d", a.path, a.keep))
	for i := a.keep - 1; i >= 1; i-- {
		os.Rename(fmt.Sprintf("%s.%d", a.path, i), fmt.Sprintf("%s.%d", a.path, i+1))
	}
	os.Rename(a.path, a.path+".1")
	if err := a.open(); err != nil {
		fmt.Fprintf(os.Stderr, "iisbridge: reopening the audit log failed: %v\n", err)
	}
}

func (a *auditLog) Close() error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.f == nil {
		return nil
	}
	err := a.f.Close()
	a.f = nil
	return err
}
