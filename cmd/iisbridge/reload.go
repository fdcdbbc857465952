package main

import (
	"context"
	"log/slog"
	"slices"

	"iisbridge/config"
)

// A reloadHook is one part of a running server that follows its
// configuration when the server reloads it (SIGHUP). It is given the new,
// already validated configuration; it checks what it needs further (a
// mapping file compiles, client keys parse) and switches over only when
// all is well. An error leaves that part as it was and is logged; the
// other hooks still run.
//
// A part joins with b.onReload(name, hook) where the bridge is opened
// (serve.go's prepared.open); the mapping is one.
type reloadHook struct {
	name string
	fn   func(ctx context.Context, next *config.Config) error
}

func (b *bridge) onReload(name string, fn func(ctx context.Context, next *config.Config) error) {
	b.hooks = append(b.hooks, reloadHook{name, fn})
}

// reload re-reads the configuration file (the command line's --addr and
// --data still apply) and runs the hooks. An invalid file is refused as a
// whole: everything keeps running as it was.
func (b *bridge) reload(ctx context.Context, o serveOptions, log *slog.Logger) {
	next := b.cfg
	if o.cfgPath != "" {
		c, err := config.Load(o.cfgPath)
		if err != nil {
			log.Error("reload refused: invalid configuration; the running one is kept", "config", o.cfgPath, "problems", err.Error())
			return
		}
		applyOverrides(c, o.addr, o.data)
		next = c
	}
	log.Info("reloading", "config", o.cfgPath)
	if next.Listen != b.cfg.Listen || next.DataDir != b.cfg.DataDir || next.BaseURL != b.cfg.BaseURL {
		log.Warn("listen, base_url and data_dir changes take effect at the next start", "config", o.cfgPath)
	}
	if !slices.EqualFunc(next.Sources, b.cfg.Sources, func(a, c config.Source) bool {
		return slices.Equal(a.Paths, c.Paths) && a.Encoding == c.Encoding
	}) {
		log.Warn("source paths and encodings take effect at the next start (mappings reload now)", "config", o.cfgPath)
	}
	failed := 0
	for _, h := range b.hooks {
		if err := h.fn(ctx, next); err != nil {
			failed++
			log.Error("reload refused for "+h.name+"; the running one is kept", "err", err.Error())
		}
	}
	if failed == 0 {
		b.cfg = next
	}
	log.Info("reload done", "refused", failed)
}

// reloadMapping is the mapping's hook: the new mapping must compile; new
// exports use it, running ones finish with the old.
func (b *bridge) reloadMapping(_ context.Context, next *config.Config) error {
	m, mi, _, _, err := sourcesOf(next)
	if err != nil {
		return err
	}
	if mi == b.mapping {
		return nil
	}
	b.p.SetMapping(m)
	b.srv.SetMapping(mi)
	slog.Info("mapping reloaded", "mapping", mi.Path, "mapping_sha256", mi.SHA256, "was_sha256", b.mapping.SHA256)
	b.mapping = mi
	return nil
}
