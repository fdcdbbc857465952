package main

import (
	"bufio"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"os"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/iisbridge/iisbridge/config"
	"github.com/iisbridge/iisbridge/fhirout"
	"github.com/iisbridge/iisbridge/pipeline"
	"github.com/iisbridge/iisbridge/server"
	"github.com/iisbridge/iisbridge/sources/index"
	"github.com/iisbridge/iisbridge/sources/v2archive"
)

func init() {
	register(&command{
		Name:    "bench export",
		Flags:   func(fs *flag.FlagSet) { benchExportFlags(fs) },
		Usage:   "[--data DIR] [--config FILE] [--concurrent N] [--workers N] [--type T,...] [--auth] [--storage CONFIG] [--encoding E] [--max-resources-per-file N] [--cpuprofile FILE] [PATH...]",
		Short:   "measure system-level $export over HTTP on an indexed archive (or a config's sql sources): time to manifest, peak RSS, exact counts",
		Run:     runBenchExport,
		Streams: true,
	})
}

// runBenchExport runs the real server in-process over the pipeline index in
// DIR/index (indexing PATHs first when given), starts N system exports at
// once, polls them as a client honouring Retry-After would, downloads every
// file and checks that line counts equal the manifest's. Peak RSS is reset
// after indexing, so it covers the exports only.
func runBenchExport(args []string) int {
	fs := flag.NewFlagSet("bench export", flag.ContinueOnError)
	data, n, workers, types, encoding, perFile, cpuProfile, withAuth, storageConf, sqlConf := benchExportFlags(fs)
	if err := fs.Parse(args); err != nil {
		return 2
	}
	fail := func(err error) int { fmt.Fprintf(os.Stderr, "iisbridge bench export: %v\n", err); return 1 }
	var objStore *server.ObjectStore
	if *storageConf != "" {
		cfg, err := config.Load(*storageConf)
		if err != nil {
			return fail(err)
		}
		if objStore, err = openObjectStore(context.Background(), &cfg.Storage, "storage", slog.New(slog.NewTextHandler(io.Discard, nil))); err != nil {
			return fail(err)
		}
		if objStore != nil {
			fmt.Printf("storage: %s\n", cfg.Storage.Kind)
		}
	}
	var exporter pipeline.Exporter
	var rels []*pipeline.Relational
	if *sqlConf != "" {
		cfg, err := config.Load(*sqlConf)
		if err != nil {
			return fail(err)
		}
		if rels, err = openRelational(cmdContext(), cfg, slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))); err != nil {
			return fail(err)
		}
		if len(rels) == 0 {
			return fail(fmt.Errorf("%s has no kind: sql source", *sqlConf))
		}
		defer func() {
			for _, x := range rels {
				x.Close()
			}
		}()
		exporter = exporterOf(nil, false, rels)
		if err := os.MkdirAll(*data, 0o750); err != nil {
			return fail(err)
		}
	} else {
		if fs.NArg() == 0 {
			if err := requireIndex(*data); err != nil {
				return fail(err)
			}
		}
		lock, err := lockDataDir(*data, "bench export")
		if err != nil {
			return fail(err)
		}
		defer lock.release()
		t0 := time.Now()
		// Same identity rules and encoding as `iisbridge index` defaults: the
		// index empties itself when they differ from what built it.
		p, _, err := openPipeline(archiveSetup{IndexDir: indexDir(*data), Identity: index.DefaultIdentity(), Reader: v2archive.Options{Encoding: *encoding}},
			nil, pipeline.Options{Paths: fs.Args()})
		if err != nil {
			return fail(err)
		}
		defer p.Close()
		if fs.NArg() > 0 {
			if _, err := p.Update(cmdContext()); err != nil {
				return fail(err)
			}
			fmt.Printf("index update: %.1fs\n", time.Since(t0).Seconds())
		}
		exporter = p
	}
	exportDir, err := os.MkdirTemp(*data, "bench-export-")
	if err != nil {
		return fail(err)
	}
	defer os.RemoveAll(exportDir)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return fail(err)
	}
	opts := server.Options{
		Exporter: exporter, DataDir: exportDir, BaseURL: "http://" + ln.Addr().String() + "/fhir",
		Concurrency: *workers, PerClient: *n, RetryAfter: time.Second,
		Rotate:  fhirout.RotateOptions{MaxResources: *perFile},
		Logger:  slog.New(slog.NewTextHandler(io.Discard, nil)),
		Storage: objStore,
	}
	var ba *benchAuth
	if *withAuth {
		if ba, err = newBenchAuth(exportDir, opts.BaseURL); err != nil {
			return fail(err)
		}
		defer ba.svc.Close()
		ba.options(&opts)
	}
	srv, err := server.New(opts)
	if err != nil {
		return fail(err)
	}
	defer srv.Close(context.Background())
	go http.Serve(ln, srv.Handler())
	if ba != nil {
		if err := ba.login(benchClient, opts.TokenURL); err != nil {
			return fail(err)
		}
	}
	resetPeakRSS()
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err != nil {
			return fail(err)
		}
		pprof.StartCPUProfile(f)
		defer func() { pprof.StopCPUProfile(); f.Close() }()
	}
	base := "http://" + ln.Addr().String() + "/fhir"
	q := "_outputFormat=application/fhir+ndjson"
	if *types != "" {
		q += "&_type=" + *types
	}
	start := time.Now()
	type result struct {
		manifest, wall time.Duration
		counts         map[string]int64
		files          int
		err            error
	}
	results := make([]result, *n)
	var wg sync.WaitGroup
	for i := range *n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := &results[i]
			m, err := exportOnce(base, q)
			r.manifest = time.Since(start)
			if err != nil {
				r.err = err
				return
			}
			r.counts, r.files, r.err = checkFiles(m)
			r.wall = time.Since(start)
		}()
	}
	// Peak RSS of the exports themselves: sampled when the last manifest
	// arrives would miss the download; report both at the end.
	wg.Wait()
	total := time.Since(start)
	ok := true
	for i, r := range results {
		if r.err != nil {
			fmt.Printf("export %d: FAILED: %v\n", i+1, r.err)
			ok = false
			continue
		}
		var parts []string
		var sum int64
		// Every type of the manifest: the mapping decides which there are.
		for _, t := range sortedKeys(r.counts) {
			parts = append(parts, fmt.Sprintf("%s=%d", t, r.counts[t]))
			sum += r.counts[t]
		}
		fmt.Printf("export %d: manifest after %.1fs, downloaded after %.1fs, %d files, %d resources (%s), counts exact\n", i+1, r.manifest.Seconds(), r.wall.Seconds(), r.files, sum, strings.Join(parts, " "))
	}
	fmt.Printf("all %d exports: %.1fs; peak RSS %d MB (VmHWM since indexing)\n", *n, total.Seconds(), peakRSSKB()/1024)
	for _, x := range rels {
		// Every row read, by table, and the rate over the last export.
		st := x.Stats()
		var rows int64
		var tables []string
		for _, name := range slices.Sorted(maps.Keys(st.Tables)) {
			tc := st.Tables[name]
			rows += tc.Read
			tables = append(tables, fmt.Sprintf("%s=%d", name, tc.Read))
		}
		imm := st.Tables["immunizations"].Read
		fmt.Printf("source %s: %d persons, %d rows read (%s); %.0f rows/s, %.0f immunization rows/s (to the manifest of the last export)\n",
			x.Name(), st.Persons, rows, strings.Join(tables, " "), float64(rows)/results[len(results)-1].manifest.Seconds(), float64(imm)/results[len(results)-1].manifest.Seconds())
	}
	if !ok {
		return 1
	}
	return 0
}

