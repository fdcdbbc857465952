package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/iisbridge/iisbridge/auth"
	"github.com/iisbridge/iisbridge/config"
	"github.com/iisbridge/iisbridge/fhirout"
	"github.com/iisbridge/iisbridge/mapping"
	"github.com/iisbridge/iisbridge/pipeline"
	"github.com/iisbridge/iisbridge/server"
	"github.com/iisbridge/iisbridge/sources/index"
	"github.com/iisbridge/iisbridge/sources/synth"
	"github.com/iisbridge/iisbridge/sources/v2archive"
)

func init() {
	register(&command{
		Name:    "serve",
		Flags:   func(fs *flag.FlagSet) { serveFlags(fs) },
		Usage:   "[--config FILE] [--addr HOST:PORT] [--data DIR] [--admin HOST:PORT] [PATH...]",
		Short:   "serve FHIR Bulk Data $export (without --config or PATHs: demo data generated into the data dir)",
		Run:     runServe,
		Streams: true,
		Long: `Three ways to run it:
  serve                      the demo: a synthetic IIS world generated into ./data/demo
  serve PATH...              these archives (files, folders, globs), default mapping, data dir ./archive-data
  serve --config FILE        what the config says (testdata/example.yaml documents every key):
                             archives (kind: v2archive) and registry databases read in place
                             (kind: sql: MariaDB/MySQL, PostgreSQL, SQL Server, SQLite)
Without auth.clients in the config the server runs unauthenticated and only on loopback.

The port is bound first (a port in use is reported before any indexing); then the
index is brought up to date while /healthz answers "ok", /readyz answers 503
"indexing N %" and exports answer 503 with Retry-After. /readyz answers 200 once
exports are accepted. SIGHUP, or an edit of the config or mapping file (checked
every 5 s), reloads the config and the mapping (an invalid one is refused and the
running one kept); SIGINT/SIGTERM stop the server gracefully.
The data directory is locked: a second server on it fails at once.`,
	})
}

// beforeIndex runs just before start-up indexing (tests hold the server
// there to see it not ready).
var beforeIndex = func(context.Context) {}

// defaultArchiveData is the data directory of `serve PATH...`, `index`
// and `bench export`: not the demo's (./data), so a real archive and the
// demo never share an index.
const defaultArchiveData = "./archive-data"

func runServe(args []string) int {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	cfgPath, addr, data, adminAddr := serveFlags(fs)
	if err := fs.Parse(args); err != nil {
		return 2
	}
	log := slog.Default()
	cfg := config.Default()
	if *cfgPath != "" {
		if fs.NArg() > 0 {
			fmt.Fprintln(os.Stderr, "iisbridge serve: give PATHs or --config, not both (the config's sources say what is served)")
			return 2
		}
		var err error
		if cfg, err = config.Load(*cfgPath); err != nil {
			fmt.Fprintf(os.Stderr, "iisbridge serve: invalid configuration:\n%v\n", err)
			return 1
		}
	}
	if fs.NArg() > 0 {
		paths := make([]string, fs.NArg())
		for i, p := range fs.Args() {
			if p == "-" {
				fmt.Fprintln(os.Stderr, "iisbridge serve: standard input cannot be served (messages are re-read for every export); save it to a file")
				return 2
			}
			paths[i], _ = filepath.Abs(p)
		}
		cfg.Sources = []config.Source{{Name: "command-line", Kind: "v2archive", Paths: paths}}
		cfg.DataDir = defaultArchiveData
	}
	applyOverrides(cfg, *addr, *data)
	o := serveOptions{cfgPath: *cfgPath, addr: *addr, data: *data}
	if *adminAddr != "" { // admin.go
		if _, err := serveAdmin(cmdContext(), cfg, *adminAddr, log); err != nil {
			fmt.Fprintf(os.Stderr, "iisbridge serve: %v\n", err)
			return 1
		}
	}
	if err := serve(cmdContext(), cfg, *cfgPath == "" && fs.NArg() == 0, log, o); err != nil {
		if errors.Is(err, context.Canceled) {
			return 1 // interrupted: the dispatcher says so and exits 130
		}
		fmt.Fprintf(os.Stderr, "iisbridge serve: %v\n", err)
		return 1
	}
	return 0
}

// serveOptions are the command line's, re-applied to a reloaded config.
type serveOptions struct{ cfgPath, addr, data string }

