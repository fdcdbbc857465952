package main

import (
	"path/filepath"

	"github.com/iisbridge/iisbridge/mapping"
	"github.com/iisbridge/iisbridge/pipeline"
	"github.com/iisbridge/iisbridge/sources/index"
	"github.com/iisbridge/iisbridge/sources/v2archive"
)

// archiveSetup is how a command reads v2 archives: the one place that
// wires the v2archive source into the index and the pipeline (which know
// it only through sources.Source).
type archiveSetup struct {
	IndexDir string
	Identity index.IdentityConfig
	Reader   v2archive.Options
	Progress func(done, total int64) // bytes indexed, for progress bars
	NoLedger bool                    // no Group is read from it (index.Options.NoLedger)
	Scratch  bool                    // removed after one use (index.Options.Scratch)
}

// openIndex opens (creating) the index over v2 archives, whose persons
// and organizations m's identity: section names (nil: the default
// mapping's).
func openIndex(s archiveSetup, m *mapping.Mapping) (*index.Index, error) {
	if m == nil {
		m = mapping.Default()
	}
	// The source keeps the decompressed copies of gzip inputs beside the
	// index that points into them.
	s.Reader.SpoolDir = filepath.Join(s.IndexDir, "spool")
	src, err := v2archive.NewSource(s.Reader, s.Identity, m)
	if err != nil {
		return nil, err
	}
	return index.Open(s.IndexDir, index.Options{Identity: s.Identity, Source: src, Progress: s.Progress, NoLedger: s.NoLedger, Scratch: s.Scratch})
}

// openPipeline opens the index and returns the pipeline over it (which
// owns it: Close closes it); the caller updates it (Pipeline.Update) and
// may read the index (counts) while the pipeline is open.
func openPipeline(s archiveSetup, m *mapping.Mapping, o pipeline.Options) (*pipeline.Pipeline, *index.Index, error) {
	idx, err := openIndex(s, m)
	if err != nil {
		return nil, nil, err
	}
	return pipeline.New(idx, m, o), idx, nil
}
