package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"time"

	"github.com/iisbridge/iisbridge/admin"
	"github.com/iisbridge/iisbridge/config"
	"github.com/iisbridge/iisbridge/mapping"
	"github.com/iisbridge/iisbridge/mapping/mapdiff"
)

// adminTokenEnv holds the admin page's token (preferred to --token, which
// other users of the machine can read in the process list).
const adminTokenEnv = "IISBRIDGE_ADMIN_TOKEN"

func init() {
	register(&command{
		Name:  "admin",
		Flags: func(fs *flag.FlagSet) { adminFlags(fs) },
		Usage: "[--addr HOST:PORT] [--config FILE [--source NAME]] [--mapping FILE] [--draft FILE] [--sample N] [--seed S] [--token T] [PATH...]",
		Short: "the mapping admin's web page: a message, its fields, the FHIR it becomes and why; live vs draft",
		Long: `Serves a small web page (by default on http://127.0.0.1:8081/, loopback only) to
pick a message from a sample of the archives under PATH (or paste one), see it field
by field with the standard field names, the FHIR resources the live mapping
(--mapping, default: the shipped one) makes of it with the source field and rule
behind each element, and the same with a draft mapping (--draft, or edited on the
page), differences highlighted; and run mapping diff of the draft against the live
mapping over the sample. --config takes the live mapping and the archives from the
server's configuration (its first v2archive source, or --source NAME; a relational
source has no messages to show: use mapping check and preview for it). The page shows archive contents: without a token it only
listens on loopback; with one (` + adminTokenEnv + `, or --token) every request
needs it (open the page as http://HOST:PORT/#token=TOKEN, or type it in).`,
		Run: func(args []string) int { return adminCmd(cmdContext(), args, os.Stderr, nil) },
	})
}

// adminCmd runs the admin page until ctx ends (Ctrl-C). ready, when set,
// gets the listening address (for tests).
func adminCmd(ctx context.Context, args []string, stderr io.Writer, ready func(addr string)) int {
	fs := flag.NewFlagSet("admin", flag.ContinueOnError)
	fs.SetOutput(stderr)
	addr, livePath, draftPath, n, seed, token, cfgPath, srcName := adminFlags(fs)
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: iisbridge admin [--addr HOST:PORT] [--config FILE [--source NAME]] [--mapping FILE] [--draft FILE] [--sample N] [--seed S] [--token T] [PATH...]")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *n < 1 {
		fs.Usage()
		return 2
	}
	if *token == "" {
		*token = os.Getenv(adminTokenEnv)
	}
	if *token == "" && !isLoopback(*addr) {
		fmt.Fprintf(stderr, "iisbridge admin: refusing to show archive contents on non-loopback address %s without a token: set %s\n", *addr, adminTokenEnv)
		return 1
	}
	paths := fs.Args()
	if *cfgPath != "" {
		src, err := configSource(*cfgPath, *srcName)
		if err != nil {
			fmt.Fprintf(stderr, "iisbridge admin: %v\n", err)
			return 1
		}
		if *livePath == "" {
			*livePath = src.Mapping
		}
		paths = append(src.Paths, paths...)
	} else if *srcName != "" {
		fmt.Fprintln(stderr, "iisbridge admin: --source needs --config")
		return 2
	}
	cfg := admin.Config{Token: *token, Log: slog.Default()}
	var ok bool
	if cfg.Live, ok = adminSource(*livePath, stderr); !ok {
		return 1
	}
	if *draftPath != "" {
		d, ok := adminSource(*draftPath, stderr)
		if !ok {
			return 1
		}
		cfg.Draft = &d
		cfg.DraftTables = dirOf(*draftPath)
	} else if *livePath != "" {
		cfg.DraftTables = dirOf(*livePath)
	}
	if len(paths) > 0 {
		recs, seen, err := mapdiff.Sample(ctx, paths, *n, *seed)
		if ctx.Err() != nil {
			return 1
		}
		if err != nil {
			fmt.Fprintf(stderr, "iisbridge admin: %v\n", err)
			return 1
		}
		cfg.Samples = recs
		slog.Info("admin: archive sampled", "messages", seen, "sample", len(recs), "seed", *seed)
	}
	h, err := admin.New(cfg)
	if err != nil {
		fmt.Fprintf(stderr, "iisbridge admin: %v\n", err)
		return 1
	}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		fmt.Fprintf(stderr, "iisbridge admin: %v\n", err)
		return 1
	}
	hs := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 30 * time.Second,
		WriteTimeout: 5 * time.Minute, IdleTimeout: time.Minute}
	done := make(chan error, 1)
	go func() { done <- hs.Serve(ln) }()
	url := "http://" + ln.Addr().String() + "/"
	if *token != "" {
		url += "#token=…"
	}
	fmt.Fprintf(stderr, "iisbridge admin: the mapping admin page is on %s (Ctrl-C stops it)\n", url)
	if ready != nil {
		ready(ln.Addr().String())
	}
	select {
	case err := <-done:
		fmt.Fprintf(stderr, "iisbridge admin: %v\n", err)
		return 1
	case <-ctx.Done():
	}
	stopRequested() // stopping the page on a signal is its normal end
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := hs.Shutdown(sctx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		hs.Close()
	}
	return 0
}

// adminSource loads a mapping with its text ("" = the shipped one).
func adminSource(path string, stderr io.Writer) (admin.Source, bool) {
	if path == "" {
		return admin.Source{Mapping: mapping.Default(), Text: mapping.DefaultSource()}, true
	}
	m, ok := loadMapping(path, stderr)
	if !ok {
		return admin.Source{}, false
	}
	text, err := os.ReadFile(path)
	if err != nil {
		fmt.Fprintf(stderr, "iisbridge admin: %v\n", err)
		return admin.Source{}, false
	}
	return admin.Source{Mapping: m, Text: text, Path: path}, true
}

