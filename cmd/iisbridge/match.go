package main

import (
	"bufio"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/iisbridge/iisbridge/match"
	"github.com/iisbridge/iisbridge/match/roster"
	"github.com/iisbridge/iisbridge/sources/synth"
	"github.com/iisbridge/iisbridge/sources/synth/synthtest"
)

func init() {
	register(&command{
		Name:  "match",
		Flags: func(fs *flag.FlagSet) { matchFlags(fs) },
		Usage: "--roster FILE.csv (--patients Patient.ndjson [--config match.yaml] [--store FILE] [--workers N] [--truth FILE.roster.truth.csv --world FILE.truth.json] | --server BASE [--group ID | --name NAME] [--replace] [--client-id ID --key KEY.pem] [--out DIR])",
		Short: "match a roster of demographics against the bridge's Patients; one NDJSON result per row",
		Run:   runMatch,
		Long: `Each roster row (CSV: id, given, family, birth_date, sex, postal_code, phone,
identifiers) gets one JSON line on standard output, in roster order: the outcome
(matched: exactly one certain candidate; ambiguous: several certain, or only
probable/possible ones; not-found) and the candidates, best first, with score,
match grade and the level of each field. No row is left out.

The Patients are FHIR Patient NDJSON, as "convert" or a Patient $export writes
them. --config is a matcher YAML (match/default.yaml documents every key).
--truth (as "gen --roster" writes it) prints precision and recall per kind of
row to standard error; --world, the generated world's truth.json, turns its
person keys into the Patient ids (through the Patients' MR and SR identifiers).

  iisbridge gen --people 20000 --roster 2000 --out w
  iisbridge convert --out fhir w
  iisbridge match --roster w.roster.csv --patients fhir/Patient.ndjson \
      --truth w.roster.truth.csv --world w.truth.json > results.ndjson

The Patients are held in memory (about 650 MB a million); --store FILE keeps
them in a new SQLite file instead.

With --server, the roster goes to a running bridge instead (Group/$roster-import,
as the client --client-id/--key, SMART Backend Services): the bridge matches it
against its own Patients and creates a member-based Group owned by the client
(--name), or adds the matched Patients to the client's Group --group (--replace:
makes them its only members). Only single certain matches join. Every row gets
its JSON line as above (outcome matched, ambiguous, not-found or invalid, with
the candidates the bridge shows this client); the Group's id and size go to
standard error, the job's files to --out.

  iisbridge match --server https://iis.example.org/fhir --client-id plan-7 \
      --key plan-7.pem --roster members.csv --name "Plan 7 members"`,
	})
}

func runMatch(args []string) int { return matchCmd(args, os.Stdout, os.Stderr) }