type benchManifest struct {
	Output []struct {
		Type  string `json:"type"`
		URL   string `json:"url"`
		Count int64  `json:"count"`
	} `json:"output"`
	Error []json.RawMessage `json:"error"`
}

var benchClient = &http.Client{Transport: &http.Transport{DisableCompression: true}}

// exportOnce kicks off a system export and polls as the IG's clients do.
func exportOnce(base, query string) (*benchManifest, error) {
	req, _ := http.NewRequest("GET", base+"/$export?"+query, nil)
	req.Header.Set("Accept", "application/fhir+json")
	req.Header.Set("Prefer", "respond-async")
	resp, err := benchClient.Do(req)
	if err != nil {
		return nil, err
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted {
		return nil, fmt.Errorf("kick-off: %s", resp.Status)
	}
	status := resp.Header.Get("Content-Location")
	for {
		resp, err := benchClient.Get(status)
		if err != nil {
			return nil, err
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		switch resp.StatusCode {
		case http.StatusOK:
			var m benchManifest
			if err := json.Unmarshal(body, &m); err != nil {
				return nil, err
			}
			return &m, nil
		case http.StatusAccepted, http.StatusTooManyRequests:
			secs, _ := strconv.Atoi(resp.Header.Get("Retry-After"))
			time.Sleep(time.Duration(max(secs, 1)) * time.Second)
		default:
			return nil, fmt.Errorf("status: %s: %s", resp.Status, body)
		}
	}
}

// checkFiles downloads every output file and compares line counts.
func checkFiles(m *benchManifest) (map[string]int64, int, error) {
	counts := map[string]int64{}
	for _, it := range m.Output {
		resp, err := benchClient.Get(it.URL)
		if err != nil {
			return nil, 0, err
		}
		var lines int64
		sc := bufio.NewScanner(resp.Body)
		sc.Buffer(make([]byte, 0, 64<<10), 16<<20)
		for sc.Scan() {
			lines++
		}
		resp.Body.Close()
		if err := sc.Err(); err != nil {
			return nil, 0, err
		}
		if lines != it.Count {
			return nil, 0, fmt.Errorf("%s: %d lines, manifest says %d", it.URL, lines, it.Count)
		}
		counts[it.Type] += lines
	}
	return counts, len(m.Output), nil
}

// resetPeakRSS clears the kernel's VmHWM mark (Linux), so the peak reported
// covers only what follows.
func resetPeakRSS() { os.WriteFile("/proc/self/clear_refs", []byte("5"), 0) }

func peakRSSKB() int64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "VmHWM:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return kb
		}
	}
	return 0
}

