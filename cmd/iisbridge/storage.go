package main

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/iisbridge/iisbridge/config"
	"github.com/iisbridge/iisbridge/server"
	"github.com/iisbridge/iisbridge/storage"
)

// exportStorage opens the object stores the config names: the server's
// and each client's own (nil, nil when export files stay in the data dir).
// Stores are opened, not probed: an unreachable one fails the jobs that
// use it, not the start-up.
func exportStorage(ctx context.Context, cfg *config.Config, log *slog.Logger) (*server.ObjectStore, map[string]*server.ObjectStore, error) {
	def, err := openObjectStore(ctx, &cfg.Storage, "storage", log)
	if err != nil {
		return nil, nil, err
	}
	var per map[string]*server.ObjectStore
	for _, cl := range cfg.Auth.Clients {
		if cl.Storage == nil {
			continue
		}
		o, err := openObjectStore(ctx, cl.Storage, "auth.clients["+cl.ClientID+"].storage", log)
		if err != nil {
			return nil, nil, err
		}
		if per == nil {
			per = map[string]*server.ObjectStore{}
		}
		if o == nil {
			o = &server.ObjectStore{} // this client's files stay in the data dir
		}
		per[cl.ClientID] = o
	}
	return def, per, nil
}

func openObjectStore(ctx context.Context, c *config.Storage, what string, log *slog.Logger) (*server.ObjectStore, error) {
	if !c.Object() {
		return nil, nil
	}
	st, err := storage.Open(ctx, c.Config) // its errors name keys, never values
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	o := &server.ObjectStore{Store: st, FileURLs: c.FileURLs, URLTTL: c.URLTTL.Duration}
	log.Info("export files go to an object store", "where", what, "kind", c.Kind, "bucket", c.Bucket+c.Container, "prefix", c.Prefix, "file_urls", o.URLMode())
	return o, nil
}
