package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"gopkg.in/yaml.v3"

	"github.com/iisbridge/iisbridge/config"
	"github.com/iisbridge/iisbridge/mapping"
	"github.com/iisbridge/iisbridge/membership"
	"github.com/iisbridge/iisbridge/sources/index"
	"github.com/iisbridge/iisbridge/sources/v2archive"
)

func init() {
	register(&command{
		Name:  "index",
		Flags: func(fs *flag.FlagSet) { indexFlags(fs) },
		Usage: "[--data DIR] [--identity FILE] [--groups FILE] [--mapping FILE] [--encoding E] [--cpuprofile FILE] PATH...",
		Short: "index v2 archives (incremental: only new files and appended bytes are read; files no longer under PATH are dropped)",
		Run:   func(args []string) int { return runIndexTo(args, os.Stdout, os.Stderr) },
		Long: `The index goes to DIR/index: DIR is the same data directory serve and bench export
take. Interrupted (Ctrl-C), it keeps what it committed; rerun to resume.

The summary ends with the learned Groups: organizations and members under
the membership policy of --groups (a YAML file holding a server config's
groups section: organizations, triggers; default: every sender is its own
organization, any VXU and answered queries count). With an organizations
table, senders outside it are listed with their VXU/QBP counts: they make
no Group. The index keeps every kind of evidence, so a policy change needs
no re-index.`,
		Streams: true,
		Offline: true,
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

// runIndex writes everything to out (tests).
func runIndex(args []string, out io.Writer) int { return runIndexTo(args, out, out) }

// runIndexTo indexes; the summary is the result (stdout), progress and
// problems go to stderr.
func runIndexTo(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("index", flag.ContinueOnError)
	fs.SetOutput(stderr)
	data, identity, mapFile, encoding, groupsFile, cpuProfile := indexFlags(fs)
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
	m := mapping.Default()
	if *mapFile != "" {
		var err error
		if m, err = mapping.Load(*mapFile); err != nil {
			fmt.Fprintf(stderr, "iisbridge index: %v\n", err)
			return 1
		}
	}
	pol := membership.Default()
	if *groupsFile != "" {
		var err error
		if pol, err = config.LoadGroups(*groupsFile); err != nil {
			fmt.Fprintf(stderr, "iisbridge index: %v\n", err)
			return 1
		}
	}
	id, err := loadIdentity(*identity)
	if err != nil {
		fmt.Fprintf(stderr, "iisbridge index: %v\n", err)
		return 1
	}
	lock, err := lockDataDir(*data, "index")
	if err != nil {
		fmt.Fprintf(stderr, "iisbridge index: %v\n", err)
		return 1
	}
	defer lock.release()
	stopProfile, err := startCPUProfile(*cpuProfile)
	if err != nil {
		fmt.Fprintf(stderr, "iisbridge index: %v\n", err)
		return 1
	}
	defer stopProfile()
	bar := newMeter(stderr, "indexing", "bytes")
	x, err := openIndex(archiveSetup{IndexDir: indexDir(*data), Identity: id, Reader: v2archive.Options{Encoding: *encoding}, Progress: bar.set}, m)
	if err != nil {
		fmt.Fprintf(stderr, "iisbridge index: %v\n", err)
		return 1
	}
	defer x.Close()
	ctx := cmdContext()
	st, err := x.Update(ctx, fs.Args())
	bar.finish()
	if ctx.Err() != nil {
		fmt.Fprintf(stderr, "iisbridge index: stopped after %d records; what was committed is kept\n", st.Messages)
		return 1
	}
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
	fmt.Fprintf(stdout, "indexed %d records (%d errors), %d bytes in %s (%.0f records/s)\n",
		st.Messages, st.Errors, st.Bytes, st.Elapsed.Round(1e3), rate)
	fmt.Fprintf(stdout, "files: %d seen, %d new, %d appended, %d rewritten, %d unchanged, %d moved, %d dropped, %d unreadable, %d broken\n",
		st.Files, st.New, st.Appended, st.Rewritten, st.Unchanged, st.Moved, st.Dropped, st.Unreadable, st.Broken)
	fmt.Fprintf(stdout, "index %s: %d files, %d records: %d person messages, %d queries, %d candidate/no-match answers, %d skipped, %d errors, %d warnings; %d persons, %d identity keys\n",
		indexDir(*data), c.Files, c.Records, c.Person, c.Queries, c.Candidates, c.Skipped, c.Errors, c.Warnings+c.Warned, c.Persons, c.Keys)
	if err := printGroups(ctx, stdout, snap, pol); err != nil {
		fmt.Fprintf(stderr, "iisbridge index: %v\n", err)
		return 1
	}
	return 0
}

// indexFlags defines the flags of `iisbridge index` (command.Flags: Run parses them;
// help and flag reordering read them without running the command).
func indexFlags(fs *flag.FlagSet) (data, identity, mapFile, encoding, groups, cpuProfile *string) {
	data = fs.String("data", defaultArchiveData, "data `dir`ectory; the index is written to DIR/index")
	identity = fs.String("identity", "", "identity rules (YAML, index.IdentityConfig); default CDC IIS rules")
	mapFile = fs.String("mapping", "", "mapping whose identity: section names persons and organizations (checked first; default: the shipped mapping). Exports must use the same one, or the index is rebuilt")
	encoding = fs.String("encoding", "auto", "input encoding: auto, utf-8, latin1, windows-1252")
	groups = fs.String("groups", "", "membership policy `file` (a groups section: organizations, triggers)")
	cpuProfile = fs.String("cpuprofile", "", "write a CPU profile of the run to this `file`")
	return
}

// printGroups summarizes the learned Groups under pol, and the senders
// outside its organizations table.
func printGroups(ctx context.Context, w io.Writer, snap *index.Snapshot, pol *membership.Policy) error {
	members := map[string]int{}
	var cur string
	seen := map[string]bool{}
	err := snap.LedgerKeys(ctx, func(e index.LedgerKey) error {
		if e.PatientID != cur {
			cur = e.PatientID
			clear(seen)
		}
		o, ok := pol.Resolve(e.OrgKey, e.Facility, e.OrgName)
		if ok && o.Triggers.Accepts(e.Trigger) && !seen[o.Key] {
			seen[o.Key] = true
			members[o.Key]++
		}
		return nil
	})
	if err != nil {
		return err
	}
	total := 0
	for _, n := range members {
		total += n
	}
	fmt.Fprintf(w, "groups: %d organizations, %d memberships\n", len(members), total)
	var senders []membership.Sender
	if err := snap.Senders(ctx, func(s index.Sender) error {
		senders = append(senders, membership.Sender{OrgKey: s.OrgKey, Facility: s.Facility, Name: s.Name, Records: s.Records})
		return nil
	}); err != nil {
		return err
	}
	unknown := pol.Unknown(senders)
	if len(unknown) == 0 {
		return nil
	}
	var recs int64
	for _, u := range unknown {
		recs += u.Records
	}
	fmt.Fprintf(w, "unknown senders (outside the organizations table, no Group): %d, %d VXU/QBP records\n", len(unknown), recs)
	for _, u := range unknown {
		fac := ""
		if u.Facility != "" {
			fac = " (MSH-4 " + u.Facility + ")"
		}
		fmt.Fprintf(w, "  %s%s: %d records\n", u.OrgKey, fac, u.Records)
	}
	return nil
}
