package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"iisbridge/config"
	"iisbridge/fhirout"
	"iisbridge/mapping"
	"iisbridge/pipeline"
	"iisbridge/server"
	"iisbridge/sources/index"
	"iisbridge/sources/synth"
	"iisbridge/sources/v2archive"
)

func init() {
	register(&command{
		Name:    "serve",
		Usage:   "[--config FILE] [--addr HOST:PORT] [--data DIR]",
		Short:   "serve FHIR Bulk Data $export (without --config: demo data generated into the data dir)",
		Run:     runServe,
		Streams: true,
	})
}

func runServe(args []string) int {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	cfgPath := fs.String("config", "", "configuration file (YAML); none = demo data, no auth, loopback only")
	addr := fs.String("addr", "", "listen address HOST:PORT (overrides the config)")
	data := fs.String("data", "", "data directory (overrides the config)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(os.Stderr, "iisbridge serve: unexpected argument %q\n", fs.Arg(0))
		return 2
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	cfg := config.Default()
	if *cfgPath != "" {
		var err error
		if cfg, err = config.Load(*cfgPath); err != nil {
			fmt.Fprintf(os.Stderr, "iisbridge serve: invalid configuration:\n%v\n", err)
			return 1
		}
	}
	if *addr != "" {
		if cfg.BaseURL == "http://"+cfg.Listen+"/fhir" { // defaulted: follow the address
			cfg.BaseURL = "http://" + *addr + "/fhir"
		}
		cfg.Listen = *addr
	}
	if *data != "" {
		cfg.DataDir = *data
	}
	if err := serve(cfg, *cfgPath == "", log); err != nil {
		fmt.Fprintf(os.Stderr, "iisbridge serve: %v\n", err)
		return 1
	}
	return 0
}

func isLoopback(listen string) bool {
	host, _, err := net.SplitHostPort(listen)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func serve(cfg *config.Config, demo bool, log *slog.Logger) error {
	b, err := openBridge(cfg, demo, log)
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	go refreshLoop(ctx, b.p, b.srv, cfg.Jobs.GroupRefresh.Duration, log)

	hs := b.srv.HTTPServer() // timeouts and handler from server.Options.HTTP
	hs.Addr = cfg.Listen
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		b.close(context.Background())
		return err
	}
	ln = b.srv.LimitListener(ln)
	log.Info("serving FHIR Bulk Data", "base", cfg.BaseURL, "listen", ln.Addr().String())
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(ln) }()
	select {
	case err := <-errc:
		b.close(context.Background())
		return err
	case <-ctx.Done():
	}
	log.Info("shutting down")
	sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := hs.Shutdown(sctx); err != nil {
		log.Error("http shutdown", "err", err)
	}
	return b.close(sctx)
}

// bridge is what serve listens with: the pipeline over the sources and
// the $export server driving it. Tests open one behind httptest.
type bridge struct {
	p   *pipeline.Pipeline
	srv *server.Server
}

// close stops the server's workers, then the index they read.
func (b *bridge) close(ctx context.Context) error {
	err := b.srv.Close(ctx)
	if perr := b.p.Close(); err == nil {
		err = perr
	}
	return err
}

// openBridge checks the authorization setup, brings the index up to date
// (generating the demo archives first when demo and no sources are
// configured), opens the server and loads its Groups.
func openBridge(cfg *config.Config, demo bool, log *slog.Logger) (*bridge, error) {
	// Authorization first: refuse to expose data before anything else.
	var auth server.Authorizer
	tokenURL := ""
	if cfg.AuthEnabled() {
		// TODO(smart): SMART Backend Services (token endpoint at /auth/token,
		// JWT assertion checks) is the next issue; until it lands a config
		// with clients cannot be honoured, and serving without auth is wrong.
		return nil, errors.New("auth.clients are configured but SMART Backend Services authorization is not implemented yet; remove auth.clients to run unauthenticated on loopback")
	}
	if !isLoopback(cfg.Listen) {
		return nil, fmt.Errorf("refusing to serve without authorization on non-loopback address %s: configure auth.clients", cfg.Listen)
	}
	log.Warn("AUTHORIZATION DISABLED: no clients configured; every local process can export all data", "listen", cfg.Listen)
	auth = server.NoAuth{}

	m, paths, readerOpts, err := sourcesOf(cfg)
	if err != nil {
		return nil, err
	}
	identity := index.DefaultIdentity()
	if cfg.Identity.Kind != 0 {
		if err := cfg.Identity.Decode(&identity); err != nil {
			return nil, fmt.Errorf("%s: identity: %w", cfg.File, err)
		}
	}
	if err := os.MkdirAll(cfg.DataDir, 0o750); err != nil {
		return nil, err
	}
	if demo && len(paths) == 0 {
		dir, err := demoArchive(cfg.DataDir, log)
		if err != nil {
			return nil, err
		}
		paths = []string{dir}
	}
	start := time.Now()
	p, err := pipeline.Open(pipeline.Options{DataDir: filepath.Join(cfg.DataDir, "index"), Paths: paths, Mapping: m, Identity: identity, Reader: readerOpts})
	if err != nil {
		return nil, fmt.Errorf("opening the index: %w", err)
	}
	log.Info("index up to date", "ms", time.Since(start).Milliseconds())

	var static []server.StaticGroup
	for _, g := range cfg.Groups {
		static = append(static, server.StaticGroup{ID: g.ID, Name: g.Name, OrgKey: g.OrgKey, Members: g.Members})
	}
	srv, err := server.New(server.Options{
		Exporter: p, DataDir: filepath.Join(cfg.DataDir, "export"), BaseURL: cfg.BaseURL,
		Authorizer: auth, TokenURL: tokenURL,
		Concurrency: cfg.Jobs.Concurrency, PerClient: cfg.Jobs.PerClient,
		Rotate: fhirout.RotateOptions{MaxResources: cfg.Jobs.MaxResources, MaxBytes: cfg.Jobs.MaxBytes},
		Expiry: cfg.Jobs.Expiry.Duration, RetryAfter: cfg.Jobs.RetryAfter.Duration,
		ManifestStyle: cfg.Manifest, StaticGroups: static, Logger: log,
		HTTP: httpLimits(cfg.HTTP),
	})
	if err != nil {
		p.Close()
		return nil, err
	}
	if err := srv.RefreshGroups(context.Background()); err != nil {
		log.Error("loading Groups", "err", err)
	}
	return &bridge{p: p, srv: srv}, nil
}

