package server

// The candidate store of Patient/$bulk-match and Group $roster-import:
// the bridge's Patients filed under the matcher's blocking keys in
// DATA_DIR/candidates.db (match.SQLStore), so a match reads only the
// persons sharing a blocking key with its input and memory stays flat in
// the number of persons (before it, every job held every Patient in
// memory after one pass over the source).
//
// After each Group refresh (each index update) the store is synced in
// the background once matching has been used; a job brings it up to its
// snapshot first, incrementally: an
// export of the Patients changed since the last sync (_since) replaces
// theirs, and the Patients deleted since (merged away, or gone with
// their source) are removed. The first sync, and a sync after the
// matcher's blocking keys changed (the store is built again), reads
// every Patient once. A sync whose source could not be read in full
// fails the job (on_unreadable: fail) or goes on with what was read
// (warn); the store then records no sync time, so the next job reads
// the whole source again.

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/iisbridge/iisbridge/fhirout"
	"github.com/iisbridge/iisbridge/match"
	"github.com/iisbridge/iisbridge/pipeline"
)

const candidatesFile = "candidates.db"

// candidateStore returns the store, synced up to asOf (zero: now).
func (s *Server) candidateStore(ctx context.Context, m *match.Matcher, asOf time.Time) (*match.SQLStore, error) {
	s.candMu.Lock()
	defer s.candMu.Unlock()
	if s.cand == nil || s.candM != m {
		if s.cand != nil {
			s.cand.Close()
			s.cand = nil
		}
		path := filepath.Join(s.opts.DataDir, candidatesFile)
		st, err := match.OpenSQLStore(path, m)
		if err != nil && strings.Contains(err.Error(), "built with blocking keys") {
			s.log.Info("candidate store: the matcher's blocking keys changed; building it again")
			for _, suffix := range []string{"", "-wal", "-shm"} {
				os.Remove(path + suffix)
			}
			st, err = match.OpenSQLStore(path, m)
		}
		if err != nil {
			return nil, fmt.Errorf("opening the candidate store: %w", err)
		}
		s.cand, s.candM = st, m
	}
	if asOf.IsZero() {
		asOf = s.now()
	}
	st := s.cand
	var since time.Time
	if v, err := st.Meta(ctx, "synced_at"); err != nil {
		return nil, fmt.Errorf("candidate store: %w", err)
	} else if v != "" {
		if since, err = time.Parse(time.RFC3339Nano, v); err != nil {
			return nil, fmt.Errorf("candidate store: sync time %q: %w", v, err)
		}
	}
	if !since.IsZero() && !since.Before(asOf) {
		return st, nil
	}
	start := time.Now()
	k := &candidateSink{ctx: ctx, st: st}
	if err := s.exporter.Export(ctx, pipeline.Query{Types: []string{"Patient"}, Since: since, AsOf: asOf}, k); err != nil {
		return nil, fmt.Errorf("candidate store: %w", err)
	}
	if err := k.flush(); err != nil {
		return nil, fmt.Errorf("candidate store: %w", err)
	}
	if k.loss.Records > 0 { // a candidate missing would turn into a wrong "not found"
		s.metrics.lost(k.loss)
		if err := st.SetMeta(ctx, "synced_at", ""); err != nil {
			return nil, err
		}
		if s.opts.OnUnreadable != UnreadableWarn {
			return nil, &errIncomplete{k.loss}
		}
		s.log.Warn("candidate store: synced without records the source could not read", "records", k.loss.Records, "by_reason", k.loss.ByReason)
		return st, nil
	}
	if err := st.SetMeta(ctx, "synced_at", asOf.UTC().Format(time.RFC3339Nano)); err != nil {
		return nil, err
	}
	s.log.Info("candidate store synced", "since", since, "patients", k.put, "deleted", k.deleted, "ms", time.Since(start).Milliseconds())
	return st, nil
}

// warmCandidates brings the candidate store up to date in the
// background after a Group refresh (which follows each index update), so
// the next job finds little to sync. Only once matching was used: a
// server that never matches never files its Patients.
func (s *Server) warmCandidates() {
	if _, err := os.Stat(filepath.Join(s.opts.DataDir, candidatesFile)); err != nil {
		return
	}
	select {
	case <-s.stop:
		return
	default:
	}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		go func() {
			select {
			case <-s.stop:
				cancel()
			case <-ctx.Done():
			}
		}()
		m, err := s.matcher()
		if err == nil {
			_, err = s.candidateStore(ctx, m, time.Time{})
		}
		if err != nil && ctx.Err() == nil {
			s.log.Warn("candidate store: sync after the index update failed; the next match job syncs it", "err", err)
		}
	}()
}

func (s *Server) closeCandidates() error {
	s.candMu.Lock()
	defer s.candMu.Unlock()
	if s.cand == nil {
		return nil
	}
	err := s.cand.Close()
	s.cand = nil
	return err
}

// candidateSink files exported Patients in batches.
type candidateSink struct {
	ctx          context.Context
	st           *match.SQLStore
	batch        []match.Record
	gone         []string
	put, deleted int
	loss         pipeline.Loss
}

const candidateBatch = 5000

func (k *candidateSink) Lost(l pipeline.Loss) error { k.loss = l; return nil }

func (k *candidateSink) Resource(o *fhirout.Object) error {
	if o.ResourceType() != "Patient" {
		return nil
	}
	pt, err := match.ParsePatient(o.AppendJSON(nil))
	if err != nil {
		return fmt.Errorf("reading an exported Patient: %w", err)
	}
	k.batch = append(k.batch, pt.Record())
	if len(k.batch) >= candidateBatch {
		return k.flush()
	}
	return nil
}

func (k *candidateSink) Deleted(typ, id string, _ time.Time) error {
	if typ == "Patient" {
		k.gone = append(k.gone, id)
		if len(k.gone) >= candidateBatch {
			return k.flush()
		}
	}
	return nil
}

func (k *candidateSink) Issue(*fhirout.Object) error { return nil }

func (k *candidateSink) flush() error {
	var err error
	if len(k.batch) > 0 {
		err = k.st.Put(k.ctx, k.batch)
		k.put += len(k.batch)
		k.batch = k.batch[:0]
	}
	if len(k.gone) > 0 {
		err = errors.Join(err, k.st.Delete(k.ctx, k.gone))
		k.deleted += len(k.gone)
		k.gone = k.gone[:0]
	}
	return err
}