func applyOverrides(cfg *config.Config, addr, data string) {
	if addr != "" {
		if cfg.BaseURL == "http://"+cfg.Listen+"/fhir" { // defaulted: follow the address
			cfg.BaseURL = "http://" + addr + "/fhir"
		}
		cfg.Listen = addr
	}
	if data != "" {
		cfg.DataDir = data
	}
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

// serve runs the server until ctx ends (SIGINT/SIGTERM). Order matters:
// configuration and authorization are checked, the data directory locked
// and the port bound before any indexing, so every mistake shows at once;
// then the port answers (live, not ready) while the index catches up.
func serve(ctx context.Context, cfg *config.Config, demo bool, log *slog.Logger, o serveOptions) error {
	started := time.Now()
	pre, err := prepare(cfg, demo, log)
	if err != nil {
		return err
	}
	defer pre.lock.release()
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		pre.closeAuth()
		return fmt.Errorf("cannot listen on %s: %w", cfg.Listen, err)
	}
	bi := readBuildInfo()
	pre.metrics.SetBuildInfo(bi.Version, bi.Revision, bi.Go)
	var handler atomic.Pointer[http.Handler]
	// /metrics while starting: only where it needs no token once running.
	metricsOpen := !cfg.AuthEnabled() || cfg.Auth.Metrics == "open"
	starting := server.Starting(pre.metrics, log, pre.state, cfg.Jobs.RetryAfter.Duration, metricsOpen)
	handler.Store(&starting)
	limits := httpLimits(cfg.HTTP)
	hs := limits.HTTPServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { (*handler.Load()).ServeHTTP(w, r) }), log)
	ln = limits.LimitListener(ln, log)
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(ln) }()
	log.Info("listening; indexing before exports are accepted", "listen", ln.Addr().String(), "base", cfg.BaseURL, "data_dir", cfg.DataDir)
	shutdown := func() {
		sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := hs.Shutdown(sctx); err != nil {
			log.Error("http shutdown", "err", err)
		}
	}

	// SIGHUP from now on reloads (once ready) instead of ending the process.
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	b, err := pre.open(ctx)
	if err != nil {
		shutdown()
		return err
	}
	if b.auth != nil {
		// Clients follow the file through the reload loop below (its
		// auth hook); a rotated token key is picked up in between.
		go b.auth.WatchKeys(ctx, 2*time.Second)
	}
	h := b.srv.Handler()
	handler.Store(&h)
	pre.metrics.SetStartup(1, true)
	name := b.mapping.Path
	if name == "" {
		name = "built-in default"
	}
	log.Info("ready: serving FHIR Bulk Data", "base", cfg.BaseURL, "mapping", name, "mapping_sha256", b.mapping.SHA256)
	go refreshLoop(ctx, b, cfg.Jobs.GroupRefresh.Duration, log)
	changed := make(chan struct{}, 1)
	if o.cfgPath != "" {
		go watchFiles(ctx, func() []string { return append([]string{o.cfgPath, b.liveMapping().Path}, b.relationalMappings()...) }, watchEvery, started, changed)
	}

running:
	for {
		select {
		case err := <-errc:
			b.close(context.Background())
			return err
		case <-hup:
			b.reload(ctx, o, log)
		case <-changed:
			log.Info("configuration or mapping file changed")
			b.reload(ctx, o, log)
		case <-ctx.Done():
			break running
		}
	}
	stopRequested() // a running server stopping on a signal is a normal end
	log.Info("shutting down")
	shutdown()
	sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return b.close(sctx)
}

// bridge is what serve listens with: the pipeline over the sources and
// the $export server driving it. Tests open one behind httptest.
type bridge struct {
	p       *pipeline.Pipeline
	rels    []*pipeline.Relational // the config's sql sources
	idx     *index.Index           // p's index (p closes it)
	srv     *server.Server
	auth    *auth.Service // nil without clients
	lock    *dataLock
	metrics *server.Metrics
	log     *slog.Logger
	mu      sync.Mutex // guards mapping and relMappings (read by the file watcher)
	mapping server.MappingInfo
	// relMappings are the sql sources' mapping files (serve_sql.go).
	relMappings []string
	cfg         *config.Config
	// hooks follow a reloaded configuration (reload.go).
	hooks []reloadHook
}