// benchExportFlags defines the flags of `iisbridge bench export` (command.Flags: Run parses them;
// help and flag reordering read them without running the command).
func benchExportFlags(fs *flag.FlagSet) (data *string, n, workers *int, types, encoding *string, perFile *int64, cpuProfile *string, withAuth *bool, storageConf, sqlConf *string) {
	data = fs.String("data", defaultArchiveData, "data `dir`ectory holding index/ (as written by iisbridge index --data DIR)")
	n = fs.Int("concurrent", 1, "exports started at once")
	workers = fs.Int("workers", 2, "server worker pool size")
	types = fs.String("type", "", "_type for the exports (default: all)")
	encoding = fs.String("encoding", "auto", "input encoding the index was built with")
	perFile = fs.Int64("max-resources-per-file", 100000, "rotation bound of output files")
	cpuProfile = fs.String("cpuprofile", "", "write a CPU profile of the exports to this file")
	withAuth = fs.Bool("auth", false, "SMART Backend Services on: a generated client key, a token from the token endpoint on every request")
	storageConf = fs.String("storage", "", "server config `file` whose storage: block receives the export files (default: the data dir)")
	sqlConf = fs.String("config", "", "server config `file`: export its kind: sql sources (read in place, no index) instead of an indexed archive")
	return
}