func matchCmd(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("match", flag.ContinueOnError)
	fs.SetOutput(stderr)
	rosterPath, patients, cfgPath, truthPath, worldPath, workers, storePath, up := matchFlags(fs)
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if up.server != "" {
		if *rosterPath == "" || *patients != "" || *truthPath != "" || *storePath != "" || fs.NArg() > 0 {
			fmt.Fprintln(stderr, "iisbridge match: --server wants --roster FILE.csv, and no --patients, --truth, --store or arguments")
			return 2
		}
		return up.run(cmdContext(), *rosterPath, stdout, stderr)
	}
	if up.group != "" || up.name != "" || up.replace || up.clientID != "" || up.key != "" || up.out != "" {
		fmt.Fprintln(stderr, "iisbridge match: --group, --name, --replace, --client-id, --key and --out go with --server")
		return 2
	}
	if *rosterPath == "" || *patients == "" || fs.NArg() > 0 {
		fmt.Fprintln(stderr, "iisbridge match: want --roster FILE.csv --patients Patient.ndjson and no arguments")
		return 2
	}
	cfg := match.DefaultConfig()
	if *cfgPath != "" {
		var err error
		if cfg, err = match.Load(*cfgPath); err != nil {
			fmt.Fprintf(stderr, "iisbridge match: %v\n", err)
			return 1
		}
	}
	m, err := match.New(cfg)
	if err != nil {
		fmt.Fprintf(stderr, "iisbridge match: %v\n", err)
		return 1
	}
	var st match.Candidates
	var add func([]match.Record) error
	if *storePath != "" {
		if _, err := os.Stat(*storePath); err == nil {
			fmt.Fprintf(stderr, "iisbridge match: --store %s exists; give a new file (it is built from --patients)\n", *storePath)
			return 1
		}
		sq, err := match.OpenSQLStore(*storePath, m)
		if err != nil {
			fmt.Fprintf(stderr, "iisbridge match: %v\n", err)
			return 1
		}
		defer sq.Close()
		st, add = sq, func(rs []match.Record) error { return sq.Add(cmdContext(), rs) }
	} else {
		mem := match.NewMemStore(m)
		st, add = mem, func(rs []match.Record) error {
			for _, r := range rs {
				if err := mem.Add(r); err != nil {
					return err
				}
			}
			return nil
		}
	}
	var holders map[string][]string // identifier key (synthtest.Keys) → Patient ids, for --world
	if *worldPath != "" {
		holders = map[string][]string{}
	}
	n, err := loadPatients(*patients, add, holders)
	if err != nil {
		fmt.Fprintf(stderr, "iisbridge match: %v\n", err)
		return 1
	}
	var truth map[string]roster.Row
	if *truthPath != "" {
		if truth, err = roster.ReadTruth(*truthPath); err != nil {
			fmt.Fprintf(stderr, "iisbridge match: %v\n", err)
			return 1
		}
		if *worldPath != "" {
			w, err := synth.ReadTruth(*worldPath)
			if err != nil {
				fmt.Fprintf(stderr, "iisbridge match: %v\n", err)
				return 1
			}
			pidOf, problems := synthtest.MatchPatients(w.Persons, holders)
			if len(problems) > 0 {
				fmt.Fprintf(stderr, "iisbridge match: %d truth persons not found exactly once among the Patients (first: %s)\n", len(problems), problems[0])
			}
			for id, t := range truth {
				if t.Person != "" {
					t.Person = pidOf[t.Person]
					truth[id] = t
				}
			}
		}
	}
	f, err := os.Open(*rosterPath)
	if err != nil {
		fmt.Fprintf(stderr, "iisbridge match: %v\n", err)
		return 1
	}
	defer f.Close()
	rd, err := roster.NewReader(bufio.NewReader(f), *rosterPath)
	if err != nil {
		fmt.Fprintf(stderr, "iisbridge match: %v\n", err)
		return 1
	}
	out := bufio.NewWriter(stdout)
	enc := json.NewEncoder(out)
	var ev roster.Evaluator
	counts := map[match.Outcome]int{}
	err = m.All(cmdContext(), st, rd.Next, *workers, func(in match.Record, res match.Result) error {
		counts[res.Outcome]++
		if truth != nil {
			t, ok := truth[in.ID]
			if !ok {
				return fmt.Errorf("row %q is not in the truth file", in.ID)
			}
			ev.Add(t, res)
		}
		return enc.Encode(res)
	})
	if ferr := out.Flush(); err == nil {
		err = ferr
	}
	if err != nil {
		if cmdContext().Err() != nil {
			err = errInterrupted
		}
		fmt.Fprintf(stderr, "iisbridge match: %v\n", err)
		if err == errInterrupted {
			return 130
		}
		return 1
	}
	fmt.Fprintf(stderr, "matched %d rows against %d Patients: %d matched, %d ambiguous, %d not found\n",
		counts[match.Matched]+counts[match.Ambiguous]+counts[match.NotFound], n, counts[match.Matched], counts[match.Ambiguous], counts[match.NotFound])
	if truth != nil {
		ev.Report().Print(stderr)
	}
	return 0
}