// close stops the server's workers, then the index they read.
func (b *bridge) close(ctx context.Context) error {
	err := b.srv.Close(ctx)
	if perr := b.p.Close(); err == nil {
		err = perr
	}
	for _, x := range b.rels {
		if rerr := x.Close(); err == nil {
			err = rerr
		}
	}
	if b.auth != nil {
		if aerr := b.auth.Close(); err == nil {
			err = aerr
		}
	}
	b.lock.release()
	return err
}

// openBridge checks the configuration, locks the data directory, brings
// the index up to date and opens the server (what serve does, without
// the listener).
func openBridge(cfg *config.Config, demo bool, log *slog.Logger) (*bridge, error) {
	pre, err := prepare(cfg, demo, log)
	if err != nil {
		return nil, err
	}
	b, err := pre.open(context.Background())
	if err != nil {
		pre.lock.release()
		return nil, err
	}
	return b, nil
}

// closeAuth closes the auth service when the bridge never opened.
func (pre *prepared) closeAuth() {
	if pre.svc != nil {
		pre.svc.Close()
		pre.svc = nil
	}
}

// prepared is everything checked before the port is bound.
type prepared struct {
	cfg      *config.Config
	demo     bool
	log      *slog.Logger
	auth     server.Authorizer
	svc      *auth.Service // nil without clients
	tokenURL string
	m        *mapping.Mapping
	mi       server.MappingInfo
	sources  []pipeline.Source
	reader   v2archive.Options
	identity index.IdentityConfig
	lock     *dataLock
	metrics  *server.Metrics
	// start-up progress for /readyz
	phase    atomic.Value // string
	progress atomic.Pointer[meter]
}

// prepare checks the authorization setup, the mapping and the identity
// rules, locks the data directory and opens the auth service.
func prepare(cfg *config.Config, demo bool, log *slog.Logger) (*prepared, error) {
	pre := &prepared{cfg: cfg, demo: demo, log: log, metrics: server.NewMetrics()}
	pre.phase.Store("starting")
	// Authorization first: refuse to expose data before anything else.
	pre.auth = server.NoAuth{}
	if !cfg.AuthEnabled() {
		if !isLoopback(cfg.Listen) {
			return nil, fmt.Errorf("refusing to serve without authorization on non-loopback address %s: configure auth.clients", cfg.Listen)
		}
		log.Warn("AUTHORIZATION DISABLED: no clients configured; every local process can export all data", "listen", cfg.Listen)
	}

	var err error
	if pre.m, pre.mi, pre.sources, pre.reader, err = sourcesOf(cfg); err != nil {
		return nil, err
	}
	pre.identity = index.DefaultIdentity()
	if cfg.Identity.Kind != 0 {
		if err := cfg.Identity.Decode(&pre.identity); err != nil {
			return nil, fmt.Errorf("%s: identity: %w", cfg.File, err)
		}
		if err := pre.identity.Validate(); err != nil {
			return nil, fmt.Errorf("%s:%d:%d: identity: %w", cfg.File, cfg.Identity.Line, cfg.Identity.Column, err)
		}
	}
	if pre.lock, err = lockDataDir(cfg.DataDir, "serve"); err != nil {
		return nil, err
	}
	if cfg.AuthEnabled() {
		// After the lock: the service keeps keys, replay cache and audit
		// log in the data directory.
		pre.tokenURL = server.TokenURL(cfg.BaseURL)
		pre.svc, err = auth.Open(auth.Options{Config: cfg, DataDir: filepath.Join(cfg.DataDir, "auth"),
			BaseURL: cfg.BaseURL, TokenURL: pre.tokenURL, Logger: log})
		if err != nil {
			pre.lock.release()
			return nil, err
		}
		pre.auth = pre.svc
		if strings.HasPrefix(cfg.BaseURL, "http:") && !isLoopback(cfg.Listen) {
			log.Warn("base_url is plain http on a non-loopback address: tokens travel unencrypted; put TLS in front", "base_url", cfg.BaseURL)
		}
		log.Info("SMART Backend Services authorization on", "clients", len(cfg.Auth.Clients), "token_endpoint", pre.tokenURL)
	}
	return pre, nil
}

// state is what /readyz says while starting.
func (pre *prepared) state() string {
	ph, _ := pre.phase.Load().(string)
	if m := pre.progress.Load(); ph == "indexing" && m != nil {
		if p := m.percent(); p >= 0 {
			return fmt.Sprintf("indexing %d %%", p)
		}
	}
	return ph
}

