package pipeline

import (
	"context"
	"path/filepath"
	"time"

	"github.com/iisbridge/iisbridge/mapping"
	"github.com/iisbridge/iisbridge/sources/index"
	"github.com/iisbridge/iisbridge/sources/v2archive"
)

// openOptions are what the tests open a pipeline over v2 archives with
// (cmd does the same: a v2archive source, an index, New).
type openOptions struct {
	DataDir  string
	Paths    []string
	Sources  []Source
	Mapping  *mapping.Mapping
	Identity index.IdentityConfig
	Reader   v2archive.Options
	Now      func() time.Time
	Workers  int
}

// openV2 opens the index in o.DataDir over a v2archive source, brings
// it up to date with the paths and returns the pipeline over it.
func openV2(o openOptions) (*Pipeline, error) {
	who := o.Mapping
	if who == nil {
		who = mapping.Default()
	}
	if o.Reader.SpoolDir == "" {
		o.Reader.SpoolDir = filepath.Join(o.DataDir, "spool") // as cmd does
	}
	src, err := v2archive.NewSource(o.Reader, o.Identity, who)
	if err != nil {
		return nil, err
	}
	idx, err := index.Open(o.DataDir, index.Options{Identity: o.Identity, Source: src, Now: o.Now})
	if err != nil {
		return nil, err
	}
	p := New(idx, o.Mapping, Options{Paths: o.Paths, Sources: o.Sources, Workers: o.Workers})
	if _, err := p.Update(context.Background()); err != nil {
		p.Close()
		return nil, err
	}
	return p, nil
}
