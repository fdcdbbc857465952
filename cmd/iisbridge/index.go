package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"

	"gopkg.in/yaml.v3"

	"iisbridge/mapping"
	"iisbridge/sources/index"
	"iisbridge/sources/v2archive"
)

func init() {
	register(&command{
		Name:    "index",
		Usage:   "[--data DIR] [--identity FILE] [--mapping FILE] [--encoding E] PATH...",
		Short:   "index v2 archives (incremental: only new files and appended bytes are read; files no longer under PATH are dropped)",
		Run:     func(args []string) int { return runIndex(args, os.Stderr) },
		Streams: true,
	})
}

// loadIdentity reads an identity section (index.IdentityConfig in YAML);
// "" gives the defaults.
func loadIdentity(path string) (index.IdentityConfig, error) {
	cfg := index.DefaultIdentity()
	if path == "" {
		return cfg, nil
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return cfg, err
	}
	cfg = index.IdentityConfig{}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&cfg); err != nil {
		return cfg, fmt.Errorf("%s: %w", path, err)
	}
	return cfg, cfg.Validate()
}

func runIndex(args []string, stderr io.Writer) int {
	fs := flag.NewFlagSet("index", flag.ContinueOnError)
	fs.SetOutput(stderr)
	data := fs.String("data", "data", "index directory")
	identity := fs.String("identity", "", "identity rules (YAML, index.IdentityConfig); default CDC IIS rules")
	mapFile := fs.String("mapping", "", "mapping file to check before indexing (the index itself does not depend on it)")
	encoding := fs.String("encoding", "auto", "input encoding: auto, utf-8, latin1, windows-1252")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() == 0 {
		fmt.Fprintln(stderr, "usage: iisbridge index [--data DIR] PATH...")
		return 2
	}
	// The index holds exactly the files under the paths given (files no
	// longer under them are dropped): a mistyped path must not empty it.
	for _, a := range fs.Args() {
		if _, err := os.Lstat(a); err == nil {
			continue
		}
		if m, err := filepath.Glob(a); err != nil || len(m) == 0 {
			fmt.Fprintf(stderr, "iisbridge index: %s: no such file or directory (nothing indexed, nothing dropped)\n", a)
			return 1
		}
	}
	if *mapFile != "" {
		if _, err := mapping.Load(*mapFile); err != nil {
			fmt.Fprintf(stderr, "iisbridge index: %v\n", err)
			return 1
		}
	}
	id, err := loadIdentity(*identity)
	if err != nil {
		fmt.Fprintf(stderr, "iisbridge index: %v\n", err)
		return 1
	}
	x, err := index.Open(*data, index.Options{Identity: id, Reader: v2archive.Options{Encoding: *encoding}})
	if err != nil {
		fmt.Fprintf(stderr, "iisbridge index: %v\n", err)
		return 1
	}
	defer x.Close()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	st, err := x.Update(ctx, fs.Args())
	if err != nil {
		fmt.Fprintf(stderr, "iisbridge index: %v\n", err)
		return 1
	}
	snap, err := x.Snapshot(ctx)
	if err != nil {
		fmt.Fprintf(stderr, "iisbridge index: %v\n", err)
		return 1
	}
	defer snap.Close()
	c, err := snap.Counts(ctx)
	if err != nil {
		fmt.Fprintf(stderr, "iisbridge index: %v\n", err)
		return 1
	}
	rate := 0.0
	if s := st.Elapsed.Seconds(); s > 0 {
		rate = float64(st.Messages) / s
	}
	fmt.Fprintf(stderr, "indexed %d records (%d errors), %d bytes in %s (%.0f records/s)\n",
		st.Messages, st.Errors, st.Bytes, st.Elapsed.Round(1e3), rate)
	fmt.Fprintf(stderr, "files: %d seen, %d new, %d appended, %d rewritten, %d unchanged, %d moved, %d dropped, %d unreadable, %d broken\n",
		st.Files, st.New, st.Appended, st.Rewritten, st.Unchanged, st.Moved, st.Dropped, st.Unreadable, st.Broken)
	// Warnings as a system export's error file holds them: warning-only
	// items and messages carrying reader warnings (mixed encodings...).
	fmt.Fprintf(stderr, "index %s: %d files, %d records: %d person messages, %d queries, %d candidate/no-match answers, %d skipped, %d errors, %d warnings; %d persons, %d identity keys\n",
		*data, c.Files, c.Records, c.Person, c.Queries, c.Candidates, c.Skipped, c.Errors, c.Warnings+c.Warned, c.Persons, c.Keys)
	return 0
}