// Demo data layout under the data directory: the archives alone in
// demo/ (that directory is what gets indexed, so nothing else may live
// there) and the generator's truth beside it, for comparing exports.
const (
	demoDir   = "demo"
	demoTruth = "demo-truth.json"
)

var demoWorld = synth.Config{Seed: 1, People: 200}

// demoArchive returns the demo archive directory under dataDir,
// generating it on first use. Generation goes to a scratch directory that
// is renamed into place once complete, so a crash mid-way never leaves a
// partial archive that a restart would index.
func demoArchive(dataDir string, log *slog.Logger) (string, error) {
	dir := filepath.Join(dataDir, demoDir)
	truth := filepath.Join(dataDir, demoTruth)
	if _, err := os.Stat(dir); err == nil {
		// Earlier versions left truth.json among the archives, where the
		// index read it as a broken message; an index that did keeps it
		// (vanished files keep their messages), so it is rebuilt.
		old := filepath.Join(dir, "truth.json")
		if _, err := os.Stat(old); err == nil {
			log.Info("moving the demo truth out of the archive directory; rebuilding the index", "truth", truth)
			if err := os.Rename(old, truth); err != nil {
				return "", fmt.Errorf("demo data: %w", err)
			}
			if err := os.RemoveAll(filepath.Join(dataDir, "index")); err != nil {
				return "", fmt.Errorf("demo data: %w", err)
			}
		}
		return dir, nil
	} else if !os.IsNotExist(err) {
		return "", fmt.Errorf("demo data: %w", err)
	}
	tmp := dir + ".tmp"
	if err := os.RemoveAll(tmp); err != nil {
		return "", fmt.Errorf("demo data: %w", err)
	}
	log.Info("generating demo archives", "dir", dir, "seed", demoWorld.Seed, "people", demoWorld.People)
	if _, err := synth.Generate(tmp, demoWorld); err != nil {
		return "", fmt.Errorf("generating demo data: %w", err)
	}
	if err := os.Rename(filepath.Join(tmp, "truth.json"), truth); err != nil {
		return "", fmt.Errorf("demo data: %w", err)
	}
	if err := os.Rename(tmp, dir); err != nil {
		return "", fmt.Errorf("demo data: %w", err)
	}
	return dir, nil
}

// sourcesOf loads the sources' mapping (checked up front: a bad mapping
// stops the server with its positions) and gathers their paths. The
// pipeline takes one mapping and one encoding, so sources must agree.
func sourcesOf(cfg *config.Config) (*mapping.Mapping, []string, v2archive.Options, error) {
	var paths []string
	mapFile, enc := "", ""
	for i, s := range cfg.Sources {
		if i > 0 && (s.Mapping != mapFile || s.Encoding != enc) {
			return nil, nil, v2archive.Options{}, fmt.Errorf("%s: sources %q and %q differ in mapping or encoding; one index serves one mapping for now", cfg.File, cfg.Sources[0].Name, s.Name)
		}
		mapFile, enc = s.Mapping, s.Encoding
		paths = append(paths, s.Paths...)
	}
	m := mapping.Default()
	if mapFile != "" {
		var err error
		if m, err = mapping.Load(mapFile); err != nil {
			return nil, nil, v2archive.Options{}, fmt.Errorf("invalid mapping:\n%w", err)
		}
	}
	if enc == "" {
		enc = "auto" // as `iisbridge index` writes it: the index fingerprints the encoding
	}
	return m, paths, v2archive.Options{Encoding: enc}, nil
}

// refreshLoop indexes new archive data and rebuilds the learned Groups.
func refreshLoop(ctx context.Context, p *pipeline.Pipeline, srv *server.Server, every time.Duration, log *slog.Logger) {
	if every <= 0 {
		return
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if _, err := p.Update(ctx); err != nil {
				log.Error("index update", "err", err)
				continue
			}
			if err := srv.RefreshGroups(ctx); err != nil {
				log.Error("refreshing Groups", "err", err)
			}
		}
	}
}

// httpLimits carries the config's http section over; keys left out are 0
// and take the server's defaults.
func httpLimits(h config.HTTP) server.HTTPLimits {
	l := server.HTTPLimits{
		ReadHeaderTimeout: h.ReadHeaderTimeout.Duration, ReadTimeout: h.ReadTimeout.Duration,
		WriteTimeout: h.WriteTimeout.Duration, IdleTimeout: h.IdleTimeout.Duration,
	}
	if h.MaxConnsPerClient != nil {
		l.MaxConnsPerClient = *h.MaxConnsPerClient
	}
	return l
}
