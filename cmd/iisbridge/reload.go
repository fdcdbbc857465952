package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/iisbridge/iisbridge/config"
	"github.com/iisbridge/iisbridge/server"
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

// watchEvery is how often the config and mapping files are checked for
// a change (a reload then follows, as on SIGHUP).
var watchEvery = 5 * time.Second

// watchFiles signals changed when a file of paths() changes size or
// modification time (polling: portable, and cheap at this rate). A file
// modified after since (when serve began reading its configuration) counts
// as changed at once: an edit made while the index was being brought up,
// or before this goroutine took its first look, is not missed. A reload of
// unchanged files keeps what runs.
func watchFiles(ctx context.Context, paths func() []string, every time.Duration, since time.Time, changed chan<- struct{}) {
	stamp := func() (string, bool) {
		var b strings.Builder
		newer := false
		for _, p := range paths() {
			if p == "" {
				continue
			}
			if fi, err := os.Stat(p); err == nil {
				fmt.Fprintf(&b, "%s %d %d\n", p, fi.Size(), fi.ModTime().UnixNano())
				newer = newer || fi.ModTime().After(since)
			} else {
				fmt.Fprintf(&b, "%s missing\n", p)
			}
		}
		return b.String(), newer
	}
	signal := func() {
		select {
		case changed <- struct{}{}:
		default:
		}
	}
	last, newer := stamp()
	if newer {
		signal()
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if now, _ := stamp(); now != last {
			last = now
			signal()
		}
	}
}

// reloadMapping is the mapping's hook: the new mapping must compile; new
// exports use it, running ones finish with the old.
func (b *bridge) reloadMapping(_ context.Context, next *config.Config) error {
	m, mi, _, _, err := sourcesOf(next)
	if err != nil {
		return err
	}
	old := b.liveMapping()
	if mi == old {
		return nil
	}
	if was := b.p.Mapping(); was != nil && was.IdentityFingerprint() != m.IdentityFingerprint() {
		// The index ties records to persons with the identity: section it
		// was opened with; switching under it would mix two key sets.
		b.log.Warn("the mapping's identity: section changed: the index keeps using the one it started with until the next start, which rebuilds it", "mapping", mi.Path)
	}
	b.p.SetMapping(m)
	b.srv.SetMapping(mi)
	b.log.Info("mapping reloaded", "mapping", mi.Path, "mapping_sha256", mi.SHA256, "was_sha256", old.SHA256)
	b.mu.Lock()
	b.mapping = mi
	b.mu.Unlock()
	return nil
}

// liveMapping names the live mapping.
func (b *bridge) liveMapping() server.MappingInfo {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.mapping
}
