package main

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/iisbridge/iisbridge/config"
	"github.com/iisbridge/iisbridge/mapping"
	"github.com/iisbridge/iisbridge/pipeline"
	sqlsrc "github.com/iisbridge/iisbridge/sources/sql"
)

// openRelational opens the exporters of the config's `kind: sql` sources:
// each reads its database in place, one snapshot per export. A database
// that does not answer now is logged, not fatal: exports of it fail with
// a clear status until it does, and the server stays up.
func openRelational(ctx context.Context, cfg *config.Config, log *slog.Logger) ([]*pipeline.Relational, error) {
	var out []*pipeline.Relational
	closeAll := func() {
		for _, x := range out {
			x.Close()
		}
	}
	for _, s := range cfg.Sources {
		if s.Kind != "sql" {
			continue
		}
		m, err := relationalMapping(s.Mapping)
		if err != nil {
			closeAll()
			return nil, fmt.Errorf("source %s: %w", s.Name, err)
		}
		r, err := sqlsrc.Open(s.SQL)
		if err != nil {
			closeAll()
			return nil, err // names the source; never the DSN's secret
		}
		members := s.Memberships
		if members == "default" {
			members = sqlsrc.DefaultMembershipsQuery(r.Dialect())
		}
		x := pipeline.NewRelational(r, m, pipeline.RelationalOptions{Name: s.Name, Memberships: members})
		out = append(out, x)
		pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		err = r.Ping(pctx)
		cancel()
		if err != nil {
			log.Error("relational source does not answer; its exports fail until it does", "source", s.Name, "err", err)
			continue
		}
		log.Info("relational source", "source", s.Name, "driver", r.Dialect().Name, "mapping", nameOr(s.Mapping, "built-in relational default"))
	}
	return out, nil
}

// relationalMapping loads a relational source's mapping ("" = the
// shipped default for the default legacy schema).
func relationalMapping(file string) (*mapping.Mapping, error) {
	if file == "" {
		return mapping.DefaultSQL(), nil
	}
	m, err := mapping.Load(file)
	if err != nil {
		return nil, fmt.Errorf("invalid mapping:\n%w", err)
	}
	return m, nil
}

func nameOr(s, dflt string) string {
	if s == "" {
		return dflt
	}
	return s
}

// exporterOf is what the server exports: the archive pipeline alone, or
// it (when it has sources) and the relational sources in config order.
func exporterOf(p *pipeline.Pipeline, archives bool, rels []*pipeline.Relational) pipeline.Exporter {
	if len(rels) == 0 {
		return p
	}
	if !archives && len(rels) == 1 {
		return rels[0]
	}
	var parts []pipeline.Exporter
	if archives {
		parts = append(parts, p)
	}
	for _, x := range rels {
		parts = append(parts, x)
	}
	return pipeline.NewComposite(parts...)
}

// reloadRelational is the relational sources' reload hook: each source's
// mapping file is compiled again and swapped in (new exports use it);
// a change of database, tables or memberships takes a restart.
func (b *bridge) reloadRelational(_ context.Context, next *config.Config) error {
	old := map[string]config.Source{}
	for _, s := range b.cfg.Sources {
		old[s.Name] = s
	}
	for _, x := range b.rels {
		var s *config.Source
		for i := range next.Sources {
			if next.Sources[i].Name == x.Name() && next.Sources[i].Kind == "sql" {
				s = &next.Sources[i]
			}
		}
		if s == nil {
			b.log.Warn("relational source removed from the configuration: still served until the next start", "source", x.Name())
			continue
		}
		if o := old[s.Name]; o.Driver != s.Driver || o.DSN != s.DSN || o.Memberships != s.Memberships {
			b.log.Warn("a relational source's database or memberships change takes effect at the next start", "source", x.Name())
		}
		m, err := relationalMapping(s.Mapping)
		if err != nil {
			return fmt.Errorf("source %s: %w", s.Name, err)
		}
		x.SetMapping(m)
	}
	b.setRelationalMappings(next)
	return nil
}

// relationalMappings are the mapping files of the sql sources (the file
// watcher reloads on their edits too).
func (b *bridge) relationalMappings() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.relMappings
}

// setRelationalMappings records the sql sources' mapping files of cfg.
func (b *bridge) setRelationalMappings(cfg *config.Config) {
	var out []string
	for _, s := range cfg.Sources {
		if s.Kind == "sql" && s.Mapping != "" {
			out = append(out, s.Mapping)
		}
	}
	b.mu.Lock()
	b.relMappings = out
	b.mu.Unlock()
}