// open brings the index up to date (generating the demo archives first
// when demo and no sources are configured), opens the server and loads
// its Groups. Cancelling ctx stops indexing promptly; what was indexed
// is kept and the next start resumes.
func (pre *prepared) open(ctx context.Context) (b *bridge, err error) {
	cfg, log := pre.cfg, pre.log
	defer func() {
		if err != nil {
			pre.closeAuth()
		}
	}()
	sources := pre.sources
	if pre.demo && len(sources) == 0 {
		pre.phase.Store("generating demo data")
		dir, err := demoArchive(cfg.DataDir, log)
		if err != nil {
			return nil, err
		}
		sources = []pipeline.Source{{Name: "demo", Paths: []string{dir}}}
	}
	bar := newMeter(os.Stderr, "indexing", "bytes")
	pre.progress.Store(bar)
	pre.phase.Store("indexing")
	beforeIndex(ctx)
	start := time.Now()
	met := pre.metrics
	p, idx, err := openPipeline(archiveSetup{IndexDir: indexDir(cfg.DataDir), Identity: pre.identity, Reader: pre.reader,
		Progress: func(done, total int64) {
			bar.set(done, total)
			if total > 0 {
				met.SetStartup(float64(done)/float64(total), false)
			}
		},
	}, pre.m, pipeline.Options{Sources: sources})
	if err != nil {
		return nil, fmt.Errorf("opening the index: %w", err)
	}
	st, err := p.Update(ctx)
	bar.finish()
	met.Indexed(st.Messages, st.Errors)
	if err != nil {
		p.Close()
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, fmt.Errorf("indexing: %w", err)
	}
	log.Info("index up to date", "records", st.Messages, "broken", st.Errors, "files", st.Files, "ms", time.Since(start).Milliseconds())
	rels, err := openRelational(ctx, cfg, log)
	if err != nil {
		p.Close()
		return nil, err
	}
	closeRels := func() {
		for _, x := range rels {
			x.Close()
		}
	}
	pre.phase.Store("loading Groups")

	var static []server.StaticGroup
	for _, g := range cfg.Groups.Static {
		static = append(static, server.StaticGroup{ID: g.ID, Name: g.Name, OrgKey: g.OrgKey, Members: g.Members})
	}
	opts := server.Options{
		Exporter: exporterOf(p, len(sources) > 0, rels), DataDir: filepath.Join(cfg.DataDir, "export"), BaseURL: cfg.BaseURL,
		Authorizer: pre.auth, TokenURL: pre.tokenURL,
		Concurrency: cfg.Jobs.Concurrency, PerClient: cfg.Jobs.PerClient,
		Rotate: fhirout.RotateOptions{MaxResources: cfg.Jobs.MaxResources, MaxBytes: cfg.Jobs.MaxBytes},
		Expiry: cfg.Jobs.Expiry.Duration, RetryAfter: cfg.Jobs.RetryAfter.Duration,
		ManifestStyle: cfg.Manifest, StaticGroups: static, Logger: log,
		Metrics: met, Version: readBuildInfo().Version,
		OnUnreadable: cfg.Jobs.OnUnreadable,
		HTTP:         httpLimits(cfg.HTTP),
	}
	opts.GroupInactiveAfter = cfg.Jobs.GroupInactiveAfter.Duration
	if opts.GroupPolicy, err = cfg.Groups.Policy(); err != nil {
		p.Close()
		return nil, fmt.Errorf("groups: %w", err)
	}
	if opts.Storage, opts.ClientStorage, err = exportStorage(ctx, cfg, log); err != nil {
		p.Close()
		closeRels()
		return nil, err
	}
	if svc := pre.svc; svc != nil {
		opts.TokenEndpoint, opts.URLSigner, opts.URLVerifier, opts.Auditor = svc.TokenHandler(), svc, svc, svc
	}
	srv, err := server.New(opts)
	if err != nil {
		p.Close()
		closeRels()
		return nil, err
	}
	srv.SetMapping(pre.mi)
	if err := srv.RefreshGroups(ctx); err != nil {
		log.Error("loading Groups", "err", err)
	}
	b = &bridge{p: p, rels: rels, idx: idx, srv: srv, auth: pre.svc, lock: pre.lock, metrics: met, mapping: pre.mi, cfg: cfg, log: log}
	b.onReload("mapping", b.reloadMapping)
	if len(rels) > 0 {
		b.setRelationalMappings(cfg)
		b.onReload("relational sources", b.reloadRelational)
	}
	if b.auth != nil {
		b.onReload("auth clients", func(_ context.Context, next *config.Config) error { return b.auth.ReloadClients(next) })
	}
	return b, nil
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
// stops the server with its positions), names it by file and content
// hash, and gathers the sources' named paths. The pipeline takes one mapping
// and one encoding, so sources must agree.
func sourcesOf(cfg *config.Config) (*mapping.Mapping, server.MappingInfo, []pipeline.Source, v2archive.Options, error) {
	var paths []pipeline.Source
	var mi server.MappingInfo
	mapFile, enc := "", ""
	first := ""
	for _, s := range cfg.Sources {
		if s.Kind == "sql" {
			continue // a database has its own mapping (serve_sql.go)
		}
		if first != "" && (s.Mapping != mapFile || s.Encoding != enc) {
			return nil, mi, nil, v2archive.Options{}, fmt.Errorf("%s: sources %q and %q differ in mapping or encoding; one index serves one mapping for now", cfg.File, first, s.Name)
		}
		if first == "" {
			first = s.Name
		}
		mapFile, enc = s.Mapping, s.Encoding
		paths = append(paths, pipeline.Source{Name: s.Name, Paths: s.Paths})
	}
	m, mi, err := loadLiveMapping(mapFile)
	if err != nil {
		return nil, mi, nil, v2archive.Options{}, err
	}
	if enc == "" {
		enc = "auto" // as `iisbridge index` writes it: the index fingerprints the encoding
	}
	return m, mi, paths, v2archive.Options{Encoding: enc}, nil
}

// loadLiveMapping loads the mapping file ("" = the built-in default) and
// names it by the SHA-256 of its text.
func loadLiveMapping(file string) (*mapping.Mapping, server.MappingInfo, error) {
	if file == "" {
		sum := sha256.Sum256(mapping.DefaultSource())
		return mapping.Default(), server.MappingInfo{SHA256: hex.EncodeToString(sum[:])}, nil
	}
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, server.MappingInfo{}, fmt.Errorf("invalid mapping: %w", err)
	}
	m, err := mapping.Load(file)
	if err != nil {
		return nil, server.MappingInfo{}, fmt.Errorf("invalid mapping:\n%w", err)
	}
	sum := sha256.Sum256(data)
	return m, server.MappingInfo{Path: file, SHA256: hex.EncodeToString(sum[:])}, nil
}