func loadPatients(path string, add func([]match.Record) error, holders map[string][]string) (int, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	br := bufio.NewReaderSize(f, 1<<20)
	n := 0
	batch := make([]match.Record, 0, 10000)
	for line := 1; ; line++ {
		b, err := br.ReadBytes('\n')
		if len(strings.TrimSpace(string(b))) > 0 {
			p, jerr := match.ParsePatient(b)
			if jerr != nil {
				return n, fmt.Errorf("%s:%d: %v", path, line, jerr)
			}
			if p.ResourceType != "Patient" || p.ID == "" {
				return n, fmt.Errorf("%s:%d: want a Patient with an id, got a %q", path, line, p.ResourceType)
			}
			for _, id := range p.Identifier {
				if holders == nil {
					break
				}
				if t := id.TypeCode(); t == "MR" || t == "SR" {
					holders[t+"|"+id.Value] = append(holders[t+"|"+id.Value], p.ID)
				}
			}
			batch = append(batch, p.Record())
			if len(batch) == cap(batch) {
				if aerr := add(batch); aerr != nil {
					return n, fmt.Errorf("%s (before line %d): %v", path, line+1, aerr)
				}
				batch = batch[:0]
			}
			n++
		}
		if err == io.EOF {
			if aerr := add(batch); aerr != nil {
				return n, fmt.Errorf("%s: %v", path, aerr)
			}
			return n, nil
		}
		if err != nil {
			return n, err
		}
	}
}

// writeRoster is gen --roster: rows drawn from the truth's persons.
func writeRoster(truthPath, base string, seed int64, rows int) error {
	t, err := synth.ReadTruth(truthPath)
	if err != nil {
		return err
	}
	persons := roster.FromSynth(t.Persons, "")
	if rows > len(persons) {
		return fmt.Errorf("%d rows asked of a world of %d persons", rows, len(persons))
	}
	rs, err := roster.Generate(persons, roster.Config{Seed: seed, Rows: rows})
	if err != nil {
		return err
	}
	if err := roster.WriteFiles(base+".roster.csv", base+".roster.truth.csv", rs); err != nil {
		return err
	}
	fmt.Printf("roster: %s (%d rows), its truth %s\n", base+".roster.csv", rows, base+".roster.truth.csv")
	return nil
}

// matchFlags defines the flags of `iisbridge match` (command.Flags: Run parses them;
// help and flag reordering read them without running the command).
func matchFlags(fs *flag.FlagSet) (rosterPath, patients, cfgPath, truthPath, worldPath *string, workers *int, storePath *string, up *upload) {
	rosterPath = fs.String("roster", "", "roster CSV `file`")
	patients = fs.String("patients", "", "FHIR Patient NDJSON `file` (the candidates)")
	cfgPath = fs.String("config", "", "matcher YAML `file`; default: the built-in configuration")
	truthPath = fs.String("truth", "", "roster truth CSV `file`: report precision and recall")
	worldPath = fs.String("world", "", "the generated world's truth.json `file`: map --truth person keys to Patient ids")
	workers = fs.Int("workers", 0, "matching goroutines; 0 = one per CPU")
	storePath = fs.String("store", "", "keep the Patients in a new SQLite `file` instead of memory (memory flat in their number)")
	up = &upload{}
	fs.StringVar(&up.server, "server", "", "FHIR base `URL` of a bridge: import the roster there (Group/$roster-import)")
	fs.StringVar(&up.group, "group", "", "with --server: the client's member-based Group `id` to add the matches to")
	fs.StringVar(&up.name, "name", "", "with --server: the name of the new Group (default: Roster DATE)")
	fs.BoolVar(&up.replace, "replace", false, "with --server --group: the matches become the Group's only members")
	fs.StringVar(&up.clientID, "client-id", "", "with --server: registered client_id (with --key)")
	fs.StringVar(&up.key, "key", "", "with --server: the client's private key (PEM or JWK)")
	fs.StringVar(&up.out, "out", "", "with --server: directory for the job's files (default roster-import-<UTC time>)")
	return
}
