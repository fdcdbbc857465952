package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	sqlsrc "github.com/iisbridge/iisbridge/sources/sql"
	"github.com/iisbridge/iisbridge/sources/synth"
)

func init() {
	register(&command{
		Name:  "gen",
		Flags: func(fs *flag.FlagSet) { genFlags(fs) },
		Usage: "[--seed N] [--people N] [--facilities N] [--messages N] [--framing F[,F]] [--files-per-framing N] [--out DIR] [--truth FILE] [--roster N] [--sql DSN [--driver D]]",
		Short: "write a synthetic IIS message archive, and its truth beside it in DIR.truth.json (demo data, benchmark fixture)",
		Run:   runGen,
		Long: `The archive folder holds only archives (so it can be indexed or served as it is);
the generator's truth (every person, dose and broken record: the tests' oracle) is
written beside it, to DIR.truth.json unless --truth says otherwise.

With --sql DSN the same world (same seed and flags: same people, doses, updates and
deletes; merged duplicates besides) is also written into the default legacy IIS schema
in that database, which must not hold its tables yet (README: Relational sources). The
driver comes from --driver (sqlite, mysql, pgx) or the DSN's scheme (mysql://, mariadb://,
postgres://, sqlite:, or a file path); ${NAME} in the DSN is read from the environment.
Without --out the archive is written to a temporary folder and removed.`,
	})
}

func runGen(args []string) int {
	fs := flag.NewFlagSet("gen", flag.ContinueOnError)
	seed, people, facilities, messages, framing, perFraming, out, truthPath, sqlDSN, sqlDriver, rosterRows := genFlags(fs)
	if err := fs.Parse(args); err != nil {
		return 2
	}
	outGiven := false
	fs.Visit(func(f *flag.Flag) { outGiven = outGiven || f.Name == "out" })
	named := filepath.Clean(*out) // DIR as given: --roster's files go beside it even when --sql stages the archive elsewhere
	if *sqlDSN != "" && !outGiven {
		if *truthPath == "" {
			*truthPath = filepath.Clean(*out) + ".truth.json"
		}
		tmp, err := os.MkdirTemp("", "iisbridge-gen-")
		if err != nil {
			fmt.Fprintf(os.Stderr, "iisbridge gen: %v\n", err)
			return 1
		}
		defer os.RemoveAll(tmp)
		*out = filepath.Join(tmp, "archive")
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(os.Stderr, "iisbridge gen: unexpected argument %q\n", fs.Arg(0))
		return 2
	}
	cfg := synth.Config{Seed: *seed, People: *people, Facilities: *facilities, Messages: *messages, FilesPerFraming: *perFraming}
	if *framing != "" {
		cfg.Framings = strings.Split(*framing, ",")
	}
	if *truthPath == "" {
		*truthPath = filepath.Clean(*out) + ".truth.json"
	}
	// A new output directory is written under a scratch name and renamed
	// into place once complete, so an interrupted run leaves nothing that
	// could be taken for an archive.
	dir, staged := *out, false
	if _, err := os.Stat(*out); os.IsNotExist(err) {
		dir, staged = filepath.Clean(*out)+".partial", true
		os.RemoveAll(dir)
	}
	start := time.Now()
	bar := newMeter(os.Stderr, "generating", "bytes")
	done := make(chan struct{})
	go func() { // synth has no progress hook: count the bytes written
		t := time.NewTicker(200 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				bar.set(dirBytes(dir), 0)
			}
		}
	}()
	type result struct {
		sum *synth.Summary
		err error
	}
	rc := make(chan result, 1)
	go func() { s, err := synth.Generate(dir, cfg); rc <- result{s, err} }()
	var r result
	select {
	case r = <-rc:
	case <-cmdContext().Done():
		r.err = errInterrupted
	}
	close(done)
	bar.finish()
	if r.err == nil {
		if err := os.Rename(filepath.Join(dir, "truth.json"), *truthPath); err != nil {
			r.err = fmt.Errorf("moving the truth out of the archive folder: %w", err)
		} else if staged {
			r.err = os.Rename(dir, *out)
		}
	}
	if r.err != nil {
		switch {
		case staged:
			os.RemoveAll(dir)
			fmt.Fprintf(os.Stderr, "iisbridge gen: %v; nothing written to %s\n", r.err, *out)
		default:
			fmt.Fprintf(os.Stderr, "iisbridge gen: %v; %s may hold a PARTIAL archive\n", r.err, *out)
		}
		return 1
	}
	sum := r.sum
	el := time.Since(start)
	fmt.Printf("wrote %d files to %s: %d messages, %d bytes, %d persons, %d doses (%.1fs, %.1f MB/s)\n",
		len(sum.Files), *out, sum.Messages, sum.Bytes, sum.People, sum.Doses, el.Seconds(), float64(sum.Bytes)/1e6/el.Seconds())
	for _, f := range sum.Files {
		fmt.Println("  " + f)
	}
	fmt.Println("truth: " + *truthPath)
	if *sqlDSN != "" {
		start := time.Now()
		ls, where, err := sqlsrc.LoadDSN(cmdContext(), *sqlDriver, *sqlDSN, *truthPath)
		if err != nil {
			fmt.Fprintf(os.Stderr, "iisbridge gen: --sql: %v\n", err)
			return 1
		}
		fmt.Printf("wrote the world into %s: %d persons (%d merged duplicates besides), %d vaccinations, %d rows (%.1fs)\n",
			where, ls.Persons, ls.Merged, ls.Vaccinations, ls.Rows, time.Since(start).Seconds())
	}
	if *rosterRows > 0 {
		if err := writeRoster(*truthPath, named, *seed, *rosterRows); err != nil {
			fmt.Fprintf(os.Stderr, "iisbridge gen: roster: %v\n", err)
			return 1
		}
	}
	return 0
}

var errInterrupted = errors.New("interrupted")

// dirBytes is the size of the files directly in dir.
func dirBytes(dir string) int64 {
	es, _ := os.ReadDir(dir)
	var n int64
	for _, e := range es {
		if fi, err := e.Info(); err == nil && !e.IsDir() {
			n += fi.Size()
		}
	}
	return n
}

// genFlags defines the flags of `iisbridge gen` (command.Flags: Run parses them;
// help and flag reordering read them without running the command).
func genFlags(fs *flag.FlagSet) (seed *int64, people, facilities, messages *int, framing *string, perFraming *int, out, truthPath, sqlDSN, sqlDriver *string, rosterRows *int) {
	seed = fs.Int64("seed", 1, "random seed; equal seeds and flags give byte-identical files")
	people = fs.Int("people", 200, "persons in the world (ignored with --messages)")
	facilities = fs.Int("facilities", 6, "reporting organizations, 3..10")
	messages = fs.Int("messages", 0, "exact number of records to write; 0 = whatever the people imply")
	framing = fs.String("framing", "", "comma-separated subset of "+strings.Join(synth.Framings(), ",")+"; empty = all")
	perFraming = fs.Int("files-per-framing", 1, "files written for each framing")
	out = fs.String("out", "gen-out", "output `dir`ectory (archives only)")
	truthPath = fs.String("truth", "", "where the truth goes (default: DIR.truth.json beside the output directory)")
	sqlDSN = fs.String("sql", "", "also write the world into this database (default legacy IIS schema)")
	sqlDriver = fs.String("driver", "", "the --sql database's driver: sqlite, mysql, pgx (default: from the DSN)")
	rosterRows = fs.Int("roster", 0, "also write a roster of N rows (with errors and non-members) to DIR.roster.csv, its truth to DIR.roster.truth.csv")
	return
}