// staleCheck is how often refreshLoop looks for an export's report that
// the index is behind the archive.
var staleCheck = 5 * time.Second

// refreshLoop indexes new archive data and rebuilds the learned Groups:
// every period, and at once when an export found the archive changed
// under the index (records it could not read).
func refreshLoop(ctx context.Context, b *bridge, every time.Duration, log *slog.Logger) {
	if every <= 0 {
		return
	}
	t := time.NewTicker(every)
	defer t.Stop()
	stale := time.NewTicker(staleCheck)
	defer stale.Stop()
	update := func() {
		st, err := b.p.Update(ctx)
		b.metrics.Indexed(st.Messages, st.Errors)
		if err != nil {
			log.Error("index update", "err", err)
			return
		}
		if err := b.srv.RefreshGroups(ctx); err != nil {
			log.Error("refreshing Groups", "err", err)
		}
	}
	for {
		select {
		case <-ctx.Done():
			return
		case <-stale.C:
			if b.p.Stale() {
				log.Info("index behind the archive (an export could not read some records): updating now")
				update()
			}
		case <-t.C:
			update()
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

// serveFlags defines the flags of `iisbridge serve` (command.Flags: Run parses them;
// help and flag reordering read them without running the command).
func serveFlags(fs *flag.FlagSet) (cfgPath, addr, data, adminAddr *string) {
	cfgPath = fs.String("config", "", "configuration file (YAML); none = demo data or PATHs, no auth, loopback only")
	addr = fs.String("addr", "", "listen address HOST:PORT (overrides the config)")
	data = fs.String("data", "", "data directory holding index/ and export/ (overrides the config; default ./data, ./archive-data with PATHs)")
	adminAddr = fs.String("admin", "", "also serve the mapping admin page (see iisbridge admin) on this loopback `HOST:PORT`")
	return
}
