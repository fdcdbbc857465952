package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/iisbridge/iisbridge/config"
	"github.com/iisbridge/iisbridge/diag"
	"github.com/iisbridge/iisbridge/mapping"
	"github.com/iisbridge/iisbridge/sources"
	sqlsrc "github.com/iisbridge/iisbridge/sources/sql"
)

// sqlFlags are the flags naming a relational source for mapping check
// and mapping preview: a kind: sql source of a server config (--config
// FILE --source NAME: its database, tables and mapping), a source
// description file (sources/sql/default.yaml's form), or a DSN of a
// database in the default legacy schema.
type sqlFlags struct {
	config, source, dsn, driver *string
}

func addSQLFlags(fs *flag.FlagSet) sqlFlags {
	return sqlFlags{
		config: fs.String("config", "", "server config `file`: --source names one of its kind: sql sources (default: its only one)"),
		source: fs.String("source", "", "with --config: a source `name`; else a source description file (sources/sql/default.yaml's form, with dsn: or --dsn)"),
		dsn:    fs.String("dsn", "", "`DSN` of the database (${NAME} read from the environment); alone: a database in the default legacy schema"),
		driver: fs.String("driver", "", "driver: sqlite, mysql, pgx, sqlserver (default: the description's, or from the DSN)"),
	}
}

func (f sqlFlags) set() bool { return *f.config != "" || *f.source != "" || *f.dsn != "" }

// open opens the source the flags name and chooses the mapping: file,
// else the config source's mapping:, else the shipped relational one.
// Problems are printed; errors hold no DSN secret.
func (f sqlFlags) open(file string, stdout, stderr io.Writer) (*sqlsrc.Reader, *mapping.Mapping, bool) {
	var cfg *sqlsrc.Config
	switch {
	case *f.config != "":
		sc, err := config.Load(*f.config)
		if err != nil {
			printLoadError(stdout, stderr, err)
			return nil, nil, false
		}
		var names []string
		for i := range sc.Sources {
			s := &sc.Sources[i]
			if s.Kind != "sql" {
				continue
			}
			names = append(names, s.Name)
			if s.Name == *f.source || *f.source == "" {
				cfg = s.SQL
				if file == "" {
					file = s.Mapping
				}
			}
		}
		if cfg == nil || *f.source == "" && len(names) > 1 {
			fmt.Fprintf(stderr, "iisbridge: %s: give --source, one of its kind: sql sources (%s)\n", *f.config, strings.Join(names, ", "))
			if *f.source != "" {
				fmt.Fprintf(stderr, "  no sql source %q%s\n", *f.source, diag.DidYouMean(*f.source, names))
			}
			return nil, nil, false
		}
	case *f.source != "":
		var err error
		if cfg, err = sqlsrc.LoadConfig(*f.source); err != nil {
			printLoadError(stdout, stderr, err)
			return nil, nil, false
		}
	default:
		cfg = sqlsrc.DefaultConfig()
	}
	if *f.dsn != "" {
		cfg.DSN = *f.dsn
	}
	if *f.driver != "" {
		cfg.Driver = *f.driver
	}
	if cfg.DSN == "" {
		fmt.Fprintf(stderr, "iisbridge: source %s: no dsn (give dsn: in the description or --dsn)\n", cfg.Source)
		return nil, nil, false
	}
	m := mapping.DefaultSQL()
	if file != "" {
		var ok bool
		if m, ok = loadAnyMapping(file, stdout); !ok {
			return nil, nil, false
		}
	}
	r, err := sqlsrc.Open(cfg)
	if err != nil {
		fmt.Fprintf(stderr, "iisbridge: %v\n", err)
		return nil, nil, false
	}
	return r, m, true
}

// printLoadError prints a file's problems (file:line:column) or its error.
func printLoadError(stdout, stderr io.Writer, err error) {
	var dl *diag.List
	if errors.As(err, &dl) {
		printProblems(stdout, dl.Problems)
		fmt.Fprintf(stderr, "%d problem(s)\n", len(dl.Problems))
		return
	}
	fmt.Fprintf(stderr, "iisbridge: %v\n", err)
}

// mappingCheckSQL checks the description against the database, then the
// mapping's tables and columns against the description and the database.
func mappingCheckSQL(file string, f sqlFlags, stdout, stderr io.Writer) int {
	r, m, ok := f.open(file, stdout, stderr)
	if !ok {
		return 1
	}
	defer r.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := r.Ping(ctx); err != nil {
		fmt.Fprintf(stderr, "iisbridge mapping check: %v\n", err)
		return 1
	}
	var ps []diag.Problem
	if err := r.Check(ctx); err != nil {
		var dl *diag.List
		if !errors.As(err, &dl) {
			fmt.Fprintf(stderr, "iisbridge mapping check: %v\n", err)
			return 1
		}
		ps = append(ps, dl.Problems...)
	}
	ps = append(ps, r.CheckMapping(ctx, m)...)
	if len(ps) > 0 {
		printProblems(stdout, ps)
		fmt.Fprintf(stderr, "%d problem(s)\n", len(ps))
		return 1
	}
	res, rules := m.Stats()
	cols := 0
	for _, t := range m.SQLTables() {
		cols += len(t.Columns)
	}
	fmt.Fprintf(stdout, "ok: %d resources, %d rules; %d tables, %d columns found in the database\n", res, rules, len(m.SQLTables()), cols)
	return 0
}

// mappingPreviewSQL maps one person of a relational source, by key.
func mappingPreviewSQL(file string, f sqlFlags, key string, opt previewOptions, stdout, stderr io.Writer) int {
	r, m, ok := f.open(file, stdout, stderr)
	if !ok {
		return 1
	}
	defer r.Close()
	if !m.PersonMapping() {
		fmt.Fprintf(stderr, "iisbridge mapping preview: %s does not map persons of a relational source (source: sql with tables under columns:)\n", m.File())
		return 1
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	rec, err := r.Person(ctx, key)
	if err != nil {
		fmt.Fprintf(stderr, "iisbridge mapping preview: %v\n", err)
		return 1
	}
	if rec == nil {
		fmt.Fprintf(stderr, "iisbridge mapping preview: no person with key %s\n", key)
		return 1
	}
	fmt.Fprintf(stdout, "Person %s of source %s", rec.Key, rec.Source)
	for _, t := range m.SQLTables() {
		if n := len(rec.Children[t.Name]); n > 0 {
			fmt.Fprintf(stdout, ", %d %s", n, t.Name)
		}
	}
	fmt.Fprintln(stdout)
	switch {
	case rec.Deleted:
		fmt.Fprintln(stdout, "the person row is soft-deleted: an export reports this Patient deleted")
	case rec.MergedInto != "":
		fmt.Fprintf(stdout, "merged into person %s: an export reports this Patient deleted\n", rec.MergedInto)
	}
	for _, p := range rec.Problems {
		fmt.Fprintf(stdout, "bad value: %s\n", p)
	}
	out := m.Apply(mapping.Input{Person: rec, Loc: sources.Location{Source: rec.Source, ControlID: rec.Key}, LastUpdated: rec.Modified}, true)
	opt.rules = newRuleText(m)
	printPreview(stdout, out, "this person", opt)
	return 0
}