// dirOf is the folder of a mapping file, where its table files are.
func dirOf(path string) fs.FS { return os.DirFS(filepath.Dir(path)) }

// configSource is the source of a server configuration the page works on:
// the one named, or the first v2 archive. The page shows messages and
// what a v2 mapping makes of them: a relational source has neither, so
// naming one is an error that says what to use instead.
func configSource(path, name string) (config.Source, error) {
	c, err := config.Load(path)
	if err != nil {
		return config.Source{}, err
	}
	var names []string
	for _, s := range c.Sources {
		if name == "" && s.Kind != "sql" || s.Name == name {
			if s.Kind == "sql" {
				return config.Source{}, fmt.Errorf("%s: source %q is relational (kind: sql): %s", path, name, sqlAdminHint(name))
			}
			return s, nil
		}
		names = append(names, s.Name)
	}
	if name == "" {
		return config.Source{}, fmt.Errorf("%s has no v2archive source: %s", path, sqlAdminHint("NAME"))
	}
	return config.Source{}, fmt.Errorf("%s has no source %q (sources: %s)", path, name, strings.Join(names, ", "))
}

// sqlAdminHint says what stands in for the admin page for a relational
// source.
func sqlAdminHint(name string) string {
	return "the admin page works on v2 archives; check and preview a relational mapping with `iisbridge mapping check --config FILE --source " +
		name + "` and `iisbridge mapping preview --config FILE --source " + name + " --key K`"
}

// archiveSources are a configuration's v2 archive sources, in order.
func archiveSources(srcs []config.Source) []config.Source {
	var out []config.Source
	for _, s := range srcs {
		if s.Kind != "sql" {
			out = append(out, s)
		}
	}
	return out
}

// serveAdmin serves the admin page beside `serve --admin HOST:PORT`: the
// port is bound at once (a mistake shows before any indexing), the page
// answers 503 while the archives are sampled in the background, then
// shows the server's first v2 archive source with its mapping as loaded at
// start (a reloaded mapping shows at the next start), sampling every
// archive source. Relational sources are not the page's (it shows
// messages): a server with only those refuses --admin. It stops with ctx.
func serveAdmin(ctx context.Context, cfg *config.Config, addr string, log *slog.Logger) (net.Addr, error) {
	token := os.Getenv(adminTokenEnv)
	if token == "" && !isLoopback(addr) {
		return nil, fmt.Errorf("--admin %s: the admin page shows archive contents: loopback only, unless %s is set", addr, adminTokenEnv)
	}
	var live admin.Source
	var paths []string
	if archives := archiveSources(cfg.Sources); len(archives) > 0 {
		var errb strings.Builder
		var ok bool
		if live, ok = adminSource(archives[0].Mapping, &errb); !ok {
			return nil, errors.New(strings.TrimSpace(errb.String()))
		}
		for _, s := range archives {
			paths = append(paths, s.Paths...)
		}
	} else if len(cfg.Sources) > 0 {
		return nil, fmt.Errorf("--admin: the configuration has no v2archive source: %s", sqlAdminHint(cfg.Sources[0].Name))
	} else {
		live = admin.Source{Mapping: mapping.Default(), Text: mapping.DefaultSource()}
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("--admin: cannot listen on %s: %w", addr, err)
	}
	var handler atomic.Pointer[http.Handler]
	var sampling http.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Retry-After", "2")
		http.Error(w, "the admin page is sampling the archives; retry in a moment", http.StatusServiceUnavailable)
	})
	handler.Store(&sampling)
	hs := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { (*handler.Load()).ServeHTTP(w, r) }),
		ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 30 * time.Second, WriteTimeout: 5 * time.Minute, IdleTimeout: time.Minute}
	go hs.Serve(ln)
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		hs.Shutdown(sctx)
	}()
	go func() {
		acfg := admin.Config{Live: live, Token: token, Log: log}
		if live.Path != "" {
			acfg.DraftTables = dirOf(live.Path)
		}
		if len(paths) > 0 {
			recs, seen, err := mapdiff.Sample(ctx, paths, 200, 1)
			if err != nil {
				if ctx.Err() == nil {
					log.Error("admin page: sampling the archives failed", "err", err)
				}
				return
			}
			acfg.Samples = recs
			log.Info("admin: archive sampled", "messages", seen, "sample", len(recs))
		}
		h, err := admin.New(acfg)
		if err != nil {
			log.Error("admin page", "err", err)
			return
		}
		var hh http.Handler = h
		handler.Store(&hh)
	}()
	log.Info("the mapping admin page is on http://" + ln.Addr().String() + "/")
	return ln.Addr(), nil
}

// adminFlags defines the flags of `iisbridge admin` (command.Flags: Run parses them;
// help and flag reordering read them without running the command).
func adminFlags(fs *flag.FlagSet) (addr, livePath, draftPath *string, n *int, seed *uint64, token, cfgPath, srcName *string) {
	addr = fs.String("addr", "127.0.0.1:8081", "listen on `HOST:PORT` (not loopback: needs a token)")
	livePath = fs.String("mapping", "", "the live mapping `file` (default: the shipped one)")
	draftPath = fs.String("draft", "", "a draft mapping `file` to compare with the live one")
	n = fs.Int("sample", 200, "sample `N` messages from the archives under PATH")
	seed = fs.Uint64("seed", 1, "seed of the sample")
	token = fs.String("token", "", "require this `token` (default: $"+adminTokenEnv+")")
	cfgPath = fs.String("config", "", "take the live mapping and the archives from this server configuration `file`")
	srcName = fs.String("source", "", "with --config: the source `name` to use (default: the first)")
	return
}
